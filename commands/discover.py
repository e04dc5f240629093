"""`photoledger discover`: record what iCloud holds (full scan first, then `changes/zone` deltas).

Invariants:
- Options -> config -> services -> one engine entry (engine.library_passes.
  run_discover_libraries: engine.discover.stage.run_discover for each selected library) ->
  render; every fact, the sync tokens and StageCompleted are the engine's.
- The summary goes to stdout (JSON with `--json`); progress, if any, to stderr.
"""

from __future__ import annotations

import click

from commands.context import Settings
from commands.options import library_option, with_library_flag
from commands.output import console, print_json
from commands.progress import reporter_for
from engine.discover.pages import DiscoverResult
from engine.library_passes import run_discover_libraries
from engine.services import open_icloud, open_writer


@click.command("discover")
@click.option("--full", "force_full", is_flag=True,
              help="Scan the whole library even when a sync token is stored (an audit: records "
                   "edits and deletions the deltas might have missed).")
@click.option("--workers", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Pages fetched in parallel during a full scan.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@library_option
@click.pass_obj
def command(
    settings: Settings, force_full: bool, workers: int, as_json: bool,
    libraries: tuple[str, ...],
) -> None:
    """Record what iCloud holds: new assets, edits and deletions.

    The first run scans the whole library page by page (pages fetched in parallel). Later runs
    read only what changed since the stored CloudKit sync token; a run with no change costs at
    most two CloudKit calls after login. A rejected token falls back to a full scan. With
    several libraries (--library all), each is discovered in turn with its own sync token;
    --json then prints {"libraries": [...]}, one summary per library. A library named by a
    name or "all" (not the default PrimarySync) costs one zones/list per database first.
    """
    config = with_library_flag(settings.load_config(), libraries)
    with (
        open_writer(config, settings, "discover") as services,
        open_icloud(config) as port,
        reporter_for(settings.show_progress, quiet=as_json) as reporter,
    ):
        results = run_discover_libraries(services, port, workers=workers,
                                         force_full=force_full, reporter=reporter)
    if as_json:
        rows = [{"zone": zone, **r.__dict__, "counts": dict(r.counts)} for zone, r in results]
        print_json(rows[0] if len(rows) == 1 else {"libraries": rows})
        return
    for zone, result in results:
        show_summary(result, zone if len(results) > 1 else "")


def show_summary(result: DiscoverResult, zone: str = "") -> None:
    """One readable block at the end of a run (`zone`: which library, when several)."""
    counts = result.counts
    console.print(
        f"discover{f' {zone}' if zone else ''} ({result.mode}): {result.listed} records "
        f"listed in {result.pages} pages; "
        f"{counts.get('Discovered', 0)} new, {counts.get('RemoteChanged', 0)} changed, "
        f"{counts.get('RemoteDeleted', 0)} gone from iCloud, "
        f"{counts.get('Quarantined', 0)} quarantined; {result.cloudkit_calls} CloudKit calls "
        f"after {result.login_calls} login calls; {result.elapsed_s:.1f} s",
        markup=False,
    )
