"""Invariants every reliability test checks on a library after a crash, a refusal or a rerun.

- every intended asset is in the ledger exactly once (one Discovered, one Downloaded), and
  nothing else is;
- each aggregate's versions run 1, 2, 3 ... in position order, with no gap or repeat;
- the media projection equals a fresh replay of the ledger, and tracks the ledger's head;
- the run tables equal those of a projection rebuilt from scratch;
- the state folder holds nothing but the ledger, the projection, their SQLite side files and
  the lock (no temp or probe file left behind).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

from engine.crashpoints import CrashPoints
from engine.ledger import Ledger
from projections.media import MediaProjection, replay_rows
from tests.factories import Library

STATE_FILES = frozenset(
    {
        "ledger.db", "ledger.db-wal", "ledger.db-shm",
        "media.db", "media.db-wal", "media.db-shm",
        "writer.lock",
    }
)


def file_digest(path: Path) -> str | None:
    """sha256 of a file's bytes, or None when it does not exist."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def ledger_digests(library: Library) -> dict[str, str | None]:
    """Digests of the ledger file and its WAL: equal before and after = nothing recorded changed.

    A missing WAL counts as an empty one: SQLite leaves an empty `-wal` (and `-shm`) behind
    when the last connection to close was read-only, which records nothing.
    """
    path = library.ledger_path
    wal = path.with_name("ledger.db-wal")
    empty = hashlib.sha256(b"").hexdigest()
    return {"ledger.db": file_digest(path), "ledger.db-wal": file_digest(wal) or empty}


def events_by_type(ledger: Ledger) -> dict[str, Counter[str]]:
    """For each event topic, how many times each aggregate (hex id) has it."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for raw in ledger.iter_all():
        counts[raw.topic][raw.originator_id] += 1
    return counts


def assert_versions_contiguous(ledger: Ledger) -> None:
    versions: dict[str, list[int]] = defaultdict(list)
    for raw in ledger.iter_all():
        versions[raw.originator_id].append(raw.originator_version)
    broken = {
        aggregate: seen
        for aggregate, seen in versions.items()
        if seen != list(range(1, len(seen) + 1))
    }
    assert not broken, f"aggregates with non-contiguous versions: {broken}"


def assert_projection_matches_replay(library: Library, ledger: Ledger, scratch: Path) -> None:
    projection = library.open_projection()
    try:
        assert projection.position() == ledger.max_position(), "projection lags the ledger head"
        assert projection.rows() == replay_rows(ledger, projection.position())
        runs = projection.con.execute("SELECT * FROM runs ORDER BY run_id").fetchall()
    finally:
        projection.close()
    fresh = MediaProjection(scratch / "fresh-media.db", CrashPoints())
    try:
        fresh.rebuild(ledger)
        assert runs == fresh.con.execute("SELECT * FROM runs ORDER BY run_id").fetchall()
    finally:
        fresh.close()


def assert_no_stray_files(library: Library) -> None:
    names = {p.name for p in library.config.state_dir.iterdir()}
    assert names <= STATE_FILES, f"left in the state folder: {sorted(names - STATE_FILES)}"


def assert_library_consistent(library: Library, expected_assets: set[str], scratch: Path) -> None:
    """Every invariant in this module's docstring; `expected_assets` are hex aggregate ids."""
    scratch.mkdir(exist_ok=True)
    ledger = library.open_ledger()
    try:
        counts = events_by_type(ledger)
        for topic in ("Discovered", "Downloaded"):
            assert set(counts[topic]) == expected_assets, f"{topic}: wrong set of assets"
            duplicated = {a: n for a, n in counts[topic].items() if n != 1}
            assert not duplicated, f"{topic} recorded more than once: {duplicated}"
        assert_versions_contiguous(ledger)
        assert_projection_matches_replay(library, ledger, scratch)
    finally:
        ledger.close()
    assert_no_stray_files(library)
    media_ids = _media_ids(library)
    assert media_ids == expected_assets


def _media_ids(library: Library) -> set[str]:
    con = sqlite3.connect(f"file:{library.config.state_dir / 'media.db'}?mode=ro", uri=True)
    try:
        return {
            row[0]
            for row in con.execute("SELECT asset_id FROM media WHERE sha256 IS NOT NULL")
        }
    finally:
        con.close()
