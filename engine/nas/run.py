"""One run of `backup-nas` or `verify nas`: files in worker threads, facts in batches.

Invariants:
- The work lists come from projections.worklists (`backup-nas`, and NAS_REVERIFY_WHERE least
  recently verified first); nothing else decides what to copy or re-read.
- Nothing is read or recorded unless the NAS marker is present. The NAS the run starts on
  (its marker's id and its device, engine.nas.access.NasGuard) is checked again before
  every file written, every batch saved and any "missing" recorded, so a share that goes
  away (or is swapped) mid-run stops the run (exit 12) instead of being written to or
  recorded as missing copies; the facts of a stopped batch are not saved.
- Every NAS fact names the NAS it is about (`nas_id`, the id in the marker at the start).
- The backup work list also takes every asset whose NAS facts name another NAS than the
  mounted one: evidence about another NAS counts for nothing, so that NAS gets every file.
- A mismatch nothing could repair is recorded once: a later run that finds the same on the
  same NAS appends nothing (nas_plan.is_new_mismatch), though it still reports it. A backup
  that finds it while iCloud still holds the asset also records RefetchRequested (once: not
  while the re-download is pending): the download stage fetches those resources again, to
  their own paths, checked against the recorded sha256, and the next backup repairs the NAS
  copy from them (engine.nas.repair does both at once for `run`).
- Events are appended only from the calling thread, in batches; workers only return results.
  A stop (error, Ctrl-C) saves the facts already decided (never a half-decided asset).
- Event timestamps come from the injected clock: they are the verification times the
  `max_verify_age` rule reads.
- `max_duration_s` stops handing out new assets after that long; the rest stays first in
  line for the next run (least recently verified first), so runs resume where they stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol
from uuid import UUID

from engine import events as ev
from engine.asset import Asset
from engine.crashpoints import CrashPoints
from engine.ledger import Ledger
from engine.nas.access import ADOPTED_METHOD, REREAD_METHOD, NasGuard
from engine.nas.files import NasRoots, execute_backup_job, execute_reverify_job
from engine.nas.plan import (
    NO_GOOD_SOURCE,
    REFETCH_REASON,
    AssetVerdict,
    FileResult,
    NasJob,
    decide_asset_verdict,
    decide_facts_still_holding,
    decide_refetch_keys,
    is_new_mismatch,
    plan_nas_job,
)
from projections.media import MediaProjection
from projections.worklists import (
    NAS_REVERIFY_WHERE,
    nas_backup_worklist,
    nas_reverify_worklist,
)

Phase = Literal["backup", "verify"]


class NasProgress(Protocol):
    """Where a run reports progress (a rich bar, log lines, or nothing)."""

    def started(self, phase: str, assets: int, total_bytes: int) -> None: ...
    def advance_bytes(self, size_bytes: int) -> None: ...
    def asset_done(self, outcome: str, label: str, detail: str) -> None: ...


@dataclass(frozen=True)
class NasOptions:
    """What the user asked for."""

    workers: int = 2
    limit: int | None = None
    max_duration_s: float | None = None
    save_every: int = 50


@dataclass
class NasSummary:
    """What a run did."""

    copied: int = 0
    adopted: int = 0
    reverified: int = 0
    mismatched: int = 0
    unrepairable: int = 0  # of the mismatched: no good local source (needs a re-download)
    refetch_requested: list[str] = field(default_factory=list)  # asset ids asked of iCloud
    failed: int = 0
    bytes_copied: int = 0
    not_reached: int = 0
    outdated_after_run: int = 0
    elapsed_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "copied": self.copied,
            "adopted": self.adopted,
            "reverified": self.reverified,
            "mismatched": self.mismatched,
            "unrepairable": self.unrepairable,
            "refetch_requested": len(self.refetch_requested),
            "failed": self.failed,
            "not_reached": self.not_reached,
        }


@dataclass(frozen=True)
class NasContext:
    """The dependencies of one run (built by the command)."""

    ledger: Ledger
    projection: MediaProjection
    crash: CrashPoints
    run_id: str
    clock: Callable[[], datetime]
    roots: NasRoots


class NasRun:
    """One execution of backup (phase "backup") or re-verification (phase "verify")."""

    def __init__(
        self, ctx: NasContext, options: NasOptions, progress: NasProgress, phase: Phase
    ) -> None:
        self.ctx, self.options, self.progress, self.phase = ctx, options, progress, phase
        self.summary = NasSummary()
        self.pending: dict[UUID, Asset] = {}
        self.guard = NasGuard.start(ctx.roots.nas_root)

    def execute(self, asset_ids: list[str]) -> NasSummary:
        started = time.monotonic()
        jobs = list(_jobs(self.ctx.projection, asset_ids, self.phase))
        total = sum(size for _job, size in jobs)
        self.progress.started(self.phase, len(jobs), total)
        deadline = None
        if self.options.max_duration_s is not None:
            deadline = started + self.options.max_duration_s
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.options.workers)) as pool:
                self._feed(pool, [job for job, _size in jobs], deadline)
        finally:
            self._flush()
            self.summary.elapsed_s = time.monotonic() - started
        return self.summary

    def _feed(self, pool: ThreadPoolExecutor, jobs: list[NasJob], deadline: float | None) -> None:
        in_flight: dict[Future[list[FileResult]], NasJob] = {}
        try:
            for index, job in enumerate(jobs):
                if deadline is not None and time.monotonic() >= deadline:
                    self.summary.not_reached = len(jobs) - index
                    break
                while len(in_flight) >= 2 * max(1, self.options.workers):
                    self._collect(in_flight)
                in_flight[pool.submit(self._work, job)] = job
            while in_flight:
                self._collect(in_flight)
        except BaseException:
            for future in in_flight:
                future.cancel()
            raise

    def _work(self, job: NasJob) -> list[FileResult]:
        """Worker thread: the file effects of one asset."""
        if self.phase == "backup":
            return execute_backup_job(
                self.ctx.roots, job, self.guard, self.ctx.crash, self.progress.advance_bytes
            )
        return execute_reverify_job(self.ctx.roots, job, self.progress.advance_bytes)

    def _collect(self, in_flight: dict[Future[list[FileResult]], NasJob]) -> None:
        done, _still = wait(in_flight, return_when=FIRST_COMPLETED)
        for future in done:
            job = in_flight.pop(future)
            self._record(job, future.result())

    def _record(self, job: NasJob, results: list[FileResult]) -> None:
        """Main thread: turn one asset's results into its facts."""
        verdict = decide_asset_verdict(job, results, REREAD_METHOD, ADOPTED_METHOD)
        if verdict.outcome == "failed":
            self.summary.failed += 1
            self.summary.problems.append(f"{job.label}: {verdict.detail}")
            self.progress.asset_done("failed", job.label, verdict.detail)
            return
        if any(r.action == "missing" for r in results):
            self.guard.check()  # unmounted is not missing
        asset = self.ctx.ledger.get_asset(UUID(job.asset_id))
        now = self.ctx.clock()
        if verdict.is_copied:
            asset.record(
                ev.NasCopied, self.ctx.run_id, timestamp=now,
                nas_relpath=job.files[0].relpath, size_bytes=verdict.copied_bytes,
                nas_id=self.guard.nas_id,
            )
        outcome = self._record_verdict(asset, verdict, now)
        if self.phase == "backup" and (keys := decide_refetch_keys(asset.state, results)):
            asset.record(ev.RefetchRequested, self.ctx.run_id, timestamp=now,
                         resources=keys, reason=REFETCH_REASON)
            self.summary.refetch_requested.append(job.asset_id)
        if outcome == "mismatched":
            self.summary.problems.append(f"{job.label}: {verdict.detail}")
        self.progress.asset_done(outcome, job.label, verdict.detail)
        self.pending[asset.id] = asset
        if len(self.pending) >= self.options.save_every:
            self._flush()

    def _record_verdict(self, asset: Asset, verdict: AssetVerdict, now: datetime) -> str:
        """Append NasVerified or NasMismatched; returns the outcome shown to the user."""
        if verdict.outcome == "mismatched":
            if is_new_mismatch(asset.state, verdict.detail, self.guard.nas_id):
                asset.record(
                    ev.NasMismatched, self.ctx.run_id, timestamp=now,
                    expected_sha256=verdict.expected_sha256,
                    actual_sha256=verdict.actual_sha256, detail=verdict.detail,
                    nas_id=self.guard.nas_id,
                )
            self.summary.mismatched += 1
            self.summary.unrepairable += int(NO_GOOD_SOURCE in verdict.detail)
            return "mismatched"
        asset.record(
            ev.NasVerified, self.ctx.run_id, timestamp=now,
            sha256=verdict.expected_sha256, method=verdict.method, files=verdict.files,
            nas_id=self.guard.nas_id,
        )
        if self.phase == "verify":
            self.summary.reverified += 1
            return "verified"
        self.ctx.crash.reach("backup_nas.after_verify_before_save")
        if verdict.is_copied:
            self.summary.copied += 1
            self.summary.bytes_copied += verdict.copied_bytes
            return "copied"
        self.summary.adopted += 1
        return "adopted"

    def _flush(self) -> None:
        if not self.pending:
            return
        # A share that vanished since these were decided makes every "missing" suspect.
        self.guard.check()
        self.ctx.ledger.save_deciding_again(
            list(self.pending.values()), decide_facts_still_holding
        )
        self.pending.clear()


def _jobs(
    projection: MediaProjection, asset_ids: list[str], phase: Phase
) -> Iterator[tuple[NasJob, int]]:
    """Jobs in work-list order, with the bytes each will move (for progress)."""
    states = projection.states_of(set(asset_ids))
    for asset_id in asset_ids:
        state = states.get(asset_id)
        if state is None:
            continue
        job = plan_nas_job(asset_id, state, "current" if phase == "backup" else "on-nas")
        if job is not None:
            keys = {f.key for f in job.files}
            yield job, sum(r.size_bytes for r in state.resources_downloaded if r.key in keys)


def execute_backup_nas(
    ctx: NasContext, options: NasOptions, progress: NasProgress
) -> NasSummary:
    """Copy and verify the `backup-nas` work list (for the NAS mounted now)."""
    run = NasRun(ctx, options, progress, "backup")
    ids = nas_backup_worklist(ctx.projection, run.guard.nas_id, options.limit)
    return run.execute(ids)


def execute_verify_nas(ctx: NasContext, options: NasOptions, progress: NasProgress) -> NasSummary:
    """Re-read NAS copies, least recently verified first, for at most `max_duration_s`."""
    ids = nas_reverify_worklist(ctx.projection, options.limit)
    return NasRun(ctx, options, progress, "verify").execute(ids)


def count_outdated_nas_copies(
    projection: MediaProjection, now: datetime, max_verify_age: timedelta
) -> int:
    """NAS copies whose last verification no longer counts for the deletion gate."""
    cutoff = now - max_verify_age
    rows = projection.con.execute(
        f"SELECT nas_verified_at_utc FROM media WHERE {NAS_REVERIFY_WHERE}"
    )
    return sum(1 for (at,) in rows if at is None or datetime.fromisoformat(at) < cutoff)


def plan_nas_run(
    projection: MediaProjection, phase: Phase, limit: int | None, nas_id: str | None
) -> list[str]:
    """The relative paths a run would copy or re-read, in order (ledger only; `nas_id` is
    the mounted NAS's, None when it is not mounted: only the ledger's own work list)."""
    if phase == "backup":
        ids = nas_backup_worklist(projection, nas_id, limit)
    else:
        ids = nas_reverify_worklist(projection, limit)
    return [f.relpath for job, _size in _jobs(projection, ids, phase) for f in job.files]
