"""Rendering library rows as CloudKit records, in the shapes Apple's Photos container sends.

Invariants:
- Every field is `{"type": ..., "value": ...}` with a type pyicloud's typed parser knows
  (INT64, STRING, TIMESTAMP, ENCRYPTED_BYTES, REFERENCE, ASSETID); text meant to be encrypted
  (filenameEnc, captionEnc, extendedDescEnc, albumNameEnc, locationEnc, keywordsEnc,
  adjustmentSimpleDataEnc) is ENCRYPTED_BYTES, i.e. base64: keywords and places as binary
  property lists, a rotation as raw-deflated JSON (`{"metadata": {"orientation": n}}`), as
  Apple stores them.
- A master's downloadURLs are made per response and expire at ctx.now_s + ctx.url_ttl_s.
- The original's fingerprint equals the master's recordName while the content is unchanged,
  as in real data where the master name is derived from the original's checksum.
- Rendering a master that carries an armed checksum fault marks it as listed (library.py).
- A master with `content_of` renders the other master's tokens, checksums and fingerprint
  (the same stored content) with its own declared sizes.
- Edits render on the asset: resJPEGFull whenever edit_rev > 0, resVidFull when it also has
  an edited video size; both carry edit_rev as their content revision.
- A test's field overrides (raw values, removals, Malformed damage) are applied last.
"""

from __future__ import annotations

import base64
import json
import plistlib
import zlib
from typing import Any

from simulator.icloud.blobs import content_token, download_url, file_checksum, wrapping_key
from simulator.icloud.contract import RequestContext
from simulator.icloud.library import ALBUM, ASSET, MASTER, RELATION, PhotoLibraryState, Zone
from simulator.icloud.malformed import apply_overrides
from simulator.icloud.rows import (
    JPEG,
    JPEG_FULL,
    LIVE_VIDEO,
    MEDIA_KINDS,
    ORIGINAL,
    QUICKTIME,
    VID_FULL,
    AlbumRow,
    AssetRow,
    MasterRow,
    RelationRow,
    Subtype,
)

Record = dict[str, Any]


def typed(type_name: str, value: object) -> dict[str, object]:
    return {"type": type_name, "value": value}


def encrypted_text(text: str) -> dict[str, object]:
    return typed("ENCRYPTED_BYTES", base64.b64encode(text.encode("utf-8")).decode("ascii"))


def envelope(
    zone: Zone, record_type: str, row: AssetRow | MasterRow | AlbumRow | RelationRow
) -> Record:
    owner = zone.owner_record_name
    return {
        "recordName": row.record_name,
        "recordType": record_type,
        "fields": {},
        "pluginFields": {},
        "recordChangeTag": row.change_tag,
        "created": {"timestamp": row.created_ms, "userRecordName": owner, "deviceID": "2"},
        "modified": {"timestamp": row.modified_ms, "userRecordName": owner, "deviceID": "2"},
        "deleted": False,
        "zoneID": zone.zone_id(),
    }


def tombstone(zone: Zone, name: str) -> Record:
    return {"recordName": name, "recordType": None, "deleted": True, "zoneID": zone.zone_id()}


def _resource_fields(  # noqa: PLR0917
    state: PhotoLibraryState,
    zone: Zone,
    ctx: RequestContext,
    owner: str,
    prefix: str,
    rev: int,
    file_type: str,
    size_bytes: int,
    dims: tuple[int, int],
) -> dict[str, object]:
    checksum = file_checksum(state.seed, owner, prefix, rev)
    key = wrapping_key(state.seed, owner, prefix)
    token = content_token(owner, prefix, rev)
    asset_token = {
        "fileChecksum": checksum,
        "size": size_bytes,
        "wrappingKey": key,
        "referenceChecksum": checksum[:-4] + "AAAA",
        "downloadURL": download_url(token, ctx, zone_name=zone.name, key=key),
    }
    fingerprint = owner if prefix == ORIGINAL and rev == 0 else checksum
    return {
        f"{prefix}Res": typed("ASSETID", asset_token),
        f"{prefix}FileType": typed("STRING", file_type),
        f"{prefix}Fingerprint": typed("STRING", fingerprint),
        f"{prefix}Width": typed("INT64", dims[0]),
        f"{prefix}Height": typed("INT64", dims[1]),
    }


def render_master(
    state: PhotoLibraryState, zone: Zone, master: MasterRow, ctx: RequestContext
) -> Record:
    if master.record_name in state.checksum_armed:
        state.note_listed(master.record_name)
    record = envelope(zone, MASTER, master)
    record["fields"] = _overridden(
        state, master.record_name, master_fields(state, zone, master, ctx)
    )
    return record


def master_fields(
    state: PhotoLibraryState, zone: Zone, master: MasterRow, ctx: RequestContext
) -> dict[str, object]:
    """A master's own fields, before any override (no side effect, unlike render_master)."""
    kind = MEDIA_KINDS[master.kind]
    stored = zone.masters.get(master.content_of or "", master)  # whose bytes the URLs serve
    fields: dict[str, object] = {
        "itemType": typed("STRING", kind.item_type),
        "originalOrientation": typed("INT64", 1),
        "dataClassType": typed("INT64", 2 if kind.is_movie else 1),
        "isExpunged": typed("INT64", 0),
    }
    if master.filename_wire is not None:
        fields["filenameEnc"] = typed("ENCRYPTED_BYTES", master.filename_wire)
    elif master.filename is not None:
        fields["filenameEnc"] = encrypted_text(master.filename)
    for spec, size in zip(kind.resources, master.sizes_bytes, strict=True):
        dims = (max(1, int(master.width * spec.scale)), max(1, int(master.height * spec.scale)))
        owner, rev = stored.record_name, stored.content_rev
        fields |= _resource_fields(
            state, zone, ctx, owner, spec.prefix, rev, spec.file_type, size, dims
        )
    return fields


def _overridden(
    state: PhotoLibraryState, record_name: str, fields: dict[str, object]
) -> dict[str, object]:
    """The fields with a test's overrides applied (see PhotoLibraryState.override_fields)."""
    overrides = state.field_overrides.get(record_name)
    return apply_overrides(fields, overrides) if overrides else fields


def _location_value(latitude: float, longitude: float) -> str:
    plist = {
        "lat": latitude,
        "lon": longitude,
        "alt": 35.0,
        "speed": 0.0,
        "course": -1.0,
        "hacc": 5.0,
    }
    return base64.b64encode(plistlib.dumps(plist, fmt=plistlib.FMT_BINARY)).decode("ascii")


def _keywords_value(keywords: tuple[str, ...]) -> str:
    data = plistlib.dumps(list(keywords), fmt=plistlib.FMT_BINARY)
    return base64.b64encode(data).decode("ascii")


def _rotation_value(orientation: int) -> str:
    text = json.dumps({"metadata": {"orientation": orientation}, "formatVersion": 1})
    deflater = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    data = deflater.compress(text.encode()) + deflater.flush()
    return base64.b64encode(data).decode("ascii")


def _described_fields(asset: AssetRow) -> dict[str, object]:
    """Caption, description, keywords, place and rotation, for those the asset has."""
    fields: dict[str, object] = {}
    if asset.caption is not None:
        fields["captionEnc"] = encrypted_text(asset.caption)
    if asset.description is not None:
        fields["extendedDescEnc"] = encrypted_text(asset.description)
    if asset.keywords:
        fields["keywordsEnc"] = typed("ENCRYPTED_BYTES", _keywords_value(asset.keywords))
    if asset.location is not None:
        fields["locationEnc"] = typed("ENCRYPTED_BYTES", _location_value(*asset.location))
    if asset.rotation is not None:
        fields["adjustmentSimpleDataEnc"] = typed(
            "ENCRYPTED_BYTES", _rotation_value(asset.rotation)
        )
    return fields


def render_asset(
    state: PhotoLibraryState, zone: Zone, asset: AssetRow, ctx: RequestContext
) -> Record:
    record = envelope(zone, ASSET, asset)
    record["fields"] = _overridden(state, asset.record_name, asset_fields(state, zone, asset, ctx))
    return record


def asset_fields(
    state: PhotoLibraryState, zone: Zone, asset: AssetRow, ctx: RequestContext
) -> dict[str, object]:
    """An asset's own fields, before any override."""
    fields: dict[str, object] = {
        "masterRef": typed(
            "REFERENCE",
            {"recordName": asset.master_name, "action": "DELETE_SELF", "zoneID": zone.zone_id()},
        ),
        "assetDate": typed("TIMESTAMP", asset.asset_date_ms),
        "addedDate": typed("TIMESTAMP", asset.added_date_ms),
        "timeZoneOffset": typed("INT64", asset.tz_offset_s),
        "isFavorite": typed("INT64", int(asset.is_favorite)),
        "isHidden": typed("INT64", int(asset.is_hidden)),
        "isDeleted": typed("INT64", int(asset.is_deleted)),
        "isExpunged": typed("INT64", int(asset.is_expunged)),
        "orientation": typed("INT64", 1),
    }
    if asset.subtype is not Subtype.NONE:
        fields["assetSubtypeV2"] = typed("INT64", int(asset.subtype))
    if asset.duration_s:
        fields["duration"] = typed("INT64", asset.duration_s)
    fields |= _described_fields(asset)
    if asset.edit_rev > 0:
        fields.update(_adjusted_fields(state, zone, asset, ctx))
    return fields


def _adjusted_fields(
    state: PhotoLibraryState, zone: Zone, asset: AssetRow, ctx: RequestContext
) -> dict[str, object]:
    master = zone.masters.get(asset.master_name)
    dims = (master.width, master.height) if master is not None else (1, 1)
    name, rev = asset.record_name, asset.edit_rev
    fields = _resource_fields(
        state, zone, ctx, name, JPEG_FULL, rev, JPEG, asset.adjusted_size_bytes, dims
    )
    if asset.adjusted_video_size_bytes > 0:
        video_dims = dims if master is None else video_render_dims(master)
        size = asset.adjusted_video_size_bytes
        fields |= _resource_fields(
            state, zone, ctx, name, VID_FULL, rev, QUICKTIME, size, video_dims
        )
    fields["adjustmentType"] = typed("STRING", "com.apple.photo")
    fields["adjustmentRenderType"] = typed("INT64", 0)
    return fields


def video_render_dims(master: MasterRow) -> tuple[int, int]:
    """An edited video's size: the movie's own, or a live photo's video half."""
    scale = next(
        (s.scale for s in MEDIA_KINDS[master.kind].resources if s.prefix == LIVE_VIDEO), 1.0
    )
    return max(1, int(master.width * scale)), max(1, int(master.height * scale))


def render_album(zone: Zone, album: AlbumRow) -> Record:
    record = envelope(zone, ALBUM, album)
    fields: dict[str, object] = {
        "albumNameEnc": encrypted_text(album.name),
        "albumType": typed("INT64", album.album_type),
        "isDeleted": typed("INT64", int(album.is_deleted)),
        "isExpunged": typed("INT64", 0),
        "position": typed("INT64", album.position),
        "sortAscending": typed("INT64", album.sort_ascending),
        "sortType": typed("INT64", 1),
        "recordModificationDate": typed("TIMESTAMP", album.modified_ms),
    }
    if album.parent_id is not None:
        fields["parentId"] = typed("STRING", album.parent_id)
    record["fields"] = fields
    return record


def render_relation(zone: Zone, relation: RelationRow) -> Record:
    record = envelope(zone, RELATION, relation)
    record["fields"] = {
        "itemId": typed("STRING", relation.item_id),
        "containerId": typed("STRING", relation.container_id),
        "position": typed("INT64", relation.position),
        "isKeyAsset": typed("INT64", 0),
    }
    return record


def render_by_name(
    state: PhotoLibraryState, zone: Zone, record_type: str, name: str, ctx: RequestContext
) -> Record | None:
    """The current record of that type and name, or None when it no longer exists."""
    if record_type == ASSET and name in zone.assets:
        return render_asset(state, zone, zone.assets[name], ctx)
    if record_type == MASTER and name in zone.masters:
        return render_master(state, zone, zone.masters[name], ctx)
    if record_type == ALBUM and name in zone.albums:
        return render_album(zone, zone.albums[name])
    if record_type == RELATION and name in zone.relations:
        return render_relation(zone, zone.relations[name])
    return None


def find_record(
    state: PhotoLibraryState, zone: Zone, name: str, ctx: RequestContext
) -> Record | None:
    for record_type in (ASSET, MASTER, ALBUM, RELATION):
        record = render_by_name(state, zone, record_type, name, ctx)
        if record is not None:
            return record
    return None
