"""Photos list indexes: which assets a list type holds, their rank order, pages and counts.

Invariants:
- An index is a list of entries in rank order; rank r is position r. Asset-date indexes put the
  oldest asset at rank 0 (so pyicloud's DESCENDING Library pager starts at count - 1); the
  added-date index puts the newest addition at rank 0, which is what pyicloud's trailing-window
  pager for `recently_added()` expects. Ties break on recordName, so the order is total.
- ASCENDING from rank r returns ranks r, r+1, ...; DESCENDING returns r, r-1, ... down to 0,
  with r clamped to the last rank. A page holds at most `items` entries. Hence both pyicloud's
  DESCENDING pager (which clamps to rank 0 and may re-ask for it) and a fixed-step ascending
  pager that stops at the first empty page see every entry, and `count` equals the number of
  entries any complete walk yields.
- Indexes are rebuilt lazily when the library's version changes; reads never mutate rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from simulator.icloud.library import PhotoLibraryState, Zone
from simulator.icloud.rows import (
    AssetRow,
    RelationRow,
    Subtype,
    is_live_asset,
    is_video_master,
)

LIBRARY = "library"
DELETED = "deleted"
HIDDEN = "hidden"
ADDED = "added"
BURST = "burst"
SMART = "smart"
CONTAINER = "container"

LIST_TYPES: dict[str, str] = {
    "CPLAssetAndMasterByAssetDateWithoutHiddenOrDeleted": LIBRARY,
    "CPLAssetAndMasterInSmartAlbumByAssetDate": SMART,
    "CPLAssetAndMasterDeletedByExpungedDate": DELETED,
    "CPLAssetAndMasterHiddenByAssetDate": HIDDEN,
    "CPLBurstStackAssetAndMasterByAssetDate": BURST,
    "CPLContainerRelationLiveByAssetDate": CONTAINER,
    "CPLContainerRelationLiveByPosition": CONTAINER,
    "CPLAssetAndMasterByAddedDate": ADDED,
}

COUNT_TYPES: dict[str, str] = {
    "CPLAssetByAssetDateWithoutHiddenOrDeleted": LIBRARY,
    "CPLAssetInSmartAlbumByAssetDate": SMART,
    "CPLAssetDeletedByExpungedDate": DELETED,
    "CPLAssetHiddenByAssetDate": HIDDEN,
    "CPLAssetBurstStackAssetByAssetDate": BURST,
    "CPLContainerRelationNotDeletedByAssetDate": CONTAINER,
}

IndexKey = tuple[str, str]  # (kind, smart album filter or album id or "")


@dataclass(frozen=True, slots=True)
class Entry:
    asset: AssetRow
    relation: RelationRow | None = None


def is_visible(asset: AssetRow) -> bool:
    return not asset.is_hidden and not asset.is_deleted


def _smart_predicate(zone: Zone, smart_filter: str) -> Callable[[AssetRow], bool]:
    subtype_filters = {
        "PANORAMA": Subtype.PANORAMA,
        "SCREENSHOT": Subtype.SCREENSHOT,
        "SLOMO": Subtype.SLOMO,
        "TIMELAPSE": Subtype.TIMELAPSE,
    }
    if smart_filter == "FAVORITE":
        return lambda a: a.is_favorite
    if smart_filter == "VIDEO":
        return lambda a: is_video_master(zone.masters[a.master_name])
    if smart_filter == "LIVE":
        return lambda a: is_live_asset(a, zone.masters[a.master_name])
    wanted = subtype_filters.get(smart_filter)
    return lambda a: wanted is not None and a.subtype == wanted


def build_index(zone: Zone, key: IndexKey) -> list[Entry]:
    kind, argument = key
    assets = zone.assets.values()
    if kind == CONTAINER:
        return _build_container(zone, argument)
    if kind == DELETED:
        rows = sorted(
            (a for a in assets if a.is_deleted), key=lambda a: (a.deleted_at_ms, a.record_name)
        )
    elif kind == HIDDEN:
        rows = sorted((a for a in assets if a.is_hidden and not a.is_deleted), key=_by_asset_date)
    elif kind == ADDED:
        rows = sorted(
            (a for a in assets if is_visible(a)), key=lambda a: (-a.added_date_ms, a.record_name)
        )
    elif kind == SMART:
        wanted = _smart_predicate(zone, argument)
        rows = sorted((a for a in assets if is_visible(a) and wanted(a)), key=_by_asset_date)
    elif kind == LIBRARY:
        rows = sorted((a for a in assets if is_visible(a)), key=_by_asset_date)
    else:
        rows = []
    return [Entry(a) for a in rows]


def _by_asset_date(asset: AssetRow) -> tuple[int, str]:
    return (asset.asset_date_ms, asset.record_name)


def _build_container(zone: Zone, album_id: str) -> list[Entry]:
    entries = []
    for relation in zone.relations.values():
        asset = zone.assets.get(relation.item_id)
        if relation.container_id == album_id and asset is not None and is_visible(asset):
            entries.append(Entry(asset, relation))
    entries.sort(key=lambda e: _by_asset_date(e.asset))
    return entries


def select_page(
    entries: list[Entry], start_rank: int, is_descending: bool, items: int
) -> list[Entry]:
    if not entries or items <= 0:
        return []
    if not is_descending:
        return entries[max(start_rank, 0) : max(start_rank, 0) + items]
    top = min(max(start_rank, 0), len(entries) - 1)
    bottom = max(top - items + 1, 0)
    return entries[bottom : top + 1][::-1]


def decide_count_key(index_count_id: str) -> IndexKey | None:
    """`CPLAssetInSmartAlbumByAssetDate:Favorite` -> (smart, FAVORITE); unknown ids -> None."""
    name, _, argument = index_count_id.partition(":")
    kind = COUNT_TYPES.get(name)
    if kind is None:
        return None
    if kind == SMART:
        return (SMART, argument.upper())
    if kind == CONTAINER:
        return (CONTAINER, argument)
    return (kind, "")


class IndexCache:
    """Indexes per (zone, key), rebuilt when the library's version moves on."""

    def __init__(self, state: PhotoLibraryState) -> None:
        self._state = state
        self._built: dict[tuple[str, IndexKey], tuple[int, list[Entry]]] = {}

    def get(self, zone: Zone, key: IndexKey) -> list[Entry]:
        with self._state.lock:
            version = self._state.version
            cached = self._built.get((zone.name, key))
            if cached is not None and cached[0] == version:
                return cached[1]
            entries = build_index(zone, key)
            if len(self._built) > 64:
                self._built.clear()
            self._built[(zone.name, key)] = (version, entries)
            return entries
