"""`records/modify`: adding to albums, creating albums, deleting, favoriting, with change tags.

Invariants:
- Every operation is checked before any is applied. With `atomic: true`, one rejected
  operation rejects the batch: the failing record carries its own serverErrorCode and every
  other record `ATOMIC_ERROR`, and nothing changes. Without it, the good operations apply.
- Rejections come back in a 200 answer as per-record entries {recordName, serverErrorCode,
  reason}, as CloudKit does; the top level never carries reason/error keys.
- `update` and `delete` with a recordChangeTag that is not the record's current one (or with no
  tag on an update) are rejected with CONFLICT; `forceUpdate`/`forceDelete` skip the check.
- A `create` of a name that exists is rejected with EXISTS (adding a photo twice to an album).
- isDeleted=1 on a CPLAsset is the soft delete (Recently Deleted); isDeleted=0 on a deleted one
  is the "Recover" (back in the Library, new change tag, a change in changes/zone), with the
  same CONFLICT rule; isExpunged=1 or a delete operation on a CPLAsset is the hard delete (a
  tombstone in changes/zone). Any write to a purged or expunged asset is NOT_FOUND.
- Deletions are stamped on the library's simulated clock (retention.py), not the request's, so
  the 30 days of Recently Deleted and the purge agree whoever drives the server's clock.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.icloud.contract import RequestContext
from simulator.icloud.library import ALBUM, ASSET, RELATION, PhotoLibraryState, Zone
from simulator.icloud.records import Record, render_by_name, tombstone
from simulator.icloud.rows import AlbumRow, RelationRow

Apply = Callable[[], Record]
CREATE_OPS = frozenset({"create"})
UPDATE_OPS = frozenset({"update", "forceUpdate", "replace", "forceReplace"})
DELETE_OPS = frozenset({"delete", "forceDelete"})


@dataclass(frozen=True)
class Rejection:
    record_name: str
    code: str
    reason: str

    def entry(self) -> Record:
        return {"recordName": self.record_name, "serverErrorCode": self.code, "reason": self.reason}


def _field_values(record: dict[str, Any]) -> dict[str, Any]:
    fields = record.get("fields") or {}
    return {
        name: (wrapper.get("value") if isinstance(wrapper, dict) else wrapper)
        for name, wrapper in fields.items()
    }


def _current_tag(zone: Zone, record_type: str, name: str) -> str | None:
    tables: dict[str, dict[str, Any]] = {
        ASSET: zone.assets,
        ALBUM: zone.albums,
        RELATION: zone.relations,
    }
    row = tables.get(record_type, {}).get(name)
    return str(row.change_tag) if row is not None else None


def execute_modify(
    state: PhotoLibraryState, zone: Zone, body: dict[str, Any], ctx: RequestContext
) -> Record:
    operations: list[dict[str, Any]] = list(body.get("operations") or [])
    planned: list[Apply | Rejection] = [plan_operation(state, zone, op, ctx) for op in operations]
    rejected = any(isinstance(p, Rejection) for p in planned)
    if rejected and body.get("atomic"):
        return {
            "records": [_atomic_entry(p, op) for p, op in zip(planned, operations, strict=True)]
        }
    records = [p.entry() if isinstance(p, Rejection) else p() for p in planned]
    return {"records": records}


def _atomic_entry(planned: Apply | Rejection, op: dict[str, Any]) -> Record:
    if isinstance(planned, Rejection):
        return planned.entry()
    name = str((op.get("record") or {}).get("recordName", ""))
    return Rejection(
        name, "ATOMIC_ERROR", "Atomic failure: another record in the batch failed"
    ).entry()


def plan_operation(  # noqa: PLR0911
    state: PhotoLibraryState, zone: Zone, op: dict[str, Any], ctx: RequestContext
) -> Apply | Rejection:
    kind = str(op.get("operationType", ""))
    record = op.get("record") or {}
    name = str(record.get("recordName") or "")
    record_type = str(record.get("recordType") or "")
    if not name:
        return Rejection(name, "BAD_REQUEST", "missing recordName")
    if kind in CREATE_OPS:
        return _plan_create(state, zone, name, record_type, _field_values(record), ctx)
    current = _current_tag(zone, record_type, name)
    if current is None:
        return Rejection(name, "NOT_FOUND", "record not found")
    sent_tag = record.get("recordChangeTag")
    must_match = kind in ("update", "replace") or (kind == "delete" and sent_tag is not None)
    if must_match and sent_tag != current:
        return Rejection(name, "CONFLICT", "oplock error: record was changed since it was fetched")
    if kind in UPDATE_OPS:
        return _plan_update(state, zone, name, record_type, _field_values(record), ctx)
    if kind in DELETE_OPS:
        return _plan_delete(state, zone, name, record_type)
    return Rejection(name, "BAD_REQUEST", f"unknown operationType {kind!r}")


def _plan_create(  # noqa: PLR0917
    state: PhotoLibraryState,
    zone: Zone,
    name: str,
    record_type: str,
    values: dict[str, Any],
    ctx: RequestContext,
) -> Apply | Rejection:
    if name in zone.relations or name in zone.albums or name in zone.assets or name in zone.masters:
        return Rejection(name, "EXISTS", "record to insert already exists")
    stamp = int(ctx.now_s * 1000)
    if record_type == RELATION:
        item_id, container_id = str(values.get("itemId", "")), str(values.get("containerId", ""))
        if item_id not in zone.assets or container_id not in zone.albums:
            return Rejection(
                name, "VALIDATING_REFERENCE_ERROR", "itemId or containerId names no record"
            )
        relation = RelationRow(
            name,
            zone.name,
            item_id,
            container_id,
            int(values.get("position") or 0),
            state.next_tag(),
            stamp,
            stamp,
        )
        return lambda: _applied(
            state, zone, RELATION, name, ctx, lambda: state.put_relation(relation)
        )
    if record_type == ALBUM:
        album_name = _decode_name(values.get("albumNameEnc"))
        if album_name is None:
            return Rejection(name, "BAD_REQUEST", "albumNameEnc is not base64 UTF-8")
        album = AlbumRow(
            name,
            zone.name,
            album_name,
            int(values.get("albumType") or 0),
            int(values.get("position") or 0),
            state.next_tag(),
            stamp,
            stamp,
            parent_id=values.get("parentId"),
            sort_ascending=int(values.get("sortAscending", 1)),
        )
        return lambda: _applied(state, zone, ALBUM, name, ctx, lambda: state.put_album(album))
    return Rejection(name, "BAD_REQUEST", f"records of type {record_type!r} cannot be created here")


def _decode_name(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _applied(  # noqa: PLR0917
    state: PhotoLibraryState,
    zone: Zone,
    record_type: str,
    name: str,
    ctx: RequestContext,
    change: Callable[[], None],
) -> Record:
    change()
    return render_by_name(state, zone, record_type, name, ctx) or tombstone(zone, name)


def _plan_update(  # noqa: PLR0917
    state: PhotoLibraryState,
    zone: Zone,
    name: str,
    record_type: str,
    values: dict[str, Any],
    ctx: RequestContext,
) -> Apply | Rejection:
    stamp = int(ctx.now_s * 1000)
    if record_type == ASSET:
        return lambda: _applied(
            state, zone, ASSET, name, ctx, lambda: _update_asset(state, zone, name, values, stamp)
        )
    if record_type == ALBUM:
        if "albumNameEnc" in values and _decode_name(values["albumNameEnc"]) is None:
            return Rejection(name, "BAD_REQUEST", "albumNameEnc is not base64 UTF-8")
        return lambda: _applied(
            state, zone, ALBUM, name, ctx, lambda: _update_album(state, zone, name, values, stamp)
        )
    return Rejection(name, "BAD_REQUEST", f"records of type {record_type!r} are read-only here")


def _update_asset(
    state: PhotoLibraryState, zone: Zone, name: str, values: dict[str, Any], stamp: int
) -> None:
    if int(values.get("isExpunged") or 0) == 1:
        state.expunge_asset(name)
        return
    asset = zone.assets[name]
    if "isDeleted" in values:
        state.set_deleted(asset, bool(int(values["isDeleted"] or 0)))
    if "isFavorite" in values:
        asset.is_favorite = bool(int(values["isFavorite"] or 0))
    if "isHidden" in values:
        asset.is_hidden = bool(int(values["isHidden"] or 0))
    state.touch_asset(asset, stamp)


def _update_album(
    state: PhotoLibraryState, zone: Zone, name: str, values: dict[str, Any], stamp: int
) -> None:
    album = zone.albums[name]
    if "albumNameEnc" in values:
        album.name = _decode_name(values["albumNameEnc"]) or album.name
    if "isDeleted" in values:
        album.is_deleted = bool(int(values["isDeleted"] or 0))
    if "position" in values:
        album.position = int(values["position"] or 0)
    if "sortAscending" in values:
        album.sort_ascending = int(values["sortAscending"] or 0)
    state.touch_album(album, stamp)


def _plan_delete(
    state: PhotoLibraryState, zone: Zone, name: str, record_type: str
) -> Apply | Rejection:
    if record_type == RELATION:
        return lambda: _deleted(zone, name, lambda: state.remove_relation(zone, name))
    if record_type == ASSET:
        return lambda: _deleted(zone, name, lambda: state.expunge_asset(name))
    return Rejection(name, "BAD_REQUEST", f"records of type {record_type!r} cannot be deleted here")


def _deleted(zone: Zone, name: str, change: Callable[[], None]) -> Record:
    change()
    return {"recordName": name, "deleted": True, "zoneID": zone.zone_id()}
