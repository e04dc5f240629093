"""`photoledger rebuild`: drop the media projection and replay the whole ledger."""

from __future__ import annotations

import time
from dataclasses import dataclass

import click

from commands.context import Deps, Settings, open_reader, writer_lock
from commands.output import console, progress_bar
from engine.config import load_config


@dataclass(frozen=True)
class RebuildResult:
    events: int
    assets: int
    seconds: float


def run_rebuild(deps: Deps, show_progress: bool = False) -> RebuildResult:
    """Replay every event into fresh projection tables (one atomic swap)."""
    deps.projection.refuse_if_ahead(deps.ledger)
    started = time.perf_counter()
    with progress_bar("replaying", deps.ledger.max_position(), show_progress) as advance:
        events = deps.projection.rebuild(deps.ledger, progress=advance)
    assets = int(deps.projection.con.execute("SELECT COUNT(*) FROM media").fetchone()[0])
    return RebuildResult(events, assets, time.perf_counter() - started)


@click.command("rebuild")
@click.pass_obj
def command(settings: Settings) -> None:
    """Rebuild the media table and work lists from the ledger.

    Safe at any time: the projection is derived data. The old tables stay readable until the
    new ones replace them in one transaction. Takes the writer lock.
    """
    config = load_config(settings.config_path)
    with (
        writer_lock(config, settings, "rebuild"),
        open_reader(config, settings, catch_up=False) as deps,
    ):
        result = run_rebuild(deps, settings.show_progress)
    console.print(
        f"rebuilt the media projection: {result.events} events, {result.assets} assets "
        f"in {result.seconds:.2f} s"
    )
