"""MediaState: everything currently known about one asset, as the fold leaves it.

Invariants:
- One MediaState is one row of the media projection and the state of one Asset aggregate;
  only `engine.asset_folds.fold_fact` changes it (callers read it, or fold into a copy).
- Defaults describe an asset nothing is known about yet: every field is set by some fact.
- Predicates here (`is_in_icloud`) are pure functions of the state; no clock, disk or network.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from engine import events as ev
from engine import resources as res


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
    asset_subtype: int | None = None  # assetSubtypeV2 naming a smart album (MetadataChanged)
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
    adoption_unconfirmed: tuple[str, ...] = ()  # adopted, not yet compared with iCloud's bytes
    adoption_disproved: tuple[str, ...] = ()  # adopted bytes iCloud's are not: to download
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


def is_in_icloud(s: MediaState) -> bool:
    """iCloud's Library holds the asset (no deletion requested or done, not gone)."""
    return s.deletion_state not in ("requested", "deleted") and not s.is_remote_deleted
