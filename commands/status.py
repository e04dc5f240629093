"""`photoledger status`: counts and bytes per stage, backlog and failures, from the projection."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from commands.context import Deps, Settings, open_reader
from commands.output import console, human_bytes, print_json
from engine.config import load_config
from projections.worklists import StageSummary, failures, library_totals, stage_summaries


@dataclass(frozen=True)
class StatusReport:
    totals: dict[str, int]
    stages: list[StageSummary]
    failures: list[dict[str, Any]]
    last_run: dict[str, Any] | None
    ledger_position: int


def run_status(deps: Deps) -> StatusReport:
    """Gather the status report from the (caught-up) projection."""
    runs = deps.projection.query("SELECT * FROM runs ORDER BY started_at_utc DESC LIMIT 1")
    return StatusReport(
        totals=library_totals(deps.projection),
        stages=stage_summaries(deps.projection),
        failures=failures(deps.projection),
        last_run=dict(runs[0]) if runs else None,
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
