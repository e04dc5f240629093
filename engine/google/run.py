"""One run of the backup-google stage: stage into the outbox, then confirm on the Pixel.

Invariants:
- The work list is the projection's `backup-google` list (downloaded, not Google-verified);
  a rerun after any stop does exactly what is left. A verified asset is never staged again,
  even when the Pixel later frees the file (Google Photos "Free up space"), unless a resend
  names it.
- Order per asset: every file placed in the outbox (checked against the downloaded sha256;
  from the library copy, or from the NAS copy when the library's is no longer the original,
  e.g. compressed before it was staged), then PixelStaged; GoogleVerified only after
  Syncthing shows the Pixel holds each file (engine.google.plan.decide_pixel_copy).
  Facts are saved in batches from this thread only; a kill at any point leaves files a
  rerun adopts, never a second copy or fact.
- Confirmation wakes on Syncthing events (RemoteIndexUpdated and friends) and re-polls every
  `poll_s` in case one was missed. A disconnected Pixel ends the wait at once: its files stay
  "staged" (unknown), not failed.
- Outbox copies are removed only when `remove_outbox_copy_after_days` is set, and only that
  long after GoogleVerified. No ledger fact depends on the outbox copy after verification.
- A resend (`execute_google_resend`) acts on the named assets only, and only on ones already
  staged or verified. Every named asset's source is settled before anything is written: one
  that cannot be re-sent refuses the whole request (ResendRefusedError) and nothing is
  recorded; a file that changes after that is that asset's failure alone. Each resent asset
  gets PixelStaged again (google_status "staged": the deletion gate stops counting Google
  until GoogleVerified) and is confirmed like any staged asset.
- `run_backup_google` and `run_google_resend` are the stage's entries: they refuse a dangerous
  Syncthing set-up before anything is placed (engine.google.doctor), report through
  engine.reporting.Reporter (phases "stage", "resend", "confirm") and end by recording
  StageCompleted("backup-google") with the run's counts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from engine import events as ev
from engine.asset import Asset
from engine.batching import Batcher
from engine.google.doctor import doctor_inputs, examine_setup, refuse_if_unsafe
from engine.google.plan import (
    OutboxFile,
    PixelCopy,
    decide_asset_copy,
    decide_pixel_copy,
    decide_resend_mtime_ns,
    is_outbox_copy_due_for_removal,
    plan_outbox_files,
)
from engine.google.resend import (
    ResendJob,
    find_downloaded_bytes,
    plan_google_resend,
    resolve_assets,
)
from engine.google.route import GoogleRoute, google_route
from engine.google.stage import (
    Placed,
    StageRefusedError,
    outbox_stat,
    place_outbox_file,
    remove_outbox_copy,
    resend_outbox_file,
)
from engine.google.syncthing import CONFIRM_EVENTS
from engine.reporting import NullReporter, Reporter
from engine.services import Services
from projections.google import google_verified_copies, google_work_items
from projections.worklists import worklist

# google_route comes with the stage's entries: a caller builds the route, then runs the stage.
__all__ = [
    "GoogleOptions", "GoogleRoute", "GoogleRun", "GoogleSummary", "execute_outbox_cleanup",
    "google_route", "plan_backup_google", "run_backup_google", "run_google_resend",
]

SCAN_SUBS_MAX = 200  # more staged files than this: one scan of the whole folder
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SILENT: Reporter = NullReporter()  # a stage run inside another reports nothing of its own


@dataclass(frozen=True)
class GoogleOptions:
    wait_s: float = 120.0
    poll_s: float = 5.0
    limit: int | None = None
    save_every: int = 50


@dataclass
class GoogleSummary:
    """What a run did."""

    staged: int = 0
    resent: int = 0
    hardlinked: int = 0
    copied: int = 0
    adopted: int = 0
    verified: int = 0
    waiting: int = 0
    unknown: int = 0
    failed: int = 0
    outbox_copies_removed: int = 0
    is_pixel_connected: bool = False
    elapsed_s: float = 0.0
    planned: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "staged": self.staged,
            "resent": self.resent,
            "verified": self.verified,
            "waiting": self.waiting,
            "unknown": self.unknown,
            "failed": self.failed,
            "outbox_copies_removed": self.outbox_copies_removed,
        }


class GoogleRun:
    """One execution of the stage; `execute` and `resend` are its two ways to run."""

    def __init__(
        self, services: Services, route: GoogleRoute, options: GoogleOptions, reporter: Reporter,
    ) -> None:
        self.services, self.route, self.options, self.reporter = services, route, options, reporter
        self.now_utc = services.clock()
        self.modes = services.config.library_modes()  # the outbox reads like the library
        self.summary = GoogleSummary()
        self.batch = Batcher.for_ledger(services.ledger, options.save_every)

    def execute(self) -> GoogleSummary:
        started = time.monotonic()
        ids = worklist(self.services.projection, "backup-google", self.options.limit)
        assets = [self.services.ledger.get_asset(UUID(i)) for i in ids]
        since = self.route.client.event_baseline(CONFIRM_EVENTS)  # before anything can change
        try:
            self._scan(self._stage_all(assets))
            pending = {a.id: a for a in assets if a.state.google_status == "staged"}
            self._confirm(pending, since)
        finally:
            self.batch.flush()
            self.summary.elapsed_s = time.monotonic() - started
        return self.summary

    def resend(self, jobs: list[ResendJob]) -> GoogleSummary:
        """Write each job's files again with a new time, record PixelStaged, confirm them."""
        started = time.monotonic()
        since = self.route.client.event_baseline(CONFIRM_EVENTS)
        try:
            self._scan(self._resend_all(jobs))
            pending = {j.asset.id: j.asset for j in jobs if j.asset.state.google_status == "staged"}
            self._confirm(pending, since)
        finally:
            self.batch.flush()
            self.summary.elapsed_s = time.monotonic() - started
        return self.summary

    def _scan(self, relpaths: list[str]) -> None:
        if relpaths:
            subs = relpaths if len(relpaths) <= SCAN_SUBS_MAX else []
            self.route.client.scan(self.route.folder_id, subs)

    def _resend_all(self, jobs: list[ResendJob]) -> list[str]:
        self.reporter.started("resend", len(jobs))
        now_ns = (self.now_utc - _EPOCH) // timedelta(microseconds=1) * 1000
        resent_relpaths: list[str] = []
        for job in jobs:
            placed: list[Placed] = []
            try:
                for file, source in job.files:
                    target = self.route.outbox / file.relpath
                    mtime_ns = decide_resend_mtime_ns(now_ns, outbox_stat(target))
                    placed.append(
                        resend_outbox_file(source, target, file.sha256, mtime_ns, self.modes)
                    )
            except StageRefusedError as exc:  # changed since it was chosen: this asset only
                self.summary.failed += 1
                self.reporter.asset_done("failed", job.files[0][0].relpath, str(exc))
                continue
            self._record_staged(job.asset, [f for f, _ in job.files], placed)
            resent_relpaths.extend(f.relpath for f, _ in job.files)
            self.summary.resent += 1
            self.reporter.asset_done(
                "resent", job.files[0][0].relpath, f"from {job.files[0][1].where}"
            )
        self.batch.flush()
        return resent_relpaths

    def _stage_all(self, assets: list[Asset]) -> list[str]:
        self.reporter.started("stage", len(assets))
        staged_relpaths: list[str] = []
        for asset in assets:
            files = plan_outbox_files(asset.state, include_edits=self.route.include_edits)
            if asset.state.google_status == "staged" and self._are_in_outbox(files):
                self.reporter.asset_done("already staged", files[0].relpath)
                continue
            placed = self._place(files)
            if placed is None:
                continue
            self._record_staged(asset, files, placed)
            staged_relpaths.extend(f.relpath for f in files)
            self._count_staged(placed)
            self.reporter.asset_done("staged", files[0].relpath, placed[0].method)
        self.batch.flush()
        return staged_relpaths

    def _record_staged(self, asset: Asset, files: list[OutboxFile], placed: list[Placed]) -> None:
        self.services.crash.reach("backup_google.after_stage_before_save")
        asset.record(
            ev.PixelStaged, self.services.run_id, outbox_relpath=files[0].relpath,
            size_bytes=placed[0].size_bytes, method=placed[0].method,
        )
        self.batch.add(asset)

    def _are_in_outbox(self, files: list[OutboxFile]) -> bool:
        return all(outbox_stat(self.route.outbox / f.relpath) is not None for f in files)

    def _place(self, files: list[OutboxFile]) -> list[Placed] | None:
        placed: list[Placed] = []
        for file in files:
            target = self.route.outbox / file.relpath
            try:
                try:
                    placed.append(place_outbox_file(
                        self.route.library_root / file.relpath, target, file.sha256, self.modes
                    ))
                except StageRefusedError:
                    placed.append(self._place_from_nas(file, target))
            except StageRefusedError as exc:
                self.summary.failed += 1
                self.reporter.asset_done("failed", file.relpath, str(exc))
                return None
        return placed

    def _place_from_nas(self, file: OutboxFile, target: Path) -> Placed:
        """The library copy is not the original (compressed first, or changed): the NAS's."""
        source = find_downloaded_bytes(file, self.route.library_root, self.route.nas_root)
        if isinstance(source, str):
            raise StageRefusedError(source)
        mtime_ns = Path(source.path).stat().st_mtime_ns  # the capture time backup-nas kept
        return resend_outbox_file(source, target, file.sha256, mtime_ns, self.modes)

    def _count_staged(self, placed: list[Placed]) -> None:
        self.summary.staged += 1
        self.summary.adopted += placed[0].was_adopted
        if placed[0].method == "hardlink":
            self.summary.hardlinked += 1
        else:
            self.summary.copied += 1

    def _confirm(self, pending: dict[UUID, Asset], since: int) -> None:
        """Check every pending asset, then wait for Syncthing events, until done or stuck."""
        self.reporter.started("confirm", len(pending))
        client, deadline = self.route.client, time.monotonic() + self.options.wait_s
        verdicts: dict[UUID, PixelCopy] = {}
        while pending:
            connected = client.is_connected(self.route.pixel_device_id)
            self.summary.is_pixel_connected = connected
            verdicts = {i: self._check(a, connected) for i, a in pending.items()}
            self._record_verified(pending, verdicts)
            remaining = deadline - time.monotonic()
            if not pending or not connected or remaining <= 0:
                break
            events = client.events_since(since, min(self.options.poll_s, remaining),
                                         CONFIRM_EVENTS)
            since = max((int(e.get("id", 0)) for e in events), default=since)
        for verdict in (verdicts.get(i) for i in pending):
            if verdict is PixelCopy.UNKNOWN:
                self.summary.unknown += 1
            else:
                self.summary.waiting += 1

    def _check(self, asset: Asset, connected: bool) -> PixelCopy:
        verdicts = []
        for file in plan_outbox_files(asset.state, include_edits=self.route.include_edits):
            stat = outbox_stat(self.route.outbox / file.relpath)
            if stat is None:
                verdicts.append(PixelCopy.NOT_INDEXED)
                continue
            view = self.route.client.file_view(self.route.folder_id, file.relpath)
            verdicts.append(decide_pixel_copy(
                view, self.route.pixel_device_id, stat, is_connected=connected
            ))
        return decide_asset_copy(verdicts)

    def _record_verified(self, pending: dict[UUID, Asset], verdicts: dict[UUID, PixelCopy]) -> None:
        held = [i for i, v in verdicts.items() if v is PixelCopy.HELD]
        if not held:
            return
        self.services.crash.reach("backup_google.before_verified_save")
        for asset_id in held:
            asset = pending.pop(asset_id)
            asset.record(
                ev.GoogleVerified, self.services.run_id, device_id=self.route.pixel_device_id,
                size_bytes=asset.state.downloaded_size_bytes or 0,
            )
            self.batch.add(asset)
            self.summary.verified += 1
            self.reporter.asset_done("verified", asset.state.local_relpath or "")
        self.batch.flush()


def run_backup_google(
    services: Services, route: GoogleRoute, options: GoogleOptions,
    reporter: Reporter = SILENT,
) -> GoogleSummary:
    """Refuse a dangerous set-up, stage the work list and confirm it on the Pixel, remove
    outbox copies past their grace period; record StageCompleted."""
    refuse_if_unsafe(examine_setup(doctor_inputs(services.config), route.client))
    summary = GoogleRun(services, route, options, reporter).execute()
    return _finish(services, route, summary)


def run_google_resend(
    services: Services, route: GoogleRoute, assets: Sequence[str], options: GoogleOptions,
    reporter: Reporter = SILENT,
) -> GoogleSummary:
    """Re-send the named assets (ids, record names or paths) with a new time and confirm them
    on the Pixel again; then as run_backup_google. A name that fits no asset, or an asset that
    cannot be re-sent, stops the run before anything is written."""
    asset_ids = resolve_assets(services, assets)  # a name that fits no asset: before any check
    refuse_if_unsafe(examine_setup(doctor_inputs(services.config), route.client))
    jobs = plan_google_resend(services.ledger, asset_ids, route.library_root, route.nas_root,
                              include_edits=route.include_edits)
    summary = GoogleRun(services, route, options, reporter).resend(jobs)
    return _finish(services, route, summary)


def _finish(services: Services, route: GoogleRoute, summary: GoogleSummary) -> GoogleSummary:
    services.projection.catch_up(services.ledger)
    summary.outbox_copies_removed = execute_outbox_cleanup(services, route)
    services.record_stage_completed("backup-google", summary.counts())
    return summary


def execute_outbox_cleanup(services: Services, route: GoogleRoute) -> int:
    """Remove outbox copies whose grace period after GoogleVerified has passed."""
    if route.remove_after_days is None:
        return 0
    now_utc, removed = services.clock(), 0
    for copy in google_verified_copies(services.projection):
        if not is_outbox_copy_due_for_removal(
            copy.verified_at_utc, route.remove_after_days, now_utc
        ):
            continue
        for name in (copy.local_relpath, copy.live_video_relpath):
            if name is not None and remove_outbox_copy(route.outbox / name):
                removed += 1
    return removed


def plan_backup_google(services: Services, limit: int | None) -> list[str]:
    """What a run would do, one `stage PATH` or `confirm PATH` line per file (projection only:
    no lock, no Syncthing call)."""
    planned: list[str] = []
    for item in google_work_items(services.projection, limit):
        verb = "confirm" if item.google_status == "staged" else "stage"
        paths = (item.local_relpath, item.live_video_relpath)
        planned.extend(f"{verb} {p}" for p in paths if p is not None)
    return planned
