"""The comparison of adopted files with iCloud's bytes: `run` (each `watch` cycle), after its
downloads, for the assets old enough to leave iCloud; `download --compare-adopted` and
`import-existing --confirm` for all of them. A plain `download` compares nothing.

`import-existing` adopts another tool's file by path and byte count only; iCloud exposes no
checksum of the bytes (fileChecksum is Apple's own signature), so a file written wrong at the
right size would become the sha256 every backup is checked against. The deletion gate
therefore counts an adopted resource only once iCloud's own bytes hashed to it.

Invariants:
- Work list: projections.adoption (assets iCloud holds with an adopted, unconfirmed
  resource) taken before `compare_adopted_before_utc`, under the selection the downloads
  use, and `limit`; chosen assets (`asset_ids`:
  recover, a NAS repair) are never compared here.
- Each resource is streamed once through the download stage's own fetching code
  (engine.download.fetch.fetch_file with a DigestSink: resumes, refreshed URLs, the size
  verdict) and hashed in memory: nothing is written to the library for a confirmed one.
- Before a verdict is recorded, one lookup per zone shows iCloud still lists the checksum
  the URL came with (as for a download): bytes of another version decide nothing.
- Equal: AdoptionConfirmed naming each resource and its sha256. Different: the adopted file
  is moved aside (adoption_stream.quarantine_adopted) and AdoptionDisproved saved at once;
  `confirm_adoptions` then downloads those resources (engine.download.run on those assets).
  A kill between the move and the save finds the file moved on the rerun and records it then.
- A failed stream (404, 503 past the retries, a cut after every resume) records a retriable
  DownloadFailed that says the file is not yet compared; it stays unconfirmed and the stage
  reports a failure (exit 16). iCloud throttling past every retry stops the run.
- Events are appended from the calling thread only, in batches; workers only stream. An
  interrupt starts no new stream and records nothing about the batch in flight (compared
  again next run); what was decided before is saved.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from engine import events as ev
from engine import resources as res
from engine.asset import Asset
from engine.asset_state import MediaState
from engine.batching import Batcher
from engine.download.adoption_stream import DigestSink, quarantine_adopted
from engine.download.batches import Lookup, batches_by_zone
from engine.download.fetch import FileJob, fetch_file
from engine.download.filing import DownloadStoppedError
from engine.download.options import COMPARE_ALL, DownloadOptions, DownloadSummary, reach
from engine.download.plan import (
    OK,
    SYSTEMIC_REASON,
    FileVerdict,
    decide_changed_keys,
    decide_remote_check,
    remote_changed_facts,
)
from engine.download.run import DownloadRun
from engine.icloud.port import IcloudPort
from engine.reporting import Reporter
from engine.selection_scope import selection_scope
from engine.services import Services
from projections.adoption import adoption_worklist

LOOKUP_BATCH = 200
PHASE = "compare"
_ADDED = ("downloaded", "partial", "failed", "quarantined", "remote_changed", "remote_deleted",
          "fallback_named", "files_downloaded", "bytes_downloaded", "found_in_place")


@dataclass(frozen=True)
class CheckFile:
    """One adopted resource to compare: its library file, hash, size, and iCloud's URL."""

    key: str
    relpath: str
    adopted_sha256: str
    size_bytes: int
    checksum: str  # the listed checksum the URL came with
    url: str


@dataclass(frozen=True)
class CheckJob:
    asset_id: UUID
    zone: str
    record_name: str
    change_tag: str
    files: tuple[CheckFile, ...]


@dataclass(frozen=True)
class Checked:
    file: CheckFile
    verdict: FileVerdict
    sha256: str = ""  # iCloud's bytes, when the stream verified


def confirm_adoptions(
    services: Services, port: IcloudPort, options: DownloadOptions, reporter: Reporter,
    summary: DownloadSummary,
) -> None:
    """Compare the adopted files with iCloud's bytes (counts into `summary`), then download
    the resources found to differ."""
    services.projection.catch_up(services.ledger)
    disproved = AdoptionRun(services, port, options, reporter, summary).execute()
    if not disproved:
        return
    services.projection.catch_up(services.ledger)
    again = DownloadRun(services, port, dataclasses.replace(
        options, asset_ids=frozenset(disproved), limit=None), reporter).execute()
    for name in _ADDED:
        setattr(summary, name, getattr(summary, name) + getattr(again, name))


def planned_confirmations(services: Services, options: DownloadOptions) -> list[str]:
    """The library files a run would compare with iCloud's bytes (from the ledger alone)."""
    found = []
    for asset_id in adoption_ids(services, options):
        state = services.ledger.get_asset(UUID(asset_id)).state
        for key in state.adoption_unconfirmed:
            got = res.downloaded(state, key)
            if got is not None:
                found.append(got.relpath)
    return found


def adoption_ids(services: Services, options: DownloadOptions) -> list[str]:
    """The assets this pass compares: the work list under the selection, cut to `limit`."""
    if options.asset_ids is not None:
        return []
    listed = adoption_worklist(services.projection)
    scope = selection_scope(services, options.local_tz)
    states = services.projection.states_of(set(listed))
    due = options.compare_adopted_before_utc or COMPARE_ALL
    chosen = [i for i in listed if i in states and scope.reason(states[i]) is None
              and is_due_for_comparison(states[i], due)]
    return chosen[: options.limit] if options.limit is not None else chosen


def is_due_for_comparison(state: MediaState, before_utc: datetime) -> bool:
    """Taken before `before_utc` (an asset without any date is compared: the gate would not
    let it go without one, but its bytes are still worth knowing)."""
    taken = state.captured_at_utc or state.added_at_utc
    return taken is None or taken < before_utc


class AdoptionRun:
    """One comparison pass; `execute` returns the assets (hex) with a disproved file."""

    def __init__(self, services: Services, port: IcloudPort, options: DownloadOptions,
                 reporter: Reporter, summary: DownloadSummary) -> None:
        self.services, self.port, self.options = services, port, options
        self.reporter, self.summary = reporter, summary
        self.run_id, self.root = services.run_id, services.config.library_root
        self.port_lock = threading.Lock()
        self.batcher = Batcher.for_ledger(services.ledger, options.save_every)
        self.assets: dict[UUID, Asset] = {}
        self.disproved: list[str] = []

    def execute(self) -> list[str]:
        ids = [UUID(i) for i in adoption_ids(self.services, self.options)]
        if not ids:
            return []
        self.assets = {i: self.services.ledger.get_asset(i) for i in ids}
        self.port.login()
        total = sum(r.size_bytes for a in self.assets.values()
                    for r in a.state.resources_downloaded if r.key in a.state.adoption_unconfirmed)
        self.reporter.started(PHASE, len(ids), total)
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.options.workers)) as pool:
                for zone, batch in batches_by_zone(self.assets.values(), LOOKUP_BATCH):
                    self._batch(pool, zone, batch)
        finally:
            self.batcher.flush()
        return self.disproved

    def _batch(self, pool: ThreadPoolExecutor, zone: str, batch: list[Asset]) -> None:
        lookup = self._lookup(zone, [a.state.record_name for a in batch])
        jobs = [job for job in (self._prepare(a, lookup) for a in batch) if job is not None]
        futures = [pool.submit(self._stream, job) for job in jobs]
        try:
            results = [future.result() for future in futures]
        except BaseException:  # Ctrl-C, SIGTERM under `watch`: no new stream starts
            for future in futures:
                future.cancel()
            raise
        if results:
            again = self._lookup(zone, [job.record_name for job in jobs])
            for job, checked in zip(jobs, results, strict=True):
                self._file(job, checked, again)

    def _lookup(self, zone: str, record_names: list[str]) -> Lookup:
        with self.port_lock:
            page = self.port.lookup_assets(zone, record_names)
        gone = frozenset(p.record_name for p in page.problems if p.reason == "not_found")
        return Lookup({a.record_name: a for a in page.assets}, gone)

    def _prepare(self, asset: Asset, lookup: Lookup) -> CheckJob | None:
        """Main thread: the fresh record's URLs for the adopted files still listed as such."""
        name = asset.state.record_name
        if lookup.is_gone(name):
            asset.record(ev.RemoteDeleted, self.run_id,
                         observed_via="records/lookup before comparing adopted files")
            self.summary.remote_deleted += 1
            self._done(asset, "gone", "no longer in iCloud")
            return None
        fresh = lookup.assets.get(name)
        check = decide_remote_check(asset.state, fresh)
        if check.kind in ("missing", "mismatch"):
            self._failed(asset, [f"{_label(asset)}: iCloud's record: {check.detail}"],
                         check.kind)
            return None
        assert fresh is not None
        if check.kind == "changed":
            asset.record(ev.RemoteChanged, self.run_id, **remote_changed_facts(fresh))
            self.summary.remote_changed += 1
        state, files = asset.state, []
        listed = res.listed_resources(state)
        for key in state.adoption_unconfirmed:
            got, version = res.downloaded(state, key), fresh.version(key)
            if got is None or key not in listed or not res.is_current(listed[key], got):
                continue  # iCloud holds another version now: downloaded as such next run
            if version is None or not version.download_url:
                self._failed(asset, [f"{got.relpath}: iCloud gave no download URL"], "no_url")
                return None
            files.append(CheckFile(key, got.relpath, got.sha256, got.size_bytes,
                                   version.checksum, version.download_url))
        if not files:
            self._done(asset, "ok", "")
            return None
        return CheckJob(asset.id, state.zone, name, fresh.change_tag, tuple(files))

    def _stream(self, job: CheckJob) -> tuple[Checked, ...]:
        """Worker thread: hash iCloud's bytes of each file (nothing is written)."""
        found = []
        for file in job.files:
            sink = DigestSink()
            file_job = FileJob(key=file.key, url=file.url, root=self.root, relfolder="",
                               candidates=(file.relpath,), part_name="",
                               declared_size_bytes=file.size_bytes, mtime_s=None)
            verdict, result = fetch_file(self.port, file_job, refresh_url=self._refresher(
                job, file), on_bytes=self._on_bytes, stream=sink.stream)
            found.append(Checked(file, verdict, result.sha256 if verdict == OK else ""))
        return tuple(found)

    def _on_bytes(self, count: int) -> None:
        self.reporter.advance_bytes(count)
        reach(self.services.crash, "adoption.mid_stream")

    def _refresher(self, job: CheckJob, file: CheckFile) -> Callable[[], str | None]:
        def refresh() -> str | None:
            fresh = self._lookup(job.zone, [job.record_name]).assets.get(job.record_name)
            version = fresh.version(file.key) if fresh is not None else None
            if version is None or version.checksum != file.checksum:
                return None  # gone or changed meanwhile: the next run decides
            return version.download_url

        return refresh

    def _file(self, job: CheckJob, checked: tuple[Checked, ...], lookup: Lookup) -> None:
        """Main thread: record what the hashes say, for the versions iCloud still lists."""
        asset = self.assets[job.asset_id]
        streamed = {c.file.key: c.file.checksum for c in checked if c.verdict == OK}
        changed = decide_changed_keys(streamed, lookup.assets.get(job.record_name))
        ok = [c for c in checked if c.verdict == OK and c.file.key not in changed]
        confirmed = [c for c in ok if c.sha256 == c.file.adopted_sha256]
        if confirmed:
            asset.record(ev.AdoptionConfirmed, self.run_id, resources=tuple(
                ev.ResourceHash(key=c.file.key, sha256=c.sha256) for c in confirmed))
        for c in (c for c in ok if c.sha256 != c.file.adopted_sha256):
            self._disprove(asset, c)
        self.summary.adopted_confirmed += len(confirmed)
        compared = sum(c.file.size_bytes for c in ok)
        self.summary.bytes_compared += compared
        failed = [c for c in checked if c.verdict != OK]
        if failed:
            self._failed(asset, [f"{c.file.relpath}: {c.verdict.reason}: {c.verdict.detail}"
                                 for c in failed], failed[0].verdict.reason)
        elif len(confirmed) == len(ok):
            self._done(asset, "ok", "", compared)
        else:
            self._done(asset, "quarantined", "not iCloud's bytes: moved to Quarantine/, "
                       "iCloud's are downloaded", compared)
        if any(c.verdict.reason == SYSTEMIC_REASON for c in failed):
            self.batcher.flush()
            raise DownloadStoppedError(
                "stopped: iCloud kept throttling while adopted files were compared with its "
                "bytes; what was compared is recorded, run again later")

    def _disprove(self, asset: Asset, c: Checked) -> None:
        """Move the adopted file aside, then record it (saved at once: the library changed)."""
        moved = quarantine_adopted(self.root, c.file.relpath,
                                   self.services.config.library_modes())
        reach(self.services.crash, "adoption.after_quarantine_before_save")
        asset.record(ev.AdoptionDisproved, self.run_id, resource=c.file.key,
                     local_relpath=c.file.relpath, adopted_sha256=c.file.adopted_sha256,
                     icloud_sha256=c.sha256, quarantine_relpath=moved)
        self.batcher.add(asset)
        self.batcher.flush()
        self.summary.adopted_disproved += 1
        self.summary.adoption_problems.append(
            f"{c.file.relpath}: not iCloud's bytes (sha256 {c.file.adopted_sha256[:12]}, "
            f"iCloud's {c.sha256[:12]}); moved to {moved or '(already gone)'}, downloaded again")
        if asset.id.hex not in self.disproved:
            self.disproved.append(asset.id.hex)

    def _failed(self, asset: Asset, details: list[str], reason: str) -> None:
        detail = "; ".join(details)
        asset.record(ev.DownloadFailed, self.run_id, is_retriable=True, error=(
            f"adopted files not yet compared with iCloud's bytes ({reason}): {detail}; the next "
            "download tries again"))
        self.summary.adopted_failed += 1
        self.summary.adoption_problems.extend(details)
        self._done(asset, "failed", detail)

    def _done(self, asset: Asset, outcome: str, detail: str, size_bytes: int = 0) -> None:
        self.batcher.add(asset)
        self.reporter.asset_done(outcome, _label(asset), detail, size_bytes)


def _label(asset: Asset) -> str:
    return asset.state.local_relpath or asset.state.filename
