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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from engine.icloud.model import ChangePage
from engine.icloud.port import IcloudError
from engine.icloud.queries import changes_body
from engine.icloud.record_fields import envelope_str, flag_value
from engine.icloud.records import build_assets, missing_master_names, sort_records

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
        is_empty = not (page.changed or page.deleted_record_names or page.problems)
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
    return ChangePage(
        changed=tuple(assets),
        deleted_record_names=tuple(dict.fromkeys(name for name in deleted if name)),
        problems=tuple(sorted_records.problems + problems),
        sync_token=sync_token,
        more_coming=more_coming,
    )


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
