"""The one fold that turns facts into an asset's current state (MediaState).

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

Layout: the handlers of facts about the library copy (downloads, quarantine, compression) are
in engine.asset_folds_local, which implements the two download invariants above; this module
holds the others and `_FOLDS`, the one table from each event class to its handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine import events as ev
from engine import resources as res
from engine.asset_folds_local import LOCAL_COPY_FOLDS
from engine.asset_state import MediaState, is_in_icloud


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



def _on_album_moved(s: MediaState, e: ev.AlbumMoved) -> None:
    s.album_moved_at_utc, s.is_album_removal_observed = e.timestamp, False


def _on_album_removal_observed(s: MediaState, _e: ev.AlbumRemovalObserved) -> None:
    s.album_moved_at_utc, s.is_album_removal_observed = None, True


def _on_metadata_changed(s: MediaState, e: ev.MetadataChanged) -> None:
    before = _sidecar_metadata(s)
    s.title, s.description, s.keywords = e.title, e.description, tuple(e.keywords)
    s.latitude_microdeg, s.longitude_microdeg = e.latitude_microdeg, e.longitude_microdeg
    s.altitude_mm, s.orientation, s.is_screenshot = e.altitude_mm, e.orientation, e.is_screenshot
    s.timezone_offset_s = e.timezone_offset_s
    s.asset_subtype = e.asset_subtype  # no sidecar field: learning it alone rewrites nothing
    if _sidecar_metadata(s) != before:
        s.is_sidecar_stale = True


def _sidecar_metadata(s: MediaState) -> tuple[object, ...]:
    return (s.title, s.description, s.keywords, s.latitude_microdeg, s.longitude_microdeg,
            s.altitude_mm, s.orientation, s.is_screenshot, s.timezone_offset_s)


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


def _on_damage_alarm_raised(s: MediaState, e: ev.DamageAlarmRaised) -> None:
    s.nas_damage_alarm = "last-copy" if e.is_last_copy else "damaged"



_FOLDS: dict[type[ev.AssetEvent], Callable[[MediaState, Any], None]] = {
    ev.Discovered: _on_discovered,
    ev.RemoteChanged: _on_remote_changed,
    ev.RemoteDeleted: _on_remote_deleted,
    ev.MetadataChanged: _on_metadata_changed,
    ev.AlbumsChanged: _on_albums_changed,
    ev.SidecarWritten: _on_sidecar_written,
    **LOCAL_COPY_FOLDS,  # Downloaded, DownloadFailed, Quarantined, Compressed, CompressionSkipped,
    # AdoptionConfirmed, AdoptionDisproved
    ev.NasCopied: _on_nas_copied,
    ev.NasVerified: _on_nas_verified,
    ev.NasMismatched: _on_nas_mismatched,
    ev.PixelStaged: _on_pixel_staged,
    ev.GoogleVerified: _on_google_verified,
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
