"""One run of the download stage: fresh records in batches, files in parallel, facts in batches.

Invariants:
- The work list is the projection's `download` list; nothing else decides what to fetch.
- Events are appended only from the calling thread, in batches (`ledger.save(*assets)`);
  workers only download and return results. A RemoteChanged is recorded before the outcome of
  the download of the new version, on the same aggregate.
- A Downloaded is recorded only after a batched re-lookup shows iCloud still lists the
  checksums the download URLs came with. Bytes fetched while the version changed are taken
  back and the change recorded (RemoteChanged, then a retriable DownloadFailed): they are
  never filed under the old version.
- Every CloudKit call from this stage goes through one lock (workers refreshing an expired URL
  and the main thread's batch lookups never overlap); content downloads run in parallel.
- A storage error or an iCloud error that is not about one file (login lost, say) stops the
  run after saving the facts already known; per-file trouble becomes that asset's fact.
- An interrupt (Ctrl-C, or SIGTERM under `watch`) starts no new file: those in flight finish,
  are confirmed with one lookup and filed, and everything decided is saved before it returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from uuid import UUID

from engine import events as ev
from engine.asset import Asset, MediaState
from engine.batching import Batcher
from engine.download.batches import Lookup, batches_by_zone
from engine.download.fetch import (
    FileJob,
    NameRegistry,
    ensure_folder,
    fetch_file,
    finalize_file,
    remove_part,
    remove_placed,
)
from engine.download.filing import (
    Breaker,
    DownloadStoppedError,
    FileOutcome,
    count_outcome,
    record_outcome,
)
from engine.download.options import DownloadOptions, DownloadSummary, naming_policy, reach
from engine.download.plan import (
    OK,
    SYSTEMIC_REASON,
    FilePlan,
    FileVerdict,
    StreamResult,
    capture_mtime_s,
    decide_changed_keys,
    decide_refetched_bytes,
    decide_remote_check,
    plan_files,
    remote_changed_facts,
)
from engine.download.selected import selected_worklist
from engine.errors import StorageError
from engine.icloud.port import IcloudPort
from engine.reporting import Reporter
from engine.services import Services
from engine.tempfiles import remove_temp_files
from projections.download import held_relpaths

LOOKUP_BATCH = 200
CONFIRM_BATCH = 200  # downloaded assets proven still current by one records/lookup


@dataclass(frozen=True)
class AssetJob:
    """Everything a worker needs to download one asset."""

    asset_id: UUID
    zone: str
    record_name: str
    change_tag: str
    files: tuple[FileJob, ...]
    label: str
    listed_checksums: dict[str, str]  # version key -> fileChecksum the URL was handed out with
    expected_sha256: dict[str, str]  # version key -> sha256 a re-download after recover must have


@dataclass(frozen=True)
class AssetResult:
    asset_id: UUID
    verdict: FileVerdict = OK  # decided without fetching (the record itself)
    files: tuple[FileOutcome, ...] = ()  # what happened to each resource fetched
    job: AssetJob | None = None  # set when files were fetched: re-checked before filing


class DownloadRun:
    """One execution of the stage; `execute` is the entry point."""

    def __init__(
        self,
        services: Services,
        port: IcloudPort,
        options: DownloadOptions,
        reporter: Reporter,
    ) -> None:
        self.services, self.port, self.options, self.reporter = services, port, options, reporter
        self.run_id, self.library_root = services.run_id, services.config.library_root
        self.naming = naming_policy(services.config, options.local_tz)
        self.hidden_apart = services.config.settings.selection.hidden == "separate"
        self.summary = DownloadSummary()
        self.port_lock = threading.Lock()
        self.registry = NameRegistry(held_relpaths(services.projection))
        self.batcher = Batcher.for_ledger(services.ledger, options.save_every)
        self.breaker = Breaker(options.max_consecutive_failures)
        self.assets: dict[UUID, Asset] = {}
        self.unconfirmed: list[AssetResult] = []

    def execute(self) -> DownloadSummary:
        started = time.monotonic()
        work = selected_worklist(self.services, self.options)
        self.summary.not_selected = work.not_selected
        ids = [UUID(i) for i in work.asset_ids]
        assets = {i: self.services.ledger.get_asset(i) for i in ids}
        # Resources left out by download.resources stay missing: such assets wait for nothing.
        self.assets = {i: a for i, a in assets.items() if self._has_wanted(a.state)}
        if self.assets:  # nothing to fetch: no sign-in, no iCloud call at all
            self.port.login()
        total = sum(a.state.icloud_size_bytes for a in self.assets.values())
        self.reporter.started("download", len(self.assets), total)
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.options.workers)) as pool:
                self._feed(pool)
        except StorageError:
            # A full or failing disk: give the part files' space back before anything is
            # saved. A part is never evidence (engine.tempfiles); the next run fetches it again.
            remove_temp_files([self.library_root])
            raise
        finally:
            self.batcher.flush()
            self.summary.elapsed_s = time.monotonic() - started
            self.summary.found_in_place = self.registry.found_in_place
        return self.summary

    def _has_wanted(self, state: MediaState) -> bool:
        wanted = ("original", *self.options.resources)
        return any(key in wanted for key in state.missing_resources)

    def _feed(self, pool: ThreadPoolExecutor) -> None:
        pending: set[Future[AssetResult]] = set()
        # Look up the next batch while a couple of files per worker are still queued: late
        # enough for fresh URLs, early enough that no worker waits for the lookup.
        queue_low = 2 * max(1, self.options.workers)
        try:
            for zone, batch in batches_by_zone(self.assets.values(), LOOKUP_BATCH):
                while len(pending) >= queue_low:
                    pending = self._collect(pending)
                fresh = self._lookup(zone, [a.state.record_name for a in batch])
                for asset in batch:
                    job = self._prepare(asset, fresh)
                    if job is not None:
                        pending.add(pool.submit(self._download, job))
            while pending:
                pending = self._collect(pending)
            self._confirm()
        except BaseException as exc:
            for future in pending:  # queued files never start
                future.cancel()
            if isinstance(exc, KeyboardInterrupt):  # Ctrl-C, or SIGTERM under `watch`
                self._finish_in_flight(pending)
            raise

    def _finish_in_flight(self, pending: set[Future[AssetResult]]) -> None:
        """Let the files being fetched finish and file them."""
        for future in [f for f in pending if not f.cancelled()]:
            try:
                self._record(future.result())
            except Exception:  # that asset stays in the work list
                continue
        try:
            self._confirm()
        except Exception:  # unconfirmed files are adopted by the next run
            return

    def _collect(self, pending: set[Future[AssetResult]]) -> set[Future[AssetResult]]:
        done, still = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            self._record(future.result())
        return still

    def _lookup(self, zone: str, record_names: list[str]) -> Lookup:
        with self.port_lock:
            page = self.port.lookup_assets(zone, record_names)
        gone = frozenset(p.record_name for p in page.problems if p.reason == "not_found")
        return Lookup({a.record_name: a for a in page.assets}, gone)

    def _prepare(self, asset: Asset, lookup: Lookup) -> AssetJob | None:
        """Main thread: compare with the fresh record, record RemoteChanged, plan the files."""
        name = asset.state.record_name
        if lookup.is_gone(name):
            return self._finish(asset, FileVerdict("failed", "gone", "no longer in iCloud"))
        fresh = lookup.assets.get(name)
        check = decide_remote_check(asset.state, fresh)
        if check.kind == "missing":
            return self._finish(asset, FileVerdict("failed", "not_found", check.detail))
        if check.kind == "mismatch":
            return self._finish(
                asset, FileVerdict("quarantined", "metadata_mismatch", check.detail)
            )
        assert fresh is not None
        if check.kind == "changed":
            asset.record(ev.RemoteChanged, self.run_id, **remote_changed_facts(fresh))
            self.summary.remote_changed += 1
        key = asset.id.hex
        plans = plan_files(
            asset.state, fresh, asset_key=key, sizes=self.options.sizes,
            policy=self.naming, resources=self.options.resources,
            hidden_apart=self.hidden_apart,
        )
        if not plans:  # the change made every missing resource current (or none is wanted)
            return None
        for p in plans:  # here, in work-list order: see NameRegistry
            self.registry.reserve_first_free(
                p.relfolder, p.candidates, key, self.library_root, p.declared_size_bytes
            )
        if asset.state.filename_status in ("missing", "undecodable"):
            self.summary.fallback_named += 1
        return AssetJob(
            asset_id=asset.id,
            zone=asset.state.zone,
            record_name=name,
            change_tag=asset.state.remote_change_tag,
            files=tuple(self._file_job(p, asset.state) for p in plans),
            label=plans[0].first_relpath,
            listed_checksums={p.key: p.checksum for p in plans},
            expected_sha256={p.key: p.expected_sha256 for p in plans if p.expected_sha256},
        )

    def _file_job(self, plan: FilePlan, state: MediaState) -> FileJob:
        return FileJob(
            key=plan.key,
            url=plan.url or "",
            root=self.library_root,
            relfolder=plan.relfolder,
            candidates=plan.candidates,
            part_name=plan.part_name,
            declared_size_bytes=plan.declared_size_bytes,
            mtime_s=capture_mtime_s(state.captured_at_utc),
            replaces_own_file=plan.replaces_own_file,
            modes=self.services.config.library_modes(),
        )

    def _finish(self, asset: Asset, verdict: FileVerdict) -> AssetJob | None:
        """Record an outcome decided without downloading; there is no job."""
        self._record(AssetResult(asset.id, verdict))
        return None

    def _download(self, job: AssetJob) -> AssetResult:
        """Worker thread: fetch each resource and put each one that verified in place."""
        outcomes: list[FileOutcome] = []
        for file_job in job.files:
            if not file_job.url:
                detail = "iCloud gave no download URL"
                outcomes.append(FileOutcome(file_job.key, FileVerdict("failed", "no_url", detail)))
                continue
            ensure_folder(file_job.folder, file_job.modes)
            verdict, result = fetch_file(
                self.port,
                file_job,
                refresh_url=self._refresher(job, file_job),
                on_bytes=self._on_bytes,
            )
            if verdict == OK:
                verdict = decide_refetched_bytes(job.expected_sha256.get(file_job.key, ""), result)
            if verdict != OK:
                if verdict.outcome == "quarantined":
                    remove_part(file_job)
                outcomes.append(FileOutcome(file_job.key, verdict))
                continue
            outcomes.append(self._put_in_place(job, file_job, result))
        reach(self.services.crash, "download.after_rename_before_save")
        return AssetResult(job.asset_id, files=tuple(outcomes), job=job)

    def _on_bytes(self, count: int) -> None:
        """Worker thread: a chunk of a body went to its part file."""
        self.reporter.advance_bytes(count)
        reach(self.services.crash, "download.mid_write")

    def _put_in_place(
        self, job: AssetJob, file_job: FileJob, result: StreamResult
    ) -> FileOutcome:
        reach(self.services.crash, "download.before_rename")
        relpath = finalize_file(
            file_job,
            owner=job.asset_id.hex,
            size_bytes=result.size_bytes,
            sha256=result.sha256,
            registry=self.registry,
        )
        if relpath is None:
            detail = f"every candidate name for {file_job.candidates[0]} is taken"
            return FileOutcome(file_job.key, FileVerdict("failed", "no_free_name", detail))
        return FileOutcome(
            file_job.key, OK, relpath=relpath, size_bytes=result.size_bytes,
            sha256=result.sha256, checksum=job.listed_checksums.get(file_job.key, ""),
            path=self.library_root / relpath,
        )

    def _refresher(self, job: AssetJob, file_job: FileJob) -> Callable[[], str | None]:
        def refresh() -> str | None:
            fresh = self._lookup(job.zone, [job.record_name]).assets.get(job.record_name)
            if fresh is None or fresh.change_tag != job.change_tag:
                return None  # gone or edited meanwhile: the next run decides
            version = fresh.version(file_job.key)
            if version is None or version.size_bytes != file_job.declared_size_bytes:
                return None
            return version.download_url

        return refresh

    def _record(self, result: AssetResult) -> None:
        """Main thread: file an outcome, or hold fetched files until they are confirmed."""
        if result.job is None:
            self._file(result.asset_id, [FileOutcome("original", result.verdict)], is_gone=(
                result.verdict.reason == "gone"))
            return
        self.unconfirmed.append(result)
        if len(self.unconfirmed) >= CONFIRM_BATCH:
            self._confirm()

    def _confirm(self) -> None:
        """Main thread: one lookup per zone proves the listed versions current, then file."""
        held, self.unconfirmed = self.unconfirmed, []
        by_zone: dict[str, list[AssetResult]] = {}
        for result in held:
            assert result.job is not None
            by_zone.setdefault(result.job.zone, []).append(result)
        for zone, members in by_zone.items():
            lookup = self._lookup(zone, [r.job.record_name for r in members if r.job])
            for result in members:
                self._file_confirmed(result, lookup)

    def _file_confirmed(self, result: AssetResult, lookup: Lookup) -> None:
        """Take back files whose version changed meanwhile; a gone record keeps its bytes."""
        job = result.job
        assert job is not None
        fresh = lookup.assets.get(job.record_name)
        outcomes = list(result.files)
        changed = decide_changed_keys(
            {f.key: f.checksum for f in outcomes if f.is_placed}, fresh
        )
        if changed:
            assert fresh is not None
            remove_placed(f.path for f in outcomes if f.key in changed and f.path is not None)
            asset = self.assets[result.asset_id]
            asset.record(ev.RemoteChanged, self.run_id, **remote_changed_facts(fresh))
            self.summary.remote_changed += 1
            detail = "iCloud changed the file while it downloaded"
            verdict = FileVerdict("failed", "changed_meanwhile", detail)
            outcomes = [FileOutcome(f.key, verdict) if f.key in changed else f for f in outcomes]
        self._file(result.asset_id, outcomes, is_gone=lookup.is_gone(job.record_name))

    def _file(self, asset_id: UUID, outcomes: list[FileOutcome], *, is_gone: bool) -> None:
        """Main thread: turn the outcomes into the asset's facts; trips the breaker."""
        asset = self.assets[asset_id]
        outcome = record_outcome(asset, self.run_id, outcomes, is_gone=is_gone)
        count_outcome(self.summary, outcome, outcomes)
        self.batcher.add(asset)
        failed = [f for f in outcomes if not f.is_placed]
        detail = "; ".join(f"{f.key}: {f.verdict.detail}" for f in failed)
        label = next((f.relpath for f in outcomes if f.relpath), asset.state.filename)
        size_bytes = sum(f.size_bytes for f in outcomes if f.is_placed)
        self.reporter.asset_done(
            "ok" if outcome == "downloaded" else outcome, label, detail, size_bytes
        )
        if any(f.verdict.reason == SYSTEMIC_REASON for f in failed):
            raise DownloadStoppedError(
                f"stopped: iCloud kept throttling downloads past every retry ({label}: "
                f"{detail}); what was downloaded is recorded, run again later"
            )
        self.breaker.observe(label, outcome in ("failed", "partial", "quarantined"), detail)


