"""`photoledger history ASSET`: the full audit trail of one asset (engine.history).

ASSET may be the asset id (uuid), the iCloud record name, or a local path (absolute, relative
to the library root, or relative to the current folder and inside the library). A name that
matches several assets is refused with the list.
Each deletion request is shown again with its evidence, its plan and its outcome, as
`photoledger audit` judges it, and where the asset stands in iCloud is said in words.
"""

from __future__ import annotations

from dataclasses import asdict

import click
from rich.table import Table
from rich.text import Text

from commands.context import Settings
from commands.output import console, print_json
from engine.cleanup.audit import DeletionStory
from engine.history import AssetHistory, albums_words, icloud_words, run_history
from engine.services import open_reader


@click.command("history")
@click.argument("asset")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def command(settings: Settings, asset: str, as_json: bool) -> None:
    """Show every recorded fact about ASSET, oldest first, with the run that recorded it.

    ASSET is an asset id, an iCloud record name, or a local path (absolute or relative to the
    library root).
    """
    with open_reader(settings.load_config(), settings) as services:
        history = run_history(services, asset)
    icloud = icloud_words(history.asset_id, history.icloud)
    if as_json:
        print_json({
            "asset_id": history.asset_id.hex,
            "events": [vars(e) for e in history.entries],
            "deletions": [asdict(story) for story in history.deletions],
            "albums": [asdict(a) for a in history.albums],
            "icloud": icloud,
        })
        return
    _print_history(history)
    if icloud is not None:
        console.print(Text(icloud))


def _print_history(history: AssetHistory) -> None:
    table = Table(
        "#", "recorded (UTC)", "event", "facts", "run", title=f"asset {history.asset_id.hex}"
    )
    for e in history.entries:
        facts = ", ".join(f"{k}={v}" for k, v in e.facts.items() if v is not None)
        table.add_row(
            str(e.version), e.recorded_at_utc[:19], e.event, Text(facts), (e.run_id or "")[:8]
        )
    console.print(table)
    console.print(Text(albums_words(history.albums)))
    for story in history.deletions:
        _print_story(story)


def _print_story(story: DeletionStory) -> None:
    evidence = ", ".join(f"{k}={v}" for k, v in story.evidence.items() if v is not None)
    console.print(Text(
        f"deletion (plan {story.plan_id[:12]}) requested {story.requested_at_utc[:19]} "
        f"with evidence {evidence}; outcome {story.outcome}"
        + (f", recoverable until {story.recoverable_until_utc[:19]}"
           if story.recoverable_until_utc else "")
    ))
    for problem in story.problems:
        console.print(Text(f"  audit problem: {problem}"))
