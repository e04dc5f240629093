"""`photoledger discover`: record what iCloud holds (full scan first, then `changes/zone` deltas).

Invariants:
- Options -> config -> services -> one engine entry (engine.discover.stage.run_discover) ->
  render; every fact, the sync tokens and StageCompleted are the engine's.
- The summary goes to stdout (JSON with `--json`); progress, if any, to stderr.
"""

from __future__ import annotations

import click

from commands.context import Settings
from commands.output import console, print_json
from commands.progress import reporter_for
from engine.config import load_config
from engine.discover.stage import DiscoverOptions, DiscoverResult
from engine.discover.stage import run_discover as run_discover_stage
from engine.services import open_icloud, open_writer


@click.command("discover")
@click.option("--full", "force_full", is_flag=True,
              help="Scan the whole library even when a sync token is stored (an audit: records "
                   "edits and deletions the deltas might have missed).")
@click.option("--workers", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Pages fetched in parallel during a full scan.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def command(settings: Settings, force_full: bool, workers: int, as_json: bool) -> None:
    """Record what iCloud holds: new assets, edits and deletions.

    The first run scans the whole library page by page (pages fetched in parallel). Later runs
    read only what changed since the stored CloudKit sync token; a run with no change costs at
    most two CloudKit calls after login. A rejected token falls back to a full scan.
    """
    config = load_config(settings.config_path)
    options = DiscoverOptions(
        zone=config.settings.icloud.library, workers=workers, force_full=force_full
    )
    with (
        open_writer(config, settings, "discover") as services,
        open_icloud(config) as port,
        reporter_for(settings.show_progress, quiet=as_json) as reporter,
    ):
        result = run_discover_stage(services, port, options, reporter)
    if as_json:
        print_json({**result.__dict__, "counts": dict(result.counts)})
        return
    show_summary(result)


def show_summary(result: DiscoverResult) -> None:
    """One readable block at the end of a run."""
    counts = result.counts
    console.print(
        f"discover ({result.mode}): {result.listed} records listed in {result.pages} pages; "
        f"{counts.get('Discovered', 0)} new, {counts.get('RemoteChanged', 0)} changed, "
        f"{counts.get('RemoteDeleted', 0)} gone from iCloud, "
        f"{counts.get('Quarantined', 0)} quarantined; {result.cloudkit_calls} CloudKit calls "
        f"after {result.login_calls} login calls; {result.elapsed_s:.1f} s",
        markup=False,
    )
