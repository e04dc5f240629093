"""The small frozen structs events carry: one rendition, one local file, one hash, one plan entry.

Invariants:
- Frozen msgspec structs of str, int, datetime (UTC) and None only, so the mapper decodes the
  events holding them typed (tuples of these) and an event stays immutable.
- Renaming a field changes every stored event that holds it: the same rules as for events
  (engine.events) apply, through the holding event's `class_version`.
"""

from __future__ import annotations

from datetime import datetime

import msgspec


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
