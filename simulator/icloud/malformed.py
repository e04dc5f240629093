"""Damaged field values, as a record might carry them: the shapes a tolerant parser must survive.

Invariants:
- A `Malformed` marker stands in `PhotoLibraryState.field_overrides` like any raw override,
  but is applied at render time to the field the record would otherwise carry, so a damaged
  resource keeps its fresh downloadURL, size and checksum where the damage leaves them.
- Damage never invents a field: a marker on a field the record does not carry leaves it absent.
- Every damaged value keeps the `type` key, so only the value is wrong.

Kinds of damage (`how`):
  bad_value_key    {"type": T, "BADvalue": v} instead of {"type": T, "value": v}
  wrong_value_type {"type": T, "value": ["?"]}: a value of the wrong JSON type
  size_not_int     an ASSETID whose size is text ("1234 bytes")
  no_size          an ASSETID without size
  no_download_url  an ASSETID without downloadURL
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

MalformHow = Literal[
    "bad_value_key", "wrong_value_type", "size_not_int", "no_size", "no_download_url"
]
MALFORM_KINDS: tuple[str, ...] = get_args(MalformHow)


@dataclass(frozen=True)
class Malformed:
    """Serve the record's own value of this field, damaged as `how` says."""

    how: MalformHow

    def __post_init__(self) -> None:
        if self.how not in MALFORM_KINDS:
            raise ValueError(f"unknown damage {self.how!r}; one of {', '.join(MALFORM_KINDS)}")

    def apply(self, field: Any) -> Any:
        """The damaged field, or None (left out) when the record does not carry it."""
        if not isinstance(field, dict):
            return None
        kind, value = field.get("type"), field.get("value")
        if self.how == "bad_value_key":
            return {"type": kind, "BADvalue": value}
        if self.how == "wrong_value_type":
            return {"type": kind, "value": ["?"]}
        token = dict(value) if isinstance(value, dict) else {}
        if self.how == "size_not_int":
            token["size"] = f"{token.get('size', 0)} bytes"
        elif self.how == "no_size":
            token.pop("size", None)
        else:
            token.pop("downloadURL", None)
        return {"type": kind, "value": token}


def apply_overrides(
    fields: dict[str, object], overrides: dict[str, object | None]
) -> dict[str, object]:
    """The fields with overrides applied: raw values replace, None removes, Malformed damages."""
    changed = dict(fields)
    for name, override in overrides.items():
        value = override.apply(fields.get(name)) if isinstance(override, Malformed) else override
        if value is None:
            changed.pop(name, None)
        else:
            changed[name] = value
    return changed
