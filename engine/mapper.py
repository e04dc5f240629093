"""Mapping between event objects and stored bytes: compact positional msgpack, JSON still read.

Invariants:
- The stored state is a positional msgpack array (engine.codec): `[class_version, value, ...]`
  in the event class's field order, without `originator_id` and `originator_version` (the
  store keeps them in columns). Why: size. The store costs ~104 bytes per event before any
  payload, and field names, hex text and ISO timestamps made the JSON payloads 2-4 times
  larger than their information; the ledger target is <= 250 bytes per event.
- Rows written before this encoding are compact JSON objects (they start with `{`; a msgpack
  array never does) and are read as before: typed, with `class_version` inside the object
  when above 1. Both kinds may sit in one ledger; every reader accepts both.
- Decoding is typed per event class: datetimes come back as aware UTC datetimes, hex values
  as lower-case str, nested facts as tuples of VersionFact/LocalFileFact. A payload of an
  older class_version is decoded untyped into a dict of field names -> values (positional
  rows name their fields through the class's `stored_fields_vN` tuple), passed through the
  class's `upcast_vN_vN+1` static methods in order, then converted to the current type.
- Anything that cannot be decoded raises `MapperDeserialisationError`; callers map it to
  "ledger damaged", never skip it.
- By hand: `photoledger history ASSET --json` prints one asset's facts with their names;
  `decode_row(topic, state)` turns any stored row into a plain dict (JSON-ready values) for
  tools. DuckDB and notebooks read the projections, never the ledger's bytes.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from functools import cache
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import (
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
)
from eventsourcing.utils import get_topic, resolve_topic

from engine import events as ev
from engine.asset import Asset, SyncRun
from engine.codec import STORE_COLUMNS, PositionalCodec, build_positional_codec
from engine.errors import LedgerDamagedError
from engine.events import TOPICS

JSON_OBJECT_START = ord("{")
# A created event's originator_topic is its aggregate's topic; it is not stored when it is this.
DEFAULT_ORIGINATOR_TOPICS: dict[type[Any], str] = {
    ev.Discovered: get_topic(Asset),
    ev.RunStarted: get_topic(SyncRun),
}
_untyped_json_decoder = msgspec.json.Decoder()


class UndecodableEventError(LedgerDamagedError, MapperDeserialisationError):
    """A stored event cannot be decoded: the ledger is damaged (or written by a newer version)."""


def upcast(event_class: type[Any], version: int, state: dict[str, Any]) -> dict[str, Any]:
    """Run the class's upcasters from `version` to its current class_version, in place."""
    current = getattr(event_class, "class_version", 1)
    if version > current:
        raise msgspec.ValidationError(
            f"stored class_version {version} is newer than this photoledger's ({current})"
        )
    while version < current:
        getattr(event_class, f"upcast_v{version}_v{version + 1}")(state)
        version += 1
    return state


@dataclasses.dataclass(frozen=True)
class PayloadCodec:
    """The typed msgspec struct and decoders for one event class's stored state."""

    event_class: type[Any]
    struct_type: type[msgspec.Struct]  # the named shape (JSON rows, upcast results)
    decoder: msgspec.json.Decoder[Any]
    class_version: int
    positional: PositionalCodec

    def decode(self, data: bytes) -> msgspec.Struct:
        """Decode stored bytes (positional msgpack or legacy JSON) into the current shape."""
        if data[0] == JSON_OBJECT_START:
            return self._decode_json(data)
        try:
            return self.positional.decoder.decode(data)  # type: ignore[no-any-return]
        except msgspec.ValidationError as exc:
            # an older class_version (the array's tag differs): named and upcast below
            version, state = self.positional.decode_past(data, exc)
        return self._convert(upcast(self.event_class, version, state))

    def _decode_json(self, data: bytes) -> msgspec.Struct:
        try:
            payload: msgspec.Struct = self.decoder.decode(data)
            if getattr(payload, "class_version", 1) == self.class_version:
                return payload
        except msgspec.ValidationError:
            pass  # an older shape: upcast below
        state = _untyped_json_decoder.decode(data)
        if not isinstance(state, dict):
            raise msgspec.ValidationError("stored state is not an object")
        version = int(state.pop("class_version", 1))
        return self._convert(upcast(self.event_class, version, state))

    def _convert(self, state: dict[str, Any]) -> msgspec.Struct:
        state["class_version"] = self.class_version
        return msgspec.convert(state, self.struct_type)


@cache
def codec_for(event_class: type[Any]) -> PayloadCodec:
    """Build (once per class) the typed codecs for an event class's stored state."""
    hints = typing.get_type_hints(event_class)
    fields: list[tuple[str, Any, Any]] = [
        (f.name, hints[f.name], msgspec.NODEFAULT)
        for f in dataclasses.fields(event_class)
        if f.name not in STORE_COLUMNS
    ]
    fields.append(("class_version", int, 1))
    struct_type = msgspec.defstruct(
        event_class.__name__ + "Payload", fields, kw_only=True, omit_defaults=False
    )
    return PayloadCodec(
        event_class=event_class,
        struct_type=struct_type,
        decoder=msgspec.json.Decoder(struct_type),
        class_version=getattr(event_class, "class_version", 1),
        positional=build_positional_codec(event_class, DEFAULT_ORIGINATOR_TOPICS.get(event_class)),
    )


def topic_of(event_class: type[Any]) -> str:
    """The stored topic: the class name for photoledger's events, module:qualname otherwise."""
    if TOPICS.get(event_class.__name__) is event_class:
        return event_class.__name__
    return get_topic(event_class)


def class_of(topic: str) -> type[Any]:
    """The event class a stored topic names."""
    event_class = TOPICS.get(topic)
    return event_class if event_class is not None else resolve_topic(topic)


def decode_stored_state(
    topic: str, data: bytes, originator_id: object, version: int, position: int | None = None
) -> tuple[type[Any], msgspec.Struct]:
    """Resolve a stored topic and decode its state; the ids only name the row in errors.

    The payload has the event's attribute names (minus the id and version) and types.
    """
    try:
        event_class = class_of(topic)
        codec = codec_for(event_class)  # type: ignore[arg-type]  # classes are hashable
        return event_class, codec.decode(data)
    except Exception as exc:  # any failure here means the stored row is unreadable
        at = f" at position {position}" if position is not None else ""
        where = f"{originator_id} v{version}{at} ({topic})"
        raise UndecodableEventError(f"cannot decode event {where}: {exc}") from exc


def current_decoder(topic: str) -> tuple[type[Any], Callable[[bytes], msgspec.Struct]]:
    """The class a stored topic names and the typed decoder of its current positional rows.

    For replays, which look this up once per topic instead of once per row. The decoder raises
    on anything it does not read completely (a legacy JSON row, an older class_version, damage);
    the caller then decodes that row with decode_stored_state, which upcasts or names the damage.
    """
    event_class = class_of(topic)
    codec = codec_for(event_class)  # type: ignore[arg-type]  # classes are hashable
    return event_class, codec.positional.decoder.decode


def payload_fields(payload: msgspec.Struct) -> dict[str, Any]:
    """The decoded payload's fields by name (without the JSON rows' class_version)."""
    state = msgspec.structs.asdict(payload)
    state.pop("class_version", None)
    return state


def decode_row(topic: str, state: bytes) -> dict[str, Any]:
    """A stored row as a plain dict: `event`, then every field (datetimes as ISO 8601 text)."""
    event_class, payload = decode_stored_state(topic, bytes(state), "?", 0)
    row: dict[str, Any] = {"event": event_class.__name__}
    row.update(msgspec.to_builtins(payload_fields(payload)))
    return row


def encode_state(event: object) -> bytes:
    """Stored bytes for an event object."""
    codec = codec_for(type(event))  # type: ignore[arg-type]  # classes are hashable
    return codec.positional.encode(vars(event))


class MsgspecMapper(Mapper[UUID]):
    """eventsourcing Mapper that stores positional msgpack (reference/eventsourcing.md §4.4)."""

    def __init__(self) -> None:
        # The base class wants a transcoder; ours encodes with msgspec and never calls it.
        super().__init__(transcoder=JSONTranscoder())

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        """Event object -> StoredEvent (topic + positional msgpack state)."""
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=topic_of(type(domain_event)),
            state=encode_state(domain_event),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        """StoredEvent -> event object, upcasting older class versions."""
        event_class, payload = decode_stored_state(
            stored_event.topic,
            stored_event.state,
            stored_event.originator_id,
            stored_event.originator_version,
        )
        state = payload_fields(payload)
        originator_id = stored_event.originator_id
        state["originator_id"] = (
            originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
        )
        state["originator_version"] = stored_event.originator_version
        domain_event = object.__new__(event_class)
        object.__setattr__(domain_event, "__dict__", state)
        return domain_event
