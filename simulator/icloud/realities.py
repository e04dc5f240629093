"""Realities a test switches on in a library: damaged fields and content stored under two records.

Invariants:
- Every function holds the library's lock and changes rows only through PhotoLibraryState's
  own methods, so change tags, change logs and list indexes stay consistent.
- `corrupt_field` damages the record that really carries the field: given an asset's name
  and a field only its master carries (e.g. "resOriginalAltRes"), the master is damaged.
  With `touch` the damaged record takes a new change tag (it changed, as far as a client
  can tell); the generator passes touch=False and a fixed clock so specs stay deterministic.
- `add_content_twin` adds a second asset and master whose URLs serve the first one's stored
  content (same tokens, checksums and fingerprint) while its master declares an original
  `declared_delta_bytes` bigger than the body served: two records, one content, one liar.
"""

from __future__ import annotations

import base64
import hashlib
import uuid

from simulator.icloud.contract import RequestContext
from simulator.icloud.library import PhotoLibraryState, UnknownRecordError, now_ms
from simulator.icloud.malformed import Malformed, MalformHow
from simulator.icloud.records import asset_fields, master_fields
from simulator.icloud.rows import AssetRow, MasterRow

_PROBE = RequestContext(now_s=0.0, url_ttl_s=0.0, dsid="0")  # renders field names only


def corrupt_field(
    state: PhotoLibraryState,
    record_name: str,
    field: str,
    how: MalformHow,
    *,
    touch: bool = True,
) -> str:
    """Serve `field` damaged as `how` from now on; returns the record name that carries it."""
    marker = Malformed(how)
    with state.lock:
        target, is_asset = _field_home(state, record_name, field)
        state.override_fields(target, {field: marker})
        if touch and is_asset:
            state.touch_asset(state.asset(target), now_ms())
        elif touch:
            master = state.master(target)
            assert master is not None  # _field_home found it
            state.touch_master(master, now_ms())
        return target


def _field_home(state: PhotoLibraryState, record_name: str, field: str) -> tuple[str, bool]:
    """(name of the record carrying `field`, whether it is an asset)."""
    master_name = record_name
    if record_name in state.asset_zone:
        asset = state.asset(record_name)
        if field in asset_fields(state, state.zones[asset.zone], asset, _PROBE):
            return record_name, True
        master_name = asset.master_name
    master = state.master(master_name)
    if master is None:
        raise UnknownRecordError(record_name)
    if field not in master_fields(state, state.zones[master.zone], master, _PROBE):
        raise ValueError(f"neither {record_name} nor its master carries a field {field!r}")
    return master.record_name, False


def add_content_twin(
    state: PhotoLibraryState,
    asset_name: str,
    *,
    declared_delta_bytes: int = 4096,
    at_ms: int | None = None,
) -> str:
    """A new asset whose master serves `asset_name`'s content but declares another size."""
    stamp = now_ms() if at_ms is None else at_ms
    with state.lock:
        source = state.asset(asset_name)
        master = state.master(source.master_name)
        if master is None:
            raise UnknownRecordError(source.master_name)
        twin_name = _free_master_name(state, master.record_name)
        sizes = (max(0, master.sizes_bytes[0] + declared_delta_bytes), *master.sizes_bytes[1:])
        twin_master = MasterRow(
            twin_name, master.zone, master.kind, master.filename, sizes, master.width,
            master.height, state.next_tag(), stamp, stamp,
            content_of=master.content_of or master.record_name,
        )  # fmt: skip
        digest = hashlib.blake2b(f"twin-asset|{twin_name}".encode(), digest_size=16).digest()
        twin = AssetRow(
            str(uuid.UUID(bytes=digest, version=4)).upper(), twin_name, source.zone,
            source.asset_date_ms, source.added_date_ms + 1000, source.tz_offset_s,
            state.next_tag(), stamp, stamp, subtype=source.subtype, duration_s=source.duration_s,
        )  # fmt: skip
        state.add_asset(twin, twin_master)
        return twin.record_name


def _free_master_name(state: PhotoLibraryState, source_name: str) -> str:
    for number in range(1000):
        key = f"twin-master|{source_name}|{number}".encode()
        digest = hashlib.blake2b(key, digest_size=20).digest()
        name = base64.b64encode(b"\x01" + digest).decode("ascii")
        if state.master(name) is None:
            return name
    raise ValueError(f"too many twins of {source_name}")
