"""`photoledger rebuild`: drop the media projection and replay the whole ledger."""

from __future__ import annotations

import click

from commands.context import Settings
from commands.output import console, progress_bar
from engine.maintenance import run_rebuild
from engine.services import open_reader, writer_lock


@click.command("rebuild")
@click.pass_obj
def command(settings: Settings) -> None:
    """Rebuild the media table and work lists from the ledger.

    Safe at any time: the projection is derived data. The old tables stay readable until the
    new ones replace them in one transaction. Takes the writer lock.
    """
    config = settings.load_config()
    with (
        writer_lock(config, settings, "rebuild"),
        open_reader(config, settings, catch_up=False) as services,
        progress_bar("replaying", services.ledger.max_position(),
                     settings.show_progress) as advance,
    ):
        result = run_rebuild(services, advance)
    console.print(
        f"rebuilt the media projection: {result.events} events, {result.assets} assets "
        f"in {result.seconds:.2f} s"
    )
