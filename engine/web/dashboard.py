"""The dashboard's figures in words: engine.status's report, read-only, alarms first.

Invariants:
- Everything is read inside engine.services.open_reader (never the writer lock): the figures
  are engine.status.run_status's; the recent runs and the plain waiting reasons are named
  queries (projections.dashboard); problems and the gate's blocks per stage are the backlog
  report's `stuck` section and the chart is the savings report's `over_time` section, run on
  the reports file exactly as `photoledger report` builds it (engine.reports). Nothing here
  writes SQL.
- The figures are computed once per ledger position and mounted NAS and reused for up to
  KEEP_FOR_S (what depends on the clock alone, such as "too recent", moves slowly); a
  position or NAS change recomputes them at once. The alarms that do not come from the ledger
  (the 2FA wait, other pages' alarm sources) are read afresh on every load.
- One computation at a time in this process (a lock): a second page loading meanwhile waits
  and reuses it, and two reports builds never share a temporary file name.
- Alarms come first: damaged last copies, other NAS damage, the 2FA wait or trust warning, then
  the alarms other pages add (`alarm_sources`, e.g. a deletion plan waiting for review).
- Bytes are shown with binary units (KiB, MiB, ...), never as raw integers; reasons are words.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine.cleanup.effects import mounted_nas_id
from engine.config import Config
from engine.icloud.twofa_state import icloud_login_status
from engine.reports import build_reports_file
from engine.services import Runtime, Services, open_reader
from engine.status import StatusReport, run_status
from engine.units import human_bytes
from engine.web.dashboard_chart import SavingsChart, savings_chart
from engine.web.dashboard_words import stuck_words, waiting_words
from engine.web.units import visible, with_code
from projections.damage import reported_as_damage
from projections.dashboard import RunRow, recent_runs, waiting_reasons
from projections.reports import run_report_file

MILESTONES = (
    ("assets", None, "known in the ledger"),
    ("downloaded", "downloaded_bytes", "downloaded"),
    ("nas_verified", None, "verified on the NAS"),
    ("google_verified", None, "on the Pixel"),
    ("compressed", "compression_saved_bytes", "compressed (bytes saved)"),
    ("deleted_from_icloud", "icloud_freed_bytes", "deleted from iCloud by photoledger"),
)
RECENT_RUNS = 8
SIGNIN_PAGE = "/signin"  # where a 2FA code is typed (engine.web.signin)
# Where iCloud's bytes are, as `photoledger status` lists them (the rows add up to "ever").
ICLOUD_ROWS = (
    ("in_icloud", "in iCloud now"),
    ("deletion_requested", "deletion requested, outcome unknown"),
    ("recently_deleted", "in Recently Deleted"),
    ("freed_for_good", "freed for good"),
    ("deleted_elsewhere", "deleted outside photoledger"),
    ("ever", "ever in iCloud"),
)
KEEP_FOR_S = 120.0
_KEEP = timedelta(seconds=KEEP_FOR_S)
_FIGURES_LOCK = threading.Lock()
__all__ = ["Alarm", "AlarmSource", "Dashboard", "dashboard_of", "read_dashboard"]


@dataclass(frozen=True)
class Alarm:
    text: str
    severe: bool
    link: str | None = None  # the page that acts on it, when there is one


# A source of extra alarms: reads what it needs from the open (read-only) services.
AlarmSource = Callable[[Services], list[Alarm]]


@dataclass(frozen=True)
class StageBacklog:
    stage: str
    waiting: int
    size: str
    oldest: str
    reasons: list[tuple[str, int, str]]  # why they wait (escaped HTML words), assets, size


@dataclass(frozen=True)
class RunLine:
    command: str
    started: str
    finished: str
    outcome: str
    failed: bool


@dataclass(frozen=True)
class ProblemLine:
    asset_id: str
    filename: str
    problem: str
    when: str


@dataclass(frozen=True)
class Dashboard:
    alarms: list[Alarm]
    milestones: list[tuple[str, int, str]]  # label, count, bytes in words ("" when none)
    backlog: list[tuple[str, int, str, str]]  # stage, waiting, bytes, oldest capture
    problems: int
    last_run: str | None
    ledger_position: int
    stages: list[StageBacklog] = field(default_factory=list)
    runs: list[RunLine] = field(default_factory=list)
    chart: SavingsChart | None = None
    problem_list: list[ProblemLine] = field(default_factory=list)
    as_of: str = ""  # when the figures were computed ("" when not said)
    icloud: list[tuple[str, int, str]] = field(default_factory=list)  # standing, assets, size


@dataclass(frozen=True)
class Extras:
    """What the dashboard reads beside engine.status's report."""

    runs: list[RunRow]
    waiting: list[tuple[str, str, int, int]]  # stage, reason in words, assets, bytes
    stuck: list[dict[str, Any]]  # the backlog report's `stuck` rows
    over_time: list[dict[str, Any]]  # the savings report's `over_time` rows
    alarms: list[Alarm]
    computed_at_utc: str = ""


@dataclass(frozen=True)
class _Figures:
    key: tuple[int, str | None]  # ledger position, mounted NAS id
    at: datetime  # when computed (the runtime's clock)
    report: StatusReport
    extras: Extras


_figures: dict[Path, _Figures] = {}


def read_dashboard(config: Config, runtime: Runtime,
                   alarm_sources: Sequence[AlarmSource] = ()) -> Dashboard:
    """The dashboard, read under open_reader (no writer lock); the figures reused while the
    ledger and the NAS are as they were (KEEP_FOR_S), the alarms always read afresh."""
    with open_reader(config, runtime) as services:
        report, extras = _figures_of(services)
        report = replace(report, icloud_login=icloud_login_status(config, services.clock()))
        alarms = [alarm for source in alarm_sources for alarm in source(services)]
        return dashboard_of(report, replace(extras, alarms=alarms))


def _figures_of(services: Services) -> tuple[StatusReport, Extras]:
    key = (services.projection.position(), mounted_nas_id(services.config.nas_root()))
    with _FIGURES_LOCK:
        cached = _figures.get(services.config.state_dir)
        now = services.clock()
        if cached and cached.key == key and timedelta(0) <= now - cached.at < _KEEP:
            return cached.report, cached.extras
        report = run_status(services)
        extras = _read_extras(services, report)
        _figures[services.config.state_dir] = _Figures(key, now, report, extras)
        return report, extras


def _read_extras(services: Services, report: StatusReport) -> Extras:
    now = services.clock()
    with reported_as_damage(services.projection.path):
        path = build_reports_file(services)
    backlog = run_report_file(path, "backlog", now)
    savings = run_report_file(path, "savings", now)
    waiting = [(r.stage, waiting_words(r.code), r.assets, r.size_bytes)
               for r in waiting_reasons(services.projection)]
    nas_root = services.config.nas_root()
    nas_waiting = any(s.stage == "backup-nas" and s.waiting for s in report.stages)
    if nas_waiting and mounted_nas_id(nas_root) is None:
        where = "no NAS is configured" if nas_root is None else (
            f"the NAS is not mounted (no marker in {nas_root}): nothing can be copied")
        waiting.insert(0, ("backup-nas", where, 0, 0))
    return Extras(
        runs=recent_runs(services.projection, RECENT_RUNS),
        waiting=waiting,
        stuck=backlog.sections["stuck"].records(),
        over_time=savings.sections["over_time"].records(),
        alarms=[],
        computed_at_utc=now.isoformat(),
    )


def dashboard_of(report: StatusReport, extras: Extras | None = None, *,
                 extra_alarms: Sequence[Alarm] = ()) -> Dashboard:
    """The dashboard of a status report (and what else was read); `extra_alarms` follow the
    status alarms (damaged copies, 2FA), before anything else on the page."""
    alarms = [Alarm(visible(d["message"]), bool(d["is_last_copy"]), f"/assets/{d['asset_id']}")
              for d in sorted(report.nas_damage, key=lambda d: not d["is_last_copy"])]
    others = [*extra_alarms, *(extras.alarms if extras is not None else [])]
    if report.icloud_login:
        alarms.append(_login_alarm(report.icloud_login, others))
    alarms += others
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
        stages=_stages(report, extras) if extras is not None else [],
        runs=[_run_line(r) for r in extras.runs] if extras is not None else [],
        chart=savings_chart(extras.over_time) if extras is not None else None,
        problem_list=[_problem_line(f) for f in report.failures],
        icloud=_icloud_rows(report),
        as_of=_minute(extras.computed_at_utc) if extras and extras.computed_at_utc else "",
    )


def _login_alarm(words: str, others: list[Alarm]) -> Alarm:
    """`status`'s 2FA line as the alarm; a page's own alarm for the same wait (one linking to
    SIGNIN_PAGE) is folded into it, so the wait is said once, with the link."""
    page = next((a for a in others if a.link == SIGNIN_PAGE), None)
    if page is None:
        return Alarm(words, False)
    others.remove(page)
    return Alarm(words, False, SIGNIN_PAGE)


def _icloud_rows(report: StatusReport) -> list[tuple[str, int, str]]:
    """iCloud's bytes by standing, as `status` shows them (rows that can be empty are left
    out when they are); Recently Deleted says until when."""
    icloud, rows = report.icloud, []
    last = icloud.recoverable_until_last_utc
    for key, label in ICLOUD_ROWS:
        row = icloud[key]
        if key in ("deletion_requested", "deleted_elsewhere") and not row.assets:
            continue
        until = f" (until {last:%Y-%m-%d} at the latest)" if (
            key == "recently_deleted" and last is not None) else ""
        rows.append((label + until, row.assets, human_bytes(row.total_bytes)))
    return rows


def _problem_line(failure: dict[str, Any]) -> ProblemLine:
    """One asset with a recorded problem, as `status` words it."""
    missing = f"missing {failure['missing']}: " if failure["missing"] else ""
    problem = missing + str(failure["last_error"] or failure["quarantine_reason"])
    when = failure["last_error_at_utc"]
    return ProblemLine(failure["asset_id"], visible(failure["filename"]), visible(problem),
                       _minute(when) if when else "-")


def _stages(report: StatusReport, extras: Extras) -> list[StageBacklog]:
    stages = []
    for s in report.stages:
        reasons = [(with_code(words), n, human_bytes(size) if n else "")
                   for stage, words, n, size in extras.waiting if stage == s.stage]
        reasons += [(with_code(stuck_words(str(r["reason"]))), int(r["assets"]),
                     human_bytes(r["size_bytes"])) for r in extras.stuck
                    if r["stage"] == s.stage]
        if s.waiting and not reasons:
            reasons = [(with_code(_due_words(s.stage)), s.waiting,
                        human_bytes(s.waiting_bytes))]
        stages.append(StageBacklog(s.stage, s.waiting, human_bytes(s.waiting_bytes),
                                   (s.oldest_captured_at_utc or "-")[:10], reasons))
    return stages


def _due_words(stage: str) -> str:
    return {"compress": "due: the next `photoledger compress` re-encodes them",
            "album-move": "ready: the next `photoledger album-move` adds them to DeletePending",
            "delete": "in DeletePending, nothing holds them back: `photoledger delete plan` "
                      "lists them for review, and executing the plan deletes them"}.get(
        stage, "due: the next run takes them")


def _run_line(run: RunRow) -> RunLine:
    finished = run.finished_at_utc
    outcome = run.outcome or ("unfinished (still running, or stopped without a word)"
                              if finished is None else "finished")
    if run.exit_code not in (None, 0):
        outcome += f" (exit {run.exit_code})"
    return RunLine(run.command, _minute(run.started_at_utc),
                   _minute(finished) if finished else "-", outcome,
                   run.exit_code not in (None, 0))


def _minute(iso: str) -> str:
    """'2026-12-06T04:05:06.123+00:00' -> '2026-12-06 04:05 UTC'."""
    return f"{iso[:10]} {iso[11:16]} UTC"


def _last_run(run: dict[str, Any] | None) -> str | None:
    if run is None:
        return None
    return (f"{run['command']} started {run['started_at_utc']}, "
            f"outcome {run['outcome'] or 'unfinished'}")
