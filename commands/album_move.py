"""`photoledger album-move`: add assets that passed every required stage to DeletePending.

Invariants:
- Only `engine.cleanup.album` decides and acts; this module opens the services and prints.
- `--dry-run` reads the ledger only (no lock, no run, no iCloud call) and lists the candidates.
- Progress goes to a terminal only (bars); plain output is the summary lines alone.
"""

from __future__ import annotations

from dataclasses import asdict

import click
from rich.text import Text

from commands.context import Settings
from commands.options import library_option, with_library_flag
from commands.output import console, print_json
from commands.progress import reporter_for
from engine.cleanup import album
from engine.library_passes import one_library
from engine.services import open_icloud, open_reader, open_writer


@click.command("album-move")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many assets.")
@click.option("--dry-run", is_flag=True, help="List what would be moved; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@library_option
@click.pass_obj
def command(
    settings: Settings, limit: int | None, dry_run: bool, as_json: bool,
    libraries: tuple[str, ...],
) -> None:
    """Add assets whose required copies are verified to the iCloud album DeletePending.

    Eligible: downloaded with the declared size, every backup in cleanup.require verified
    for that sha256, older than cleanup.keep_recent_days, unchanged in iCloud. The album is
    created when missing. Look at it on your phone: anything you take out of it is recorded
    and never deleted. Nothing is deleted by this command. One library at a time: a Shared
    Library only with cleanup.include_shared_library (its deletes reach every participant).
    """
    config = with_library_flag(settings.load_config(), libraries)
    if dry_run:
        with open_reader(config, settings) as services:
            plan = album.plan_album_move(one_library(services, "album-move"), limit)
        _print_plan(plan, as_json)
        return
    quiet = as_json or not settings.show_progress
    writer = open_writer(config, settings, "album-move", verify_ledger=True)
    with (open_icloud(config) as port, writer as services,
          reporter_for(settings.show_progress, quiet=quiet) as reporter):
        summary = album.run_album_move(one_library(services, "album-move"), port, reporter,
                                       limit=limit)
    if as_json:
        print_json(asdict(summary))
        return
    console.print(
        f"moved {len(summary.moved)} to DeletePending; {len(summary.removals_observed)} taken "
        f"out by you (never deleted); {len(summary.refused)} refused by iCloud; "
        f"{summary.not_eligible} not eligible yet"
    )
    for problem in summary.refused[:20]:
        console.print(Text(f"  refused: {problem}"))


def _print_plan(plan: album.AlbumMovePlan, as_json: bool) -> None:
    if as_json:
        print_json({"would_move": plan.labels, "not_eligible": plan.not_eligible,
                    "waiting": [{"label": label, "reasons": reasons}
                                for label, reasons in plan.waiting]})
        return
    for label in plan.labels:
        console.print(Text(f"would move {label}"))
    for label, reasons in plan.waiting[:50]:
        console.print(Text(f"not eligible {label}: {'; '.join(reasons)}"))
    console.print(f"{len(plan.labels)} assets would be moved; {plan.not_eligible} not eligible yet")
