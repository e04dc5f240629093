"""Positional msgpack payloads: the compact stored form of an event's state.

Invariants:
- A payload is one msgspec-encoded msgpack array: `[class_version, value, value, ...]` in
  the order of the event class's dataclass fields (minus `originator_id` and
  `originator_version`, which the store keeps in columns). No field name is stored. The
  first element is the array's tag, so a row of another class_version never decodes as the
  current shape.
- The field order of every class_version ever written positionally stays recoverable: the
  current one is the class's own field order (pinned by a test), an older one is listed on
  the class as `stored_fields_vN = ("timestamp", ...)` when the class moves past version N.
- Values are compacted only losslessly, so decoding restores exactly what was encoded:
  * a lower-case hex string (sha256, uuid hex, params hash) in a field whose name says it is
    hex (`*sha256*`, `*_hash`, `run_id`, `plan_id`) is stored as its raw bytes; any other
    string in such a field is stored as it is;
  * datetimes use msgpack's timestamp extension (6-10 bytes, decoded typed, in C);
  * a created event's `originator_topic` is nil when it is its aggregate's default topic;
  * a field that repeats another (`SAME_AS`: the original's checksum is, in iCloud, the
    master record's name) is nil when equal to it;
  * nested facts are positional arrays; a VersionFact that only repeats the event's own
    declared facts (`DECLARED_VERSIONS`) is stored as its key alone.
- Decoding is typed (msgspec) and yields an object with the event's attribute names and the
  same Python types as the event: str hex, aware UTC datetimes, tuples of the fact structs.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import msgspec

from engine import events as ev

STORE_COLUMNS = frozenset({"originator_id", "originator_version"})
SAME_AS: dict[str, str] = {"remote_checksum": "master_record_name"}
QUICKTIME = "com.apple.quicktime-movie"
# The event fields a VersionFact repeats when it is the declared original or live video.
DECLARED_FIELDS = (
    "declared_size_bytes",
    "remote_checksum",
    "item_type",
    "live_video_declared_size_bytes",
    "live_video_checksum",
)
_HEX_NAMES = frozenset({"run_id", "plan_id"})
_encoder = msgspec.msgpack.Encoder()
_untyped_decoder = msgspec.msgpack.Decoder()
Getter = Callable[[str], Any]

PLAIN, HEX, TOPIC, SAME, FACTS = "plain", "hex", "topic", "same", "facts"


def is_hex_field(name: str) -> bool:
    """Whether a field's name says its value is usually lower-case hex."""
    return name in _HEX_NAMES or "sha256" in name or name.endswith("_hash")


def compact_hex(value: Any) -> Any:
    """Raw bytes for a lower-case hex string that round-trips exactly; anything else as is."""
    if type(value) is not str or not value or len(value) % 2:
        return value
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return value
    return raw if raw.hex() == value else value


def _declared_original(get: Getter) -> tuple[Any, ...]:
    return ("original", get("declared_size_bytes"), get("remote_checksum"), get("item_type"))


def _declared_live_video(get: Getter) -> tuple[Any, ...]:
    size, checksum = get("live_video_declared_size_bytes"), get("live_video_checksum")
    return ("live_video", size, checksum, QUICKTIME)


# VersionFact key -> its values (key, size, checksum, file type) as the event declares them.
DECLARED_VERSIONS: dict[str, Callable[[Getter], tuple[Any, ...]]] = {
    "original": _declared_original,
    "live_video": _declared_live_video,
}


def _fact_struct(hint: Any) -> type[msgspec.Struct] | None:
    """The nested fact struct of a `tuple[Fact, ...]` field, else None."""
    if typing.get_origin(hint) is not tuple:
        return None
    item = typing.get_args(hint)[0]
    return item if isinstance(item, type) and issubclass(item, msgspec.Struct) else None


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """How one field is stored: its name, kind and type hint."""

    name: str
    kind: str
    hint: Any
    fact_type: type[msgspec.Struct] | None = None
    derives_versions: bool = False  # VersionFacts may be stored as their key alone


def _field_kind(name: str, hint: Any, names: set[str], has_topic: bool) -> str:
    if _fact_struct(hint) is not None:
        return FACTS
    if name == "originator_topic" and has_topic:
        return TOPIC
    if SAME_AS.get(name) in names and hint is str:  # nil is then unambiguous
        return SAME
    if is_hex_field(name) and str in (hint, *typing.get_args(hint)):
        return HEX
    return PLAIN


def field_specs(event_class: type[Any], default_topic: str | None) -> tuple[FieldSpec, ...]:
    """The stored fields of an event class, in storage order, with how each is stored."""
    hints = typing.get_type_hints(event_class)
    names = [f.name for f in dataclasses.fields(event_class) if f.name not in STORE_COLUMNS]
    has_declared = all(name in names for name in DECLARED_FIELDS)
    specs = []
    for name in names:
        kind = _field_kind(name, hints[name], set(names), default_topic is not None)
        fact_type = _fact_struct(hints[name])
        derives = fact_type is ev.VersionFact and has_declared
        specs.append(FieldSpec(name, kind, hints[name], fact_type, derives))
    return tuple(specs)


def _stored_hint(spec: FieldSpec) -> Any:
    if spec.kind == HEX:
        return Any  # bytes (compacted) or str; checked and restored in __post_init__
    if spec.kind in (TOPIC, SAME):
        return str | None
    if spec.kind == FACTS:
        assert spec.fact_type is not None
        hints = typing.get_type_hints(spec.fact_type)
        row = tuple.__class_getitem__(tuple(hints[n] for n in spec.fact_type.__struct_fields__))
        return tuple[row | str, ...] if spec.derives_versions else tuple[row, ...]  # type: ignore[valid-type]
    return spec.hint


@cache
def _fact_maker(fact_type: type[msgspec.Struct]) -> Callable[[Any], Any]:
    """A fast positional constructor for a kw_only fact struct (dict(zip()) costs 7x)."""
    args = ", ".join(f"{name}=row[{i}]" for i, name in enumerate(fact_type.__struct_fields__))
    namespace: dict[str, Any] = {"fact_type": fact_type}
    exec(f"def make(row):\n    return fact_type({args})\n", namespace)
    maker: Callable[[Any], Any] = namespace["make"]
    return maker


def restore_facts(spec: FieldSpec, rows: Any, get: Getter) -> tuple[Any, ...]:
    """Nested fact structs from stored rows (a bare key is the event's declared version)."""
    assert spec.fact_type is not None
    make = _fact_maker(spec.fact_type)
    return tuple([make(DECLARED_VERSIONS[row](get) if type(row) is str else row) for row in rows])


def _check_hex(value: Any, name: str, is_optional: bool) -> None:
    if type(value) is not str and not (value is None and is_optional):
        raise TypeError(f"Expected `str`, got `{type(value).__name__}` - at `{name}`")


def _post_init_source(specs: tuple[FieldSpec, ...]) -> str:
    """Straight-line restoring code for one class (a generic loop costs 2x on replays)."""
    lines = ["def __post_init__(self):"]
    for s in specs:
        if s.kind == HEX:
            is_optional = type(None) in typing.get_args(s.hint)
            lines += [
                f"    value = self.{s.name}",
                "    if type(value) is bytes:",
                f"        self.{s.name} = value.hex()",
                "    else:",
                f"        check_hex(value, {s.name!r}, {is_optional})",
            ]
        elif s.kind in (TOPIC, SAME):
            source = "default_topic" if s.kind == TOPIC else f"self.{SAME_AS[s.name]}"
            lines += [f"    if self.{s.name} is None:", f"        self.{s.name} = {source}"]
    for i, s in enumerate(specs):
        if s.kind == FACTS:
            lines += [
                f"    if self.{s.name}:",
                f"        self.{s.name} = restore_facts(specs[{i}], self.{s.name}, "
                "self.__getattribute__)",
            ]
    return "\n".join(lines if len(lines) > 1 else [*lines, "    pass"]) + "\n"


def _make_post_init(
    specs: tuple[FieldSpec, ...], default_topic: str | None
) -> Callable[[Any], None]:
    namespace: dict[str, Any] = {
        "check_hex": _check_hex,
        "restore_facts": restore_facts,
        "specs": specs,
        "default_topic": default_topic,
    }
    exec(_post_init_source(specs), namespace)  # the source is built from field names only
    post_init: Callable[[Any], None] = namespace["__post_init__"]
    return post_init


@dataclasses.dataclass(frozen=True)
class PositionalCodec:
    """Encoder and typed decoder of one event class's positional payloads."""

    event_class: type[Any]
    class_version: int
    specs: tuple[FieldSpec, ...]
    default_topic: str | None
    struct_type: type[msgspec.Struct]
    decoder: msgspec.msgpack.Decoder[Any]

    def encode(self, state: Mapping[str, Any]) -> bytes:
        """Payload bytes for an event's attribute dict."""
        values: list[Any] = [self.class_version]
        for spec in self.specs:
            value = state[spec.name]
            if spec.kind == HEX:
                value = compact_hex(value)
            elif spec.kind == TOPIC:
                value = None if value == self.default_topic else value
            elif spec.kind == SAME:
                value = None if value == state[SAME_AS[spec.name]] else value
            elif spec.kind == FACTS:
                value = [self._fact_row(spec, fact, state) for fact in value]
            values.append(value)
        return _encoder.encode(values)

    @staticmethod
    def _fact_row(spec: FieldSpec, fact: msgspec.Struct, state: Mapping[str, Any]) -> Any:
        row = msgspec.structs.astuple(fact)
        key = row[0]
        if (
            spec.derives_versions
            and key in DECLARED_VERSIONS
            and row == DECLARED_VERSIONS[key](state.__getitem__)
        ):
            return key
        return row

    def decode_past(
        self, data: bytes, current_error: msgspec.ValidationError
    ) -> tuple[int, dict[str, Any]]:
        """(class_version, state) of an older positional payload, ready for the upcasters.

        `current_error` is why the typed decoder refused it; raised again for a current one.
        """
        values = _untyped_decoder.decode(data)
        if not isinstance(values, list) or not values or type(values[0]) is not int:
            raise msgspec.ValidationError("stored state is not a positional payload")
        version = values[0]
        if version == self.class_version:
            raise current_error
        if version > self.class_version:
            raise msgspec.ValidationError(
                f"stored class_version {version} is newer than this photoledger's "
                f"({self.class_version})"
            )
        names = getattr(self.event_class, f"stored_fields_v{version}", None)
        if names is None or len(names) != len(values) - 1:
            raise msgspec.ValidationError(
                f"no field list `stored_fields_v{version}` of {len(values) - 1} names on "
                f"{self.event_class.__name__} for its positional class_version {version} rows"
            )
        state = dict(zip(names, values[1:], strict=True))
        self._restore_past(state)
        return version, state

    def _restore_past(self, state: dict[str, Any]) -> None:
        """Undo the compactions by name and value (events never hold bytes of their own)."""
        for name, value in state.items():
            if type(value) is bytes:
                state[name] = value.hex()
            elif value is None and name == "originator_topic":
                state[name] = self.default_topic
        for name, source in SAME_AS.items():
            if state.get(name, "") is None and source in state:
                state[name] = state[source]
        for spec in self.specs:
            if spec.kind == FACTS and isinstance(state.get(spec.name), list):
                facts = restore_facts(spec, state[spec.name], state.__getitem__)
                state[spec.name] = [msgspec.structs.asdict(fact) for fact in facts]


@typing.no_type_check  # msgspec builds the struct class at run time
def build_positional_codec(event_class: type[Any], default_topic: str | None) -> PositionalCodec:
    """The positional codec of an event class's current class_version."""
    class_version = getattr(event_class, "class_version", 1)
    specs = field_specs(event_class, default_topic)
    struct_type = msgspec.defstruct(
        event_class.__name__ + "Stored",
        [(s.name, _stored_hint(s)) for s in specs],
        array_like=True,
        tag=class_version,
        namespace={"__post_init__": _make_post_init(specs, default_topic)},
    )
    return PositionalCodec(
        event_class=event_class,
        class_version=class_version,
        specs=specs,
        default_topic=default_topic,
        struct_type=struct_type,
        decoder=msgspec.msgpack.Decoder(struct_type),
    )
