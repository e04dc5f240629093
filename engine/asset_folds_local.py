"""The fold's part for facts about the library copy: downloads, failures, quarantine and
compression (engine.events.local_copy, but SidecarWritten: engine.asset_folds).

Invariants:
- Reached only through `engine.asset_folds.fold_fact` (the table `LOCAL_COPY_FOLDS`); pure
  and total like the rest of the fold: a stored fact always folds, never raises.
- A new original (a Downloaded with a different sha256) invalidates every verification made
  for the old one: backups are evidence about exact bytes.
- An adopted download (provenance "adopted") is `adoption_unconfirmed` until an
  AdoptionConfirmed of its very sha256; an AdoptionDisproved of its very sha256 moves it to
  `adoption_disproved`, which makes it missing (engine.resources.decide_missing). A download
  from iCloud of the resource ends both; it also forgets the Google verification when the
  adopted bytes were disproved (the Pixel may hold them). Facts about other bytes than the
  current download change nothing.
- A resource downloaded again after a Recovered or a RefetchRequested leaves
  `refetch_resources`; the local copy counts as unaltered again (not compressed, not removed)
  only once every refetched resource compression alters (the still, the live video) is back,
  never after another resource's re-download.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine import events as ev
from engine import resources as res
from engine.asset_state import MediaState


def _on_downloaded(s: MediaState, e: ev.Downloaded) -> None:
    was_disproved = e.resource in s.adoption_disproved
    _take_provenance(s, e)
    if was_disproved:
        _forget_google(s)  # the Pixel may hold the adopted bytes: staged again
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


def _take_provenance(s: MediaState, e: ev.Downloaded) -> None:
    """An adopted download waits for a comparison with iCloud's bytes; one from iCloud ends
    any wait (and any disproval) of its resource."""
    s.adoption_disproved = _without(s.adoption_disproved, e.resource)
    unconfirmed = _without(s.adoption_unconfirmed, e.resource)
    if e.provenance == ADOPTED:
        unconfirmed = tuple(k for k in res.ARCHIVE_KEYS if k in {*unconfirmed, e.resource})
    s.adoption_unconfirmed = unconfirmed


def _without(keys: tuple[str, ...], key: str) -> tuple[str, ...]:
    return tuple(k for k in keys if k != key)


def _forget_google(s: MediaState) -> None:
    s.google_status = s.google_device_id = None
    s.google_staged_at_utc = s.google_verified_at_utc = None


def _is_adopted_bytes(s: MediaState, key: str, sha256: str) -> bool:
    got = res.downloaded(s, key)
    return got is not None and got.sha256 == sha256 and key in s.adoption_unconfirmed


def _on_adoption_confirmed(s: MediaState, e: ev.AdoptionConfirmed) -> None:
    confirmed = {h.key for h in e.resources if _is_adopted_bytes(s, h.key, h.sha256)}
    s.adoption_unconfirmed = tuple(k for k in s.adoption_unconfirmed if k not in confirmed)
    if not s.adoption_unconfirmed and (s.last_error or "").startswith(ADOPTION_ERROR):
        s.last_error = s.last_error_at_utc = None  # the failed comparison made up for


def _on_adoption_disproved(s: MediaState, e: ev.AdoptionDisproved) -> None:
    if not _is_adopted_bytes(s, e.resource, e.adopted_sha256):
        return  # downloaded from iCloud meanwhile: nothing adopted left to disprove
    s.adoption_unconfirmed = _without(s.adoption_unconfirmed, e.resource)
    s.adoption_disproved = tuple(
        k for k in res.ARCHIVE_KEYS if k in {*s.adoption_disproved, e.resource})
    s.missing_resources = res.decide_missing(s)
    label = res.RESOURCE_LABELS.get(e.resource, e.resource)
    s.last_error = (f"{ADOPTION_ERROR}{label} {e.local_relpath} is not iCloud's bytes (sha256 "
                    f"{e.adopted_sha256[:12]}, iCloud's {e.icloud_sha256[:12]})")
    s.last_error_at_utc = e.timestamp


ADOPTED = "adopted"  # Downloaded.provenance of a file import-existing found
ADOPTION_ERROR = "adopted "  # how a problem with an adopted file starts (last_error)


def _on_download_failed(s: MediaState, e: ev.DownloadFailed) -> None:
    s.download_failures += 1
    s.last_error, s.last_error_at_utc = e.error, e.timestamp


def _on_quarantined(s: MediaState, e: ev.Quarantined) -> None:
    s.quarantine_reason = e.reason
    s.last_error, s.last_error_at_utc = f"{e.reason}: {e.detail}", e.timestamp



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


LOCAL_COPY_FOLDS: dict[type[ev.AssetEvent], Callable[[MediaState, Any], None]] = {
    ev.Downloaded: _on_downloaded,
    ev.DownloadFailed: _on_download_failed,
    ev.Quarantined: _on_quarantined,
    ev.Compressed: _on_compressed,
    ev.CompressionSkipped: _on_compression_skipped,
    ev.AdoptionConfirmed: _on_adoption_confirmed,
    ev.AdoptionDisproved: _on_adoption_disproved,
}
