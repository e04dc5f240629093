"""The tolerant record parser: CloudKit JSON dicts -> RemoteAsset / RemoteAlbum / RecordProblem.

pyicloud's typed parser refuses a whole page when one record has one malformed field; this one
works record by record.

Invariants:
- A page of records is never lost because of one record: a record that cannot be used becomes
  a RecordProblem with its reason, and every other record is still returned.
- A CPLAsset is joined to its CPLMaster through `masterRef`; two assets sharing one master give
  two RemoteAssets. An asset whose master is absent is reported by `missing_master_names` so the
  caller can look it up, and becomes a "missing_master" problem only if it stays absent.
- Versions are read from the asset record first, then the master (edits live on the asset):
  a prefix with any field on the asset record is read from the asset only, so a malformed
  edit never falls back to a stale render on the master.
- Malformed resources (a field present without a readable `value`, a size that is not an int,
  no checksum, or a non-original without a downloadURL): an original makes the asset a
  "malformed_record" problem; any other resource of RESOURCE_KEYS is left out of `versions`
  and named in `unreadable_resources`; a malformed medium or thumb is only left out.
- Malformed non-resource fields never cost the asset: flags read as 0, dates, time zone and
  caption as None, descriptive metadata as absent (record_metadata), and an undecodable
  filenameEnc as below.
- Albums (CPLAlbum) and memberships (CPLContainerRelation) found among the records are sorted
  out for the change feed; they never become problems.
- Filenames: decoded filenameEnc when readable ("ok"); icloudpd's fallback name when it is
  missing ("missing"); the fallback name plus status "undecodable" when it is present but
  cannot be decoded. The asset is returned in every case; the stage decides what to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from engine.icloud.model import (
    LIVE_VIDEO,
    ORIGINAL,
    RESOURCE_KEYS,
    VERSION_PREFIXES,
    VIDEO_VERSION_PREFIXES,
    RecordProblem,
    RemoteAlbum,
    RemoteAsset,
    RemoteVersion,
    is_video_type,
)
from engine.icloud.record_fields import (
    decode_text,
    envelope_str,
    field_entry,
    fields_of,
    flag_value,
    int_value,
    raw_value,
    reference_name,
    str_value,
    timestamp_utc,
)
from engine.icloud.record_metadata import (
    asset_subtype,
    decode_keywords,
    decode_location,
    decode_orientation,
    is_screenshot,
)

ASSET_TYPE = "CPLAsset"
MASTER_TYPE = "CPLMaster"
ALBUM_TYPE = "CPLAlbum"
RELATION_TYPE = "CPLContainerRelation"
FOLDER_ALBUM_TYPE = 3
RESOURCE_SUFFIXES = ("Res", "FileType", "Fingerprint", "Width", "Height")

_EXTENSION_BY_UTI = {
    "public.heic": "HEIC",
    "public.heif": "HEIF",
    "public.jpeg": "JPG",
    "public.png": "PNG",
    "com.apple.quicktime-movie": "MOV",
    "public.mpeg-4": "MP4",
    "com.adobe.raw-image": "DNG",
    "com.canon.cr2-raw-image": "CR2",
    "com.canon.cr3-raw-image": "CR3",
    "com.canon.crw-raw-image": "CRW",
    "com.sony.arw-raw-image": "ARW",
    "com.fuji.raw-image": "RAF",
    "com.panasonic.rw2-raw-image": "RW2",
    "com.pentax.raw-image": "PEF",
    "com.nikon.raw-image": "NEF",
    "com.nikon.nrw-raw-image": "NRF",
    "com.olympus.raw-image": "ORF",
    "com.compuserve.gif": "GIF",
    "public.tiff": "TIFF",
}


class MalformedRecordError(ValueError):
    """A record lacks something it cannot be used without."""


@dataclass
class SortedRecords:
    """One response's records, sorted by what they are."""

    assets: list[dict[str, Any]] = field(default_factory=list)
    masters: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted_names: list[str] = field(default_factory=list)  # tombstones
    albums: list[dict[str, Any]] = field(default_factory=list)
    relations: list[dict[str, Any]] = field(default_factory=list)
    problems: list[RecordProblem] = field(default_factory=list)


def sort_records(zone: str, records: Any) -> SortedRecords:
    """Split raw records into assets, masters and tombstones; junk becomes problems."""
    out = SortedRecords()
    for record in records if isinstance(records, list) else []:
        name = envelope_str(record, "recordName")
        if name is None:
            out.problems.append(_problem(zone, "<unnamed>", None, "malformed_record", "no name"))
            continue
        if "serverErrorCode" in record:
            code = str(record.get("serverErrorCode"))
            detail = f"{code}: {record.get('reason') or ''}".strip()
            reason = "not_found" if code == "NOT_FOUND" else "record_error"
            out.problems.append(_problem(zone, name, None, reason, detail))
            continue
        kind = record.get("recordType")
        if kind is None and record.get("deleted") is True:
            out.deleted_names.append(name)
        elif kind == ASSET_TYPE:
            out.assets.append(record)
        elif kind == MASTER_TYPE:
            out.masters[name] = record
        elif kind == ALBUM_TYPE:
            out.albums.append(record)
        elif kind == RELATION_TYPE:
            out.relations.append(record)
    return out


def missing_master_names(sorted_records: SortedRecords) -> list[str]:
    """Masters referenced by the page's assets but not present in it (each name once)."""
    wanted: dict[str, None] = {}
    for asset in sorted_records.assets:
        master = reference_name(asset, "masterRef")
        if master is not None and master not in sorted_records.masters:
            wanted[master] = None
    return list(wanted)


def build_assets(
    zone: str, assets: list[dict[str, Any]], masters: dict[str, dict[str, Any]]
) -> tuple[list[RemoteAsset], list[RecordProblem]]:
    """Join each asset to its master; every failure is one problem, never an exception."""
    built: list[RemoteAsset] = []
    problems: list[RecordProblem] = []
    for asset in assets:
        name = envelope_str(asset, "recordName") or "<unnamed>"
        master_name = reference_name(asset, "masterRef")
        master = masters.get(master_name) if master_name else None
        if master_name is None:
            problems.append(_problem(zone, name, None, "malformed_record", "no masterRef"))
        elif master is None:
            problems.append(
                _problem(zone, name, master_name, "missing_master", "master record not found")
            )
        else:
            try:
                built.append(parse_asset(zone, asset, master))
            except (MalformedRecordError, TypeError, ValueError, KeyError, AttributeError) as exc:
                problems.append(_problem(zone, name, master_name, "malformed_record", str(exc)))
    return built, problems


def parse_asset(zone: str, asset: dict[str, Any], master: dict[str, Any]) -> RemoteAsset:
    """One RemoteAsset from a CPLAsset and its CPLMaster."""
    master_name = envelope_str(master, "recordName") or ""
    item_type = str_value(master, "itemType") or str_value(master, "resOriginalFileType") or ""
    filename, filename_status = decode_filename(master, item_type)
    versions, unreadable = parse_versions(asset, master, item_type)
    return RemoteAsset(
        zone=zone,
        record_name=envelope_str(asset, "recordName") or "",
        master_record_name=master_name,
        change_tag=envelope_str(asset, "recordChangeTag") or "",
        master_change_tag=envelope_str(master, "recordChangeTag") or "",
        filename=filename,
        filename_status=filename_status,
        item_type=item_type,
        captured_at_utc=timestamp_utc(asset, "assetDate"),
        added_at_utc=timestamp_utc(asset, "addedDate"),
        timezone_offset_s=int_value(asset, "timeZoneOffset"),
        is_favorite=flag_value(asset, "isFavorite"),
        is_hidden=flag_value(asset, "isHidden"),
        is_deleted=flag_value(asset, "isDeleted") or asset.get("deleted") is True,
        has_location=field_entry(asset, "locationEnc") is not None,
        versions=versions,
        unreadable_resources=unreadable,
        **descriptive_metadata(asset, master),
    )


def descriptive_metadata(asset: dict[str, Any], master: dict[str, Any]) -> dict[str, Any]:
    """The RemoteAsset fields an XMP sidecar records; unreadable ones are absent."""
    caption, _ = decode_text(asset, "captionEnc")
    description, _ = decode_text(asset, "extendedDescEnc")
    position = decode_location(asset)
    lat, lon, alt = position if position is not None else (None, None, None)
    return {
        "caption": caption or None,
        "description": description or None,
        "keywords": decode_keywords(asset),
        "latitude_deg": lat,
        "longitude_deg": lon,
        "altitude_m": alt,
        "orientation": decode_orientation(asset, master),
        "is_screenshot": is_screenshot(asset),
        "asset_subtype": asset_subtype(asset),
    }


def decode_filename(master: dict[str, Any], item_type: str) -> tuple[str, str]:
    """(filename, status): status "ok", "missing" or "undecodable"."""
    text, ok = decode_text(master, "filenameEnc")
    if text:
        return text, "ok"
    return fallback_filename(envelope_str(master, "recordName") or "", item_type), (
        "missing" if ok else "undecodable"
    )


def fallback_filename(master_record_name: str, item_type: str) -> str:
    """icloudpd's name for a master without filenameEnc: 12 chars of its id plus an extension."""
    stem = re.sub(r"[^0-9a-zA-Z]", "_", master_record_name[:12])
    return f"{stem}.{_EXTENSION_BY_UTI.get(item_type, 'unknown')}"


def parse_versions(
    asset: dict[str, Any], master: dict[str, Any], item_type: str
) -> tuple[tuple[RemoteVersion, ...], tuple[str, ...]]:
    """(every readable rendition, the resource keys present but unreadable).

    A malformed original makes the whole asset malformed (MalformedRecordError).
    """
    is_video = is_video_type(item_type)
    versions: list[RemoteVersion] = []
    unreadable: list[str] = []
    for key, image_prefix in VERSION_PREFIXES.items():
        if is_video and key == LIVE_VIDEO:
            continue
        prefix = VIDEO_VERSION_PREFIXES.get(key, image_prefix) if is_video else image_prefix
        source = asset if has_resource_fields(asset, prefix) else master
        if not has_resource_fields(source, prefix):
            continue
        version = parse_version(source, key, prefix, item_type)
        if version is not None:
            versions.append(version)
        elif key == ORIGINAL:
            raise MalformedRecordError(f"{prefix}Res has no usable size or checksum")
        elif key in RESOURCE_KEYS:
            unreadable.append(key)
    return tuple(versions), tuple(unreadable)


def has_resource_fields(record: Any, prefix: str) -> bool:
    """Whether any `<prefix>Res/FileType/...` field is present, readable or not."""
    fields = fields_of(record)
    return any(f"{prefix}{suffix}" in fields for suffix in RESOURCE_SUFFIXES)


def parse_version(record: Any, key: str, prefix: str, item_type: str) -> RemoteVersion | None:
    """One rendition from `<prefix>Res/FileType/Width/Height`, or None when unusable.

    An original without a downloadURL is still usable (a fresh lookup may bring one); any
    other rendition without one is not, as nothing says where its bytes are.
    """
    token = raw_value(record, f"{prefix}Res")
    if not isinstance(token, dict):
        return None
    size = token.get("size")
    checksum = token.get("fileChecksum")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return None
    if not isinstance(checksum, str):
        return None
    url = token.get("downloadURL")
    url = url if isinstance(url, str) and url else None
    if url is None and key != ORIGINAL:
        return None
    default_type = item_type if key == ORIGINAL else ""
    return RemoteVersion(
        key=key,
        size_bytes=size,
        checksum=checksum,
        file_type=str_value(record, f"{prefix}FileType") or default_type,
        download_url=url,
        width=int_value(record, f"{prefix}Width"),
        height=int_value(record, f"{prefix}Height"),
    )


def parse_album(record: Any) -> RemoteAlbum | None:
    """A live user album or folder; None for deleted, unnamed or non-album records."""
    name = envelope_str(record, "recordName")
    if name is None or flag_value(record, "isDeleted") or record.get("deleted") is True:
        return None
    title, _ = decode_text(record, "albumNameEnc")
    if not title:
        return None
    return RemoteAlbum(
        record_name=name,
        name=title,
        parent_id=str_value(record, "parentId") or None,
        is_folder=int_value(record, "albumType") == FOLDER_ALBUM_TYPE,
        change_tag=envelope_str(record, "recordChangeTag") or "",
        position=int_value(record, "position") or 0,
    )


def _problem(
    zone: str, name: str, master_name: str | None, reason: str, detail: str
) -> RecordProblem:
    return RecordProblem(
        zone=zone, record_name=name, master_record_name=master_name, reason=reason, detail=detail
    )
