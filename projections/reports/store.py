"""The reports database: a DuckDB file built from the media projection, kept in step with it.

Invariants:
- Derived and disposable: every table is a copy of the SQLite media projection (caught up by
  the caller) plus values computed from it at build time; nothing here is ever the only record
  of a fact, so the file can be deleted at any time.
- The file records the projection position it was built from (`report_meta`). A build at the
  same position and layout reuses the copy; only the gate blocks (which depend on `now`, the
  policy and the NAS marker) are computed again when asked for. Any other position rebuilds.
- `media` holds the projection columns the report SQL files name (found in their text), so a
  column a report starts using is copied without a change here (LAYOUT_VERSION is part of the
  reuse check, and the column list is stored with it).
- Stage membership and "has a problem" are computed by SQLite with the very WHERE clauses of
  `projections.worklists`, so a report's backlog is exactly what each stage would work on;
  compress's work list is replaced, with the gate blocks, by what its plan says is due now.
- Gate reasons come from `engine.cleanup.gate`, the one judge of album-move and deletion,
  called for every asset of those two work lists; the NAS marker's presence and `now` are
  passed in (no file system or clock here). The gate runs on a second thread with its own
  read-only connection while the rows are copied; if a writer commits during the build, its
  states may be newer than the copied rows, never older than the recorded position (which
  then differs from the projection's, so the next report rebuilds).
- Rows go in as JSON lines that SQLite renders and DuckDB's JSON reader loads (no Python
  object per value, and both run in C with the GIL released), never `executemany` (1.3k
  rows/s); typing is done by SQL casts. Times are stored as ISO text with an offset and cast
  through TIMESTAMPTZ to naive UTC, so an offset is never dropped.
- A build writes a temp file (a copy of the current one when reusing it) and renames it over
  the old one, so a reader (a notebook) sees the old complete file or the new complete file.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import typing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from engine.asset import MediaState
from engine.cleanup.gate import Block, decide_album_move, decide_deletable
from engine.config import ConfigFile
from engine.ledger import connect_read_only
from engine.selection import NO_SELECTION, SelectionCheck
from projections.media import MEDIA_FIELDS, MediaProjection, states_where
from projections.worklists import FAILURES_WHERE, STAGE_WORKLISTS

REPORTS_FILE = "reports.duckdb"
LAYOUT_VERSION = 5
_HINTS = typing.get_type_hints(MediaState)
_REPORTS_PACKAGE = "projections.reports"


def _duck_type(hint: Any) -> str:
    """The DuckDB type of a MediaState field (tuples stay JSON text)."""
    args = set(typing.get_args(hint)) - {type(None)} or {hint}
    if datetime in args:
        return "TIMESTAMP"
    if bool in args:
        return "BOOLEAN"
    if int in args:
        return "BIGINT"
    return "VARCHAR"


def _named_in_reports() -> set[str]:
    """Every identifier the report SQL files use."""
    words: set[str] = set()
    for entry in resources.files(_REPORTS_PACKAGE).iterdir():
        if entry.name.endswith(".sql"):
            words.update(re.findall(r"[a-z_][a-z0-9_]*", entry.read_text("utf-8")))
    return words


# Only the columns a report reads: reading rows out of SQLite is most of a build, and it
# scales with the columns. Tuple fields (JSON text) are never read by a report.
_TYPES = {
    name: _duck_type(_HINTS[name]) for name in MEDIA_FIELDS
    if typing.get_origin(_HINTS[name]) is not tuple and name in _named_in_reports()
}
_STAGES = tuple(STAGE_WORKLISTS)
_FLAGS = (*(f"in_stage_{i}" for i in range(len(_STAGES))), "has_problem")
# Rows per SQLite statement when rendering JSON lines: each is one call that runs without the
# GIL, and memory stays bounded for any library size.
_CHUNK_ROWS = 10_000
GateRow = tuple[str, str, str, str]


def report_columns() -> list[str]:
    """The media projection's columns the reports file copies."""
    return ["asset_id", *_TYPES]


def _source_columns() -> list[tuple[str, str, str]]:
    """(name, SQLite expression, DuckDB type as read from JSON) of every copied value: the
    media columns as stored plus the stage and problem flags (0/1)."""
    read_as = {"TIMESTAMP": "VARCHAR", "BOOLEAN": "BIGINT"}  # ISO text, 0/1: cast on insert
    cols = [("asset_id", "asset_id", "VARCHAR")]
    cols += [(name, name, read_as.get(t, t)) for name, t in _TYPES.items()]
    flags = [f"COALESCE(({where}), 0)" for where in STAGE_WORKLISTS.values()]
    flags.append(f"COALESCE(({FAILURES_WHERE}), 0)")
    cols += [(name, expr, "BIGINT") for name, expr in zip(_FLAGS, flags, strict=True)]
    cols.append(("missing", _MISSING_SQL, "VARCHAR"))
    return cols


# The resources a partly downloaded asset still lacks, as text ("live_video, adjusted").
_MISSING_SQL = (
    "(SELECT COALESCE(group_concat(value, ', '), '') FROM json_each(media.missing_resources))"
)


def _json_lines_select() -> str:
    """Up to _CHUNK_ROWS rows after rowid ? as one text of JSON objects (keys c0, c1, ...:
    short, as the text goes through a file), with the last rowid and the row count."""
    pairs = ", ".join(f"'c{i}', {expr}" for i, (_n, expr, _t) in enumerate(_source_columns()))
    return ("SELECT group_concat(j, char(10)), max(r), count(*) FROM (SELECT rowid AS r, "
            f"json_object({pairs}) AS j FROM media WHERE rowid > ? ORDER BY rowid "
            f"LIMIT {_CHUNK_ROWS})")


def _write_json_lines(con: sqlite3.Connection, target: Path) -> int:
    """Write every media row to `target` as JSON lines; returns the number of rows."""
    sql, after, rows = _json_lines_select(), 0, 0
    with target.open("w", encoding="utf-8") as out:
        while True:
            text, last, count = con.execute(sql, (after,)).fetchone()
            if not count:
                return rows
            out.write(text)
            out.write("\n")
            after, rows = last, rows + count


def _read_json_lines(path: Path) -> str:
    """A DuckDB query over the JSON lines, with the copied columns' names."""
    cols = _source_columns()
    typed = ", ".join(f"'c{i}': '{t}'" for i, (_n, _e, t) in enumerate(cols))
    names = ", ".join(f"c{i} AS {name}" for i, (name, _e, _t) in enumerate(cols))
    literal = str(path).replace("'", "''")
    return (f"SELECT {names} FROM read_json('{literal}', format = 'newline_delimited', "
            f"columns = {{{typed}}})")


def _media_schema() -> str:
    cols = ["asset_id VARCHAR", *(f"{name} {t}" for name, t in _TYPES.items()),
            "has_problem BOOLEAN", "missing VARCHAR"]
    return f"CREATE TABLE media ({', '.join(cols)})"


def _typed(name: str, duck_type: str) -> str:
    if duck_type == "TIMESTAMP":
        return f"timezone('UTC', CAST({name} AS TIMESTAMPTZ))"
    if duck_type == "BOOLEAN":
        return f"CAST({name} AS BOOLEAN)"
    return name


def _insert_media(source: str) -> str:
    cols = ["asset_id", *(_typed(n, t) for n, t in _TYPES.items()),
            "CAST(has_problem AS BOOLEAN)", "missing"]
    return f"INSERT INTO media SELECT {', '.join(cols)} FROM {source}"


def _worklists(source: str | None) -> Iterator[str]:
    yield "CREATE TABLE worklists (stage VARCHAR, stage_order INTEGER, asset_id VARCHAR)"
    if source is not None:
        selects = [f"SELECT '{stage}', {i}, asset_id FROM {source} WHERE in_stage_{i} <> 0"
                   for i, stage in enumerate(_STAGES)]
        yield f"INSERT INTO worklists {' UNION ALL '.join(selects)}"
    values = ", ".join(f"('{stage}', {i})" for i, stage in enumerate(_STAGES))
    yield f"CREATE TABLE stages AS SELECT * FROM (VALUES {values}) AS s(stage, stage_order)"


@dataclass(frozen=True)
class BuildInputs:
    """What a build needs besides the projection: the policy, the time, the mounted NAS."""

    settings: ConfigFile
    now: datetime
    mounted_nas_id: str | None  # the id in the NAS marker; None: no NAS mounted
    # The gate is evaluated per asset in Python (about 20 us each with decoding its state);
    # only the backlog needs it.
    with_gate_blocks: bool = True
    # What a `compress` run would compress now (engine.status.due_for_compression): with the
    # gate blocks, it replaces the compress work list (the SQL one ignores tiers and age).
    compress_due: tuple[str, ...] | None = None
    # The configured selection (engine.selection_scope): outside it, the gate says
    # `not-selected`. NO_SELECTION judges every asset as if selected.
    selection: SelectionCheck = NO_SELECTION


def gate_blocks(con: sqlite3.Connection, inputs: BuildInputs) -> list[GateRow]:
    """(asset_id, stage, code, detail) for every block on album-move and delete work items,
    judged by the gate on each asset's whole state as the projection on `con` holds it."""
    rows: list[GateRow] = []
    for stage in ("album-move", "delete"):
        for asset_id, state in states_where(con, STAGE_WORKLISTS[stage]):
            for block in _blocks_of(stage, state, inputs):
                rows.append((asset_id, stage, block.code, block.detail))
    return rows


def _judge(projection_path: Path, inputs: BuildInputs) -> list[GateRow]:
    """gate_blocks on a connection of its own (for a second thread)."""
    con = connect_read_only(projection_path)
    try:
        return gate_blocks(con, inputs)
    finally:
        con.close()


def _blocks_of(stage: str, state: MediaState, inputs: BuildInputs) -> Iterable[Block]:
    if stage == "album-move":
        return decide_album_move(state, inputs.now, inputs.settings, inputs.selection)
    verdict = decide_deletable(
        state, inputs.now, inputs.settings, inputs.mounted_nas_id, inputs.selection
    )
    return verdict.blocks


def build_reports(projection: MediaProjection, path: Path, inputs: BuildInputs) -> Path:
    """Bring the reports file at `path` in step with the projection; returns the path.

    Nothing is written when the file already holds this projection position and no gate
    blocks are asked for; with gate blocks, only they are computed again.
    """
    position = projection.position()
    reuse = _built_position(path) == position
    if reuse and not inputs.with_gate_blocks:
        return path
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-gate") as pool:
        # The gate (Python) judges while this thread copies files and rows (SQLite, the file
        # system and DuckDB, in C without the GIL): on two cores the two overlap.
        judged = pool.submit(_judge, projection.path, inputs) if inputs.with_gate_blocks else None
        if reuse and judged is not None:
            try:
                _write_atomically(path, lambda con, _scratch: _refresh_gate_blocks(
                    con, judged.result(), inputs), copy_current=True)
                return path
            except FileNotFoundError:
                pass  # removed meanwhile (it is disposable): build it afresh
        _write_atomically(path, lambda con, scratch: _fill(
            con, projection, inputs, position, scratch, judged=judged))
    return path


def _built_position(path: Path) -> int | None:
    """The projection position the file was built from, or None (missing, other layout)."""
    if not path.exists():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        row = con.execute("SELECT projection_position, layout_version, media_columns "
                          "FROM report_meta").fetchone()
    except duckdb.Error:
        return None  # a file of an older layout
    finally:
        con.close()
    if row is None or row[1] != LAYOUT_VERSION or row[2] != ",".join(report_columns()):
        return None
    return int(row[0])


def _write_atomically(path: Path, fill: Callable[[duckdb.DuckDBPyConnection, Path], None], *,
                      copy_current: bool = False) -> None:
    """Build into a temp file (fill gets its connection and a scratch file name), then rename."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch = temp.with_name(f"{temp.name}.media.jsonl")
    temp.unlink(missing_ok=True)
    try:
        if copy_current:
            shutil.copyfile(path, temp)
        con = duckdb.connect(str(temp))
        try:
            con.execute("SET TimeZone = 'UTC'")
            # Compressing the columns at checkpoint was a third of a build; the file is a
            # disposable local copy, so size matters less than the time to a report.
            con.execute("SET force_compression = 'uncompressed'")
            con.execute("BEGIN")
            fill(con, scratch)
            con.execute("COMMIT")
        finally:
            con.close()
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)
        scratch.unlink(missing_ok=True)
        Path(f"{temp}.wal").unlink(missing_ok=True)


def _fill(con: duckdb.DuckDBPyConnection, projection: MediaProjection, inputs: BuildInputs,
          position: int, scratch: Path, *, judged: Future[list[GateRow]] | None) -> None:
    con.execute(_media_schema())
    source = None
    if _write_json_lines(projection._con, scratch):
        # Read once into memory: the media copy and every stage's work list come from it.
        con.execute(f"CREATE TEMP TABLE media_source AS {_read_json_lines(scratch)}")
        source = "media_source"
        con.execute(_insert_media(source))
    for statement in _worklists(source):
        con.execute(statement)
    if source is not None:
        con.execute(f"DROP TABLE {source}")
    con.execute("CREATE TABLE gate_blocks (asset_id VARCHAR, stage VARCHAR, code VARCHAR, "
                "detail VARCHAR)")
    _copy_run_tables(con, projection)
    con.execute("CREATE TABLE report_meta (projection_position BIGINT, built_at_utc TIMESTAMP, "
                "nas_marker_present BOOLEAN, has_gate_blocks BOOLEAN, layout_version INTEGER, "
                "media_columns VARCHAR, gate_blocks_at_utc TIMESTAMP, mounted_nas_id VARCHAR)")
    con.execute("INSERT INTO report_meta VALUES (?, ?, ?, false, ?, ?, NULL, ?)", (
        position, inputs.now.replace(tzinfo=None), inputs.mounted_nas_id is not None,
        LAYOUT_VERSION, ",".join(report_columns()), inputs.mounted_nas_id))
    if judged is not None:
        _refresh_gate_blocks(con, judged.result(), inputs)


def _refresh_gate_blocks(con: duckdb.DuckDBPyConnection, blocks: list[GateRow],
                         inputs: BuildInputs) -> None:
    """Replace the gate blocks with the gate's answers at `inputs.now`."""
    con.execute("DELETE FROM gate_blocks")
    _append(con, "gate_blocks", blocks)
    if inputs.compress_due is not None:
        order = _STAGES.index("compress")
        con.execute("DELETE FROM worklists WHERE stage = 'compress'")
        _append(con, "worklists", [("compress", order, i) for i in inputs.compress_due])
    con.execute("UPDATE report_meta SET has_gate_blocks = true, nas_marker_present = ?, "
                "gate_blocks_at_utc = ?, mounted_nas_id = ?",
                (inputs.mounted_nas_id is not None, inputs.now.replace(tzinfo=None),
                 inputs.mounted_nas_id))


def _copy_run_tables(con: duckdb.DuckDBPyConnection, projection: MediaProjection) -> None:
    con.execute("CREATE TABLE runs_raw (run_id VARCHAR, command VARCHAR, host VARCHAR, "
                "pid BIGINT, started_at_utc VARCHAR, finished_at_utc VARCHAR, "
                "exit_code BIGINT, outcome VARCHAR)")
    _append(con, "runs_raw", projection._con.execute(
        "SELECT run_id, command, host, pid, started_at_utc, finished_at_utc, exit_code, "
        "outcome FROM runs").fetchall())
    con.execute("CREATE TABLE runs AS SELECT run_id, command, host, pid, "
                f"{_typed('started_at_utc', 'TIMESTAMP')} AS started_at_utc, "
                f"{_typed('finished_at_utc', 'TIMESTAMP')} AS finished_at_utc, exit_code, "
                "outcome FROM runs_raw")
    con.execute("DROP TABLE runs_raw")
    con.execute("CREATE TABLE delete_plans (plan_id VARCHAR, run_id VARCHAR, "
                "asset_count BIGINT, plan_sha256 VARCHAR, planned_at_utc VARCHAR)")
    _append(con, "delete_plans", projection._con.execute(
        "SELECT plan_id, run_id, asset_count, plan_sha256, planned_at_utc FROM delete_plans"
    ).fetchall())


def _append(con: duckdb.DuckDBPyConnection, table: str, rows: list[Any]) -> None:
    # Small tables (runs, plans, gate blocks): the appender is fine at these sizes.
    if not rows:
        return
    appender = con.appender(table)
    appender.append_rows(rows)
    appender.flush()
