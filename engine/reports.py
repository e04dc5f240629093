"""The report use case: bring the DuckDB reports file in step with the ledger and run a report.

Invariants:
- Read-only towards the ledger: the caller opens the services as a reader (no lock, no run);
  only the derived, disposable reports file (`<state>/reports.duckdb`) is written.
- The gate's blocks depend on `now`, the policy and the NAS mounted now, so they are computed
  at every build that asks for them (only `backlog` reads them); so is compress's work list,
  the assets `compress` would compress now (engine.status.due_for_compression).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TextIO

from engine.cleanup.effects import mounted_nas_id
from engine.selection import NO_SELECTION
from engine.selection_scope import selection_scope
from engine.services import Services
from engine.status import due_for_compression
from projections.damage import reported_as_damage
from projections.reports import Report, Section, csv_rows, run_report_file
from projections.reports.store import REPORTS_FILE, BuildInputs, build_reports


def build_reports_file(services: Services, *, with_gate_blocks: bool = True) -> Path:
    """Bring the reports file in step with the caught-up projection; returns its path."""
    inputs = BuildInputs(
        settings=services.config.settings,
        now=services.clock(),
        mounted_nas_id=mounted_nas_id(services.config.nas_root()),
        with_gate_blocks=with_gate_blocks,
        compress_due=tuple(due_for_compression(services)) if with_gate_blocks else None,
        selection=selection_scope(services) if with_gate_blocks else NO_SELECTION,
    )
    return build_reports(services.projection, services.config.state_dir / REPORTS_FILE, inputs)


def run_named_report(services: Services, name: str) -> Report:
    """Build the reports file and run report `name` on it."""
    with reported_as_damage(services.projection.path):
        path = build_reports_file(services, with_gate_blocks=name == "backlog")
    return run_report_file(path, name, services.clock())


def write_csv(section: Section, out: TextIO) -> None:
    """One section as CSV: its column names, then its rows."""
    csv.writer(out, lineterminator="\n").writerows(csv_rows(section))


def write_csv_folder(report: Report, folder: Path) -> list[Path]:
    """Every section of `report` as `folder/<report>-<section>.csv`; returns the files."""
    written = []
    for name, section in report.sections.items():
        target = folder / f"{report.name}-{name}.csv"
        with target.open("w", encoding="utf-8", newline="") as out:
            write_csv(section, out)
        written.append(target)
    return written
