"""`photoledger album-move`: add assets that passed every required stage to DeletePending.

Invariants:
- Only `engine.cleanup.album` decides and acts; this module wires dependencies and prints.
- `--dry-run` reads the ledger only (no lock, no run, no iCloud call) and lists the candidates.
"""

from __future__ import annotations

from dataclasses import asdict

import click
from rich.text import Text

from commands.context import Deps, Settings, open_icloud, open_reader, open_writer
from commands.output import console, print_json
from engine.cleanup.album import AlbumMoveSummary, execute_album_move, plan_album_move
from engine.cleanup.effects import CleanupContext, CleanupEffects, DryRunEffects, LiveEffects
from engine.cleanup.plan import label_of
from engine.config import load_config
from engine.icloud.port import IcloudPort


def cleanup_context(deps: Deps, port: IcloudPort, *, dry_run: bool) -> CleanupContext:
    """The engine's view of a cleanup command's dependencies (no-op effects when dry)."""
    effects: CleanupEffects = DryRunEffects() if dry_run else LiveEffects(deps.ledger, port)
    return CleanupContext(
        ledger=deps.ledger,
        projection=deps.projection,
        port=port,
        effects=effects,
        crash=deps.crash,
        run_id=deps.run_id if deps.run is not None else "0" * 32,
        clock=deps.clock,
        settings=deps.config.settings,
        library_root=deps.config.library_root,
        nas_root=deps.config.nas_root(),
    )


def run_album_move(deps: Deps, port: IcloudPort, limit: int | None = None) -> AlbumMoveSummary:
    """Observe removals and add eligible assets to DeletePending; record the stage."""
    summary = execute_album_move(cleanup_context(deps, port, dry_run=False), limit)
    counts = {
        "moved": len(summary.moved),
        "removals_observed": len(summary.removals_observed),
        "refused": len(summary.refused),
    }
    deps.record_stage_completed("album-move", counts)
    return summary


@click.command("album-move")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many assets.")
@click.option("--dry-run", is_flag=True, help="List what would be moved; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def command(settings: Settings, limit: int | None, dry_run: bool, as_json: bool) -> None:
    """Add assets whose required copies are verified to the iCloud album DeletePending.

    Eligible: downloaded with the declared size, every backup in cleanup.require verified
    for that sha256, older than cleanup.keep_recent_days, unchanged in iCloud. The album is
    created when missing. Look at it on your phone: anything you take out of it is recorded
    and never deleted. Nothing is deleted by this command.
    """
    config = load_config(settings.config_path)
    if dry_run:
        with open_reader(config, settings) as deps:
            chosen, waiting = plan_album_move(deps.projection, deps.clock(), config.settings)
        labels = [label_of(state) for _id, state in chosen[:limit]]
        if as_json:
            print_json({"would_move": labels, "not_eligible": waiting})
            return
        for label in labels:
            console.print(Text(f"would move {label}"))
        console.print(f"{len(labels)} assets would be moved; {waiting} not eligible yet")
        return
    writer = open_writer(config, settings, "album-move", verify_ledger=True)
    with open_icloud(config) as port, writer as deps:
        summary = run_album_move(deps, port, limit)
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

