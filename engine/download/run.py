"""One run of the download stage: fresh records in batches, files in parallel, facts in batches.

Invariants:
- The work list is the projection's `download` list; nothing else decides what to fetch.
- Events are appended only from the calling thread, in batches (`ledger.save(*assets)`);
  workers only download and return results. A RemoteChanged is recorded before the outcome of
  the download of the new version, on the same aggregate.
- Every CloudKit call from this stage goes through one lock (workers refreshing an expired URL
  and the main thread's batch lookups never overlap); content downloads run in parallel.
- A storage error or an iCloud error that is not about one file (login lost, say) stops the
  run after saving the facts already known; per-file trouble becomes that asset's fact.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from uuid import UUID

from engine import events as ev
from engine.asset import Asset, MediaState
from engine.download.fetch import (
    FileJob,
    NameRegistry,
    ensure_folder,
    fetch_file,
    finalize_file,
    remove_part,
)
from engine.download.names import held_relpaths
from engine.download.options import (
    DownloadOptions,
    DownloadProgress,
    DownloadSummary,
    RunContext,
    reach,
)
from engine.download.plan import (
    OK,
    FilePlan,
    FileVerdict,
    StreamResult,
    capture_mtime_s,
    decide_asset_verdict,
    decide_before_download,
    decide_remote_check,
    downloaded_facts,
    plan_files,
    remote_changed_facts,
)
from engine.icloud.model import RemoteAsset
from engine.icloud.port import IcloudPort
from engine.ledger import Ledger
from projections.worklists import worklist

LOOKUP_BATCH = 200


@dataclass(frozen=True)
class AssetJob:
    """Everything a worker needs to download one asset."""

    asset_id: UUID
    zone: str
    record_name: str
    change_tag: str
    files: tuple[FileJob, ...]
    label: str


@dataclass(frozen=True)
class AssetResult:
    asset_id: UUID
    verdict: FileVerdict
    facts: dict[str, object] | None = None
    size_bytes: int = 0


class Batcher:
    """Collects aggregates with new events and saves them together."""

    def __init__(self, ledger: Ledger, every: int) -> None:
        self.ledger, self.every = ledger, every
        self.pending: dict[UUID, Asset] = {}

    def add(self, asset: Asset) -> None:
        self.pending[asset.id] = asset
        if len(self.pending) >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.ledger.save(*self.pending.values())
            self.pending.clear()


class DownloadRun:
    """One execution of the stage; `execute` is the entry point."""

    def __init__(
        self,
        ctx: RunContext,
        port: IcloudPort,
        options: DownloadOptions,
        progress: DownloadProgress,
    ) -> None:
        self.ctx, self.port, self.options, self.progress = ctx, port, options, progress
        self.summary = DownloadSummary()
        self.port_lock = threading.Lock()
        self.registry = NameRegistry(held_relpaths(ctx.projection))
        self.batcher = Batcher(ctx.ledger, options.save_every)
        self.assets: dict[UUID, Asset] = {}

    def execute(self) -> DownloadSummary:
        started = time.monotonic()
        ids = [UUID(i) for i in worklist(self.ctx.projection, "download", self.options.limit)]
        self.assets = {i: self.ctx.ledger.get_asset(i) for i in ids}
        total = sum(a.state.declared_size_bytes for a in self.assets.values())
        self.progress.started(len(ids), total)
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.options.workers)) as pool:
                self._feed(pool)
        finally:
            self.batcher.flush()
            self.summary.elapsed_s = time.monotonic() - started
        return self.summary

    def _feed(self, pool: ThreadPoolExecutor) -> None:
        pending: set[Future[AssetResult]] = set()
        try:
            for zone, batch in _batches(self.assets.values(), LOOKUP_BATCH):
                while len(pending) >= self.options.workers:  # keep URLs fresh: look up late
                    pending = self._collect(pending)
                fresh = self._lookup(zone, [a.state.record_name for a in batch])
                for asset in batch:
                    job = self._prepare(asset, fresh.get(asset.state.record_name))
                    if job is not None:
                        pending.add(pool.submit(self._download, job))
            while pending:
                pending = self._collect(pending)
        except BaseException:
            for future in pending:
                future.cancel()
            raise

    def _collect(self, pending: set[Future[AssetResult]]) -> set[Future[AssetResult]]:
        done, still = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            self._record(future.result())
        return still

    def _lookup(self, zone: str, record_names: list[str]) -> dict[str, RemoteAsset]:
        with self.port_lock:
            page = self.port.lookup_assets(zone, record_names)
        return {a.record_name: a for a in page.assets}

    def _prepare(self, asset: Asset, fresh: RemoteAsset | None) -> AssetJob | None:
        """Main thread: compare with the fresh record, record RemoteChanged, plan the files."""
        check = decide_remote_check(asset.state, fresh)
        if check.kind == "missing":
            return self._finish(asset, FileVerdict("failed", "not_found", check.detail))
        if check.kind == "mismatch":
            return self._finish(
                asset, FileVerdict("quarantined", "metadata_mismatch", check.detail)
            )
        assert fresh is not None
        if check.kind == "changed":
            asset.record(ev.RemoteChanged, self.ctx.run_id, **remote_changed_facts(fresh))
            self.summary.remote_changed += 1
        refusal = decide_before_download(asset.state)
        if refusal != OK:
            return self._finish(asset, refusal)
        key = asset.id.hex
        plans = plan_files(
            asset.state, fresh, asset_key=key, sizes=self.options.sizes, policy=self.ctx.naming
        )
        if any(p.url is None for p in plans):
            detail = "iCloud gave no download URL for " + ", ".join(
                p.key for p in plans if p.url is None
            )
            return self._finish(asset, FileVerdict("failed", "no_url", detail))
        return AssetJob(
            asset_id=asset.id,
            zone=asset.state.zone,
            record_name=asset.state.record_name,
            change_tag=asset.state.remote_change_tag,
            files=tuple(self._file_job(p, asset.state) for p in plans),
            label=plans[0].first_relpath,
        )

    def _file_job(self, plan: FilePlan, state: MediaState) -> FileJob:
        return FileJob(
            key=plan.key,
            url=plan.url or "",
            root=self.ctx.library_root,
            relfolder=plan.relfolder,
            candidates=plan.candidates,
            part_name=plan.part_name,
            declared_size_bytes=plan.declared_size_bytes,
            mtime_s=capture_mtime_s(state.captured_at_utc),
        )

    def _finish(self, asset: Asset, verdict: FileVerdict) -> AssetJob | None:
        """Record an outcome decided without downloading; there is no job."""
        self._record(AssetResult(asset.id, verdict))
        return None

    def _download(self, job: AssetJob) -> AssetResult:
        """Worker thread: fetch every file of the asset, then put them all in place."""
        streamed: dict[str, StreamResult] = {}
        verdicts: list[FileVerdict] = []
        for file_job in job.files:
            ensure_folder(file_job.folder)
            verdict, result = fetch_file(
                self.port,
                file_job,
                refresh_url=self._refresher(job, file_job),
                on_bytes=self.progress.advance_bytes,
            )
            verdicts.append(verdict)
            if verdict != OK:
                break
            streamed[file_job.key] = result
        overall = decide_asset_verdict(verdicts)
        if overall.outcome == "quarantined":
            for file_job in job.files:
                remove_part(file_job)
        if overall != OK:
            return AssetResult(job.asset_id, overall)
        return self._put_in_place(job, streamed)

    def _put_in_place(self, job: AssetJob, streamed: dict[str, StreamResult]) -> AssetResult:
        reach(self.ctx.crash, "download.before_rename")
        owner = job.asset_id.hex
        placed: dict[str, tuple[str, int, str]] = {}
        for file_job in job.files:
            result = streamed[file_job.key]
            relpath = finalize_file(
                file_job,
                owner=owner,
                size_bytes=result.size_bytes,
                sha256=result.sha256,
                registry=self.registry,
            )
            if relpath is None:
                detail = f"every candidate name for {file_job.candidates[0]} is taken"
                return AssetResult(job.asset_id, FileVerdict("failed", "no_free_name", detail))
            placed[file_job.key] = (relpath, result.size_bytes, result.sha256)
        reach(self.ctx.crash, "download.after_rename_before_save")
        size = sum(item[1] for item in placed.values())
        return AssetResult(job.asset_id, OK, downloaded_facts(placed), size)

    def _refresher(self, job: AssetJob, file_job: FileJob) -> Callable[[], str | None]:
        def refresh() -> str | None:
            fresh = self._lookup(job.zone, [job.record_name]).get(job.record_name)
            if fresh is None or fresh.change_tag != job.change_tag:
                return None  # gone or edited meanwhile: the next run decides
            version = fresh.version(file_job.key)
            if version is None or version.size_bytes != file_job.declared_size_bytes:
                return None
            return version.download_url

        return refresh

    def _record(self, result: AssetResult) -> None:
        """Main thread: turn a result into the asset's fact."""
        asset = self.assets[result.asset_id]
        verdict = result.verdict
        label = asset.state.filename
        if verdict.outcome == "ok" and result.facts is not None:
            asset.record(ev.Downloaded, self.ctx.run_id, **result.facts)
            self.summary.downloaded += 1
            self.summary.bytes_downloaded += result.size_bytes
            label = str(result.facts["local_relpath"])
        elif verdict.outcome == "quarantined":
            asset.record(
                ev.Quarantined, self.ctx.run_id, reason=verdict.reason, detail=verdict.detail
            )
            self.summary.quarantined += 1
        else:
            asset.record(
                ev.DownloadFailed,
                self.ctx.run_id,
                error=f"{verdict.reason}: {verdict.detail}",
                is_retriable=verdict.is_retriable,
            )
            self.summary.failed += 1
        self.batcher.add(asset)
        self.progress.asset_done(verdict.outcome, label, verdict.detail)


def _batches(assets: Iterable[Asset], size: int) -> Iterator[tuple[str, list[Asset]]]:
    """Assets grouped by zone, in work-list order, at most `size` per batch."""
    by_zone: dict[str, list[Asset]] = {}
    for asset in assets:
        by_zone.setdefault(asset.state.zone, []).append(asset)
    for zone, members in by_zone.items():
        for start in range(0, len(members), size):
            yield zone, members[start : start + size]


def execute_download_run(
    ctx: RunContext, port: IcloudPort, options: DownloadOptions, progress: DownloadProgress
) -> DownloadSummary:
    """Run the stage over its work list."""
    return DownloadRun(ctx, port, options, progress).execute()
