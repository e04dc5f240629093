"""Descriptive metadata of a CPLAsset: keywords, place, orientation, screenshot flag.

These are what an XMP sidecar records (engine.sidecar) and what is lost with the asset when it
is deleted from iCloud. icloudpd's `--xmp-sidecar` reads the same fields.

Invariants:
- Every reader takes raw CloudKit record dicts and returns a value or None (or `()`); none
  raises, whatever the field holds, so a damaged field never costs the asset.
- keywordsEnc is base64 of a property list holding a list of strings; non-strings in it are
  dropped, anything else reads as no keywords.
- locationEnc is base64 of a property list with `lat`, `lon` and optionally `alt`. A position
  is kept only with both coordinates finite and within WGS84's ranges; an altitude only when
  finite and the position is kept.
- Orientation: adjustmentSimpleDataEnc, when it is raw-deflated JSON (Apple also stores a
  binary plist for some videos and a CRDT for drawings there: those are skipped), gives the
  user's rotation as `metadata.orientation`. Without one, the master's own orientation
  counts only when it is not 1 (1 is "as stored", what every reader assumes anyway).
- Decompression is capped (MAX_ADJUSTMENT_BYTES): a hostile field cannot exhaust memory.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import plistlib
import zlib
from typing import Any

from engine.icloud.record_fields import int_value, raw_value

SCREENSHOT_SUBTYPE = 3
MAX_ADJUSTMENT_BYTES = 1 << 20
_NOT_JSON_PREFIXES = (b"crdt", b"bplist00")
_EXIF_ORIENTATIONS = range(1, 9)
Position = tuple[float, float, float | None]


def _decoded_bytes(record: Any, name: str) -> bytes | None:
    value = raw_value(record, name)
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _plist(record: Any, name: str) -> Any:
    data = _decoded_bytes(record, name)
    if data is None:
        return None
    try:
        return plistlib.loads(data)
    except Exception:  # plistlib raises many kinds on damaged input; all mean "unreadable"
        return None


def decode_keywords(asset: Any) -> tuple[str, ...]:
    """The asset's keywords in iCloud's order (empty when missing or unreadable)."""
    value = _plist(asset, "keywordsEnc")
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str) and item)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def decode_location(asset: Any) -> Position | None:
    """(latitude, longitude, altitude or None) from locationEnc, or None."""
    value = _plist(asset, "locationEnc")
    if not isinstance(value, dict):
        return None
    lat, lon = _number(value.get("lat")), _number(value.get("lon"))
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    return lat, lon, _number(value.get("alt"))


def decode_orientation(asset: Any, master: Any) -> int | None:
    """The EXIF orientation to state: the user's rotation, else the master's when not 1."""
    adjusted = _adjustment_orientation(asset)
    if adjusted is not None:
        return adjusted
    for name in ("originalOrientation", "orientation"):
        own = int_value(master, name)
        if own in _EXIF_ORIENTATIONS:
            return None if own == 1 else own
    return None


def _adjustment_orientation(asset: Any) -> int | None:
    data = _decoded_bytes(asset, "adjustmentSimpleDataEnc")
    if data is None or data.startswith(_NOT_JSON_PREFIXES):
        return None
    try:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        text = inflater.decompress(data, MAX_ADJUSTMENT_BYTES)
        adjustments = json.loads(text)
    except (zlib.error, ValueError):
        return None
    metadata = adjustments.get("metadata") if isinstance(adjustments, dict) else None
    value = metadata.get("orientation") if isinstance(metadata, dict) else None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if value in _EXIF_ORIENTATIONS else None


SMART_SUBTYPES = (1, 3, 101, 102)  # panorama, screenshot, slo-mo, time-lapse


def asset_subtype(asset: Any) -> int | None:
    """assetSubtypeV2 when it names a smart album only it tells (panorama 1, screenshot 3,
    slo-mo 101, time-lapse 102); None otherwise (a live photo is told by its video)."""
    value = int_value(asset, "assetSubtypeV2")
    return value if value in SMART_SUBTYPES else None


def is_screenshot(asset: Any) -> bool:
    """assetSubtypeV2 says screenshot (3)."""
    return int_value(asset, "assetSubtypeV2") == SCREENSHOT_SUBTYPE
