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
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from uuid import UUID

from engine import events as ev
from engine.asset import Asset
from engine.crashpoints import CrashPoints
from engine.google.plan import (
    OutboxFile,
    PixelCopy,
    decide_asset_copy,
    decide_pixel_copy,
    decide_resend_mtime_ns,
    is_outbox_copy_due_for_removal,
    plan_outbox_files,
)
from engine.google.resend import ResendJob, find_downloaded_bytes, plan_google_resend
from engine.google.stage import (
    Placed,
    StageRefusedError,
    outbox_stat,
    place_outbox_file,
    remove_outbox_copy,
    resend_outbox_file,
)
from engine.google.syncthing import CONFIRM_EVENTS, SyncthingClient
from engine.ledger import Ledger
from projections.media import MediaProjection
from projections.worklists import STAGE_WORKLISTS, worklist

SCAN_SUBS_MAX = 200  # more staged files than this: one scan of the whole folder
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class GoogleProgress(Protocol):
    """Where the run reports progress (a rich bar, log lines, or nothing)."""

    def started(self, phase: str, total: int) -> None: ...
    def asset_done(self, outcome: str, label: str, detail: str) -> None: ...


@dataclass(frozen=True)
class GoogleRoute:
    """The configured Syncthing side of the route."""

    client: SyncthingClient
    folder_id: str
    pixel_device_id: str
    outbox: Path
    library_root: Path
    remove_after_days: int | None = None
    nas_root: Path | None = None  # where a resend finds the bytes a compressed library lost
    include_edits: bool = False  # google.include_edits: stage the edited still too


@dataclass(frozen=True)
class GoogleOptions:
    wait_s: float = 120.0
    poll_s: float = 5.0
    limit: int | None = None
    save_every: int = 50


@dataclass(frozen=True)
class StageContext:
    ledger: Ledger
    projection: MediaProjection
    crash: CrashPoints
    run_id: str
    now_utc: datetime


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
    """One execution of the stage; `execute` is the entry point."""

    def __init__(
        self, ctx: StageContext, route: GoogleRoute, options: GoogleOptions,
        progress: GoogleProgress,
    ) -> None:
        self.ctx, self.route, self.options, self.progress = ctx, route, options, progress
        self.summary = GoogleSummary()
        self.unsaved: dict[UUID, Asset] = {}

    def execute(self) -> GoogleSummary:
        started = time.monotonic()
        ids = worklist(self.ctx.projection, "backup-google", self.options.limit)
        assets = [self.ctx.ledger.get_asset(UUID(i)) for i in ids]
        since = self.route.client.event_baseline(CONFIRM_EVENTS)  # before anything can change
        try:
            staged_now = self._stage_all(assets)
            if staged_now:
                subs = staged_now if len(staged_now) <= SCAN_SUBS_MAX else []
                self.route.client.scan(self.route.folder_id, subs)
            pending = {a.id: a for a in assets if a.state.google_status == "staged"}
            self._confirm(pending, since)
        finally:
            self._flush()
            self.summary.elapsed_s = time.monotonic() - started
        return self.summary

    def resend(self, jobs: list[ResendJob]) -> GoogleSummary:
        """Write each job's files again with a new time, record PixelStaged, confirm them."""
        started = time.monotonic()
        since = self.route.client.event_baseline(CONFIRM_EVENTS)
        try:
            resent = self._resend_all(jobs)
            if resent:
                subs = resent if len(resent) <= SCAN_SUBS_MAX else []
                self.route.client.scan(self.route.folder_id, subs)
            pending = {j.asset.id: j.asset for j in jobs if j.asset.state.google_status == "staged"}
            self._confirm(pending, since)
        finally:
            self._flush()
            self.summary.elapsed_s = time.monotonic() - started
        return self.summary

    def _resend_all(self, jobs: list[ResendJob]) -> list[str]:
        self.progress.started("resend", len(jobs))
        now_ns = (self.ctx.now_utc - _EPOCH) // timedelta(microseconds=1) * 1000
        resent_relpaths: list[str] = []
        for job in jobs:
            placed: list[Placed] = []
            try:
                for file, source in job.files:
                    target = self.route.outbox / file.relpath
                    mtime_ns = decide_resend_mtime_ns(now_ns, outbox_stat(target))
                    placed.append(resend_outbox_file(source, target, file.sha256, mtime_ns))
            except StageRefusedError as exc:  # changed since it was chosen: this asset only
                self.summary.failed += 1
                self.progress.asset_done("failed", job.files[0][0].relpath, str(exc))
                continue
            self.ctx.crash.reach("backup_google.after_stage_before_save")
            job.asset.record(
                ev.PixelStaged, self.ctx.run_id, outbox_relpath=job.files[0][0].relpath,
                size_bytes=placed[0].size_bytes, method=placed[0].method,
            )
            self._add(job.asset)
            resent_relpaths.extend(f.relpath for f, _ in job.files)
            self.summary.resent += 1
            self.progress.asset_done(
                "resent", job.files[0][0].relpath, f"from {job.files[0][1].where}"
            )
        self._flush()
        return resent_relpaths

    def _stage_all(self, assets: list[Asset]) -> list[str]:
        self.progress.started("stage", len(assets))
        staged_relpaths: list[str] = []
        for asset in assets:
            files = plan_outbox_files(asset.state, include_edits=self.route.include_edits)
            if asset.state.google_status == "staged" and self._are_in_outbox(files):
                self.progress.asset_done("already staged", files[0].relpath, "")
                continue
            placed = self._place(files)
            if placed is None:
                continue
            self.ctx.crash.reach("backup_google.after_stage_before_save")
            asset.record(
                ev.PixelStaged, self.ctx.run_id, outbox_relpath=files[0].relpath,
                size_bytes=placed[0].size_bytes, method=placed[0].method,
            )
            self._add(asset)
            staged_relpaths.extend(f.relpath for f in files)
            self._count_staged(placed)
            self.progress.asset_done("staged", files[0].relpath, placed[0].method)
        self._flush()
        return staged_relpaths

    def _are_in_outbox(self, files: list[OutboxFile]) -> bool:
        return all(outbox_stat(self.route.outbox / f.relpath) is not None for f in files)

    def _place(self, files: list[OutboxFile]) -> list[Placed] | None:
        placed: list[Placed] = []
        for file in files:
            target = self.route.outbox / file.relpath
            try:
                try:
                    placed.append(place_outbox_file(
                        self.route.library_root / file.relpath, target, file.sha256
                    ))
                except StageRefusedError:
                    placed.append(self._place_from_nas(file, target))
            except StageRefusedError as exc:
                self.summary.failed += 1
                self.progress.asset_done("failed", file.relpath, str(exc))
                return None
        return placed

    def _place_from_nas(self, file: OutboxFile, target: Path) -> Placed:
        """The library copy is not the original (compressed first, or changed): the NAS's."""
        source = find_downloaded_bytes(file, self.route.library_root, self.route.nas_root)
        if isinstance(source, str):
            raise StageRefusedError(source)
        mtime_ns = Path(source.path).stat().st_mtime_ns  # the capture time backup-nas kept
        return resend_outbox_file(source, target, file.sha256, mtime_ns)

    def _count_staged(self, placed: list[Placed]) -> None:
        self.summary.staged += 1
        self.summary.adopted += placed[0].was_adopted
        if placed[0].method == "hardlink":
            self.summary.hardlinked += 1
        else:
            self.summary.copied += 1

    def _confirm(self, pending: dict[UUID, Asset], since: int) -> None:
        """Check every pending asset, then wait for Syncthing events, until done or stuck."""
        self.progress.started("confirm", len(pending))
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
        self.ctx.crash.reach("backup_google.before_verified_save")
        for asset_id in held:
            asset = pending.pop(asset_id)
            asset.record(
                ev.GoogleVerified, self.ctx.run_id, device_id=self.route.pixel_device_id,
                size_bytes=asset.state.downloaded_size_bytes or 0,
            )
            self._add(asset)
            self.summary.verified += 1
            self.progress.asset_done("verified", asset.state.local_relpath or "", "")
        self._flush()

    def _add(self, asset: Asset) -> None:
        self.unsaved[asset.id] = asset
        if len(self.unsaved) >= self.options.save_every:
            self._flush()

    def _flush(self) -> None:
        if self.unsaved:
            self.ctx.ledger.save(*self.unsaved.values())
            self.unsaved.clear()


def execute_backup_google(
    ctx: StageContext, route: GoogleRoute, options: GoogleOptions, progress: GoogleProgress
) -> GoogleSummary:
    """Stage the work list and confirm it on the Pixel; returns what happened."""
    return GoogleRun(ctx, route, options, progress).execute()


def execute_google_resend(
    ctx: StageContext, route: GoogleRoute, asset_ids: Sequence[UUID], options: GoogleOptions,
    progress: GoogleProgress,
) -> GoogleSummary:
    """Re-send the named assets' files with a new time and confirm them on the Pixel again."""
    jobs = plan_google_resend(ctx.ledger, asset_ids, route.library_root, route.nas_root,
                              include_edits=route.include_edits)
    return GoogleRun(ctx, route, options, progress).resend(jobs)


def execute_outbox_cleanup(
    projection: MediaProjection, route: GoogleRoute, now_utc: datetime
) -> int:
    """Remove outbox copies whose grace period after GoogleVerified has passed."""
    if route.remove_after_days is None:
        return 0
    rows = projection.query(
        "SELECT local_relpath, live_video_relpath, google_verified_at_utc FROM media "
        "WHERE google_status = 'verified' AND local_relpath IS NOT NULL"
    )
    removed = 0
    for relpath, live_relpath, verified_at in rows:
        verified_at_utc = datetime.fromisoformat(verified_at) if verified_at else None
        if not is_outbox_copy_due_for_removal(verified_at_utc, route.remove_after_days, now_utc):
            continue
        for name in (relpath, live_relpath):
            if name is not None and remove_outbox_copy(route.outbox / name):
                removed += 1
    return removed


def plan_backup_google(projection: MediaProjection, limit: int | None) -> list[str]:
    """What a run would do, one `stage PATH` or `confirm PATH` line per file (projection only)."""
    sql = (
        "SELECT local_relpath, live_video_relpath, google_status FROM media "
        f"WHERE {STAGE_WORKLISTS['backup-google']} ORDER BY captured_at_utc, asset_id"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    planned: list[str] = []
    for relpath, live_relpath, status in projection.query(sql):
        verb = "confirm" if status == "staged" else "stage"
        planned.extend(f"{verb} {p}" for p in (relpath, live_relpath) if p is not None)
    return planned
