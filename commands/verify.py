"""`photoledger verify nas`: re-read and re-hash NAS copies, least recently verified first.

Invariants:
- Options -> config -> services -> one engine entry (engine.nas.stage) -> render.
- Every verdict is a re-read of the bytes (page cache dropped), never a size or time
  comparison: a flipped byte with the same size and modification time is caught.
- The NAS marker is checked before the writer lock is taken: without it the command exits
  NAS_UNAVAILABLE (12) and records nothing (an unmounted share is never "all missing").
- `--max-duration` bounds one run; copies left over are first in line next time, so a
  nightly run covers the whole NAS over several nights. A copy last verified longer ago than
  nas.max_verify_age_days no longer counts for the deletion gate; the summary says how many.
- `--dry-run` reads the ledger only.
- A damaged NAS copy the ledger holds after the run (found now or before, not repaired) is
  exit 17; a damaged last copy (deleted from iCloud, local copy compressed or removed) is the
  alarm, exit 18, with one `backup-damaged` notification per damage (commands.output).
"""

from __future__ import annotations

import click
from rich.text import Text

from commands.context import Settings
from commands.output import console, finish_with_damage_check, print_json, print_plan
from commands.progress import reporter_for
from engine.nas.access import require_nas_available
from engine.nas.files import nas_root_of
from engine.nas.plan import parse_duration_s
from engine.nas.run import NasOptions, NasSummary
from engine.nas.stage import plan_verify_nas, run_verify_nas
from engine.services import open_reader, open_writer


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    """Click callback: 90s, 30m, 2h or 1d (plain numbers are seconds) -> seconds."""
    if value is None:
        return None
    try:
        return parse_duration_s(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group("verify")
def verify_group() -> None:
    """Re-check backup copies by reading their bytes back (`verify nas`).

    A backup counts for deleting from iCloud only while a recent re-read proved it holds
    the downloaded bytes; run `photoledger verify nas --max-duration 1h` nightly.
    """


@verify_group.command("nas")
@click.option("--max-duration", callback=_duration, metavar="DURATION",
              help="Stop starting new copies after this long (e.g. 30m, 2h); the next run "
              "resumes with the copies verified longest ago.")
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Copies re-read at the same time.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many assets.")
@click.option("--dry-run", is_flag=True, help="List what would be re-read, in order; change "
              "nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def verify_nas_command(
    settings: Settings,
    max_duration: float | None,
    workers: int,
    limit: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Re-read and re-hash NAS copies, least recently verified first.

    Each copy is read back with the page cache dropped and hashed; equal to the downloaded
    sha256 records NasVerified (a new verification time), anything else NasMismatched
    (backup-nas then replaces the copy). Exits 12 and records nothing without the NAS marker.
    """
    config = settings.load_config()
    options = NasOptions(workers=workers, limit=limit, max_duration_s=max_duration)
    if dry_run:
        with open_reader(config, settings) as services:
            planned = plan_verify_nas(services, options)
        print_plan(planned, "re-read", "re-read", as_json)
        return
    require_nas_available(nas_root_of(config))  # before the lock: record nothing at all
    with open_writer(config, settings, "verify nas") as services:
        with reporter_for(settings.show_progress, quiet=as_json) as reporter:
            summary = run_verify_nas(services, options, reporter)
        if as_json:
            print_json(summary.as_dict())
        else:
            _print_summary(summary, config.settings.nas.max_verify_age_days)
        # Inside the writer: the alarm's facts and the exit code (17/18) are this run's.
        finish_with_damage_check(services, settings.warn, quiet=as_json)


command = verify_group




def _print_summary(summary: NasSummary, max_age_days: int) -> None:
    console.print(
        f"re-verified {summary.reverified}, mismatched {summary.mismatched}; "
        f"{summary.elapsed_s:.1f} s"
        + (f"; {summary.not_reached} not reached (stopped at --max-duration)"
           if summary.not_reached else "")
    )
    for problem in summary.problems[:20]:
        console.print(Text(f"  {problem}"))
    if summary.outdated_after_run:
        console.print(
            f"{summary.outdated_after_run} NAS copies were last verified more than "
            f"{max_age_days} days ago and do not count for deletion until re-read"
        )
