"""msgspec-typed mapping between event objects and stored bytes.

Invariants:
- The stored state is compact JSON of the event's fields minus `originator_id` and
  `originator_version` (which the store keeps in their own columns), plus `class_version`
  when it is above 1. JSON (not msgpack) keeps the ledger readable by DuckDB and by a human.
- Decoding is typed per event class (datetimes come back as aware datetimes, not strings).
  A payload whose stored class_version is older than the class's is decoded untyped, passed
  through the class's `upcast_vN_vN+1` static methods in order, then converted to the type.
- Anything that cannot be decoded raises `MapperDeserialisationError`; callers map it to
  "ledger damaged", never skip it.
"""

from __future__ import annotations

import dataclasses
import typing
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

from engine.errors import LedgerDamagedError
from engine.events import TOPICS

_STORE_COLUMNS = frozenset({"originator_id", "originator_version"})
_encoder = msgspec.json.Encoder()
_untyped_decoder = msgspec.json.Decoder()


class UndecodableEventError(LedgerDamagedError, MapperDeserialisationError):
    """A stored event cannot be decoded: the ledger is damaged (or written by a newer version)."""


@dataclasses.dataclass(frozen=True)
class PayloadCodec:
    """The typed msgspec struct and decoder for one event class's stored state."""

    event_class: type[Any]
    struct_type: type[msgspec.Struct]
    decoder: msgspec.json.Decoder[Any]
    class_version: int

    def decode(self, data: bytes) -> msgspec.Struct:
        """Decode stored bytes into the current shape of the event's payload."""
        try:
            payload: msgspec.Struct = self.decoder.decode(data)
            if getattr(payload, "class_version", 1) == self.class_version:
                return payload
        except msgspec.ValidationError:
            pass  # an older shape: upcast below
        return self._decode_upcasting(data)

    def _decode_upcasting(self, data: bytes) -> msgspec.Struct:
        state = _untyped_decoder.decode(data)
        if not isinstance(state, dict):
            raise msgspec.ValidationError("stored state is not an object")
        version = int(state.pop("class_version", 1))
        while version < self.class_version:
            getattr(self.event_class, f"upcast_v{version}_v{version + 1}")(state)
            version += 1
        state["class_version"] = self.class_version
        return msgspec.convert(state, self.struct_type)


@cache
def codec_for(event_class: type[Any]) -> PayloadCodec:
    """Build (once per class) the typed codec for an event class's stored state."""
    hints = typing.get_type_hints(event_class)
    fields: list[tuple[str, Any, Any]] = [
        (f.name, hints[f.name], msgspec.NODEFAULT)
        for f in dataclasses.fields(event_class)
        if f.name not in _STORE_COLUMNS
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
    """Resolve a stored topic and decode its state; the ids only name the row in errors."""
    try:
        event_class = class_of(topic)
        codec = codec_for(event_class)  # type: ignore[arg-type]  # classes are hashable
        return event_class, codec.decode(data)
    except Exception as exc:  # any failure here means the stored row is unreadable
        at = f" at position {position}" if position is not None else ""
        where = f"{originator_id} v{version}{at} ({topic})"
        raise UndecodableEventError(f"cannot decode event {where}: {exc}") from exc


def encode_state(event: object) -> bytes:
    """Stored bytes for an event object."""
    state = {k: v for k, v in vars(event).items() if k not in _STORE_COLUMNS}
    class_version = getattr(type(event), "class_version", 1)
    if class_version > 1:
        state["class_version"] = class_version
    return _encoder.encode(state)


class MsgspecMapper(Mapper[UUID]):
    """eventsourcing Mapper that stores typed msgspec JSON (reference/eventsourcing.md §4.4)."""

    def __init__(self) -> None:
        # The base class wants a transcoder; ours encodes with msgspec and never calls it.
        super().__init__(transcoder=JSONTranscoder())

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        """Event object -> StoredEvent (topic + compact JSON state)."""
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
        state = msgspec.structs.asdict(payload)
        del state["class_version"]
        originator_id = stored_event.originator_id
        state["originator_id"] = (
            originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
        )
        state["originator_version"] = stored_event.originator_version
        domain_event = object.__new__(event_class)
        object.__setattr__(domain_event, "__dict__", state)
        return domain_event
