"""Every fact the ledger can hold, as explicit frozen event classes (eventsourcing 9.5).

Invariants:
- Events are past-tense facts and are never changed once stored. A change of shape bumps the
  class's `class_version` and adds a static `upcast_vN_vN+1(state)`; the mapper runs it on read.
- Every asset event carries `run_id`, the SyncRun that produced it.
- Fields carry their unit or kind in the name (`size_bytes`, `*_at_utc`, `sha256`, `*_relpath`).
  Paths are relative to the root they belong to (library, NAS, outbox), never absolute.
- Field types are limited to str, int, bool, datetime (UTC), None and tuples of the small frozen
  structs below (VersionFact, LocalFileFact, PlanEntry), so the msgspec mapper decodes them
  typed.
- A stored topic is the event's class name (short rows: the topic is stored with every event).
  `TOPICS` maps each stored name to its class; a renamed class keeps its old name as a key.
- Facts that another fact already pins are not repeated (the NAS and outbox copies live at the
  asset's relative path; a download is of the change tag known at that moment).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from eventsourcing.domain import Aggregate


class VersionFact(msgspec.Struct, frozen=True, kw_only=True):
    """One rendition iCloud offers for an asset (never its URL: those expire)."""

    key: str  # "original", "live_video", "alternative", "adjusted", "medium", "thumb"
    size_bytes: int
    checksum: str  # Apple's fileChecksum: identifies the content, cannot check bytes
    file_type: str  # UTI, e.g. "public.heic"


class LocalFileFact(msgspec.Struct, frozen=True, kw_only=True):
    """A downloaded rendition other than the original and the live-photo video."""

    key: str
    relpath: str
    size_bytes: int
    sha256: str


class ResourceHash(msgspec.Struct, frozen=True, kw_only=True):
    """One resource of an asset (engine.resources keys) and the sha256 of its bytes."""

    key: str
    sha256: str


class PlanEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One asset of a deletion plan with the evidence that made it deletable when planned."""

    asset_id: str  # hex
    record_name: str
    sha256: str
    icloud_size_bytes: int  # the original plus its live-photo video, as iCloud declares them
    nas_verified_at_utc: datetime | None
    google_device_id: str | None
    google_verified_at_utc: datetime | None
    remote_change_tag: str


class AssetEvent(Aggregate.Event):
    """Base of every fact about one iCloud asset."""

    run_id: str

    def apply(self, aggregate: object) -> None:
        # The fold lives in engine.asset so the projection can share it; see Asset.apply_fact.
        aggregate.apply_fact(self)  # type: ignore[attr-defined]


class Discovered(AssetEvent, Aggregate.Created):
    """The asset was seen in iCloud for the first time, with everything later stages need.

    `unreadable_resources` names the resources whose record fields were present but malformed:
    the asset has them in iCloud, their size and checksum are unknown, so it is never deleted.
    """

    class_version = 3
    stored_fields_v2 = (
        "timestamp", "originator_topic", "run_id", "account", "zone", "record_name",
        "master_record_name", "filename", "filename_status", "kind", "item_type",
        "declared_size_bytes", "remote_checksum", "live_video_declared_size_bytes",
        "live_video_checksum", "versions", "captured_at_utc", "added_at_utc",
        "timezone_offset_s", "remote_change_tag", "is_favorite", "is_hidden", "album_ids",
    )

    account: str
    zone: str
    record_name: str
    master_record_name: str
    filename: str
    filename_status: str  # "ok", "missing" (icloudpd's fallback name) or "undecodable"
    kind: str  # "photo", "video" or "live" (a still with its paired video)
    item_type: str  # Apple's UTI, e.g. "public.heic"
    declared_size_bytes: int
    remote_checksum: str
    live_video_declared_size_bytes: int | None
    live_video_checksum: str | None
    versions: tuple[VersionFact, ...]
    captured_at_utc: datetime | None
    added_at_utc: datetime | None
    timezone_offset_s: int | None
    remote_change_tag: str
    is_favorite: bool
    is_hidden: bool
    album_ids: tuple[str, ...]
    unreadable_resources: tuple[str, ...] = ()

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """v1 knew only the original and the live video's size."""
        versions = [
            {
                "key": "original",
                "size_bytes": state["declared_size_bytes"],
                "checksum": state["remote_checksum"],
                "file_type": state["item_type"],
            }
        ]
        if state.get("live_video_declared_size_bytes") is not None:
            versions.append(
                {
                    "key": "live_video",
                    "size_bytes": state["live_video_declared_size_bytes"],
                    "checksum": "",
                    "file_type": "com.apple.quicktime-movie",
                }
            )
        state.update(
            filename_status="ok",
            live_video_checksum=None,
            versions=versions,
            timezone_offset_s=None,
            is_favorite=False,
            is_hidden=False,
            album_ids=[],
        )

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """v2 did not tell malformed resource fields apart: none known."""
        state["unreadable_resources"] = []


class RemoteChanged(AssetEvent):
    """iCloud holds a new version of the asset (an edit, a replaced original, new metadata)."""

    class_version = 3
    stored_fields_v2 = (
        "timestamp", "run_id", "remote_change_tag", "remote_checksum", "declared_size_bytes",
        "live_video_declared_size_bytes", "live_video_checksum", "versions", "filename",
        "filename_status", "item_type", "captured_at_utc", "is_favorite", "is_hidden",
    )

    remote_change_tag: str
    remote_checksum: str
    declared_size_bytes: int
    live_video_declared_size_bytes: int | None
    live_video_checksum: str | None
    versions: tuple[VersionFact, ...]
    filename: str
    filename_status: str
    item_type: str
    captured_at_utc: datetime | None
    is_favorite: bool
    is_hidden: bool
    unreadable_resources: tuple[str, ...] = ()

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """v1 carried only the tag, checksum and size; the rest is unknown (kept as was)."""
        state.update(
            live_video_declared_size_bytes=None,
            live_video_checksum=None,
            versions=[],
            filename="",
            filename_status="",
            item_type="",
            captured_at_utc=None,
            is_favorite=False,
            is_hidden=False,
        )

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """v2 did not tell malformed resource fields apart: none known."""
        state["unreadable_resources"] = []


class RemoteDeleted(AssetEvent):
    """The asset disappeared from iCloud without photoledger deleting it. Never deletes copies."""

    observed_via: str  # "changes/zone tombstone", "full scan", "recently deleted"


class MetadataChanged(AssetEvent):
    """iCloud's descriptive metadata of the asset, whole, as first seen or after a change.

    Recorded only when it differs from what the ledger knows (an asset without any is never
    given one). Positions are integers so the fact decodes exactly: micro-degrees (1e-6 deg,
    about 11 cm) and millimetres. `orientation` is the EXIF code of the user's rotation (or
    the master's own when not 1); `timezone_offset_s` repeats Discovered's, so a changed
    zone is seen.
    """

    title: str | None  # captionEnc
    description: str | None  # extendedDescEnc
    keywords: tuple[str, ...]  # keywordsEnc, in iCloud's order
    latitude_microdeg: int | None
    longitude_microdeg: int | None
    altitude_mm: int | None
    orientation: int | None
    is_screenshot: bool  # assetSubtypeV2 == 3
    timezone_offset_s: int | None


class AlbumsChanged(AssetEvent):
    """The user albums (CPLAlbum record names) holding the asset are now `album_ids`.

    Names and folders are album facts (AlbumSeen); this fact only says which albums.
    """

    album_ids: tuple[str, ...]


class SidecarWritten(AssetEvent):
    """The XMP sidecar beside the library copy of the original was (re)written.

    `sha256` is of the bytes written; `album_paths` are the folder paths it names, so a
    rename of an album or folder is seen as a sidecar to rewrite without re-rendering it.
    """

    sidecar_relpath: str
    sha256: str
    album_paths: tuple[str, ...]


class Downloaded(AssetEvent):
    """One resource of the asset is on local disk at `local_relpath`, size-checked and hashed.

    Since v3 each resource has its own Downloaded (`resource`: "original", "live_video",
    "alternative", "adjusted", "adjusted_video", "medium", "thumb"), with the Apple checksum it
    was listed with (`checksum`; "" when unknown). v2 facts were about the original and carried
    its live video and extra renditions in the same fact: the `live_video_*` and `extra_files`
    fields are set only by them and are None/empty in v3 facts.
    """

    class_version = 3
    stored_fields_v2 = (
        "timestamp", "run_id", "local_relpath", "size_bytes", "sha256", "live_video_relpath",
        "live_video_size_bytes", "live_video_sha256", "extra_files",
    )

    local_relpath: str
    size_bytes: int
    sha256: str
    live_video_relpath: str | None = None
    live_video_size_bytes: int | None = None
    live_video_sha256: str | None = None
    extra_files: tuple[LocalFileFact, ...] = ()
    resource: str = "original"
    checksum: str = ""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """v1 downloaded only the original and the live video."""
        state["extra_files"] = []

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """v2 was the original's fact (with its siblings); the listed checksum is the state's."""
        state.update(resource="original", checksum="")


class DownloadFailed(AssetEvent):
    """A download attempt failed; nothing was kept."""

    error: str
    is_retriable: bool


class Quarantined(AssetEvent):
    """The asset needs review (size or checksum disagreement, undecodable record)."""

    reason: str
    detail: str


class NasCopied(AssetEvent):
    """Files of the asset were written to the NAS (not yet verified by a re-read).

    `nas_id` is the id in the NAS marker when it was written ("" before v2: unknown NAS).
    """

    class_version = 2
    stored_fields_v1 = ("timestamp", "run_id", "nas_relpath", "size_bytes")

    nas_relpath: str
    size_bytes: int
    nas_id: str = ""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["nas_id"] = ""


class NasVerified(AssetEvent):
    """A re-read of every NAS file of the asset hashed to the downloaded bytes.

    `sha256` is the original's; `files` lists every resource re-read with its hash (an upcast
    v1 fact lists the live video with "": the downloaded hash, see engine.asset). `nas_id`
    names the NAS (the id in its marker; "" before v2).
    """

    class_version = 2
    stored_fields_v1 = ("timestamp", "run_id", "sha256", "method")

    sha256: str
    method: str  # e.g. "reread-fadvise-dontneed", "adopted-existing"
    files: tuple[ResourceHash, ...] = ()
    nas_id: str = ""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """v1 re-read the original and the live video, if any: its hash was the downloaded
        one, which the fold fills in for the "" placeholder (an asset without one skips it)."""
        files = [
            {"key": "original", "sha256": state["sha256"]},
            {"key": "live_video", "sha256": ""},
        ]
        state.update(files=files, nas_id="")


class NasMismatched(AssetEvent):
    """A re-read of the NAS copy did not match the original (or the copy is missing)."""

    class_version = 2
    stored_fields_v1 = ("timestamp", "run_id", "expected_sha256", "actual_sha256", "detail")

    expected_sha256: str
    actual_sha256: str | None
    detail: str
    nas_id: str = ""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["nas_id"] = ""


class PixelStaged(AssetEvent):
    """The original was placed into the Syncthing outbox shared with the Pixel."""

    outbox_relpath: str
    size_bytes: int
    method: str  # "hardlink", "copy", or "copy-from-nas" (a resend read the NAS copy)


class GoogleVerified(AssetEvent):
    """Syncthing shows the Pixel holds the exact staged file, so Google Photos backs it up."""

    device_id: str
    size_bytes: int


class Compressed(AssetEvent):
    """The local working copy was re-encoded for a tier (a later, heavier tier appends another).

    Sizes cover every file of the asset (still and live-photo video) as they were just before
    and just after this re-encode; `sha256_after` is the still's (or the video's) new hash.
    """

    class_version = 2
    stored_fields_v1 = (
        "timestamp", "run_id", "tier", "codec", "params_hash", "size_bytes_before",
        "size_bytes_after", "sha256_after",
    )

    tier: str
    codec: str
    params_hash: str
    size_bytes_before: int
    size_bytes_after: int
    sha256_after: str
    source: str  # where the encode read the original: "nas" or "local"
    local_relpath_after: str | None  # set when a format change renamed the local file
    live_video_sha256_after: str | None  # set when the live-photo video was re-encoded too

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """v1 did not say where the encode read from, and never renamed or touched the video."""
        state.update(source="", local_relpath_after=None, live_video_sha256_after=None)


class CompressionSkipped(AssetEvent):
    """Compression for a tier was tried and not applied; the local copy is as it was.

    `is_failure` is False for a deliberate skip (the result was not smaller by the margin):
    that tier is not tried again. A failure (encoder crash, timeout, failed decode check,
    original unavailable) is a problem to show and is retried by the next run.
    """

    class_version = 2
    stored_fields_v1 = ("timestamp", "run_id", "tier", "reason")

    tier: str
    reason: str
    is_failure: bool

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """v1 skips were shown as problems; keep them so."""
        state["is_failure"] = True


class AlbumMoved(AssetEvent):
    """The iCloud asset was added to the deletion-review album."""

    album_name: str


class AlbumRemovalObserved(AssetEvent):
    """The user took the asset out of the deletion-review album: it must not be deleted."""

    album_name: str


class DeletionRequested(AssetEvent):
    """Intent to delete from iCloud, with the evidence that made it safe (before the call).

    Since v2 `files` lists every resource the deletion destroys with its downloaded sha256
    (v1 facts name only the original's).
    """

    class_version = 2
    stored_fields_v1 = (
        "timestamp", "run_id", "plan_id", "sha256", "nas_verified_at_utc", "google_device_id",
        "google_verified_at_utc", "remote_change_tag",
    )

    plan_id: str
    sha256: str
    nas_verified_at_utc: datetime | None
    google_device_id: str | None
    google_verified_at_utc: datetime | None
    remote_change_tag: str
    files: tuple[ResourceHash, ...] = ()

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["files"] = []


class Deleted(AssetEvent):
    """iCloud accepted the delete; recoverable from Recently Deleted until the given time."""

    plan_id: str
    recoverable_until_utc: datetime
    is_reconciled: bool


class DeletionFailed(AssetEvent):
    """iCloud refused or the call failed; the asset was not deleted."""

    plan_id: str
    error: str


class LocalCopyRemoved(AssetEvent):
    """The local working copy was removed after iCloud deletion with both backups verified."""

    local_relpath: str


class Recovered(AssetEvent):
    """The asset came back from iCloud's Recently Deleted into the Library (`photoledger
    recover`): iCloud holds it again under `remote_change_tag`.

    `is_reconciled` is True when the asset was found already back in the Library (a recover
    killed after iCloud's answer and before this fact, or a recover made on a phone): the
    fact then records what was observed, never a second recover. Every resource downloaded
    before is fetched again and must hash to the sha256 recorded then (engine.asset).
    """

    remote_change_tag: str
    is_reconciled: bool


class RefetchRequested(AssetEvent):
    """These resources are to be downloaded again from iCloud, to their own paths, and must
    hash to the sha256 recorded at their download (engine.asset: `refetch_resources`).

    Recorded by backup-nas when a NAS copy is missing or damaged and no local source holds
    the downloaded bytes any more (the library copy compressed, the Pixel outbox empty),
    while iCloud still holds the asset: the re-download is the repair's last source.
    `reason` says why in words, for history.
    """

    resources: tuple[str, ...]
    reason: str


class DamageAlarmRaised(AssetEvent):
    """A `backup-damaged` notification went out for this asset's damaged NAS copy.

    `is_last_copy`: the NAS copy was the only full-quality copy left (deleted from iCloud,
    local copy compressed or removed): the alarm. One fact per damage: the next one is only
    raised after a NasVerified (the repair), or when a damage already told about becomes a
    last-copy one.
    """

    nas_relpath: str
    detected_at_utc: datetime
    is_last_copy: bool


ASSET_EVENT_CLASSES: tuple[type[AssetEvent], ...] = (
    Discovered,
    RemoteChanged,
    RemoteDeleted,
    MetadataChanged,
    AlbumsChanged,
    SidecarWritten,
    Downloaded,
    DownloadFailed,
    Quarantined,
    NasCopied,
    NasVerified,
    NasMismatched,
    PixelStaged,
    GoogleVerified,
    Compressed,
    CompressionSkipped,
    AlbumMoved,
    AlbumRemovalObserved,
    DeletionRequested,
    Deleted,
    DeletionFailed,
    LocalCopyRemoved,
    Recovered,
    RefetchRequested,
    DamageAlarmRaised,
)


class RunEvent(Aggregate.Event):
    """Base of run-level facts (never one per asset: that would make a hot aggregate)."""


class RunStarted(RunEvent, Aggregate.Created):
    """A photoledger command that writes to the ledger started."""

    command: str
    host: str
    pid: int
    config_sha256: str
    version: str


class StageCompleted(RunEvent):
    """A stage finished its work list; counts are per outcome ("downloaded": 12, ...)."""

    stage: str
    counts_json: str


class SyncTokenAdvanced(RunEvent):
    """Discovery consumed iCloud changes up to this CloudKit sync token for a zone."""

    zone: str
    sync_token: str


class AlbumSeen(RunEvent):
    """A user album or folder of a zone as iCloud lists it (new, renamed or moved).

    Recorded on the discover run only when it differs from what the ledger knows, so the
    facts of all albums stay small whatever the library's size. `parent_id` is the folder
    holding it (None: top level).
    """

    zone: str
    album_id: str  # the CPLAlbum record name
    name: str
    parent_id: str | None
    is_folder: bool


class AlbumRemoved(RunEvent):
    """A user album or folder the ledger knew is gone from iCloud (deleted or tombstoned)."""

    zone: str
    album_id: str


class DeletePlanned(RunEvent):
    """A deletion plan was made; `plan_sha256` covers its asset ids and evidence (`entries`)."""

    class_version = 2
    stored_fields_v1 = ("timestamp", "plan_id", "asset_count", "plan_sha256")

    plan_id: str
    asset_count: int
    plan_sha256: str
    entries: tuple[PlanEntry, ...]

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """v1 stored only the count and the hash: such a plan lists nothing to execute."""
        state["entries"] = []


class RunFinished(RunEvent):
    """The command ended; `exit_code` is the process's exit code."""

    exit_code: int
    outcome: str


RUN_EVENT_CLASSES: tuple[type[RunEvent], ...] = (
    RunStarted,
    StageCompleted,
    SyncTokenAdvanced,
    AlbumSeen,
    AlbumRemoved,
    DeletePlanned,
    RunFinished,
)


TOPICS: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (*ASSET_EVENT_CLASSES, *RUN_EVENT_CLASSES)
}
