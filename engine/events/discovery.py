"""Facts discovery records about an asset as iCloud lists it: first seen, changed, gone,
its descriptive metadata and its albums.

Invariants:
- What iCloud says, as it said it; a change is recorded only when it differs from what the
  ledger knows. A malformed resource field is named in `unreadable_resources` (unknown),
  never guessed.
- Stored names and versions never change (engine.events): a new shape bumps `class_version`
  and adds an upcaster.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from engine.events.base import AssetEvent
from engine.events.values import VersionFact


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
    asset_subtype: int | None = None  # v2: assetSubtypeV2 naming a smart album, else None

    class_version = 2
    stored_fields_v1 = (
        "timestamp", "run_id", "title", "description", "keywords", "latitude_microdeg",
        "longitude_microdeg", "altitude_mm", "orientation", "is_screenshot", "timezone_offset_s",
    )

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """v1 kept only the screenshot flag of assetSubtypeV2 (3); the rest is unknown."""
        state["asset_subtype"] = 3 if state.get("is_screenshot") else None


class AlbumsChanged(AssetEvent):
    """The user albums (CPLAlbum record names) holding the asset are now `album_ids`.

    Names and folders are album facts (AlbumSeen); this fact only says which albums.
    """

    album_ids: tuple[str, ...]
