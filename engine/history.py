"""The history use case: the full audit trail of one asset, as plain values.

Invariants:
- Read-only: the asset's own facts come from the ledger, its albums from the caught-up
  projection; nothing is recorded.
- Each deletion request is judged as `photoledger audit` judges it (engine.cleanup.audit),
  against every stored plan; an asset never asked to be deleted reads no plans.
- Where the asset stands in iCloud is decided by the clock: its bytes still in Recently
  Deleted (until when), freed for good, or back in the Library after a recover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from engine import events as ev
from engine.albums import album_path
from engine.asset import MediaState
from engine.cleanup.audit import DeletionStory, decide_deletion_stories, load_stored_plans
from engine.services import Services
from engine.units import human_bytes
from projections.albums import known_albums
from projections.assets import resolve_asset

_ENVELOPE_FIELDS = frozenset(
    {"originator_id", "originator_version", "timestamp", "run_id", "originator_topic"}
)


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    recorded_at_utc: str
    event: str
    run_id: str | None
    facts: dict[str, Any]


@dataclass(frozen=True)
class AlbumMembership:
    """An album holding the asset; a removed album keeps its last name and has no path."""

    album_id: str
    name: str | None
    path: str | None
    is_removed: bool | None  # None: an album the ledger never saw


@dataclass(frozen=True)
class IcloudStanding:
    """Where the asset stands in iCloud after deletions and recovers."""

    kind: Literal["recently_deleted", "freed_for_good", "recovered"]
    size_bytes: int | None
    recoverable_until_utc: datetime | None
    recovered_at_utc: datetime | None


@dataclass(frozen=True)
class AssetHistory:
    asset_id: UUID
    entries: list[HistoryEntry]  # oldest first
    deletions: list[DeletionStory]
    albums: list[AlbumMembership]
    icloud: IcloudStanding | None  # None: nothing to say


def run_history(services: Services, asset: str) -> AssetHistory:
    """The history of the asset named by an id, an iCloud record name or a local path."""
    asset_id = resolve_asset(services.projection, asset, services.config.library_root)
    events = services.ledger.events_of(asset_id)
    state = services.ledger.get_asset(asset_id).state
    return AssetHistory(
        asset_id=asset_id,
        entries=[_entry(event) for event in events],
        deletions=_deletion_stories(services, events),
        albums=albums_of(services, asset_id),
        icloud=decide_icloud_standing(state, services.clock()),
    )


def _entry(event: Any) -> HistoryEntry:
    return HistoryEntry(
        version=event.originator_version,
        recorded_at_utc=event.timestamp.isoformat(),
        event=type(event).__name__,
        run_id=getattr(event, "run_id", None),
        facts={k: v for k, v in vars(event).items() if k not in _ENVELOPE_FIELDS},
    )


def run_deletion_stories(services: Services, asset_id: UUID) -> list[DeletionStory]:
    """The asset's deletion requests with their evidence, outcome and audit problems."""
    return _deletion_stories(services, services.ledger.events_of(asset_id))


def _deletion_stories(services: Services, events: Sequence[Any]) -> list[DeletionStory]:
    if not any(isinstance(e, ev.DeletionRequested) for e in events):
        return []
    plans = load_stored_plans(services)
    stories, _strays = decide_deletion_stories(events, plans, services.config.settings)
    return stories


def decide_icloud_standing(state: MediaState, now: datetime) -> IcloudStanding | None:
    """Deleted (still recoverable at `now`, or freed for good), recovered, or None."""
    until = state.recoverable_until_utc
    if state.deletion_state == "deleted" and until is not None:
        kind: Literal["recently_deleted", "freed_for_good"] = (
            "recently_deleted" if until > now else "freed_for_good"
        )
        return IcloudStanding(kind, state.icloud_size_bytes, until, None)
    if state.recovered_at_utc is not None and state.deletion_state is None:
        return IcloudStanding("recovered", state.icloud_size_bytes, None, state.recovered_at_utc)
    return None


def albums_of(services: Services, asset_id: UUID) -> list[AlbumMembership]:
    """The albums holding the asset, by path (removed ones last, by id)."""
    state = services.projection.states_of({asset_id.hex}).get(asset_id.hex)
    if state is None:
        return []
    albums = known_albums(services.projection, state.zone)
    found = [
        AlbumMembership(
            album_id=album_id,
            name=known.name if known else None,
            path=album_path(album_id, albums),
            is_removed=known.is_removed if known else None,
        )
        for album_id in state.album_ids
        for known in [albums.get(album_id)]
    ]
    return sorted(found, key=lambda a: (a.path is None, a.path or "", a.album_id))


def albums_words(albums: list[AlbumMembership]) -> str:
    """The album line of `photoledger history` and of the asset page."""
    names = [a.path or f"{a.name or a.album_id} (removed)" for a in albums]
    return "albums: " + (", ".join(names) if names else "none")


def icloud_words(asset_id: UUID, standing: IcloudStanding | None) -> str | None:
    """The iCloud line of `photoledger history` and of the asset page (None: nothing to say)."""
    if standing is None:
        return None
    size = human_bytes(standing.size_bytes)
    until = standing.recoverable_until_utc
    if standing.kind == "recently_deleted" and until is not None:
        return (f"iCloud: deleted; {size} in Recently Deleted until {until:%Y-%m-%d %H:%M} "
                f"UTC (`photoledger recover {asset_id.hex}` brings it back until then)")
    if standing.kind == "freed_for_good" and until is not None:
        return (f"iCloud: deleted; {size} freed for good (Recently Deleted let it go on "
                f"{until:%Y-%m-%d})")
    recovered = standing.recovered_at_utc
    day = f"{recovered:%Y-%m-%d}" if recovered else "an unknown day"
    return (f"iCloud: recovered from Recently Deleted on {day}; "
            "back in the Library (a new deletion passes the whole gate again)")
