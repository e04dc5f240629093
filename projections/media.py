"""The media projection: one SQLite row per asset with its whole current state.

Invariants:
- Rows are produced only by `engine.asset.fold_fact`, the same fold the Asset aggregate uses.
- The tracking position is written in the same transaction as the rows it accounts for, so
  every event is applied exactly once, and a crash (even kill -9 mid-transaction) resumes
  from the last committed position.
- `rebuild` drops every table and replays the whole ledger; it must equal the incremental
  result row for row (checked by `photoledger check` and a property test).
- The projection is disposable: a schema change bumps SCHEMA_VERSION and the next open rebuilds.
- Catch-up runs under `BEGIN IMMEDIATE`, so two processes never apply the same events twice.
- A file SQLite cannot open is replaced at open; a damaged page met later (SQLITE_CORRUPT)
  surfaces as ProjectionDamagedError (projections.damage), and `rebuild` recreates the file
  from the ledger when the old one cannot be read (`integrity_findings`).
"""

from __future__ import annotations

import gc
import sqlite3
import typing
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import compress
from operator import is_not
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from engine import events as ev
from engine.asset import MediaState, fold_fact
from engine.crashpoints import CrashPoints
from engine.errors import LedgerDamagedError
from engine.ledger import Ledger, RawEvent
from engine.mapper import current_decoder, decode_stored_state
from projections.damage import reported_as_damage
from projections.runs import RunsFold

SCHEMA_VERSION = 8
BATCH_EVENTS = 5000
MEDIA_FIELDS: tuple[str, ...] = tuple(MediaState.__struct_fields__)
_DATETIME_FIELDS = frozenset(
    name for name, hint in MediaState.__annotations__.items() if "datetime" in str(hint)
)
_DT_INDEXES = tuple(i for i, name in enumerate(MEDIA_FIELDS) if name in _DATETIME_FIELDS)
_TUPLE_TYPES: dict[str, Any] = {
    name: hint
    for name, hint in typing.get_type_hints(MediaState).items()
    if typing.get_origin(hint) is tuple
}
# Tuple fields (renditions, album ids, extra files) are stored as compact JSON text.
_JSON_CODECS = tuple(
    (i, msgspec.json.Decoder(_TUPLE_TYPES[name]))
    for i, name in enumerate(MEDIA_FIELDS)
    if name in _TUPLE_TYPES
)
_json_encoder = msgspec.json.Encoder()
_COLUMNS = ("asset_id", *MEDIA_FIELDS)
_NO_VALUES = (None,) * len(_COLUMNS)
ProgressFn = Callable[[int], None]
# Reading many states: SQLite renders each row as one JSON object and msgspec decodes it in C
# (about half the cost of row_to_state). SQLite caps a function at 127 arguments, so beyond 63
# fields the objects of the chunks are spliced as text ("{a..}" + "{b..}" -> "{a..,b..}");
# json_patch would drop null members. Not strict: booleans are stored as 0/1.
_STATE_CHUNK = 63
_state_decoder = msgspec.json.Decoder(MediaState, strict=False)


def _state_json_sql() -> str:
    """A SQLite expression rendering a media row as the JSON of its MediaState."""
    parts = []
    for start in range(0, len(MEDIA_FIELDS), _STATE_CHUNK):
        names = MEDIA_FIELDS[start:start + _STATE_CHUNK]
        args = ", ".join(f"'{n}', json({n})" if n in _TUPLE_TYPES else f"'{n}', {n}"
                         for n in names)
        parts.append(f"json_object({args})")
    if len(parts) == 1:
        return parts[0]
    inner = [f"substr({p}, 2, length({p}) - 2)" for p in parts]
    return "'{' || " + " || ',' || ".join(inner) + " || '}'"


def state_to_row(asset_id: str, state: MediaState) -> tuple[Any, ...]:
    """A MediaState as a media-table row (datetimes as `datetime.isoformat()` text)."""
    values = list(msgspec.structs.astuple(state))
    moments = [values[i] for i in _DT_INDEXES]
    # msgspec renders RFC 3339 in C, about 20x faster than an aware datetime's isoformat().
    # It writes UTC as "Z" (isoformat: "+00:00") and rounds sub-minute offsets, so only a
    # UTC value takes its text; the rest keep isoformat. A test pins the two equal.
    for i, moment, text in zip(_DT_INDEXES, moments, msgspec.to_builtins(moments), strict=True):
        if moment is not None:
            values[i] = text[:-1] + "+00:00" if moment.tzinfo is UTC else moment.isoformat()
    for i, _decoder in _JSON_CODECS:
        values[i] = _json_encoder.encode(values[i]).decode()
    return (asset_id, *values)


def insert_rows(con: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """INSERT OR REPLACE full media rows, one executemany per pattern of NULL columns.

    Why: CPython's sqlite3 binds None through its adapter lookup, several times the cost of a
    str or int, and about half of a row's values are NULL. A column left out of the INSERT is
    NULL all the same (no column has a default), and a library has few NULL patterns.
    """
    groups: dict[bytes, list[list[Any]]] = {}
    for row in rows:
        present = bytes(map(is_not, row, _NO_VALUES))
        group = groups.get(present)
        if group is None:
            group = groups[present] = []
        group.append(list(compress(row, present)))
    for present, group in groups.items():
        names = list(compress(_COLUMNS, present))
        marks = ",".join("?" * len(names))
        con.executemany(
            f"INSERT OR REPLACE INTO media ({','.join(names)}) VALUES ({marks})", group
        )


def row_to_state(row: tuple[Any, ...]) -> tuple[str, MediaState]:
    """The inverse of state_to_row."""
    values = list(row[1:])
    for i in _DT_INDEXES:
        if values[i] is not None:
            values[i] = datetime.fromisoformat(values[i])
    for i, decoder in _JSON_CODECS:
        values[i] = decoder.decode(values[i])
    return row[0], MediaState(**dict(zip(MEDIA_FIELDS, values, strict=True)))


class _TopicReader(NamedTuple):
    event_class: type[Any]
    decode: Callable[[bytes], Any]
    is_asset_event: bool


class MediaFold:
    """Folds raw events into asset states and run facts (shared by catch-up and rebuild)."""

    def __init__(self, states: dict[str, MediaState]) -> None:
        self.states = states
        self.runs = RunsFold()
        self._readers: dict[str, _TopicReader] = {}

    def _reader(self, raw: RawEvent) -> _TopicReader:
        try:
            event_class, decode = current_decoder(raw.topic)
        except Exception:  # an unknown topic: decode_stored_state raises naming the row
            position, originator_id, version, topic, data = raw
            decode_stored_state(topic, data, originator_id, version, position)
            raise
        reader = _TopicReader(event_class, decode, issubclass(event_class, ev.AssetEvent))
        self._readers[raw.topic] = reader
        return reader

    def apply_page(self, page: Iterable[RawEvent]) -> None:
        """Fold stored events in order; asset states must hold each asset unless it is created.

        The replay's hot loop: decoders are looked up once per topic; a row the current
        decoder refuses (legacy JSON, an older class_version, damage) takes the full path.
        """
        readers, states = self._readers, self.states
        for raw in page:
            position, originator_id, version, topic, data = raw
            reader = readers.get(topic) or self._reader(raw)
            try:
                payload = reader.decode(data)
            except Exception:  # decode_stored_state upcasts, or raises naming the row
                _cls, payload = decode_stored_state(topic, data, originator_id, version, position)
            if reader.is_asset_event:
                state = states.get(originator_id)
                if state is None:
                    state = states[originator_id] = MediaState()
                fold_fact(state, reader.event_class, payload, version)
            else:
                self.runs.apply(originator_id, reader.event_class, payload)


class MediaProjection:
    """The media table and its tracking position, in `<state_dir>/media.db`."""

    def __init__(self, path: Path, crash: CrashPoints) -> None:
        self.path = path
        self.crash = crash
        self.damage: str | None = None  # set when an unreadable file was replaced
        try:
            self._con = self._connect()
        except sqlite3.DatabaseError as exc:
            # Derived data: an unreadable file is replaced and refilled by catch_up.
            self.damage = str(exc)
            self._con = self._recreate()

    def _recreate(self) -> sqlite3.Connection:
        """Remove the file (and its WAL) and open an empty projection in its place."""
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        return self._connect()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            # Derived data: a power cut may drop the last commits, but rows and tracking
            # commit together, so the next catch_up redoes exactly what was lost.
            con.execute("PRAGMA synchronous=NORMAL")
            self._con = con
            if self._schema_version() != SCHEMA_VERSION:
                with self._transaction():
                    self._create_schema()
            con.execute("SELECT position FROM tracking").fetchone()
        except sqlite3.DatabaseError:
            con.close()
            raise
        return con

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    def _schema_version(self) -> int:
        return int(self._con.execute("PRAGMA user_version").fetchone()[0])

    def _create_schema(self) -> None:
        """Drop and create every table (inside the caller's transaction)."""
        for table in ("media", "tracking", *RunsFold.TABLES):
            self._con.execute(f"DROP TABLE IF EXISTS {table}")
        cols = ", ".join(MEDIA_FIELDS)
        self._con.execute(f"CREATE TABLE media (asset_id TEXT PRIMARY KEY, {cols})")
        self._con.execute(
            "CREATE TABLE tracking (name TEXT PRIMARY KEY, position INTEGER NOT NULL)"
        )
        self._con.execute("INSERT INTO tracking VALUES ('media', 0)")
        for statement in RunsFold.SCHEMA:
            self._con.execute(statement)
        self._con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._con.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def integrity_findings(self) -> list[str]:
        """SQLite's quick_check of the file: one line per problem (empty when sound)."""
        try:
            rows = self._con.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            return [f"quick_check could not run: {exc}"]
        return [str(row[0]) for row in rows if row[0] != "ok"][:20]

    def position(self) -> int:
        """The ledger position this projection has applied up to."""
        with reported_as_damage(self.path):
            return int(self._con.execute("SELECT position FROM tracking").fetchone()[0])

    def refuse_if_ahead(self, ledger: Ledger) -> None:
        """Raise LedgerDamagedError when this projection has applied events the ledger lacks."""
        head, position = ledger.max_position(), self.position()
        if position > head:
            raise LedgerDamagedError(
                f"ledger {ledger.location} ends at position {head}, but the media projection "
                f"has applied events up to position {position}: the ledger lost recorded events "
                "(truncated, or an older copy restored); restore the newest ledger, do not rebuild"
            )

    def catch_up(self, ledger: Ledger, progress: ProgressFn | None = None) -> int:
        """Apply every event after the tracked position; returns how many were applied."""
        self.refuse_if_ahead(ledger)
        applied = 0
        while True:
            with self._transaction():
                position = self.position()
                batch = ledger.read_after(position, BATCH_EVENTS)
                if batch:
                    with reported_as_damage(self.path):
                        self._apply_batch(batch)
                    self.crash.reach("projection.before_commit")
            if not batch:
                return applied
            applied += len(batch)
            if progress:
                progress(len(batch))

    def _apply_batch(self, batch: list[RawEvent]) -> None:
        fold = MediaFold(self._load_states({raw.originator_id for raw in batch}))
        fold.apply_page(batch)
        self._write(fold, batch[-1].position)

    def _load_states(self, asset_ids: set[str]) -> dict[str, MediaState]:
        states: dict[str, MediaState] = {}
        ids = list(asset_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._con.execute(f"SELECT * FROM media WHERE asset_id IN ({marks})", chunk):
                asset_id, state = row_to_state(row)
                states[asset_id] = state
        return states

    def states_of(self, asset_ids: set[str]) -> dict[str, MediaState]:
        """Current state of each listed asset that the projection holds (hex ids)."""
        return self._load_states(asset_ids)

    def _write(self, fold: MediaFold, position: int) -> None:
        insert_rows(
            self._con, (state_to_row(asset_id, state) for asset_id, state in fold.states.items())
        )
        fold.runs.write(self._con)
        self._con.execute("UPDATE tracking SET position = ?", (position,))

    def rebuild(self, ledger: Ledger, progress: ProgressFn | None = None) -> int:
        """Drop everything and replay the whole ledger; returns the number of events.

        The fold runs in memory first; dropping and writing happen in one transaction, so a
        reader (or a concurrent catch-up) sees either the old tables or the complete new ones.
        """
        fold = MediaFold({})
        count, position = 0, 0
        with _cyclic_gc_paused():
            for page in ledger.iter_pages():
                fold.apply_page(page)
                count, position = count + len(page), page[-1].position
                if progress:
                    progress(len(page))
            if self.integrity_findings():  # damaged: the old tables cannot be dropped
                self._con.close()
                self._con = self._recreate()
            with self._transaction():
                self._create_schema()
                self._write(fold, position)
        return count

    def rows(self) -> list[tuple[Any, ...]]:
        """Every media row, ordered by asset id (for comparisons)."""
        return self._con.execute("SELECT * FROM media ORDER BY asset_id").fetchall()

    def states_where(self, where: str) -> Iterator[tuple[str, MediaState]]:
        """(asset_id, state) of every row matching the SQL condition `where`."""
        return states_where(self._con, where)

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Run a read-only query and return rows addressable by column name."""
        cursor = self._con.cursor()
        cursor.row_factory = sqlite3.Row
        return cursor.execute(sql, tuple(params)).fetchall()


def states_where(con: sqlite3.Connection, where: str) -> Iterator[tuple[str, MediaState]]:
    """(asset_id, state) of every media row matching the SQL condition `where`, on `con`
    (the projection's connection, or another one opened on its file).

    Equal to row_to_state on the same rows (checked by a test), built faster for many rows.
    """
    sql = f"SELECT asset_id, {_state_json_sql()} FROM media WHERE {where}"
    for asset_id, text in con.execute(sql):
        yield asset_id, _state_decoder.decode(text)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector; reference counting still frees everything.

    Why: a replay keeps every asset's state alive and allocates millions of small objects, so
    the collector kept rescanning them (15-20% of a rebuild), yet the fold makes no cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def replay_rows(ledger: Ledger, until: int) -> list[tuple[Any, ...]]:
    """Media rows from a fresh in-memory fold of events up to position `until`, sorted by id."""
    fold = MediaFold({})
    for page in ledger.iter_pages():
        fold.apply_page(raw for raw in page if raw.position <= until)
        if page[-1].position >= until:
            break
    return [state_to_row(asset_id, fold.states[asset_id]) for asset_id in sorted(fold.states)]
