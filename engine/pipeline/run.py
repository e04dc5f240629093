"""One pass over every stage, as `photoledger run` and each `watch` cycle execute it.

Invariants:
- Stages run in DESIGN.md's order under ONE writer lock and one SyncRun; each stage is the
  same engine entry its own command calls (engine.pipeline.stages), so `run` never behaves
  differently.
- A stage that fails stops cleanly (its engine saves what it decided) and the stages that
  depend on what failed are skipped with the reason; the others still run. A failure of the
  ledger or its folder stops everything.
- Deletions are executed only when asked (`--execute-deletes`), only when no stage failed in
  this run, and only when the plan passes the mass-delete guard without --force.
- The damage is checked after the stages, inside the run (`check_damage`), which also sends
  its `backup-damaged` notification once per damage. The other notifications are sent after
  the run is recorded and the lock released (`send_notifications`); a failing notification
  is a warning, never a different exit code.
- While a requested 2FA code is awaited (engine.pipeline.twofa_wait), the stages needing
  iCloud are skipped with the reason, nothing signs in, and the pass exits AUTH_FAILED.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from engine.cleanup.last_copy import decide_damage_error, describe_damage, notify_damage
from engine.config import Config
from engine.errors import ExitCode, PhotoledgerError
from engine.icloud.port import IcloudPort, TwoFactorRequiredError
from engine.icloud.twofa_state import SUBMIT_HINT, TwoFactorCodeRequestedError
from engine.notify import Notification, Notifier
from engine.pipeline.stages import STAGE_FUNCTIONS, StageFn
from engine.pipeline.summary import PipelineOptions, RunSummary, StageResult
from engine.pipeline.twofa_wait import (
    WaitingRunSummary,
    decide_wait,
    due_trust_notification,
    note_stage_error,
    waiting_port,
)
from engine.services import Runtime, Services, open_icloud, open_writer, utc_now
from projections.worklists import problem_counts

STAGES = ("discover", "download", "backup-nas", "backup-google", "compress", "album-move",
          "delete")
# What each stage needs; a failure that takes one away skips the stages needing it.
_NEEDS: dict[str, frozenset[str]] = {
    "discover": frozenset({"icloud"}),
    "download": frozenset({"icloud"}),
    "backup-nas": frozenset({"nas"}),
    "backup-google": frozenset({"google"}),
    "compress": frozenset(),
    "album-move": frozenset({"icloud"}),
    "delete": frozenset({"icloud", "nas"}),
}
_LOST_BY_CODE: dict[ExitCode, str] = {
    ExitCode.AUTH_FAILED: "icloud",
    ExitCode.ICLOUD_UNAVAILABLE: "icloud",
    ExitCode.NAS_UNAVAILABLE: "nas",
    ExitCode.SYNCTHING_UNAVAILABLE: "google",
    ExitCode.SYNCTHING_UNSAFE: "google",
    ExitCode.LEDGER_DAMAGED: "ledger",
    ExitCode.LEDGER_UNAVAILABLE: "ledger",
    ExitCode.STORAGE: "ledger",
    ExitCode.LOCKED: "ledger",
}


class RunAttentionError(PhotoledgerError):
    """The run ended with something for the user to act on (the code says what)."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def decide_skip(stage: str, config: Config, lost: set[str]) -> str | None:
    """Why `stage` must not run now (None: run it)."""
    if "ledger" in lost:
        return "the ledger or its folder failed earlier in this run"
    missing = _NEEDS[stage] & lost
    if stage == "compress" and "nas" in lost and "nas" in config.settings.compression.require:
        missing = frozenset({"nas"})
    if missing:
        return f"needs {', '.join(sorted(missing))}, which failed earlier in this run"
    s = config.settings
    if stage == "backup-nas" and not s.nas.root:
        return "nas.root is not set"
    if stage == "compress" and not s.nas.root and "nas" in s.compression.require:
        return "nas.root is not set, and compression.require lists nas"
    if stage == "backup-google" and not (s.google.outbox and s.google.pixel_device_id):
        return "google.outbox and google.pixel_device_id are not set"
    return None


def run_pipeline(
    services: Services, port: IcloudPort, options: PipelineOptions,
    stage_fns: Mapping[str, StageFn] | None = None, waiting: str | None = None,
) -> RunSummary:
    """Every stage in order; returns the summary (never raises a stage's PhotoledgerError).

    `waiting`: why iCloud must not be asked now (a 2FA code is awaited); its stages skip."""
    fns = STAGE_FUNCTIONS if stage_fns is None else stage_fns
    summary = RunSummary() if waiting is None else WaitingRunSummary(waiting_reason=waiting)
    port = port if waiting is None else waiting_port(waiting)
    lost: set[str] = set()
    problems_before = problem_counts(services.projection)
    for stage in STAGES:
        if waiting is not None and "icloud" in _NEEDS[stage]:
            summary.stages.append(StageResult(stage, "skipped", waiting,
                                              int(ExitCode.AUTH_FAILED)))
            continue
        skip = decide_skip(stage, services.config, lost)
        if skip is None and stage not in fns:
            skip = "this stage is not available in this version"
        if skip is not None:
            summary.stages.append(StageResult(stage, "skipped", skip))
            continue
        try:
            detail = fns[stage](services, port, options, summary)
        except PhotoledgerError as exc:
            note_stage_error(services.config, exc, services.clock())
            lost.add(_LOST_BY_CODE.get(exc.exit_code, stage))
            summary.stages.append(StageResult(stage, "failed", str(exc), int(exc.exit_code)))
            summary.notifications.append(_failure_notification(stage, exc))
            services.projection.catch_up(services.ledger)
            continue
        status = "partial" if stage in summary.partial_stages else "ok"
        code = int(ExitCode.ASSETS_FAILED) if status == "partial" else 0
        summary.stages.append(StageResult(stage, status, detail, code))
    summary.notifications += _attention(services, summary, problems_before)
    return summary


def check_damage(services: Services, summary: RunSummary, warn: Callable[[str], None]) -> None:
    """The NAS damage the ledger holds after the stages: alarm, notification, exit code."""
    report = notify_damage(services, warn)
    now = services.clock()
    summary.damage = [describe_damage(d, now) for d in report.damages]
    error = decide_damage_error(report.damages, now)
    summary.damage_code = error.exit_code if error is not None else None


def run_once(config: Config, runtime: Runtime, options: PipelineOptions,
             command: str = "run") -> RunSummary:
    """Lock, run every stage, record the run with the summary's exit code; never raises it."""
    summary = RunSummary()
    waiting = decide_wait(config, runtime.clock())
    try:
        writer = open_writer(config, runtime, command, verify_ledger=True)
        with open_icloud(config) as port, writer as services:
            summary = run_pipeline(services, port, options, waiting=waiting)
            check_damage(services, summary, runtime.warn)
            if summary.exit_code != ExitCode.OK:
                raise RunAttentionError("needs attention", summary.exit_code)
    except RunAttentionError:
        pass  # recorded as the run's exit code by open_writer
    return summary


def send_notifications(config: Config, summary: RunSummary, warn: Callable[[str], None]) -> None:
    """Send the summary's notifications (and a due `trust-expiring`); problems become
    warnings."""
    notifier = Notifier(config.settings.notify, dict(os.environ))
    trust = due_trust_notification(config, utc_now())
    for notification in [*summary.notifications, *([trust] if trust else [])]:
        for problem in notifier.send(notification):
            warn(problem)


def _failure_notification(stage: str, exc: PhotoledgerError) -> Notification:
    details = {"stage": stage, "error": str(exc), "exit_code": str(int(exc.exit_code))}
    if isinstance(exc, TwoFactorCodeRequestedError):
        return Notification("2fa-needed", f"iCloud sent a 2FA code: run `{SUBMIT_HINT}`",
                            details)
    if isinstance(exc, TwoFactorRequiredError):
        return Notification("2fa-needed", "iCloud needs a 2FA code: run `photoledger login`",
                            details)
    return Notification("run-failed", f"{stage} failed: {exc}", details)


def _attention(
    services: Services, summary: RunSummary, before: tuple[int, int]
) -> list[Notification]:
    found: list[Notification] = []
    quarantined, failing = problem_counts(services.projection)
    if quarantined > before[0]:
        found.append(Notification(
            "quarantined", f"{quarantined - before[0]} assets newly quarantined "
            f"({quarantined} in all): see `photoledger report failures`",
            {"new": str(quarantined - before[0]), "total": str(quarantined),
             "failing": str(failing)}))
    if summary.plan_id is not None and summary.plan_assets:
        found.append(Notification(
            "deletion-plan-waiting",
            f"deletion plan {summary.plan_id} with {summary.plan_assets} assets waits: "
            f"`photoledger delete execute {summary.plan_id}`",
            {"plan_id": summary.plan_id, "assets": str(summary.plan_assets)}))
    ok = sum(s.status == "ok" for s in summary.stages)
    found.append(Notification(
        "run-completed", f"{ok} stages done, "
        f"{sum(s.status == 'failed' for s in summary.stages)} failed",
        {s.stage: s.status for s in summary.stages}))
    return found
