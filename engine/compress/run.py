"""One `compress` run: decisions from the projection, encodes in a process pool, facts in batches.

Invariants:
- What to compress is decided only by engine.compress.tiers from the projection's state and
  the clock passed in (engine.compress.plan); the candidates come from projections.worklists.
- The local copy is replaced only here, in the parent process, by a synced temp file a worker
  has already decoded back and checked: engine.placement.commit_temp renames it over the old
  file and fsyncs the folder. A format change removes the old-named file only after the new
  one is durable.
- A compressed copy keeps the asset's capture time as its modification time (as the
  downloaded file had it, so date sorting survives) and gets `library.file_mode`, set
  explicitly whatever the umask or the encoder (engine.filemodes).
- Compressed is appended after the replacement; a kill in between leaves a smaller local file
  the ledger does not know yet, and the rerun re-encodes it from the NAS original (never from
  that file). CompressionSkipped says why a file was left as it was.
- Events are appended from this thread only, in batches; a stop (error, Ctrl-C) saves the
  facts already decided, and temp files not yet put in place are removed.
- Before any encode, every tool the due jobs will run (ffmpeg and ffprobe for a video,
  exiftool for a RAW to develop) must be found; a missing one stops the run with ConfigError
  and no asset fact recorded, rather than one failure per asset.
- `run_compress` is the stage's entry: it reports through engine.reporting.Reporter (phase
  "compress"; each asset's bytes through `advance_bytes`, then `asset_done` with its size)
  and ends by recording StageCompleted("compress") with the run's counts.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from uuid import UUID

from engine import events as ev
from engine.asset import Asset
from engine.batching import Batcher
from engine.compress.encoders import remove_stale_temps
from engine.compress.plan import compression_policy, plan_compression
from engine.compress.pool import TaskOutcome, WorkerPool
from engine.compress.settings import CompressionSettings
from engine.compress.sources import nas_source_root, worker_settings
from engine.compress.tiers import CompressJob
from engine.compress.work import (
    FileOutcome,
    JobOutcome,
    WorkerSettings,
    discard_temps,
    execute_compress_job,
)
from engine.download.plan import capture_mtime_s
from engine.errors import ConfigError
from engine.fsutil import fsync_dir, sha256_file
from engine.placement import commit_temp
from engine.reporting import NullReporter, Reporter
from engine.services import Services

Task = tuple[WorkerSettings, CompressJob]
SILENT: Reporter = NullReporter()  # a stage run inside another reports nothing of its own


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


class CompressRun:
    """One execution over the due assets."""

    def __init__(
        self, services: Services, worker: WorkerSettings, options: CompressOptions,
        reporter: Reporter,
    ) -> None:
        self.services, self.worker, self.options = services, worker, options
        self.settings = services.config.settings.compression
        self.file_mode = services.config.library_modes().file_mode
        self.reporter = reporter
        self.summary = CompressSummary()
        self.batch = Batcher.for_ledger(services.ledger, options.save_every)

    def execute(self, jobs: list[CompressJob]) -> CompressSummary:
        started = time.monotonic()
        self.reporter.started("compress", len(jobs), sum(j.size_bytes for j in jobs))
        pool: WorkerPool[Task, JobOutcome] = WorkerPool(execute_compress_job, self.options.workers)
        try:
            tasks = ((self.worker, job) for job in jobs)
            for outcome in pool.run(tasks, self._timeout_of):
                self._record(outcome)
        finally:
            pool.close()
            self.batch.flush()
            self.summary.elapsed_s = time.monotonic() - started
        return self.summary

    def _timeout_of(self, task: Task) -> float | None:
        job = task[1]
        if any(f.target_format == "video" for f in job.files):
            return None  # the worker gives ffmpeg a timeout from the video's duration
        return self.settings.photo_timeout_s * len(job.files)

    def _record(self, done: TaskOutcome[Task, JobOutcome]) -> None:
        job = done.task[1]
        outcome = done.value
        if outcome is None:  # the worker died, timed out or raised
            for f in job.files:
                remove_stale_temps(self.worker.library_root / f.relpath_after)
            outcome = JobOutcome(job.asset_id, "failed", done.error or "unknown error", "")
        asset = self.services.ledger.get_asset(UUID(job.asset_id))
        now = self.services.clock()
        if outcome.status == "ready":
            self._put_in_place(outcome, capture_mtime_s(asset.state.captured_at_utc))
            self._record_compressed(asset, job, outcome, now)
        else:
            self._record_not_compressed(asset, job, outcome, now)
        self.reporter.advance_bytes(job.size_bytes)
        self.reporter.asset_done(outcome.status, job.label, outcome.reason, job.size_bytes)
        self.batch.add(asset)

    def _record_not_compressed(
        self, asset: Asset, job: CompressJob, outcome: JobOutcome, now: datetime
    ) -> None:
        is_failure = outcome.status == "failed"
        asset.record(
            ev.CompressionSkipped, self.services.run_id, timestamp=now, tier=job.tier,
            reason=outcome.reason, is_failure=is_failure,
        )
        if is_failure:
            self.summary.failed += 1
            self.summary.problems.append(f"{job.label}: {outcome.reason}")
        else:
            self.summary.skipped += 1

    def _put_in_place(self, outcome: JobOutcome, mtime_s: float | None) -> None:
        """Rename each checked temp over its local file, with the capture time `mtime_s` and
        the library's mode (see module invariants)."""
        root = self.worker.library_root
        self.services.crash.reach("compress.before_replace")
        try:
            for f in outcome.files:
                if f.temp_path is None:
                    continue
                target = root / f.relpath_after
                commit_temp(Path(f.temp_path), target, mtime_s=mtime_s, mode=self.file_mode)
                if f.relpath_after != f.relpath:
                    (root / f.relpath).unlink(missing_ok=True)
                    fsync_dir(target.parent)
        except BaseException:
            discard_temps(outcome.files)
            raise
        self.services.crash.reach("compress.after_replace_before_save")

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
            ev.Compressed, self.services.run_id, timestamp=now, tier=job.tier, codec=job.codec,
            params_hash=job.params_hash, size_bytes_before=before, size_bytes_after=after,
            sha256_after=first.sha256_after or _sha_now(self.worker.library_root, first),
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


def _sha_now(root: Path, f: FileOutcome) -> str:
    """The hash of a file left as it was (a live photo whose still did not shrink)."""
    return sha256_file(root / f.relpath)


def run_compress(
    services: Services, options: CompressOptions, reporter: Reporter = SILENT
) -> CompressSummary:
    """Compress every asset due for a heavier tier whose backups are verified; record one fact
    per asset and StageCompleted("compress")."""
    config = services.config
    nas_root = nas_source_root(config)
    policy = compression_policy(config, services.clock(), nas_root)
    decisions = plan_compression(services.projection, policy, options.limit)
    jobs = [d.job for _aid, d in decisions if d.job is not None]
    require_tools(tools_needed(jobs, config.settings.compression), shutil.which)
    worker = worker_settings(config, nas_root)
    summary = CompressRun(services, worker, options, reporter).execute(jobs)
    services.record_stage_completed("compress", summary.counts())
    return summary


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
