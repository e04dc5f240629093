"""Discovery decisions: what a remote record means for the ledger. Pure functions, no I/O.

Invariants:
- An asset is keyed by its iCloud identity (account, zone, CPLAsset record name), never by name.
- A record seen for the first time becomes exactly one `Discovered`; a known record whose remote
  facts differ becomes `RemoteChanged`; a known record with the same facts produces nothing, so
  a rerun (or an overlapping page) appends nothing.
- Descriptive metadata (caption, keywords, place, ...) is one `MetadataChanged`, after the
  Discovered or RemoteChanged, whenever it differs from what the ledger knows; an asset with
  none gets none (what Discovered already says, the time zone, is not repeated).
- A record that could not be parsed, or whose filename cannot be decoded, is recorded and
  `Quarantined` with its reason; it never blocks the rest of its page.
- Disappearance is a fact only when it is observed: a tombstone or isDeleted in `changes/zone`,
  or absence from a COMPLETE full scan. Local copies are never touched because of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine import events as ev
from engine.asset import MediaState
from engine.icloud.model import LIVE_VIDEO, RecordProblem, RemoteAsset

_COMPARED_FACTS = (
    "remote_change_tag", "remote_checksum", "declared_size_bytes",
    "live_video_declared_size_bytes", "live_video_checksum", "versions", "filename",
    "filename_status", "item_type", "captured_at_utc", "is_favorite", "is_hidden",
)
"""The remote facts RemoteChanged carries; a difference in any of them is a change."""
_MICRO = 1_000_000
_MILLI = 1000


@dataclass(frozen=True)
class PlannedFact:
    """One event to append for one asset (`record_name` in `zone`)."""

    record_name: str
    event_class: type[ev.AssetEvent]
    facts: dict[str, Any] = field(hash=False)


def remote_facts(remote: RemoteAsset) -> dict[str, Any]:
    """The facts a Discovered/RemoteChanged stores for a parsed remote asset (never its URLs)."""
    original = remote.original
    live = remote.version(LIVE_VIDEO)
    return {
        "filename": remote.filename,
        "filename_status": remote.filename_status,
        "item_type": remote.item_type,
        "declared_size_bytes": original.size_bytes if original else 0,
        "remote_checksum": original.checksum if original else "",
        "live_video_declared_size_bytes": live.size_bytes if live else None,
        "live_video_checksum": live.checksum if live else None,
        "versions": tuple(
            ev.VersionFact(
                key=v.key, size_bytes=v.size_bytes, checksum=v.checksum, file_type=v.file_type
            )
            for v in remote.versions
        ),
        "captured_at_utc": remote.captured_at_utc,
        "remote_change_tag": remote.change_tag,
        "is_favorite": remote.is_favorite,
        "is_hidden": remote.is_hidden,
        "unreadable_resources": tuple(remote.unreadable_resources),
    }


def metadata_facts(remote: RemoteAsset) -> dict[str, Any]:
    """What a MetadataChanged records for a parsed remote asset (positions as integers)."""
    return {
        "title": remote.caption,
        "description": remote.description,
        "keywords": tuple(remote.keywords),
        "latitude_microdeg": _scaled(remote.latitude_deg, _MICRO),
        "longitude_microdeg": _scaled(remote.longitude_deg, _MICRO),
        "altitude_mm": _scaled(remote.altitude_m, _MILLI),
        "orientation": remote.orientation,
        "is_screenshot": remote.is_screenshot,
        "timezone_offset_s": remote.timezone_offset_s,
        "asset_subtype": remote.asset_subtype,
    }


def _scaled(value: float | None, factor: int) -> int | None:
    return None if value is None else round(value * factor)


def known_metadata(state: MediaState) -> dict[str, Any]:
    """The metadata the ledger holds for an asset, in metadata_facts' shape."""
    return {key: getattr(state, key) for key in _METADATA_KEYS}


_METADATA_KEYS = (
    "title", "description", "keywords", "latitude_microdeg", "longitude_microdeg",
    "altitude_mm", "orientation", "is_screenshot", "timezone_offset_s", "asset_subtype",
)


def decide_metadata(known: MediaState | None, remote: RemoteAsset) -> list[PlannedFact]:
    """A MetadataChanged when the remote metadata differs from the ledger's (for a new asset:
    from what its Discovered says, which is only the time zone)."""
    before = known or MediaState(timezone_offset_s=remote.timezone_offset_s)
    facts = metadata_facts(remote)
    if facts == known_metadata(before):
        return []
    return [PlannedFact(remote.record_name, ev.MetadataChanged, facts)]


def discovered_facts(remote: RemoteAsset, album_ids: tuple[str, ...]) -> dict[str, Any]:
    """Everything a first `Discovered` records (identity is added by Asset.discover)."""
    return {
        **remote_facts(remote),
        "master_record_name": remote.master_record_name,
        "kind": remote.kind,
        "added_at_utc": remote.added_at_utc,
        "timezone_offset_s": remote.timezone_offset_s,
        "album_ids": album_ids,
    }


def problem_facts(problem: RecordProblem) -> dict[str, Any]:
    """A Discovered for a record that could not be parsed: identity only, then quarantined."""
    return {
        "master_record_name": problem.master_record_name or "",
        "filename": "",
        "filename_status": "unparsed",
        "kind": "",
        "item_type": "",
        "declared_size_bytes": 0,
        "remote_checksum": "",
        "live_video_declared_size_bytes": None,
        "live_video_checksum": None,
        "versions": (),
        "captured_at_utc": None,
        "added_at_utc": None,
        "timezone_offset_s": None,
        "remote_change_tag": "",
        "is_favorite": False,
        "is_hidden": False,
        "album_ids": (),
    }


def decide_for_remote(
    known: MediaState | None, remote: RemoteAsset, album_ids: tuple[str, ...]
) -> list[PlannedFact]:
    """The facts a listed (alive) remote asset adds to what the ledger knows."""
    name = remote.record_name
    plan: list[PlannedFact] = []
    is_new_version = False
    if known is None:
        plan.append(PlannedFact(name, ev.Discovered, discovered_facts(remote, album_ids)))
    else:
        facts = remote_facts(remote)
        # An older photoledger quarantined undecodable names; the fallback name frees them.
        is_new_version = (
            known.is_remote_deleted
            or known.quarantine_reason == _OLD_NAME_QUARANTINE
            or any(getattr(known, key) != facts[key] for key in _COMPARED_FACTS)
        )
        if is_new_version:
            plan.append(PlannedFact(name, ev.RemoteChanged, facts))
    return plan + decide_metadata(known, remote)


_OLD_NAME_QUARANTINE = "undecodable_filename"


def decide_for_problem(known: MediaState | None, problem: RecordProblem) -> list[PlannedFact]:
    """A record that could not be parsed: record it once and quarantine it with the reason."""
    name = problem.record_name
    plan: list[PlannedFact] = []
    if known is None:
        plan.append(PlannedFact(name, ev.Discovered, problem_facts(problem)))
    elif known.quarantine_reason == problem.reason:
        return plan
    plan.append(PlannedFact(name, ev.Quarantined, {"reason": problem.reason,
                                                   "detail": problem.detail}))
    return plan


def decide_for_deleted(known: MediaState | None, record_name: str, via: str) -> list[PlannedFact]:
    """iCloud says the record is gone (tombstone, isDeleted, or absent from a full scan)."""
    if known is None or known.is_remote_deleted or known.deletion_state == "deleted":
        return []
    return [PlannedFact(record_name, ev.RemoteDeleted, {"observed_via": via})]


def plan_missing_after_full_scan(
    known_alive: Iterable[str], seen: set[str]
) -> list[str]:
    """Record names the ledger holds alive that a complete full scan did not list."""
    return sorted(name for name in known_alive if name not in seen)
