"""The `changes/zone` feed as ChangePages: assets added or edited, assets gone, the next token.

Invariants:
- Pages are followed while `moreComing`; an intermediate page with nothing in it is skipped,
  and the last page is yielded whenever its token moved, so the caller can always store the
  newest token. A feed that stops moving its token while claiming more is an error, not a loop.
- Tombstones (deleted records, `recordType` null) and assets flagged isDeleted/isExpunged are
  reported as deleted record names; tombstones of masters or albums may be among them, and a
  caller ignores names it does not know.
- A changed asset whose master is not in the page is completed with `records/lookup`; a
  master that changed alone (no asset in the page) is not reported.
- An expired or rejected token raises SyncTokenExpiredError (ckclient maps Apple's codes).
- Albums and memberships travel with the page: a live CPLAlbum as a RemoteAlbum, one flagged
  isDeleted as a removed album id (a tombstoned album is among the deleted names); a
  CPLContainerRelation as a membership, and its tombstone (`<asset>-IN-<album>`, the only
  name a tombstone keeps) or isDeleted as the asset leaving the album.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from engine.icloud.model import AlbumRelation, ChangePage, RemoteAlbum
from engine.icloud.port import IcloudError
from engine.icloud.queries import changes_body
from engine.icloud.record_fields import envelope_str, flag_value, str_value
from engine.icloud.records import (
    SortedRecords,
    build_assets,
    missing_master_names,
    parse_album,
    sort_records,
)

RELATION_INFIX = "-IN-"  # CPLContainerRelation record names: <asset>-IN-<album>

PostFn = Callable[[str, dict[str, Any]], dict[str, Any]]
LookupFn = Callable[[str, list[str]], list[Any]]


def iter_change_pages(
    post: PostFn, zone: str, sync_token: str, lookup: LookupFn
) -> Iterator[ChangePage]:
    """Every change since `sync_token`, one ChangePage per non-empty page of the feed."""
    current = sync_token
    while True:
        entry = _zone_entry(post("changes/zone", changes_body(zone, current)), zone)
        next_token = entry.get("syncToken")
        if not isinstance(next_token, str) or not next_token:
            raise IcloudError("iCloud answered changes/zone without a sync token")
        more_coming = entry.get("moreComing") is True
        page = build_change_page(zone, entry.get("records"), next_token, more_coming, lookup)
        is_empty = not (
            page.changed or page.deleted_record_names or page.problems
            or page.albums or page.removed_album_ids or page.relations
        )
        if not is_empty or (not more_coming and next_token != sync_token):
            yield page
        if not more_coming:
            return
        if next_token == current:
            raise IcloudError("iCloud's change feed claims more changes but its token did not move")
        current = next_token


def build_change_page(
    zone: str, records: Any, sync_token: str, more_coming: bool, lookup: LookupFn
) -> ChangePage:
    """One ChangePage from the raw records of one feed page."""
    sorted_records = sort_records(zone, records)
    deleted = list(sorted_records.deleted_names)
    live_assets = []
    for asset in sorted_records.assets:
        if _is_gone(asset):
            deleted.append(envelope_str(asset, "recordName") or "")
        else:
            live_assets.append(asset)
    sorted_records.assets = live_assets
    masters = dict(sorted_records.masters)
    missing = missing_master_names(sorted_records)
    if missing:
        masters.update(sort_records(zone, lookup(zone, missing)).masters)
    assets, problems = build_assets(zone, live_assets, masters)
    albums, removed_albums = album_changes(sorted_records)
    deleted_names = tuple(dict.fromkeys(name for name in deleted if name))
    return ChangePage(
        changed=tuple(assets),
        deleted_record_names=deleted_names,
        problems=tuple(sorted_records.problems + problems),
        sync_token=sync_token,
        more_coming=more_coming,
        albums=albums,
        removed_album_ids=removed_albums,
        relations=relation_changes(sorted_records.relations, sorted_records.deleted_names),
    )


def album_changes(sorted_records: SortedRecords) -> tuple[tuple[RemoteAlbum, ...], tuple[str, ...]]:
    """(live albums, names of albums flagged deleted); an unnamed live album is skipped."""
    live: list[RemoteAlbum] = []
    removed: list[str] = []
    for record in sorted_records.albums:
        name = envelope_str(record, "recordName")
        if name is None:
            continue
        if _is_gone(record):
            removed.append(name)
        elif (album := parse_album(record)) is not None:
            live.append(album)
    return tuple(live), tuple(removed)


def relation_changes(records: list[Any], tombstones: list[str]) -> tuple[AlbumRelation, ...]:
    """Memberships added (live relation records) and removed (deleted ones, tombstones)."""
    changes: list[AlbumRelation] = []
    for record in records:
        name = envelope_str(record, "recordName") or ""
        asset_name, _, album_id = name.partition(RELATION_INFIX)
        asset_name = str_value(record, "itemId") or asset_name
        album_id = str_value(record, "containerId") or album_id
        if asset_name and album_id:
            changes.append(AlbumRelation(
                asset_record_name=asset_name, album_id=album_id, is_member=not _is_gone(record)
            ))
    for name in tombstones:
        asset_name, infix, album_id = name.partition(RELATION_INFIX)
        if infix and asset_name and album_id:
            changes.append(
                AlbumRelation(asset_record_name=asset_name, album_id=album_id, is_member=False)
            )
    return tuple(changes)


def _is_gone(asset: dict[str, Any]) -> bool:
    return (
        asset.get("deleted") is True
        or flag_value(asset, "isDeleted")
        or flag_value(asset, "isExpunged")
    )


def _zone_entry(data: dict[str, Any], zone: str) -> dict[str, Any]:
    zones = data.get("zones")
    for entry in zones if isinstance(zones, list) else []:
        zone_id = entry.get("zoneID") if isinstance(entry, dict) else None
        if isinstance(zone_id, dict) and zone_id.get("zoneName") in (zone, None):
            return dict(entry)
    raise IcloudError(f"iCloud answered changes/zone without the zone {zone}")
