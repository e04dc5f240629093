"""Every fact the ledger can hold, as explicit frozen event classes (eventsourcing 9.5).

Invariants:
- Events are past-tense facts and are never changed once stored. A change of shape bumps the
  class's `class_version` and adds a static `upcast_vN_vN+1(state)`; the mapper runs it on read.
- Every asset event carries `run_id`, the SyncRun that produced it.
- Fields carry their unit or kind in the name (`size_bytes`, `*_at_utc`, `sha256`, `*_relpath`).
  Paths are relative to the root they belong to (library, NAS, outbox), never absolute.
- Field types are limited to str, int, bool, datetime (UTC), None and tuples of the small frozen
  structs of `engine.events.values` (VersionFact, LocalFileFact, ResourceHash, PlanEntry), so
  the msgspec mapper decodes them typed.
- A stored topic is the event's class name (short rows: the topic is stored with every event).
  `TOPICS` maps each stored name to its class; a renamed class keeps its old name as a key.
  The module a class is defined in is not stored, so classes may move between the modules
  below; every one is imported from here.
- Facts that another fact already pins are not repeated (the NAS and outbox copies live at the
  asset's relative path; a download is of the change tag known at that moment).

Layout, by the stage that records the facts: `values` (the frozen structs events carry),
`base` (AssetEvent, RunEvent), `discovery`, `local_copy` (download, compression, sidecar),
`backups` (NAS and Pixel), `cleanup` (album move, deletion, recovery) and `runs`.
"""

from __future__ import annotations

from typing import Any

from engine.events.backups import (
    DamageAlarmRaised,
    GoogleVerified,
    NasCopied,
    NasMismatched,
    NasVerified,
    PixelStaged,
    RefetchRequested,
)
from engine.events.base import AssetEvent, RunEvent
from engine.events.cleanup import (
    AlbumMoved,
    AlbumRemovalObserved,
    Deleted,
    DeletionFailed,
    DeletionRequested,
    LocalCopyRemoved,
    Recovered,
)
from engine.events.discovery import (
    AlbumsChanged,
    Discovered,
    MetadataChanged,
    RemoteChanged,
    RemoteDeleted,
)
from engine.events.local_copy import (
    AdoptionConfirmed,
    AdoptionDisproved,
    Compressed,
    CompressionSkipped,
    Downloaded,
    DownloadFailed,
    Quarantined,
    SidecarWritten,
)
from engine.events.runs import (
    AlbumRemoved,
    AlbumSeen,
    DeletePlanned,
    RunFinished,
    RunStarted,
    StageCompleted,
    SyncTokenAdvanced,
)
from engine.events.values import LocalFileFact, PlanEntry, ResourceHash, VersionFact

__all__ = [
    "ASSET_EVENT_CLASSES",
    "RUN_EVENT_CLASSES",
    "TOPICS",
    "AdoptionConfirmed",
    "AdoptionDisproved",
    "AlbumMoved",
    "AlbumRemovalObserved",
    "AlbumRemoved",
    "AlbumSeen",
    "AlbumsChanged",
    "AssetEvent",
    "Compressed",
    "CompressionSkipped",
    "DamageAlarmRaised",
    "DeletePlanned",
    "Deleted",
    "DeletionFailed",
    "DeletionRequested",
    "Discovered",
    "DownloadFailed",
    "Downloaded",
    "GoogleVerified",
    "LocalCopyRemoved",
    "LocalFileFact",
    "MetadataChanged",
    "NasCopied",
    "NasMismatched",
    "NasVerified",
    "PixelStaged",
    "PlanEntry",
    "Quarantined",
    "Recovered",
    "RefetchRequested",
    "RemoteChanged",
    "RemoteDeleted",
    "ResourceHash",
    "RunEvent",
    "RunFinished",
    "RunStarted",
    "SidecarWritten",
    "StageCompleted",
    "SyncTokenAdvanced",
    "VersionFact",
]


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
    AdoptionConfirmed,
    AdoptionDisproved,
)


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
