"""Every stage in order, as `photoledger run` and each `watch` cycle execute them.

Invariants:
- Stages run in DESIGN.md's order under ONE writer lock and one SyncRun; each stage is the
  same `run_<stage>` function its own command calls, so `run` never behaves differently.
- A stage that fails stops cleanly (its engine saves what it decided) and the stages that
  depend on what failed are skipped with the reason; the others still run. A failure of the
  ledger or its folder stops everything.
- Deletions are executed only when asked (`--execute-deletes`), only when no stage failed in
  this run, and only when the plan passes the mass-delete guard without --force.
- The outcome is one summary and one exit code: LAST_COPY_DAMAGED when the ledger holds a
  damaged last copy (the alarm outranks everything), else the first failed stage's code,
  else NAS_MISMATCHED for any NAS copy still damaged, else ASSETS_FAILED when a stage
  finished with some assets failed (recorded; retried next run), else NEEDS_ATTENTION when
  something waits for the user, else OK. The damage is checked after the stages, inside the
  run (`check_damage`), which also sends its `backup-damaged` notification once per damage.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from commands.context import Deps
from commands.output import check_nas_damage
from engine.cleanup.last_copy import decide_damage_error, describe_damage
from engine.config import Config
from engine.errors import ExitCode, PhotoledgerError
from engine.icloud.port import IcloudPort, TwoFactorRequiredError
from engine.notify import Notification

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


@dataclass
class StageResult:
    stage: str
    status: str  # "ok", "partial" (finished, some assets failed), "failed", "skipped"
    detail: str = ""
    exit_code: int = 0


@dataclass
class RunSummary:
    """What one pass over the stages did and what needs the user."""

    stages: list[StageResult] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    plan_id: str | None = None
    plan_assets: int = 0
    partial_stages: set[str] = field(default_factory=set)  # finished, some assets failed
    damage: list[str] = field(default_factory=list)  # damaged NAS copies, last copies first
    damage_code: ExitCode | None = None  # LAST_COPY_DAMAGED or NAS_MISMATCHED

    @property
    def exit_code(self) -> ExitCode:
        if self.damage_code == ExitCode.LAST_COPY_DAMAGED:  # the alarm outranks everything
            return self.damage_code
        failed = [s for s in self.stages if s.status == "failed"]
        if failed:
            return ExitCode(failed[0].exit_code)
        if self.damage_code is not None:
            return self.damage_code
        if any(s.status == "partial" for s in self.stages):
            return ExitCode.ASSETS_FAILED
        attention = [n for n in self.notifications if n.event != "run-completed"]
        return ExitCode.NEEDS_ATTENTION if attention else ExitCode.OK


@dataclass(frozen=True)
class PipelineOptions:
    execute_deletes: bool = False
    download_workers: int = 8


StageFn = Callable[[Deps, IcloudPort, PipelineOptions, RunSummary], str]


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
    deps: Deps, port: IcloudPort, options: PipelineOptions,
    stage_fns: dict[str, StageFn] | None = None,
) -> RunSummary:
    """Every stage in order; returns the summary (never raises a stage's PhotoledgerError)."""
    fns = stage_fns or stage_functions()
    summary = RunSummary()
    lost: set[str] = set()
    problems_before = _problem_counts(deps)
    for stage in STAGES:
        skip = decide_skip(stage, deps.config, lost)
        if skip is None and stage not in fns:
            skip = "this stage is not available in this version"
        if skip is not None:
            summary.stages.append(StageResult(stage, "skipped", skip))
            continue
        try:
            detail = fns[stage](deps, port, options, summary)
        except PhotoledgerError as exc:
            lost.add(_LOST_BY_CODE.get(exc.exit_code, stage))
            summary.stages.append(StageResult(stage, "failed", str(exc), int(exc.exit_code)))
            summary.notifications.append(_failure_notification(stage, exc))
            deps.projection.catch_up(deps.ledger)
            continue
        if stage in summary.partial_stages:
            summary.stages.append(
                StageResult(stage, "partial", detail, int(ExitCode.ASSETS_FAILED))
            )
            continue
        summary.stages.append(StageResult(stage, "ok", detail))
    summary.notifications += _attention(deps, summary, problems_before)
    return summary


def check_damage(deps: Deps, summary: RunSummary, warn: Callable[[str], None]) -> None:
    """The NAS damage the ledger holds after the stages: alarm, notification, exit code."""
    report = check_nas_damage(deps, warn, quiet=True)
    now = deps.clock()
    summary.damage = [describe_damage(d, now) for d in report.damages]
    error = decide_damage_error(report.damages, now)
    summary.damage_code = error.exit_code if error is not None else None


def _failure_notification(stage: str, exc: PhotoledgerError) -> Notification:
    details = {"stage": stage, "error": str(exc), "exit_code": str(int(exc.exit_code))}
    if isinstance(exc, TwoFactorRequiredError):
        return Notification("2fa-needed", "iCloud needs a 2FA code: run `photoledger login`",
                            details)
    return Notification("run-failed", f"{stage} failed: {exc}", details)


def _problem_counts(deps: Deps) -> tuple[int, int]:
    row = deps.projection.con.execute(
        "SELECT COUNT(quarantine_reason), COUNT(last_error) FROM media"
    ).fetchone()
    return int(row[0]), int(row[1])


def _attention(deps: Deps, summary: RunSummary, before: tuple[int, int]) -> list[Notification]:
    found: list[Notification] = []
    quarantined, failing = _problem_counts(deps)
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


def _discover(deps: Deps, port: IcloudPort, _o: PipelineOptions, _s: RunSummary) -> str:
    from commands.discover import DiscoverOptions, run_discover

    result = run_discover(deps, port, DiscoverOptions(zone=deps.config.settings.icloud.library),
                          lambda _n: None)
    return f"{result.mode}: {json.dumps(dict(result.counts), sort_keys=True)}"


def _download(deps: Deps, port: IcloudPort, o: PipelineOptions, summary: RunSummary) -> str:
    from commands.download import download_options, run_download

    result = run_download(deps, port, download_options(deps.config, workers=o.download_workers))
    if result.has_failures:
        summary.partial_stages.add("download")
        summary.notifications.append(Notification(
            "assets-failed", f"download: {result.partial + result.failed} assets failed and "
            f"{result.quarantined} were quarantined: see `photoledger report failures`",
            {k: str(v) for k, v in result.counts().items()}))
    return json.dumps(result.counts(), sort_keys=True)


def _backup_nas(deps: Deps, port: IcloudPort, _o: PipelineOptions, _s: RunSummary) -> str:
    from commands.backup_nas import repair_by_redownload, run_backup_nas
    from engine.nas.run import NasOptions

    summary = run_backup_nas(deps, NasOptions())
    counts = summary.counts()
    if summary.refetch_requested:  # no local source: iCloud's copy is the repair's source
        repaired = repair_by_redownload(deps, port, frozenset(summary.refetch_requested))
        counts["repaired_from_icloud"] = repaired.copied if repaired is not None else 0
    return json.dumps(counts, sort_keys=True)


def _backup_google(deps: Deps, _p: IcloudPort, _o: PipelineOptions, _s: RunSummary) -> str:
    from commands.backup_google import google_route, run_backup_google
    from engine.google.run import GoogleOptions

    route = google_route(deps.config, os.environ)
    return json.dumps(run_backup_google(deps, route, GoogleOptions()).counts(), sort_keys=True)


def _compress(deps: Deps, _p: IcloudPort, _o: PipelineOptions, _s: RunSummary) -> str:
    from commands.compress import run_compress
    from engine.compress.run import CompressOptions

    return json.dumps(run_compress(deps, CompressOptions()).counts(), sort_keys=True)


def _album_move(deps: Deps, port: IcloudPort, _o: PipelineOptions, _s: RunSummary) -> str:
    from commands.album_move import run_album_move

    result = run_album_move(deps, port)
    return (f"moved {len(result.moved)}, taken out by you {len(result.removals_observed)}, "
            f"refused {len(result.refused)}, not eligible {result.not_eligible}")


def _delete(deps: Deps, port: IcloudPort, o: PipelineOptions, summary: RunSummary) -> str:
    from commands.delete import raise_for_outcome, run_delete_execute, run_delete_plan
    from engine.cleanup.plan import decide_mass_delete_guard
    from engine.cleanup.run import library_asset_count
    from projections.worklists import worklist

    if not worklist(deps.projection, "delete", 1):
        return "nothing in DeletePending"
    plan = run_delete_plan(deps, port)
    if not plan.entries:
        return f"no asset passes the gate ({len(plan.blocked)} blocked)"
    summary.plan_id, summary.plan_assets = plan.plan_id, len(plan.entries)
    if not o.execute_deletes:
        return f"plan {plan.plan_id}: {len(plan.entries)} assets (not executed)"
    failed = [s.stage for s in summary.stages if s.status == "failed"]
    guard = decide_mass_delete_guard(len(plan.entries), library_asset_count(deps.projection),
                                     deps.config.settings, bool(failed))
    if guard:
        return f"plan {plan.plan_id} not executed: {'; '.join(guard)}"
    result = run_delete_execute(deps, port, plan.plan_id)
    summary.plan_id, summary.plan_assets = None, 0
    raise_for_outcome(result, dry_run=False)  # the exit code `delete execute` would give
    return f"deleted {len(result.deleted)}, skipped {len(result.skipped)}, " \
           f"failed {len(result.failed)}"


def stage_functions() -> dict[str, StageFn]:
    """The stages this version has (every one of DESIGN.md's seven)."""
    return {"discover": _discover, "download": _download, "backup-nas": _backup_nas,
            "backup-google": _backup_google, "compress": _compress,
            "album-move": _album_move, "delete": _delete}


def summary_json(summary: RunSummary) -> dict[str, Any]:
    """The run summary as JSON data."""
    return {
        "exit_code": int(summary.exit_code),
        "stages": [s.__dict__ for s in summary.stages],
        "notifications": [{"event": n.event, "summary": n.summary, "details": dict(n.details)}
                          for n in summary.notifications],
        "plan_id": summary.plan_id,
        "nas_damage": summary.damage,
    }
