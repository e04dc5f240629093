"""`photoledger status`: counts and bytes per stage, backlog and failures, from the projection.

Invariants:
- Read-only: the projection is caught up, nothing is recorded or sent.
- A damaged last copy (engine.cleanup.last_copy) is shown before anything else, with the
  command that fixes it; other damaged NAS copies follow it.
- Bytes deleted from iCloud are told apart by the clock: still in Recently Deleted (and until
  when) or freed for good.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from commands.context import Deps, Settings, open_reader
from commands.output import console, human_bytes, print_json
from engine.cleanup.last_copy import decide_damage, describe_damage
from engine.config import load_config
from projections.last_copy import DeletedBytes, damaged_nas_copies, deleted_bytes
from projections.worklists import (
    StageSummary,
    failures,
    last_run,
    library_totals,
    stage_summaries,
)


@dataclass(frozen=True)
class StatusReport:
    totals: dict[str, int]
    stages: list[StageSummary]
    failures: list[dict[str, Any]]
    last_run: dict[str, Any] | None
    ledger_position: int
    nas_damage: list[dict[str, Any]]  # last copies first
    icloud_deleted: DeletedBytes


def run_status(deps: Deps) -> StatusReport:
    """Gather the status report from the (caught-up) projection."""
    now = deps.clock()
    return StatusReport(
        nas_damage=[
            {"asset_id": d.asset_id, "nas_relpath": d.nas_relpath,
             "is_last_copy": d.is_last_copy, "message": describe_damage(d, now)}
            for asset_id, state in damaged_nas_copies(deps.projection)
            if (d := decide_damage(asset_id, state)) is not None
        ],
        icloud_deleted=deleted_bytes(deps.projection, now),
        totals=library_totals(deps.projection),
        stages=stage_summaries(deps.projection),
        failures=failures(deps.projection),
        last_run=last_run(deps.projection),
        ledger_position=deps.projection.position(),
    )


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def command(settings: Settings, as_json: bool) -> None:
    """Show what the library holds and what each stage still has to do.

    Counts and bytes per milestone (discovered, downloaded, backed up, compressed, deleted),
    the backlog of every stage with its oldest item, and the assets with recorded problems.
    """
    with open_reader(load_config(settings.config_path), settings) as deps:
        report = run_status(deps)
    if as_json:
        print_json({**asdict(report), "stages": [asdict(s) for s in report.stages]})
        return
    _print_report(report)


def _print_report(report: StatusReport) -> None:
    for damage in report.nas_damage[:20]:  # the alarm before anything else
        console.print(Text(damage["message"], style="bold red" if damage["is_last_copy"] else ""))
    t = report.totals
    console.print(
        f"{t['assets']} assets ({human_bytes(t['icloud_bytes'])} in iCloud); "
        f"{t['downloaded']} downloaded ({human_bytes(t['downloaded_bytes'])}"
        + (f"; {t['partially_downloaded']} of them partly, see problems" if
           t["partially_downloaded"] else "") + "), "
        f"{t['nas_verified']} NAS-verified, {t['google_verified']} Google-verified, "
        f"{t['compressed']} compressed (saved {human_bytes(t['compression_saved_bytes'])}), "
        f"{t['deleted_from_icloud']} deleted from iCloud "
        f"({human_bytes(t['icloud_freed_bytes'])} freed)"
    )
    _print_deleted(report.icloud_deleted)
    table = Table("stage", "waiting", "size", "oldest capture", title="backlog")
    for s in report.stages:
        table.add_row(
            s.stage, str(s.waiting), human_bytes(s.waiting_bytes), s.oldest_captured_at_utc or "-"
        )
    console.print(table)
    if report.failures:
        problems = Table(
            "asset", "file", "problem", "when", title=f"{t['with_problems']} with problems"
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
    if report.last_run:
        r = report.last_run
        console.print(
            f"last run: {r['command']} started {r['started_at_utc']}, "
            f"outcome {r['outcome'] or 'unfinished'}"
        )
    console.print(f"ledger position {report.ledger_position}")


def _print_deleted(d: DeletedBytes) -> None:
    """Deleted from iCloud: what Recently Deleted still holds (until when), and what is freed
    for good; both lines once anything was deleted."""
    if not (d.recoverable_assets or d.freed_for_good_assets):
        return
    first, last = d.recoverable_until_first_utc, d.recoverable_until_last_utc
    until = ""
    if first is not None and last is not None:
        until = (f" until {last:%Y-%m-%d}" if first.date() == last.date()
                 else f" until {first:%Y-%m-%d} .. {last:%Y-%m-%d}")
    console.print(
        f"in iCloud's Recently Deleted{until}: {d.recoverable_assets} assets, "
        f"{human_bytes(d.recoverable_bytes)} (`photoledger recover ASSET` brings one back)"
    )
    console.print(
        f"freed in iCloud for good: {d.freed_for_good_assets} assets, "
        f"{human_bytes(d.freed_for_good_bytes)} (past Recently Deleted's 30 days)"
    )
