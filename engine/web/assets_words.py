"""One asset's history in words: each recorded fact (engine.history) as a headline and its
values as people read them.

Invariants:
- Never a Python repr: times read '2026-05-01 12:00 UTC', sizes in binary units with the exact
  byte count, yes/no for flags, album ids by their names, resources by their keys; a value
  left None is left out (nothing to say), an empty list reads 'none'.
- Every fact of the entry is shown (engine.history.HistoryEntry.facts), under a label made from
  its field name; only the envelope (ids, topic, version) is not repeated.
- The iCloud standing and the album list use `photoledger history`'s wording.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.events.values import LocalFileFact, PlanEntry, ResourceHash, VersionFact
from engine.history import HistoryEntry
from engine.resources import DownloadedResource
from engine.units import human_bytes
from engine.web.units import visible

_HEADLINES = {
    "Discovered": "Seen in iCloud for the first time",
    "RemoteChanged": "iCloud holds a new version",
    "RemoteDeleted": "Gone from iCloud (not deleted by photoledger)",
    "MetadataChanged": "iCloud's description of it (caption, keywords, place) recorded",
    "AlbumsChanged": "Its iCloud albums changed",
    "SidecarWritten": "XMP sidecar written beside the library copy",
    "Downloaded": "Downloaded to the library, size checked and hashed",
    "DownloadFailed": "A download attempt failed (nothing kept)",
    "Quarantined": "Quarantined for review",
    "Compressed": "The library copy was re-encoded (compressed)",
    "CompressionSkipped": "Compression was tried and not applied",
    "NasCopied": "Copied to the NAS (not yet verified)",
    "NasVerified": "Verified on the NAS: a re-read hashed to the downloaded bytes",
    "NasMismatched": "The NAS copy did not match the downloaded bytes",
    "PixelStaged": "Staged in the outbox shared with the Pixel",
    "GoogleVerified": "On the Pixel: its Syncthing holds the exact staged file",
    "RefetchRequested": "A new download from iCloud was asked for (repair)",
    "AdoptionConfirmed": "The adopted file was compared with iCloud's bytes: the same",
    "AdoptionDisproved": "The adopted file is not iCloud's bytes: moved aside, downloaded again",
    "DamageAlarmRaised": "The damage alarm went out for its NAS copy",
    "AlbumMoved": "Added to the review album in iCloud",
    "AlbumRemovalObserved": "You took it out of the review album: it is never deleted",
    "DeletionRequested": "Deletion from iCloud asked for, with its evidence",
    "Deleted": "Deleted from iCloud (kept in Recently Deleted for 30 days)",
    "DeletionFailed": "iCloud did not delete it",
    "LocalCopyRemoved": "The library copy was removed (both backups verified)",
    "Recovered": "Brought back from iCloud's Recently Deleted",
}
_LABELS = {
    "is_favorite": "favourite", "is_hidden": "hidden", "is_screenshot": "screenshot",
    "is_retriable": "tried again later", "is_failure": "counts as a failure",
    "is_reconciled": "found already done", "is_last_copy": "the last full-quality copy",
    "album_ids": "albums", "versions": "resources iCloud lists", "files": "files",
    "extra_files": "other files", "latitude_microdeg": "latitude",
    "longitude_microdeg": "longitude", "altitude_mm": "altitude",
    "timezone_offset_s": "time zone", "local_relpath": "library path",
    "nas_relpath": "NAS path", "outbox_relpath": "outbox path", "item_type": "file type",
    "remote_change_tag": "iCloud change tag", "remote_checksum": "iCloud checksum",
    "nas_id": "NAS id", "device_id": "Pixel device", "google_device_id": "Pixel device",
    "sha256_after": "sha256 after", "params_hash": "encoder settings hash",
    "nas_verified_at_utc": "NAS re-read at", "google_verified_at_utc": "on the Pixel since",
    "size_bytes_before": "size before", "size_bytes_after": "size after",
    "adopted_sha256": "adopted file's sha256", "icloud_sha256": "iCloud's sha256",
    "quarantine_relpath": "moved aside to",
}


@dataclass(frozen=True)
class FactLine:
    label: str
    value: str


@dataclass(frozen=True)
class EntryWords:
    version: int
    when: str
    headline: str
    run: str  # "download run 1a2b3c4d" ("" when none)
    facts: list[FactLine]


def when_words(value: datetime | str | None) -> str:
    """A time as '2026-05-01 12:00 UTC' (ISO text accepted)."""
    if value is None:
        return "-"
    text = value.isoformat() if isinstance(value, datetime) else value
    return f"{text[:10]} {text[11:16]} UTC"


def label_of(field: str) -> str:
    if field in _LABELS:
        return _LABELS[field]
    words = field.replace("_", " ")
    if words.endswith(" utc"):
        words = words[:-4]
    return words.removesuffix(" bytes")


def _item(value: Any) -> str:
    if isinstance(value, VersionFact):
        return f"{value.key} {human_bytes(value.size_bytes)} ({value.file_type})"
    if isinstance(value, ResourceHash):
        return f"{value.key} sha256 {value.sha256 or '(the downloaded one)'}"
    if isinstance(value, LocalFileFact | DownloadedResource):
        return f"{value.key} at {value.relpath}, {human_bytes(value.size_bytes)}"
    if isinstance(value, PlanEntry):
        return f"{value.record_name} ({human_bytes(value.icloud_size_bytes)})"
    return visible(str(value))


def value_words(field: str, value: Any, albums: Mapping[str, str]) -> str:
    """One fact's value in words (albums: album id -> its path or name)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return when_words(value)
    if isinstance(value, tuple | list):
        if field == "album_ids":
            value = [albums.get(str(v), f"an album the ledger never named ({v})") for v in value]
        return "; ".join(_item(v) for v in value) if value else "none"
    if isinstance(value, int) and not isinstance(value, bool):
        return _number_words(field, value)
    return visible(str(value))


def _number_words(field: str, value: int) -> str:
    if field.endswith("bytes") or field.startswith("size_bytes"):
        return f"{human_bytes(value)} ({value:,} bytes)"
    if field.endswith("_microdeg"):
        return f"{value / 1e6:.6f}°"
    if field == "altitude_mm":
        return f"{value / 1000:.1f} m"
    if field == "timezone_offset_s":
        sign, minutes = ("+" if value >= 0 else "-"), abs(value) // 60
        return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return str(value)


def entry_words(entry: HistoryEntry, albums: Mapping[str, str],
                commands: Mapping[str, str]) -> EntryWords:
    """One recorded fact in words; `commands`: run id -> the command that run was."""
    run = ""
    if entry.run_id:
        run = f"{commands.get(entry.run_id, 'a')} run {entry.run_id[:8]}"
    facts = [FactLine(label_of(k), value_words(k, v, albums))
             for k, v in entry.facts.items() if v is not None]
    headline = _HEADLINES.get(entry.event, entry.event)
    return EntryWords(entry.version, when_words(entry.recorded_at_utc), headline, run, facts)
