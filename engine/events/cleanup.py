"""Facts of the iCloud clean-up: the review album, the deletion (intent, outcome), the local
copy's removal, and the recovery from Recently Deleted.

Invariants:
- A DeletionRequested is recorded before iCloud is asked, with the evidence that made the
  deletion safe; Deleted or DeletionFailed records iCloud's answer.
- The user taking an asset out of the review album (AlbumRemovalObserved) vetoes its deletion.
- Stored names and versions never change (engine.events): a new shape bumps `class_version`
  and adds an upcaster.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.events.base import AssetEvent
from engine.events.values import ResourceHash


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
