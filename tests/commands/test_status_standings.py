"""Every asset in exactly one iCloud standing; each standing's bytes split by resource.

The projection rows are written from MediaStates built here, so the expected sums come from
the values handed in, never from the query under test.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine import events as ev
from engine.asset import MediaState
from engine.crashpoints import CrashPoints
from engine.errors import ProjectionDamagedError
from projections.damage import reported_as_damage
from projections.icloud_bytes import STANDINGS, icloud_standings
from projections.media import MediaProjection, insert_rows, state_to_row

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def state(**facts: Any) -> MediaState:
    """An asset listing a 1000-byte original, a 300-byte live video and a 50-byte edit."""
    versions = (ev.VersionFact(key="live_video", size_bytes=300, checksum="", file_type=""),
                ev.VersionFact(key="adjusted", size_bytes=50, checksum="", file_type=""),
                ev.VersionFact(key="thumb", size_bytes=7, checksum="", file_type=""))
    return MediaState(record_name="r", declared_size_bytes=1000, versions=versions,
                      icloud_size_bytes=1350, **facts)


CASES = {
    "in_icloud": [state(), state(deletion_state="failed")],
    "deletion_requested": [state(deletion_state="requested")],
    "recently_deleted": [state(deletion_state="deleted",
                               recoverable_until_utc=NOW + timedelta(days=d)) for d in (3, 20)],
    "freed_for_good": [state(deletion_state="deleted",
                             recoverable_until_utc=NOW - timedelta(days=1))],
    "deleted_elsewhere": [state(is_remote_deleted=True)],
}


def test_each_asset_counts_in_one_standing_split_by_resource(tmp_path: Path) -> None:
    projection = MediaProjection(tmp_path / "media.db", CrashPoints())
    try:
        states = [s for group in CASES.values() for s in group]
        insert_rows(projection._con, [state_to_row(f"{i:032x}", s) for i, s in enumerate(states)])
        standings = icloud_standings(projection, NOW)
    finally:
        projection.close()
    for name in STANDINGS:
        row, n = standings[name], len(CASES[name])
        assert (row.assets, row.original_bytes, row.live_video_bytes, row.other_bytes) == (
            n, 1000 * n, 300 * n, 50 * n), name
    assert standings.ever.total_bytes == 1350 * len(states)
    assert standings.recoverable_until_first_utc == NOW + timedelta(days=3)
    assert standings.recoverable_until_last_utc == NOW + timedelta(days=20)


def test_only_sqlite_damage_becomes_projection_damage(tmp_path: Path) -> None:
    path = tmp_path / "media.db"
    with pytest.raises(ProjectionDamagedError, match="photoledger rebuild"), \
            reported_as_damage(path):
        raise sqlite3.DatabaseError("database disk image is malformed")
    with pytest.raises(sqlite3.OperationalError), reported_as_damage(path):
        raise sqlite3.OperationalError("database is locked")
