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
- Events are appended only from the calling thread, in batches (engine.batching.Batcher,
  saved with Ledger.save_deciding_again and the NAS decider
  engine.nas.plan.decide_facts_still_holding); workers only return results. A stop (error,
  Ctrl-C) saves the facts already decided (never a half-decided asset).
- The run's services are the command's (engine.services.Services): its ledger, projection,
  clock, crash points and run; the NAS roots come from its config (engine.nas.files).
- Event timestamps come from the injected clock: they are the verification times the
  `max_verify_age` rule reads.
- `max_duration_s` stops handing out new assets after that long; the rest stays first in
  line for the next run (least recently verified first), so runs resume where they stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from engine import events as ev
from engine.asset import Asset
from engine.batching import Batcher
from engine.nas.access import ADOPTED_METHOD, REREAD_METHOD, NasGuard
from engine.nas.files import execute_backup_job, execute_reverify_job, nas_roots
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
from engine.reporting import Reporter
from engine.services import Services
from projections.media import MediaProjection

Phase = Literal["backup", "verify"]


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
    # NAS copies repaired from iCloud's bytes right after the run (None: no repair was run).
    repaired_from_icloud: int | None = None

    def counts(self) -> dict[str, int]:
        counts = {
            "copied": self.copied,
            "adopted": self.adopted,
            "reverified": self.reverified,
            "mismatched": self.mismatched,
            "unrepairable": self.unrepairable,
            "refetch_requested": len(self.refetch_requested),
            "failed": self.failed,
            "not_reached": self.not_reached,
        }
        if self.repaired_from_icloud is not None:
            counts["repaired_from_icloud"] = self.repaired_from_icloud
        return counts

    def as_dict(self) -> dict[str, object]:
        """The summary as `--json` prints it (the repair's count only when one ran)."""
        data = asdict(self)
        if self.repaired_from_icloud is None:
            del data["repaired_from_icloud"]
        return data


class NasRun:
    """One execution of backup (phase "backup") or re-verification (phase "verify")."""

    def __init__(
        self, services: Services, options: NasOptions, reporter: Reporter, phase: Phase
    ) -> None:
        self.services, self.options, self.reporter, self.phase = (
            services, options, reporter, phase)
        self.roots = nas_roots(services.config)
        self.summary = NasSummary()
        self.guard = NasGuard.start(self.roots.nas_root)
        self.batch = Batcher(self._save, options.save_every)

    def execute(self, asset_ids: list[str]) -> NasSummary:
        started = time.monotonic()
        jobs = list(nas_jobs(self.services.projection, asset_ids, self.phase))
        total = sum(size for _job, size in jobs)
        self.reporter.started(self.phase, len(jobs), total)
        deadline = None
        if self.options.max_duration_s is not None:
            deadline = started + self.options.max_duration_s
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.options.workers)) as pool:
                self._feed(pool, [job for job, _size in jobs], deadline)
        finally:
            self.batch.flush()
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
                self.roots, job, self.guard, self.services.crash, self.reporter.advance_bytes
            )
        return execute_reverify_job(self.roots, job, self.reporter.advance_bytes)

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
            self.reporter.asset_done("failed", job.label, verdict.detail)
            return
        if any(r.action == "missing" for r in results):
            self.guard.check()  # unmounted is not missing
        services = self.services
        asset = services.ledger.get_asset(UUID(job.asset_id))
        now = services.clock()
        if verdict.is_copied:
            asset.record(
                ev.NasCopied, services.run_id, timestamp=now,
                nas_relpath=job.files[0].relpath, size_bytes=verdict.copied_bytes,
                nas_id=self.guard.nas_id,
            )
        outcome = self._record_verdict(asset, verdict, now)
        if self.phase == "backup" and (keys := decide_refetch_keys(asset.state, results)):
            asset.record(ev.RefetchRequested, services.run_id, timestamp=now,
                         resources=keys, reason=REFETCH_REASON)
            self.summary.refetch_requested.append(job.asset_id)
        if outcome == "mismatched":
            self.summary.problems.append(f"{job.label}: {verdict.detail}")
        self.reporter.asset_done(outcome, job.label, verdict.detail)
        self.batch.add(asset)

    def _record_verdict(self, asset: Asset, verdict: AssetVerdict, now: datetime) -> str:
        """Append NasVerified or NasMismatched; returns the outcome shown to the user."""
        run_id = self.services.run_id
        if verdict.outcome == "mismatched":
            if is_new_mismatch(asset.state, verdict.detail, self.guard.nas_id):
                asset.record(
                    ev.NasMismatched, run_id, timestamp=now,
                    expected_sha256=verdict.expected_sha256,
                    actual_sha256=verdict.actual_sha256, detail=verdict.detail,
                    nas_id=self.guard.nas_id,
                )
            self.summary.mismatched += 1
            self.summary.unrepairable += int(NO_GOOD_SOURCE in verdict.detail)
            return "mismatched"
        asset.record(
            ev.NasVerified, run_id, timestamp=now,
            sha256=verdict.expected_sha256, method=verdict.method, files=verdict.files,
            nas_id=self.guard.nas_id,
        )
        if self.phase == "verify":
            self.summary.reverified += 1
            return "verified"
        self.services.crash.reach("backup_nas.after_verify_before_save")
        if verdict.is_copied:
            self.summary.copied += 1
            self.summary.bytes_copied += verdict.copied_bytes
            return "copied"
        self.summary.adopted += 1
        return "adopted"

    def _save(self, assets: list[Asset]) -> None:
        # A share that vanished since these were decided makes every "missing" suspect.
        self.guard.check()
        self.services.ledger.save_deciding_again(assets, decide_facts_still_holding)


def nas_jobs(
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
