"""`photoledger history ASSET`: the full audit trail of one asset.

ASSET may be the asset id (uuid), the iCloud record name, or a local path (absolute, relative
to the library root, or relative to the current folder and inside the library). A name that
matches several assets is refused with the list.
Each deletion request is shown again with its evidence, its plan and its outcome, as
`photoledger audit` judges it. Where the asset stands in iCloud is said in words, by the
clock: its bytes still in Recently Deleted (until when, and the `recover` command), freed
for good, or back in the Library after a recover.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import click
from rich.table import Table
from rich.text import Text

from commands.context import Deps, Settings, open_reader
from commands.output import console, human_bytes, print_json
from engine import events as ev
from engine.albums import album_path
from engine.asset import MediaState
from engine.cleanup.audit import DeletionStory, decide_deletion_stories
from engine.config import load_config
from projections.albums import known_albums
from projections.assets import resolve_asset as find_asset


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    recorded_at_utc: str
    event: str
    run_id: str | None
    facts: dict[str, Any]


def resolve_asset(deps: Deps, asset: str) -> UUID:
    """The asset id named by an id, an iCloud record name or a local path."""
    return find_asset(deps.projection, asset, deps.config.library_root)


def run_history(deps: Deps, asset: str) -> tuple[UUID, list[HistoryEntry]]:
    """Every event of the asset, oldest first."""
    asset_id = resolve_asset(deps, asset)
    entries = []
    for event in deps.ledger.events_of(asset_id):
        facts = {
            k: v
            for k, v in vars(event).items()
            if k
            not in {
                "originator_id",
                "originator_version",
                "timestamp",
                "run_id",
                "originator_topic",
            }
        }
        entries.append(
            HistoryEntry(
                version=event.originator_version,
                recorded_at_utc=event.timestamp.isoformat(),
                event=type(event).__name__,
                run_id=getattr(event, "run_id", None),
                facts=facts,
            )
        )
    return asset_id, entries


def run_deletion_stories(deps: Deps, asset_id: UUID) -> list[DeletionStory]:
    """The asset's deletion requests with their evidence, outcome and audit problems."""
    from commands.audit import load_stored_plans

    events = deps.ledger.events_of(asset_id)
    if not any(isinstance(e, ev.DeletionRequested) for e in events):
        return []
    plans = load_stored_plans(deps)
    stories, _strays = decide_deletion_stories(events, plans, deps.config.settings)
    return stories


def describe_icloud_state(asset_id: UUID, state: MediaState, now: datetime) -> str | None:
    """Where the asset stands in iCloud after deletions and recovers (None: nothing to say)."""
    size = human_bytes(state.icloud_size_bytes)
    until = state.recoverable_until_utc
    if state.deletion_state == "deleted" and until is not None:
        if until > now:
            return (f"iCloud: deleted; {size} in Recently Deleted until {until:%Y-%m-%d %H:%M} "
                    f"UTC (`photoledger recover {asset_id.hex}` brings it back until then)")
        return (f"iCloud: deleted; {size} freed for good (Recently Deleted let it go on "
                f"{until:%Y-%m-%d})")
    if state.recovered_at_utc is not None and state.deletion_state is None:
        return (f"iCloud: recovered from Recently Deleted on {state.recovered_at_utc:%Y-%m-%d}; "
                "back in the Library (a new deletion passes the whole gate again)")
    return None


def run_albums_of(deps: Deps, asset_id: UUID) -> list[dict[str, Any]]:
    """The albums holding the asset, by name and folder path (a removed one: path None)."""
    state = deps.projection.states_of({asset_id.hex}).get(asset_id.hex)
    if state is None:
        return []
    albums = known_albums(deps.projection, state.zone)
    found = []
    for album_id in state.album_ids:
        known = albums.get(album_id)
        found.append({
            "album_id": album_id,
            "name": known.name if known else None,
            "path": album_path(album_id, albums),
            "is_removed": known.is_removed if known else None,
        })
    return sorted(found, key=lambda a: (a["path"] is None, a["path"] or "", a["album_id"]))


def _albums_line(albums: list[dict[str, Any]]) -> str:
    names = [a["path"] or f"{a['name'] or a['album_id']} (removed)" for a in albums]
    return "albums: " + (", ".join(names) if names else "none")


@click.command("history")
@click.argument("asset")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def command(settings: Settings, asset: str, as_json: bool) -> None:
    """Show every recorded fact about ASSET, oldest first, with the run that recorded it.

    ASSET is an asset id, an iCloud record name, or a local path (absolute or relative to the
    library root).
    """
    with open_reader(load_config(settings.config_path), settings) as deps:
        asset_id, entries = run_history(deps, asset)
        stories = run_deletion_stories(deps, asset_id)
        albums = run_albums_of(deps, asset_id)
        state = deps.ledger.get_asset(asset_id).state
        icloud = describe_icloud_state(asset_id, state, deps.clock())
    if as_json:
        print_json({
            "asset_id": asset_id.hex,
            "events": [e.__dict__ for e in entries],
            "deletions": [asdict(story) for story in stories],
            "albums": albums,
            "icloud": icloud,
        })
        return
    table = Table("#", "recorded (UTC)", "event", "facts", "run", title=f"asset {asset_id.hex}")
    for e in entries:
        facts = ", ".join(f"{k}={v}" for k, v in e.facts.items() if v is not None)
        table.add_row(
            str(e.version), e.recorded_at_utc[:19], e.event, Text(facts), (e.run_id or "")[:8]
        )
    console.print(table)
    console.print(Text(_albums_line(albums)))
    for story in stories:
        _print_story(story)
    if icloud is not None:
        console.print(Text(icloud))


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
