"""What an asset is: every resource iCloud destroys when the asset is deleted.

Invariants:
- An iCloud asset is more than its original. Deleting it destroys every resource its record
  holds: the original, the live-photo video, the alternative (the RAW or JPEG twin of a
  RAW+JPEG pair), the adjusted still (edits, portrait renders) and the adjusted video (an
  edited video, or the video of an edited live photo). These are `ARCHIVE_KEYS`; each is
  downloaded, hashed and archived on its own. `medium` and `thumb` are derived by Apple from
  the others and are never required.
- A resource is listed when the record names it (its VersionFact), and downloaded when a
  Downloaded of the same key holds the listed size (and, when both are known, the listed
  Apple checksum). A resource listed and not so downloaded is missing.
- A resource whose record fields were malformed (`unreadable_resources`) is unknown, and
  unknown is never good: the gate blocks such an asset.
- An asset recovered from Recently Deleted must have every resource downloaded again
  (`refetch_resources`), and each new download must hash to the sha256 of the old one.
- The XMP sidecar (engine.sidecar_run) is not a resource iCloud destroys but what only iCloud
  knows beside the bytes; the NAS keeps it too, listed in NasVerified.files under SIDECAR.
  Only the current one counts (`is_sidecar_on_nas`); it never makes an asset incomplete.
- Pure functions of an asset's state; no clock, file system or network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from engine import events as ev

if TYPE_CHECKING:
    from engine.asset import MediaState

ORIGINAL = "original"
LIVE_VIDEO = "live_video"  # resOriginalVidCompl
ALTERNATIVE = "alternative"  # resOriginalAlt
ADJUSTED = "adjusted"  # resJPEGFull, on the asset record
ADJUSTED_VIDEO = "adjusted_video"  # resVidFull, on the asset record
ARCHIVE_KEYS: tuple[str, ...] = (ORIGINAL, LIVE_VIDEO, ALTERNATIVE, ADJUSTED, ADJUSTED_VIDEO)
DERIVED_KEYS: tuple[str, ...] = ("medium", "thumb")
SIDECAR = "sidecar"  # the XMP sidecar's key in NasVerified.files (never in ARCHIVE_KEYS)
RESOURCE_LABELS: dict[str, str] = {
    ORIGINAL: "original",
    LIVE_VIDEO: "live video",
    ALTERNATIVE: "alternative (RAW/JPEG twin)",
    ADJUSTED: "edited still",
    ADJUSTED_VIDEO: "edited video",
    SIDECAR: "XMP sidecar",
}


class DownloadedResource(msgspec.Struct, frozen=True, kw_only=True):
    """One resource on local disk as downloaded (the NAS copy lives at the same relpath)."""

    key: str
    relpath: str
    size_bytes: int
    sha256: str
    checksum: str  # Apple's checksum it was listed with when downloaded ("" if unknown)


def listed_resources(state: MediaState) -> dict[str, ev.VersionFact]:
    """The archival resources the record lists, key -> VersionFact, in ARCHIVE_KEYS order."""
    listed = {v.key: v for v in state.versions if v.key in ARCHIVE_KEYS}
    if state.record_name:  # the declared original is authoritative (the versions may be v1)
        listed[ORIGINAL] = ev.VersionFact(
            key=ORIGINAL,
            size_bytes=state.declared_size_bytes,
            checksum=state.remote_checksum,
            file_type=state.item_type,
        )
    return {key: listed[key] for key in ARCHIVE_KEYS if key in listed}


def downloaded(state: MediaState, key: str) -> DownloadedResource | None:
    """The download of resource `key`, if any."""
    return next((r for r in state.resources_downloaded if r.key == key), None)


def is_current(version: ev.VersionFact, resource: DownloadedResource | None) -> bool:
    """The download holds the listed version: same size, same checksum when both are known."""
    if resource is None or resource.size_bytes != version.size_bytes:
        return False
    return not (resource.checksum and version.checksum and resource.checksum != version.checksum)


def decide_missing(state: MediaState) -> tuple[str, ...]:
    """Listed archival resources without a current download, in ARCHIVE_KEYS order; after a
    recover also every resource to fetch again (`refetch_resources`), and every adopted one
    whose bytes iCloud's are not (`adoption_disproved`)."""
    return tuple(
        key
        for key, version in listed_resources(state).items()
        if key in state.refetch_resources or key in state.adoption_disproved
        or not is_current(version, downloaded(state, key))
    )


def is_on_nas(state: MediaState, resource: DownloadedResource) -> bool:
    """The last NAS verification re-read this resource's downloaded bytes."""
    return any(
        h.key == resource.key and h.sha256 == resource.sha256 for h in state.nas_files
    )


def is_sidecar_on_nas(state: MediaState) -> bool:
    """The last NAS verification re-read the asset's current XMP sidecar."""
    return state.sidecar_sha256 is not None and any(
        h.key == SIDECAR and h.sha256 == state.sidecar_sha256 for h in state.nas_files
    )


def nas_sidecar_sha256(state: MediaState) -> str | None:
    """The sidecar the last NAS verification re-read (maybe an older one than the current)."""
    return next((h.sha256 for h in state.nas_files if h.key == SIDECAR), None)


def decide_nas_complete(state: MediaState) -> bool:
    """Every downloaded archival resource was re-read on the NAS to its downloaded sha256."""
    return all(
        is_on_nas(state, r) for r in state.resources_downloaded if r.key in ARCHIVE_KEYS
    )


def icloud_bytes(state: MediaState) -> int:
    """What deleting the asset frees in iCloud: every archival resource the record lists."""
    return sum(v.size_bytes for v in listed_resources(state).values())


def archived_hashes(state: MediaState) -> tuple[ev.ResourceHash, ...]:
    """Every downloaded archival resource and its sha256 (a deletion's evidence)."""
    return tuple(
        ev.ResourceHash(key=r.key, sha256=r.sha256)
        for r in state.resources_downloaded
        if r.key in ARCHIVE_KEYS
    )
