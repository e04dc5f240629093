"""One `compress` run: decisions from the projection, encodes in a process pool, facts in batches.

Invariants:
- What to compress is decided only by engine.compress.tiers from the projection's state and
  the clock passed in; the candidates come from projections.worklists.
- The local copy is replaced only here, in the parent process, by a temp file a worker has
  already decoded back and checked: rename over the old file, fsync the folder. A format
  change removes the old-named file only after the new one is durable.
- Compressed is appended after the replacement; a kill in between leaves a smaller local file
  the ledger does not know yet, and the rerun re-encodes it from the NAS original (never from
  that file). CompressionSkipped says why a file was left as it was.
- Events are appended from this thread only, in batches; a stop (error, Ctrl-C) saves the
  facts already decided, and temp files not yet put in place are removed.
- Before any encode, every tool the due jobs will run (ffmpeg and ffprobe for a video,
  exiftool for a RAW to develop) must be found; a missing one stops the run with ConfigError
  and no asset fact recorded, rather than one failure per asset.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from uuid import UUID

from engine import events as ev
from engine.asset import Asset
from engine.compress.encoders import remove_stale_temps
from engine.compress.pool import TaskOutcome, WorkerPool
from engine.compress.settings import CompressionSettings
from engine.compress.tiers import (
    CompressDecision,
    CompressionPolicy,
    CompressJob,
    decide_compression,
)
from engine.compress.work import (
    FileOutcome,
    JobOutcome,
    WorkerSettings,
    discard_temps,
    execute_compress_job,
)
from engine.crashpoints import CrashPoints
from engine.errors import ConfigError
from engine.fsutil import fsync_dir, sha256_file
from engine.ledger import Ledger
from projections.compression import held_relpaths
from projections.media import MediaProjection
from projections.worklists import compress_candidates

Task = tuple[WorkerSettings, CompressJob]


class CompressProgress(Protocol):
    """Where a run reports progress (a rich bar, log lines, or nothing)."""

    def started(self, assets: int, total_bytes: int) -> None: ...
    def asset_done(self, outcome: str, label: str, detail: str, size_bytes: int) -> None: ...


@dataclass(frozen=True)
class CompressOptions:
    """What the user asked for."""

    workers: int = 2
    limit: int | None = None
    save_every: int = 50


@dataclass
class CompressSummary:
    """What a run did."""

    compressed: int = 0
    skipped: int = 0
    failed: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    by_tier: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"compressed": self.compressed, "skipped": self.skipped, "failed": self.failed}


@dataclass(frozen=True)
class CompressContext:
    """The dependencies of one run (built by the command)."""

    ledger: Ledger
    projection: MediaProjection
    crash: CrashPoints
    run_id: str
    clock: Callable[[], datetime]
    settings: CompressionSettings
    max_nas_verify_age: timedelta
    worker: WorkerSettings
    mounted_nas_id: str | None  # a verification of another NAS does not let a copy shrink
    find_tool: Callable[[str], str | None] = shutil.which


def plan_compression(
    ctx_projection: MediaProjection, policy: CompressionPolicy, limit: int | None = None
) -> list[tuple[str, CompressDecision]]:
    """Every candidate's decision, in work-list order (oldest capture first).

    A format change claims its new name at once, so two assets of one run never get one name.
    """
    ids = compress_candidates(ctx_projection)
    states = ctx_projection.states_of(set(ids))
    held = held_relpaths(ctx_projection)
    decisions = []
    for asset_id in ids:
        decision = decide_compression(asset_id, states[asset_id], policy, held)
        for f in decision.job.files if decision.job else ():
            held.setdefault(f.relpath_after.casefold(), asset_id)
        decisions.append((asset_id, decision))
    if limit is not None:
        due = [d for d in decisions if d[1].action == "compress"][:limit]
        return due + [d for d in decisions if d[1].action != "compress"]
    return decisions


class CompressRun:
    """One execution over the due assets."""

    def __init__(self, ctx: CompressContext, options: CompressOptions, progress: CompressProgress):
        self.ctx, self.options, self.progress = ctx, options, progress
        self.summary = CompressSummary()
        self.pending: dict[UUID, Asset] = {}

    def execute(self, jobs: list[CompressJob]) -> CompressSummary:
        started = time.monotonic()
        self.progress.started(len(jobs), sum(j.size_bytes for j in jobs))
        pool: WorkerPool[Task, JobOutcome] = WorkerPool(execute_compress_job, self.options.workers)
        try:
            tasks = ((self.ctx.worker, job) for job in jobs)
            for outcome in pool.run(tasks, self._timeout_of):
                self._record(outcome)
        finally:
            pool.close()
            self._flush()
            self.summary.elapsed_s = time.monotonic() - started
        return self.summary

    def _timeout_of(self, task: Task) -> float | None:
        job = task[1]
        if any(f.target_format == "video" for f in job.files):
            return None  # the worker gives ffmpeg a timeout from the video's duration
        return self.ctx.settings.photo_timeout_s * len(job.files)

    def _record(self, done: TaskOutcome[Task, JobOutcome]) -> None:
        job = done.task[1]
        outcome = done.value
        if outcome is None:  # the worker died, timed out or raised
            for f in job.files:
                remove_stale_temps(self.ctx.worker.library_root / f.relpath_after)
            outcome = JobOutcome(job.asset_id, "failed", done.error or "unknown error", "")
        asset = self.ctx.ledger.get_asset(UUID(job.asset_id))
        now = self.ctx.clock()
        if outcome.status == "ready":
            self._put_in_place(outcome)
            self._record_compressed(asset, job, outcome, now)
        else:
            is_failure = outcome.status == "failed"
            asset.record(
                ev.CompressionSkipped, self.ctx.run_id, timestamp=now, tier=job.tier,
                reason=outcome.reason, is_failure=is_failure,
            )
            if is_failure:
                self.summary.failed += 1
                self.summary.problems.append(f"{job.label}: {outcome.reason}")
            else:
                self.summary.skipped += 1
        self.progress.asset_done(outcome.status, job.label, outcome.reason, job.size_bytes)
        self.pending[asset.id] = asset
        if len(self.pending) >= self.options.save_every:
            self._flush()

    def _put_in_place(self, outcome: JobOutcome) -> None:
        """Rename each checked temp over its local file (see module invariants)."""
        root = self.ctx.worker.library_root
        self.ctx.crash.reach("compress.before_replace")
        try:
            for f in outcome.files:
                if f.temp_path is None:
                    continue
                target = root / f.relpath_after
                Path(f.temp_path).replace(target)
                fsync_dir(target.parent)
                if f.relpath_after != f.relpath:
                    (root / f.relpath).unlink(missing_ok=True)
                    fsync_dir(target.parent)
        except BaseException:
            discard_temps(outcome.files)
            raise
        self.ctx.crash.reach("compress.after_replace_before_save")

    def _record_compressed(
        self, asset: Asset, job: CompressJob, outcome: JobOutcome, now: datetime
    ) -> None:
        files = {f.key: f for f in outcome.files}
        still = files.get("original")
        video = files.get("live_video")
        first = still or video
        assert first is not None
        before = sum(f.size_bytes_before for f in outcome.files)
        after = sum(f.size_bytes_after if f.temp_path else f.size_bytes_before
                    for f in outcome.files)
        asset.record(
            ev.Compressed, self.ctx.run_id, timestamp=now, tier=job.tier, codec=job.codec,
            params_hash=job.params_hash, size_bytes_before=before, size_bytes_after=after,
            sha256_after=first.sha256_after or _sha_now(self.ctx.worker.library_root, first),
            source=outcome.source,
            local_relpath_after=(
                still.relpath_after if still and still.relpath_after != still.relpath else None
            ),
            live_video_sha256_after=video.sha256_after if video and video.temp_path else None,
        )
        self.summary.compressed += 1
        self.summary.bytes_before += before
        self.summary.bytes_after += after
        self.summary.by_tier[job.tier] += 1

    def _flush(self) -> None:
        if self.pending:
            self.ctx.ledger.save(*self.pending.values())
            self.pending.clear()


def _sha_now(root: Path, f: FileOutcome) -> str:
    """The hash of a file left as it was (a live photo whose still did not shrink)."""
    return sha256_file(root / f.relpath)


def execute_compress(
    ctx: CompressContext, options: CompressOptions, progress: CompressProgress
) -> CompressSummary:
    """Compress every asset due for a heavier tier whose backups are verified."""
    policy = CompressionPolicy(
        ctx.settings, ctx.max_nas_verify_age, ctx.clock(), ctx.mounted_nas_id
    )
    decisions = plan_compression(ctx.projection, policy, options.limit)
    jobs = [d.job for _aid, d in decisions if d.job is not None]
    require_tools(tools_needed(jobs, ctx.settings), ctx.find_tool)
    return CompressRun(ctx, options, progress).execute(jobs)


def tools_needed(jobs: Iterable[CompressJob], settings: CompressionSettings) -> dict[str, str]:
    """The external tools the jobs will run, as {config key: command}."""
    needed: dict[str, str] = {}
    for f in (f for job in jobs for f in job.files):
        if f.target_format == "video":
            needed["compression.ffmpeg"] = settings.ffmpeg
            needed["compression.ffprobe"] = settings.ffprobe
        if f.raw_source:
            needed["compression.exiftool"] = settings.exiftool
    return needed


def require_tools(needed: dict[str, str], find_tool: Callable[[str], str | None]) -> None:
    """ConfigError naming the first tool that cannot be run."""
    for key, command in sorted(needed.items()):
        if find_tool(command) is None:
            raise ConfigError(
                f"{key}: {command!r} is not an executable program (install it, or set the "
                "full path)"
            )
