"""Reading single fields out of raw CloudKit record dicts, never trusting their shape.

Invariants:
- Every reader takes whatever JSON Apple sent (any type, any nesting) and returns either a value
  of the promised Python type or None; none of them raises on a malformed or missing field.
- A field is `fields[<name>] = {"type": ..., "value": ...}`; anything else counts as missing,
  except where a reader says otherwise (decode_text tells missing from unreadable).
- TIMESTAMP values are milliseconds since the epoch (negative before 1970), read as UTC.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def fields_of(record: Any) -> dict[str, Any]:
    """The record's `fields` mapping, or an empty one."""
    fields = record.get("fields") if isinstance(record, dict) else None
    return fields if isinstance(fields, dict) else {}


def field_entry(record: Any, name: str) -> dict[str, Any] | None:
    """The `{type, value}` entry of a field, or None when missing or not a mapping."""
    entry = fields_of(record).get(name)
    return entry if isinstance(entry, dict) and "value" in entry else None


def raw_value(record: Any, name: str) -> Any:
    entry = field_entry(record, name)
    return None if entry is None else entry.get("value")


def int_value(record: Any, name: str) -> int | None:
    """An INT64-like field as int (bools and non-integral numbers are refused)."""
    value = raw_value(record, name)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def flag_value(record: Any, name: str) -> bool:
    """An INT64 0/1 flag; missing or malformed reads as False."""
    value = raw_value(record, name)
    if isinstance(value, bool):
        return value
    return int_value(record, name) not in (None, 0)


def str_value(record: Any, name: str) -> str | None:
    value = raw_value(record, name)
    return value if isinstance(value, str) else None


def timestamp_utc(record: Any, name: str) -> datetime | None:
    """A TIMESTAMP field (ms since the epoch, may be negative) as an aware UTC datetime."""
    millis = raw_value(record, name)
    if isinstance(millis, bool) or not isinstance(millis, int | float):
        return None
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except (OverflowError, ValueError):
        return None


def decode_text(record: Any, name: str) -> tuple[str | None, bool]:
    """(text, ok) for an ENCRYPTED_BYTES (base64 of UTF-8) or STRING field.

    (None, True) when the field is missing or its value is null; (None, False) when it is
    present but cannot be read as text (no `value` key, bad base64, not UTF-8, not a string).
    """
    if name not in fields_of(record):
        return None, True
    entry = field_entry(record, name)
    if entry is None:
        return None, False
    if entry.get("value") is None:
        return None, True
    value = entry.get("value")
    if not isinstance(value, str):
        return None, False
    if entry.get("type") == "STRING":
        text: str | None = value
    else:
        text = _decode_base64_utf8(value)
    if text is None:
        return None, False
    return text, True  # NUL and control characters are the namer's to clean, as icloudpd does


def _decode_base64_utf8(value: str) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def reference_name(record: Any, name: str) -> str | None:
    """The recordName a REFERENCE field points at."""
    value = raw_value(record, name)
    if isinstance(value, dict) and isinstance(value.get("recordName"), str):
        return str(value["recordName"])
    return None


def envelope_str(record: Any, key: str) -> str | None:
    value = record.get(key) if isinstance(record, dict) else None
    return value if isinstance(value, str) else None
