"""Facts about the library copy: downloads, failed attempts, quarantine, compression and the
XMP sidecar written beside it.

Invariants:
- A Downloaded is about one resource, size-checked and hashed; its sha256 is what every later
  copy (NAS, Pixel, a re-download) is checked against.
- Compression never changes what was downloaded: it records the new local bytes beside the
  downloaded ones; a skip says whether it is a failure (retried) or not (never tried again).
- Stored names and versions never change (engine.events): a new shape bumps `class_version`
  and adds an upcaster.
"""

from __future__ import annotations

from typing import Any

from engine.events.base import AssetEvent
from engine.events.values import LocalFileFact, ResourceHash


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

    Since v4 `provenance` says where the bytes came from: "downloaded" (fetched from iCloud
    and checked against the declared size and Content-Length) or "adopted" (a file found at
    the path icloudpd names it, whose byte count equals the declared size, hashed locally by
    `photoledger import-existing`). Facts before v4 are "downloaded".
    """

    class_version = 4
    stored_fields_v2 = (
        "timestamp", "run_id", "local_relpath", "size_bytes", "sha256", "live_video_relpath",
        "live_video_size_bytes", "live_video_sha256", "extra_files",
    )
    stored_fields_v3 = (*stored_fields_v2, "resource", "checksum")

    local_relpath: str
    size_bytes: int
    sha256: str
    live_video_relpath: str | None = None
    live_video_size_bytes: int | None = None
    live_video_sha256: str | None = None
    extra_files: tuple[LocalFileFact, ...] = ()
    resource: str = "original"
    checksum: str = ""
    provenance: str = "downloaded"

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """v1 downloaded only the original and the live video."""
        state["extra_files"] = []

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """v2 was the original's fact (with its siblings); the listed checksum is the state's."""
        state.update(resource="original", checksum="")

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        """Every fact before v4 was a download from iCloud."""
        state["provenance"] = "downloaded"


class DownloadFailed(AssetEvent):
    """A download attempt failed; nothing was kept."""

    error: str
    is_retriable: bool


class Quarantined(AssetEvent):
    """The asset needs review (size or checksum disagreement, undecodable record)."""

    reason: str
    detail: str


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


class AdoptionConfirmed(AssetEvent):
    """Adopted resources (a `Downloaded` with provenance "adopted", found in another tool's
    tree and hashed locally) were streamed from iCloud and hashed to the same sha256: the
    local bytes are iCloud's. `resources` lists each resource and that sha256.
    """

    resources: tuple[ResourceHash, ...]


class AdoptionDisproved(AssetEvent):
    """An adopted resource is not iCloud's bytes: iCloud's own bytes, streamed and hashed,
    have `icloud_sha256`, the adopted file `adopted_sha256` (same byte count).

    The adopted library file was moved aside to `quarantine_relpath` (relative to the
    library root; "" when no file was left at `local_relpath` to move), never overwritten;
    the resource is downloaded again (engine.asset: `adoption_disproved`).
    """

    resource: str
    local_relpath: str
    adopted_sha256: str
    icloud_sha256: str
    quarantine_relpath: str
