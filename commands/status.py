"""`photoledger status`: counts and bytes per stage, backlog and failures (engine.status).

Invariants:
- Read-only: the projection is caught up, nothing is recorded or sent.
- A damaged last copy (engine.cleanup.last_copy) is shown before anything else, with the
  command that fixes it; other damaged NAS copies follow it.
- The iCloud table's rows add up to its last row (every byte iCloud ever listed), and its
  columns (originals, live videos, other resources) to its total column.
"""

from __future__ import annotations

from dataclasses import asdict

import click
from rich.table import Table
from rich.text import Text

from commands.context import Settings
from commands.output import console, print_json
from engine.services import open_reader
from engine.status import StatusReport, run_status
from engine.units import human_bytes
from projections.icloud_bytes import IcloudStandings


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def command(settings: Settings, as_json: bool) -> None:
    """Show what the library holds and what each stage still has to do.

    Counts and bytes per milestone (discovered, downloaded, backed up, compressed, deleted),
    the backlog of every stage with its oldest item, and the assets with recorded problems.
    """
    with open_reader(settings.load_config(), settings) as services:
        report = run_status(services)
    if as_json:
        print_json({**asdict(report), "stages": [asdict(s) for s in report.stages],
                    "icloud": report.icloud.as_json()})
        return
    _print_report(report)


def _print_report(report: StatusReport) -> None:
    for damage in report.nas_damage[:20]:  # the alarm before anything else
        console.print(Text(damage["message"], style="bold red" if damage["is_last_copy"] else ""))
    if report.icloud_login:
        console.print(Text(report.icloud_login, style="yellow"))
    t = report.totals
    console.print(
        f"{t['assets']} assets; "
        f"{t['downloaded']} downloaded ({human_bytes(t['downloaded_bytes'])}"
        + (f"; {t['partially_downloaded']} of them partly, see problems" if
           t["partially_downloaded"] else "") + "), "
        f"{t['nas_verified']} NAS-verified, {t['google_verified']} on the Pixel, "
        f"{t['compressed']} compressed (saved {human_bytes(t['compression_saved_bytes'])}), "
        f"{t['deleted_from_icloud']} deleted from iCloud by photoledger"
    )
    console.print(_icloud_table(report.icloud))
    _print_deleted(report.icloud)
    table = Table("stage", "waiting", "size", "oldest capture", title="backlog")
    for s in report.stages:
        table.add_row(
            s.stage, str(s.waiting), human_bytes(s.waiting_bytes), s.oldest_captured_at_utc or "-"
        )
    console.print(table)
    if report.failures:
        _print_problems(report)
    if report.last_run:
        r = report.last_run
        console.print(
            f"last run: {r['command']} started {r['started_at_utc']}, "
            f"outcome {r['outcome'] or 'unfinished'}"
        )
    console.print(f"ledger position {report.ledger_position}")


def _print_problems(report: StatusReport) -> None:
    problems = Table(
        "asset", "file", "problem", "when", title=f"{report.totals['with_problems']} with problems"
    )
    for f in report.failures:
        problems.add_row(  # Text: file names and errors are data, never rich markup
            f["asset_id"][:12],
            Text(f["filename"]),
            Text((f"missing {f['missing']}: " if f["missing"] else "")
                 + (f["last_error"] or f["quarantine_reason"])),
            f["last_error_at_utc"] or "-",
        )
    console.print(problems)


_ICLOUD_ROWS = (
    ("in_icloud", "in iCloud now"),
    ("deletion_requested", "deletion requested, outcome unknown"),
    ("recently_deleted", "in Recently Deleted"),
    ("freed_for_good", "freed for good"),
    ("deleted_elsewhere", "deleted outside photoledger"),
)


def _icloud_table(icloud: IcloudStandings) -> Table:
    """Where iCloud's bytes are: the rows add up to the last (every byte ever listed)."""
    table = Table("iCloud", "assets", "originals", "live videos", "other", "total",
                  title="iCloud bytes (by the resources each record lists)")
    first, last = icloud.recoverable_until_first_utc, icloud.recoverable_until_last_utc
    for key, label in _ICLOUD_ROWS:
        if key in ("deletion_requested", "deleted_elsewhere") and not icloud[key].assets:
            continue
        until = ""
        if key == "recently_deleted" and first is not None and last is not None:
            until = (f" until {last:%Y-%m-%d}" if first.date() == last.date()
                     else f" until {first:%Y-%m-%d} .. {last:%Y-%m-%d}")
        table.add_row(label + until, *_bytes_cells(icloud, key))
    table.add_section()
    table.add_row("ever in iCloud", *_bytes_cells(icloud, "ever"))
    return table


def _bytes_cells(icloud: IcloudStandings, key: str) -> list[str]:
    row = icloud[key]
    return [str(row.assets), human_bytes(row.original_bytes), human_bytes(row.live_video_bytes),
            human_bytes(row.other_bytes), human_bytes(row.total_bytes)]


def _print_deleted(icloud: IcloudStandings) -> None:
    """In words, once anything was deleted: what Recently Deleted still holds (until when),
    and what is freed for good."""
    kept, freed = icloud["recently_deleted"], icloud["freed_for_good"]
    if not (kept.assets or freed.assets):
        return
    last = icloud.recoverable_until_last_utc
    until = f" until {last:%Y-%m-%d}" if last is not None else ""
    console.print(
        f"in iCloud's Recently Deleted{until}: {kept.assets} assets, "
        f"{human_bytes(kept.total_bytes)} (`photoledger recover ASSET` brings one back)"
    )
    console.print(
        f"freed in iCloud for good: {freed.assets} assets, "
        f"{human_bytes(freed.total_bytes)} (past Recently Deleted's 30 days)"
    )
