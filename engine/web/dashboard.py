"""The dashboard's figures in words: engine.status's report, read-only, alarms first.

Invariants:
- Everything comes from engine.status.run_status inside engine.services.open_reader (never the
  writer lock); nothing here queries the projection itself.
- Alarms come first: damaged last copies, other NAS damage, the 2FA wait or trust warning.
- Bytes are shown with binary units (KiB, MiB, ...), never as raw integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.config import Config
from engine.services import Runtime, open_reader
from engine.status import StatusReport, run_status

MILESTONES = (
    ("assets", None, "known in the ledger"),
    ("downloaded", "downloaded_bytes", "downloaded"),
    ("nas_verified", None, "verified on the NAS"),
    ("google_verified", None, "on the Pixel"),
    ("compressed", "compression_saved_bytes", "compressed (bytes saved)"),
    ("deleted_from_icloud", "icloud_freed_bytes", "deleted from iCloud by photoledger"),
)


def human_bytes(size_bytes: int | None) -> str:
    """1536 -> '1.5 KiB' (the CLI's units)."""
    if size_bytes is None:
        return "-"
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


@dataclass(frozen=True)
class Alarm:
    text: str
    severe: bool


@dataclass(frozen=True)
class Dashboard:
    alarms: list[Alarm]
    milestones: list[tuple[str, int, str]]  # label, count, bytes in words ("" when none)
    backlog: list[tuple[str, int, str, str]]  # stage, waiting, bytes, oldest capture
    problems: int
    last_run: str | None
    ledger_position: int


def read_dashboard(config: Config, runtime: Runtime) -> Dashboard:
    """The dashboard's figures, read under open_reader (no writer lock)."""
    with open_reader(config, runtime) as services:
        return dashboard_of(run_status(services))


def dashboard_of(report: StatusReport) -> Dashboard:
    alarms = [Alarm(d["message"], bool(d["is_last_copy"]))
              for d in sorted(report.nas_damage, key=lambda d: not d["is_last_copy"])]
    if report.icloud_login:
        alarms.append(Alarm(report.icloud_login, False))
    totals = report.totals
    return Dashboard(
        alarms=alarms,
        milestones=[(label, totals[key], human_bytes(totals[size]) if size else "")
                    for key, size, label in MILESTONES],
        backlog=[(s.stage, s.waiting, human_bytes(s.waiting_bytes),
                  s.oldest_captured_at_utc or "-") for s in report.stages],
        problems=totals["with_problems"],
        last_run=_last_run(report.last_run),
        ledger_position=report.ledger_position,
    )


def _last_run(run: dict[str, Any] | None) -> str | None:
    if run is None:
        return None
    return (f"{run['command']} started {run['started_at_utc']}, "
            f"outcome {run['outcome'] or 'unfinished'}")
