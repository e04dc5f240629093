"""`photoledger backup-nas`: copy every downloaded resource to the NAS, then re-read and hash it.

Invariants:
- Options -> config -> services -> one engine entry (engine.nas.stage) -> render.
- The NAS marker (`.photoledger-nas` at nas.root) is checked before the writer lock is taken:
  without it the command exits NAS_UNAVAILABLE (12) and the ledger is not touched at all.
- `--dry-run` reads the ledger and the NAS marker only (which NAS is mounted decides what
  it lacks): no lock, no run, no other NAS access, nothing written.
- A NAS copy still damaged after the run is exit 17, a damaged last copy the alarm, exit 18
  (commands.output, as for `verify nas`).
"""

from __future__ import annotations

import click
from rich.text import Text

from commands.context import Settings
from commands.output import (
    console,
    finish_with_damage_check,
    print_json,
    print_plan,
)
from commands.progress import reporter_for
from engine.nas.access import require_nas_available
from engine.nas.files import nas_root_of
from engine.nas.run import NasOptions, NasSummary
from engine.nas.stage import plan_backup_nas, run_backup_nas
from engine.services import open_reader, open_writer
from engine.units import human_bytes


@click.command("backup-nas")
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Assets copied and re-read at the same time.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many assets.")
@click.option("--dry-run", is_flag=True, help="List what would be copied; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def backup_nas_command(
    settings: Settings, workers: int, limit: int | None, dry_run: bool, as_json: bool
) -> None:
    """Copy every downloaded resource to the NAS and verify each copy.

    An asset's resources are all the files iCloud would destroy with it: the original, the
    live-photo video, the RAW/JPEG twin, the edited still and the edited video. Each file
    goes to nas.root at its library path: temp file beside it, fsync, rename,
    fsync the folder; then the copy is re-read with the page cache dropped and hashed.
    Equal to the downloaded sha256: NasVerified; different: NasMismatched, and the next
    run repairs it from the library copy, else the Pixel outbox copy, whichever still
    hashes to the download (assets deleted from iCloud too: their NAS copy may be the
    last). With neither, an asset still in iCloud is asked of iCloud again: the next
    `download` fetches it (the same bytes or nothing) and the next backup-nas repairs
    the NAS copy from it; `run` does both at once. A copy already there with the right
    bytes is adopted. Exits 12 and records nothing when the NAS marker .photoledger-nas
    is missing (share not mounted).
    """
    config = settings.load_config()
    options = NasOptions(workers=workers, limit=limit)
    if dry_run:
        with open_reader(config, settings) as services:
            planned = plan_backup_nas(services, options)
        print_plan(planned, "copy or adopt", "copied or adopted", as_json)
        return
    require_nas_available(nas_root_of(config))  # before the lock: record nothing at all
    with open_writer(config, settings, "backup-nas") as services:
        with reporter_for(settings.show_progress, quiet=as_json) as reporter:
            summary = run_backup_nas(services, options, reporter)
        if as_json:
            print_json(summary.as_dict())
        else:
            _print_summary(summary)
        # Inside the writer: the alarm's facts and the exit code (17/18) are this run's.
        finish_with_damage_check(services, settings.warn, quiet=as_json)


command = backup_nas_command




def _print_summary(summary: NasSummary) -> None:
    console.print(
        f"copied {summary.copied} ({human_bytes(summary.bytes_copied)}), adopted "
        f"{summary.adopted}, mismatched {summary.mismatched}, failed {summary.failed}; "
        f"{summary.elapsed_s:.1f} s"
    )
    for problem in summary.problems[:20]:
        console.print(Text(f"  {problem}"))
    if summary.unrepairable:
        console.print(
            f"{summary.unrepairable} of them have no good local source (the library and the "
            "Pixel outbox copies are gone or not the downloaded bytes): they need a "
            "re-download from iCloud"
        )
    if summary.refetch_requested:
        count = len(summary.refetch_requested)
        console.print(
            f"{count} asset{'s' if count != 1 else ''} still in iCloud will be downloaded again "
            "(checked against the recorded sha256): `photoledger download` then `photoledger "
            "backup-nas`, or one `photoledger run`, repairs the NAS copies from them"
        )
    if summary.mismatched > summary.unrepairable:
        console.print("mismatched copies are replaced by the next backup-nas run")
