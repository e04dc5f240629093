"""The Asset and SyncRun aggregates and the one fold that turns facts into current state.

Invariants:
- `fold_fact(state, fact)` is the only place where an event changes an asset's state. The
  aggregate (command side) and the media projection (read side) both use it, so the
  projection is, by construction, the aggregate's state; `check` and a property test verify it.
- The fold is pure and total: any sequence of stored facts folds without raising, because a
  stored fact is history and must always replay. Decisions that could refuse live in decide_*
  functions, not here.
- A new original (a Downloaded with a different sha256) invalidates every verification made
  for the old one: backups are evidence about exact bytes.
- A Recovered asset has no deletion in effect and must be album-moved again; it keeps its old
  downloads (their sha256 is what the new ones must hash to) and lists each of them in
  `refetch_resources` until downloaded again; when the still and its live video are back,
  the local copy is the downloaded bytes again (not compressed, not removed).
- A RefetchRequested (a NAS copy no local source can repair) adds resources to
  `refetch_resources` the same way, only while iCloud holds the asset; the local copy counts
  as unaltered again only once every refetched resource compression alters (the still, the
  live video) is back, never after another resource's re-download.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.domain import Aggregate

from engine import events as ev
from engine import resources as res
from engine.ids import IcloudIdentity, asset_id_for


class MediaState(msgspec.Struct, kw_only=True):
    """Everything currently known about one asset: one row of the media projection."""

    account: str = ""
    zone: str = ""
    record_name: str = ""
    master_record_name: str = ""
    filename: str = ""
    filename_status: str = ""
    kind: str = ""
    item_type: str = ""
    declared_size_bytes: int = 0
    live_video_declared_size_bytes: int | None = None
    live_video_checksum: str | None = None
    versions: tuple[ev.VersionFact, ...] = ()
    icloud_size_bytes: int = 0  # every archival resource listed: what deleting it frees
    captured_at_utc: datetime | None = None
    added_at_utc: datetime | None = None
    timezone_offset_s: int | None = None
    discovered_at_utc: datetime | None = None
    remote_change_tag: str = ""
    remote_checksum: str = ""
    is_favorite: bool = False
    is_hidden: bool = False
    album_ids: tuple[str, ...] = ()
    unreadable_resources: tuple[str, ...] = ()  # listed with malformed fields: unknown
    title: str | None = None  # iCloud's caption (MetadataChanged)
    description: str | None = None
    keywords: tuple[str, ...] = ()
    latitude_microdeg: int | None = None
    longitude_microdeg: int | None = None
    altitude_mm: int | None = None
    orientation: int | None = None
    is_screenshot: bool = False
    sidecar_relpath: str | None = None  # the XMP sidecar last written (SidecarWritten)
    sidecar_sha256: str | None = None
    sidecar_album_paths: tuple[str, ...] = ()  # the album paths that sidecar names
    sidecar_written_at_utc: datetime | None = None
    is_sidecar_stale: bool = False  # the asset's own metadata changed since it was written
    is_remote_deleted: bool = False
    local_relpath: str | None = None
    downloaded_size_bytes: int | None = None
    sha256: str | None = None
    downloaded_change_tag: str | None = None
    downloaded_checksum: str | None = None
    downloaded_at_utc: datetime | None = None
    live_video_relpath: str | None = None
    live_video_sha256: str | None = None
    extra_files: tuple[ev.LocalFileFact, ...] = ()  # resources other than original/live video
    resources_downloaded: tuple[res.DownloadedResource, ...] = ()  # every resource, by key
    missing_resources: tuple[str, ...] = ()  # listed archival resources not downloaded
    refetch_resources: tuple[str, ...] = ()  # recovered: to download again (engine.resources)
    download_failures: int = 0
    quarantine_reason: str | None = None
    nas_status: str | None = None  # "copied", "verified", "mismatched"
    nas_relpath: str | None = None
    nas_verified_sha256: str | None = None
    nas_verified_at_utc: datetime | None = None
    nas_files: tuple[ev.ResourceHash, ...] = ()  # what the last NAS verification re-read
    nas_id: str | None = None  # the NAS (marker id) the last NAS fact was about; "" unknown
    nas_mismatched_at_utc: datetime | None = None  # first NasMismatched since the last verify
    nas_damage_alarm: str | None = None  # told about the damage: "damaged" or "last-copy"
    google_status: str | None = None  # "staged", "verified"
    google_device_id: str | None = None
    google_staged_at_utc: datetime | None = None
    google_verified_at_utc: datetime | None = None
    compression_tier: str | None = None
    size_bytes_before_compression: int | None = None
    size_bytes_after_compression: int | None = None
    compressed_at_utc: datetime | None = None
    compressed_relpath: str | None = None  # the local file after a format change renamed it
    compressed_sha256: str | None = None
    compression_source: str | None = None  # "nas" or "local": where the last encode read
    compression_skipped_tier: str | None = None  # a tier whose result was not smaller
    album_moved_at_utc: datetime | None = None
    is_album_removal_observed: bool = False
    deletion_state: str | None = None  # "requested", "deleted", "failed"
    deletion_plan_id: str | None = None
    deletion_requested_at_utc: datetime | None = None
    deleted_at_utc: datetime | None = None
    recoverable_until_utc: datetime | None = None
    recovered_at_utc: datetime | None = None  # last brought back from Recently Deleted
    local_removed_at_utc: datetime | None = None
    last_error: str | None = None
    last_error_at_utc: datetime | None = None
    last_event: str = ""
    version: int = 0
    updated_at_utc: datetime | None = None


def _on_discovered(s: MediaState, e: ev.Discovered) -> None:
    s.account, s.zone, s.record_name = e.account, e.zone, e.record_name
    s.master_record_name, s.kind = e.master_record_name, e.kind
    s.timezone_offset_s, s.album_ids = e.timezone_offset_s, tuple(e.album_ids)
    s.added_at_utc, s.discovered_at_utc = e.added_at_utc, e.timestamp
    _take_remote_facts(s, e)


def _on_remote_changed(s: MediaState, e: ev.RemoteChanged) -> None:
    if not e.versions:  # an upcast v1 fact: only the tag, checksum and size are known
        s.remote_change_tag, s.remote_checksum = e.remote_change_tag, e.remote_checksum
        s.declared_size_bytes = e.declared_size_bytes
        return
    if (s.is_favorite, s.is_hidden, s.captured_at_utc) != (
            e.is_favorite, e.is_hidden, e.captured_at_utc):
        s.is_sidecar_stale = True  # the sidecar states all three
    _take_remote_facts(s, e)
    s.quarantine_reason = None  # a new remote version deserves a new attempt
    s.is_remote_deleted = False  # listed again, e.g. restored from Recently Deleted


def _take_remote_facts(s: MediaState, e: ev.Discovered | ev.RemoteChanged) -> None:
    s.filename, s.filename_status, s.item_type = e.filename, e.filename_status, e.item_type
    s.declared_size_bytes, s.remote_checksum = e.declared_size_bytes, e.remote_checksum
    s.live_video_declared_size_bytes = e.live_video_declared_size_bytes
    s.live_video_checksum, s.versions = e.live_video_checksum, tuple(e.versions)
    s.captured_at_utc, s.remote_change_tag = e.captured_at_utc, e.remote_change_tag
    s.is_favorite, s.is_hidden = e.is_favorite, e.is_hidden
    s.unreadable_resources = tuple(e.unreadable_resources)
    s.missing_resources = res.decide_missing(s)
    s.icloud_size_bytes = res.icloud_bytes(s)


def _on_remote_deleted(s: MediaState, e: ev.RemoteDeleted) -> None:
    if s.deletion_state == "deleted":
        # photoledger deleted it, and iCloud no longer holds it: Recently Deleted is over
        # (purged), whatever the 30 days said; it is not a deletion by someone else.
        if s.recoverable_until_utc is None or s.recoverable_until_utc > e.timestamp:
            s.recoverable_until_utc = e.timestamp
        return
    s.is_remote_deleted = True


def _on_downloaded(s: MediaState, e: ev.Downloaded) -> None:
    is_refetch = e.resource in s.refetch_resources
    if is_refetch:
        s.refetch_resources = tuple(k for k in s.refetch_resources if k != e.resource)
    if e.resource == res.ORIGINAL:
        _take_original(s, e)
        if e.live_video_relpath is not None and e.live_video_sha256 is not None:  # a v2 fact
            _take_live_video(s, e.live_video_relpath, e.live_video_size_bytes or 0,
                             e.live_video_sha256, s.live_video_checksum or "")
        for extra in e.extra_files:  # a v2 fact's other renditions
            _take_extra(s, extra, _listed_checksum(s, extra.key))
    elif e.resource == res.LIVE_VIDEO:
        _take_live_video(s, e.local_relpath, e.size_bytes, e.sha256, e.checksum)
    else:
        extra = ev.LocalFileFact(
            key=e.resource, relpath=e.local_relpath, size_bytes=e.size_bytes, sha256=e.sha256
        )
        _take_extra(s, extra, e.checksum)
    if is_refetch and e.resource in _ALTERABLE and not _ALTERABLE & set(s.refetch_resources):
        _forget_local_alterations(s)
    s.missing_resources = res.decide_missing(s)
    if not s.missing_resources:
        s.quarantine_reason = None
        s.last_error = s.last_error_at_utc = None
    if s.nas_status == "verified" and not res.decide_nas_complete(s):
        s.nas_status = "incomplete"  # a resource the NAS does not hold yet


def _take_original(s: MediaState, e: ev.Downloaded) -> None:
    if s.sha256 is not None and s.sha256 != e.sha256:
        _forget_verifications(s)
    s.local_relpath, s.downloaded_size_bytes, s.sha256 = e.local_relpath, e.size_bytes, e.sha256
    s.downloaded_change_tag, s.downloaded_at_utc = s.remote_change_tag, e.timestamp
    s.downloaded_checksum = e.checksum or s.remote_checksum
    _take_resource(s, res.DownloadedResource(
        key=res.ORIGINAL, relpath=e.local_relpath, size_bytes=e.size_bytes, sha256=e.sha256,
        checksum=s.downloaded_checksum,
    ))


def _take_live_video(s: MediaState, relpath: str, size: int, sha256: str, checksum: str) -> None:
    s.live_video_relpath, s.live_video_sha256 = relpath, sha256
    _take_resource(s, res.DownloadedResource(
        key=res.LIVE_VIDEO, relpath=relpath, size_bytes=size, sha256=sha256, checksum=checksum
    ))


def _take_extra(s: MediaState, extra: ev.LocalFileFact, checksum: str) -> None:
    s.extra_files = (*(f for f in s.extra_files if f.key != extra.key), extra)
    _take_resource(s, res.DownloadedResource(
        key=extra.key, relpath=extra.relpath, size_bytes=extra.size_bytes,
        sha256=extra.sha256, checksum=checksum,
    ))


def _take_resource(s: MediaState, new: res.DownloadedResource) -> None:
    others = tuple(r for r in s.resources_downloaded if r.key != new.key)
    s.resources_downloaded = (*others, new)


def _listed_checksum(s: MediaState, key: str) -> str:
    return next((v.checksum for v in s.versions if v.key == key), "")


def _forget_verifications(s: MediaState) -> None:
    s.nas_status = s.nas_verified_sha256 = s.nas_verified_at_utc = None
    s.nas_files = ()
    s.google_status = s.google_device_id = None
    s.google_staged_at_utc = s.google_verified_at_utc = None
    s.compression_tier = s.compressed_at_utc = None
    s.size_bytes_before_compression = s.size_bytes_after_compression = None
    s.compressed_relpath = s.compressed_sha256 = None
    s.compression_source = s.compression_skipped_tier = None


def _forget_local_alterations(s: MediaState) -> None:
    """The still and its live video were downloaded again after a recover: the local copy
    holds the downloaded bytes again, neither compressed nor removed (compression may come
    back later, by the tiers, from these bytes)."""
    s.compression_tier = s.compressed_at_utc = None
    s.size_bytes_before_compression = s.size_bytes_after_compression = None
    s.compressed_relpath = s.compressed_sha256 = None
    s.compression_source = s.compression_skipped_tier = None
    s.local_removed_at_utc = None


def _on_download_failed(s: MediaState, e: ev.DownloadFailed) -> None:
    s.download_failures += 1
    s.last_error, s.last_error_at_utc = e.error, e.timestamp


def _on_quarantined(s: MediaState, e: ev.Quarantined) -> None:
    s.quarantine_reason = e.reason
    s.last_error, s.last_error_at_utc = f"{e.reason}: {e.detail}", e.timestamp


def _on_nas_copied(s: MediaState, e: ev.NasCopied) -> None:
    s.nas_status, s.nas_relpath, s.nas_id = "copied", e.nas_relpath, e.nas_id


def _on_nas_verified(s: MediaState, e: ev.NasVerified) -> None:
    s.nas_relpath, s.nas_id = s.nas_relpath or s.local_relpath, e.nas_id
    s.nas_verified_sha256, s.nas_verified_at_utc = e.sha256, e.timestamp
    s.nas_files = tuple(_resolve_placeholder(s, h) for h in e.files if h.sha256 or (
        h.key == res.LIVE_VIDEO and s.live_video_sha256 is not None))
    s.nas_status = "verified" if res.decide_nas_complete(s) else "incomplete"
    s.nas_mismatched_at_utc = s.nas_damage_alarm = None  # repaired: a new damage is news


def _resolve_placeholder(s: MediaState, h: ev.ResourceHash) -> ev.ResourceHash:
    """An upcast v1 fact's live video ("") re-read to the downloaded hash (see events)."""
    if h.sha256:
        return h
    return ev.ResourceHash(key=h.key, sha256=s.live_video_sha256 or "")


def _on_nas_mismatched(s: MediaState, e: ev.NasMismatched) -> None:
    if s.nas_status != "mismatched":  # the same damage seen again keeps its first sighting
        s.nas_mismatched_at_utc = e.timestamp
    s.nas_status, s.nas_relpath = "mismatched", s.nas_relpath or s.local_relpath
    s.nas_verified_sha256 = s.nas_verified_at_utc = None
    s.nas_files, s.nas_id = (), e.nas_id
    s.last_error, s.last_error_at_utc = f"NAS copy mismatch: {e.detail}", e.timestamp


def _on_pixel_staged(s: MediaState, e: ev.PixelStaged) -> None:
    s.google_status, s.google_staged_at_utc = "staged", e.timestamp


def _on_google_verified(s: MediaState, e: ev.GoogleVerified) -> None:
    s.google_status, s.google_device_id = "verified", e.device_id
    s.google_verified_at_utc = e.timestamp


def _on_compressed(s: MediaState, e: ev.Compressed) -> None:
    if s.size_bytes_before_compression is None:
        s.size_bytes_before_compression = e.size_bytes_before
    s.compression_tier, s.size_bytes_after_compression = e.tier, e.size_bytes_after
    s.compressed_at_utc, s.compressed_sha256 = e.timestamp, e.sha256_after
    s.compression_source = e.source or None
    if e.local_relpath_after is not None:
        s.compressed_relpath = e.local_relpath_after
    s.compression_skipped_tier = None
    if s.last_error is not None and s.last_error.startswith(_COMPRESSION_ERROR):
        s.last_error = s.last_error_at_utc = None  # the failure this run made up for


_COMPRESSION_ERROR = "compression "
_ALTERABLE = frozenset({res.ORIGINAL, res.LIVE_VIDEO})  # what compression re-encodes


def _on_compression_skipped(s: MediaState, e: ev.CompressionSkipped) -> None:
    if e.is_failure:
        s.last_error = f"{_COMPRESSION_ERROR}{e.tier} failed: {e.reason}"
        s.last_error_at_utc = e.timestamp
    else:
        s.compression_skipped_tier = e.tier


def _on_album_moved(s: MediaState, e: ev.AlbumMoved) -> None:
    s.album_moved_at_utc, s.is_album_removal_observed = e.timestamp, False


def _on_album_removal_observed(s: MediaState, _e: ev.AlbumRemovalObserved) -> None:
    s.album_moved_at_utc, s.is_album_removal_observed = None, True


def _on_metadata_changed(s: MediaState, e: ev.MetadataChanged) -> None:
    s.title, s.description, s.keywords = e.title, e.description, tuple(e.keywords)
    s.latitude_microdeg, s.longitude_microdeg = e.latitude_microdeg, e.longitude_microdeg
    s.altitude_mm, s.orientation, s.is_screenshot = e.altitude_mm, e.orientation, e.is_screenshot
    s.timezone_offset_s = e.timezone_offset_s
    s.is_sidecar_stale = True


def _on_albums_changed(s: MediaState, e: ev.AlbumsChanged) -> None:
    # Not stale by itself: the sidecar run compares the album paths it would write with
    # `sidecar_album_paths` (so DeletePending, never written, changes nothing).
    s.album_ids = tuple(e.album_ids)


def _on_sidecar_written(s: MediaState, e: ev.SidecarWritten) -> None:
    s.sidecar_relpath, s.sidecar_sha256 = e.sidecar_relpath, e.sha256
    s.sidecar_album_paths, s.sidecar_written_at_utc = tuple(e.album_paths), e.timestamp
    s.is_sidecar_stale = False


def _on_deletion_requested(s: MediaState, e: ev.DeletionRequested) -> None:
    s.deletion_state, s.deletion_plan_id = "requested", e.plan_id
    s.deletion_requested_at_utc = e.timestamp


def _on_deleted(s: MediaState, e: ev.Deleted) -> None:
    s.deletion_state, s.deleted_at_utc = "deleted", e.timestamp
    s.recoverable_until_utc = e.recoverable_until_utc


def _on_deletion_failed(s: MediaState, e: ev.DeletionFailed) -> None:
    s.deletion_state = "failed"
    s.last_error, s.last_error_at_utc = f"iCloud deletion failed: {e.error}", e.timestamp


def _on_local_copy_removed(s: MediaState, e: ev.LocalCopyRemoved) -> None:
    s.local_removed_at_utc = e.timestamp


def _on_recovered(s: MediaState, e: ev.Recovered) -> None:
    # iCloud holds the asset again: no deletion is in effect. It is still in DeletePending in
    # iCloud (a soft delete keeps album memberships), but a new deletion must pass the whole
    # gate again, album-move included (which finds it there and only records AlbumMoved).
    s.deletion_state = s.deletion_plan_id = None
    s.deletion_requested_at_utc = s.deleted_at_utc = s.recoverable_until_utc = None
    s.is_remote_deleted, s.album_moved_at_utc = False, None
    s.remote_change_tag, s.recovered_at_utc = e.remote_change_tag, e.timestamp
    # Every resource downloaded before is fetched again (the local copy may be compressed or
    # removed); the old downloads stay as the sha256 the new bytes must have.
    s.refetch_resources = tuple(
        r.key for r in s.resources_downloaded if r.key in res.ARCHIVE_KEYS
    )
    s.missing_resources = res.decide_missing(s)


def _on_refetch_requested(s: MediaState, e: ev.RefetchRequested) -> None:
    # Only while iCloud holds the asset (a deleted one comes back by `recover` first); only
    # resources downloaded before: their sha256 is what the new bytes must hash to.
    if not is_in_icloud(s):
        return
    listed = res.listed_resources(s)
    keys = set(s.refetch_resources) | {
        k for k in e.resources if k in listed and res.downloaded(s, k) is not None
    }
    s.refetch_resources = tuple(k for k in res.ARCHIVE_KEYS if k in keys)
    s.missing_resources = res.decide_missing(s)


def is_in_icloud(s: MediaState) -> bool:
    """iCloud's Library holds the asset (no deletion requested or done, not gone)."""
    return s.deletion_state not in ("requested", "deleted") and not s.is_remote_deleted


def _on_damage_alarm_raised(s: MediaState, e: ev.DamageAlarmRaised) -> None:
    s.nas_damage_alarm = "last-copy" if e.is_last_copy else "damaged"


_FOLDS: dict[type[ev.AssetEvent], Callable[[MediaState, Any], None]] = {
    ev.Discovered: _on_discovered,
    ev.RemoteChanged: _on_remote_changed,
    ev.RemoteDeleted: _on_remote_deleted,
    ev.MetadataChanged: _on_metadata_changed,
    ev.AlbumsChanged: _on_albums_changed,
    ev.SidecarWritten: _on_sidecar_written,
    ev.Downloaded: _on_downloaded,
    ev.DownloadFailed: _on_download_failed,
    ev.Quarantined: _on_quarantined,
    ev.NasCopied: _on_nas_copied,
    ev.NasVerified: _on_nas_verified,
    ev.NasMismatched: _on_nas_mismatched,
    ev.PixelStaged: _on_pixel_staged,
    ev.GoogleVerified: _on_google_verified,
    ev.Compressed: _on_compressed,
    ev.CompressionSkipped: _on_compression_skipped,
    ev.AlbumMoved: _on_album_moved,
    ev.AlbumRemovalObserved: _on_album_removal_observed,
    ev.DeletionRequested: _on_deletion_requested,
    ev.Deleted: _on_deleted,
    ev.DeletionFailed: _on_deletion_failed,
    ev.LocalCopyRemoved: _on_local_copy_removed,
    ev.Recovered: _on_recovered,
    ev.RefetchRequested: _on_refetch_requested,
    ev.DamageAlarmRaised: _on_damage_alarm_raised,
}


def fold_fact(state: MediaState, event_class: type[ev.AssetEvent], fact: Any, version: int) -> None:
    """Apply one fact (the asset's event number `version`) to `state` in place.

    `fact` is the event object or any object with the same attributes (the projection passes
    the typed msgspec payload it decoded, which saves building event objects on replay).
    """
    _FOLDS[event_class](state, fact)
    state.last_event = event_class.__name__
    state.version = version
    state.updated_at_utc = fact.timestamp


class Asset(Aggregate):
    """One iCloud asset's history. Id: uuid5 of its iCloud identity (engine.ids)."""

    def __init__(self) -> None:
        self.state = MediaState()

    def apply_fact(self, fact: ev.AssetEvent) -> None:
        """Called by every AssetEvent's apply(): fold it into this aggregate's state."""
        fold_fact(self.state, type(fact), fact, fact.originator_version)

    @classmethod
    def discover(cls, identity: IcloudIdentity, run_id: str, **facts: Any) -> Asset:
        """Create the aggregate for a newly seen iCloud asset."""
        return cls._create(
            ev.Discovered,
            id=asset_id_for(identity),
            run_id=run_id,
            account=identity.account,
            zone=identity.zone,
            record_name=identity.record_name,
            **facts,
        )

    def record(self, event_class: type[ev.AssetEvent], run_id: str, **facts: Any) -> None:
        """Append a fact (not the creation fact) to this asset."""
        if issubclass(event_class, ev.Discovered):
            raise TypeError("Discovered creates an asset; use Asset.discover")
        self.trigger_event(event_class, run_id=run_id, **facts)


class SyncRun(Aggregate):
    """Run-level facts of one photoledger command (never one event per asset)."""

    @classmethod
    def start(cls, run_id: UUID, **facts: Any) -> SyncRun:
        """Create the run aggregate; the caller saves it before any asset event of the run."""
        return cls._create(ev.RunStarted, id=run_id, **facts)

    def record(self, event_class: type[ev.RunEvent], **facts: Any) -> None:
        """Append a run-level fact."""
        self.trigger_event(event_class, **facts)
