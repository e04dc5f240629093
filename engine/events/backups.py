"""Facts about the asset's backups: the NAS copy (written, verified, mismatched, its damage
told about, its repair by re-download) and the Pixel copy Google Photos backs up.

Invariants:
- A copy counts as a backup only once verified: NasVerified after a re-read hashed to the
  downloaded bytes, GoogleVerified once Syncthing shows the Pixel holds the staged file.
- `nas_id` names the NAS a fact is about ("" before v2: unknown).
- Stored names and versions never change (engine.events): a new shape bumps `class_version`
  and adds an upcaster.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.events.base import AssetEvent
from engine.events.values import ResourceHash


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
