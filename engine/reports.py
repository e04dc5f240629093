"""The report use case: bring the DuckDB reports file in step with the ledger and run a report.

Invariants:
- Read-only towards the ledger: the caller opens the services as a reader (no lock, no run);
  only the derived, disposable reports file (`<state>/reports.duckdb`) is written.
- The gate's blocks depend on `now`, the policy and the NAS mounted now, so they are computed
  at every build that asks for them (only `backlog` reads them).
"""

from __future__ import annotations

from pathlib import Path

from engine.cleanup.effects import mounted_nas_id
from engine.services import Services
from projections.reports import Report, run_report_file
from projections.reports.store import REPORTS_FILE, BuildInputs, build_reports


def build_reports_file(services: Services, *, with_gate_blocks: bool = True) -> Path:
    """Bring the reports file in step with the caught-up projection; returns its path."""
    inputs = BuildInputs(
        settings=services.config.settings,
        now=services.clock(),
        mounted_nas_id=mounted_nas_id(services.config.nas_root()),
        with_gate_blocks=with_gate_blocks,
    )
    return build_reports(services.projection, services.config.state_dir / REPORTS_FILE, inputs)


def run_named_report(services: Services, name: str) -> Report:
    """Build the reports file and run report `name` on it."""
    path = build_reports_file(services, with_gate_blocks=name == "backlog")
    return run_report_file(path, name, services.clock())
