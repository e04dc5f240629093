"""Media rows: the fast datetime text equals isoformat, NULL-grouped inserts write whole rows,
and a replay refuses a damaged row instead of skipping it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given
from hypothesis import strategies as st

from engine import events as ev
from engine.asset import MediaState
from engine.crashpoints import CrashPoints
from engine.errors import LedgerDamagedError
from projections.media import (
    MEDIA_FIELDS,
    MediaProjection,
    insert_rows,
    row_to_state,
    state_to_row,
)
from tests.factories import Library, discover, download, new_run

ODD_ZONES = [
    UTC,
    timezone(timedelta(0)),  # UTC by value, not the UTC object
    timezone(timedelta(hours=-5, minutes=-30)),
    timezone(timedelta(seconds=3601)),  # sub-minute offsets: isoformat keeps the seconds
    timezone(timedelta(seconds=-20)),
    None,  # naive
]


@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    zone=st.sampled_from(ODD_ZONES),
)
def test_row_datetimes_are_exactly_isoformat(moment: datetime, zone: timezone | None) -> None:
    moment = moment.replace(tzinfo=zone)
    state = MediaState(captured_at_utc=moment, updated_at_utc=moment.replace(microsecond=0))
    row = dict(zip(("asset_id", *MEDIA_FIELDS), state_to_row("a" * 32, state), strict=True))
    assert row["captured_at_utc"] == moment.isoformat()
    assert row["updated_at_utc"] == moment.replace(microsecond=0).isoformat()
    assert row["added_at_utc"] is None


def _table(tmp_path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(tmp_path / "rows.db")
    con.execute(f"CREATE TABLE media (asset_id TEXT PRIMARY KEY, {', '.join(MEDIA_FIELDS)})")
    return con


def test_grouped_inserts_write_and_replace_whole_rows(tmp_path: Path) -> None:
    when = datetime(2020, 2, 29, 12, 0, 0, 5, tzinfo=UTC)
    states = {
        "a" * 32: MediaState(filename="a.jpg", sha256="ab" * 32, downloaded_at_utc=when),
        "b" * 32: MediaState(filename="b.jpg", album_ids=("x",), is_hidden=True),
        "c" * 32: MediaState(filename="c.jpg", sha256="cd" * 32, nas_status="verified"),
    }
    con = _table(tmp_path)
    insert_rows(con, [state_to_row(i, s) for i, s in states.items()])
    # A new state of "a" with fewer facts: the columns it no longer has must become NULL.
    states["a" * 32] = MediaState(filename="a2.jpg", last_error="gone")
    insert_rows(con, [state_to_row("a" * 32, states["a" * 32])])
    rows = con.execute("SELECT * FROM media ORDER BY asset_id").fetchall()
    assert [row_to_state(row) for row in rows] == sorted(states.items())
    assert rows == sorted(state_to_row(i, s) for i, s in states.items())


def test_a_damaged_row_stops_the_rebuild_naming_its_position(library: Library) -> None:
    ledger = library.open_ledger()
    run = new_run()
    asset = discover(run, 1)
    download(asset, run)
    ledger.save(run, asset)
    ledger.app.recorder.insert_events(
        [StoredEvent(asset.id, asset.version + 1, ev.NasVerified.__name__, b"\x93\x01\xc1\x00")]
    )
    projection = MediaProjection(library.config.state_dir / "media.db", CrashPoints())
    try:
        with pytest.raises(LedgerDamagedError, match=f"{asset.id.hex} v{asset.version + 1} at"):
            projection.rebuild(ledger)
        assert projection.position() == 0  # nothing half-written
    finally:
        projection.close()
        ledger.close()


def test_an_unknown_topic_stops_the_rebuild_naming_its_position(library: Library) -> None:
    ledger = library.open_ledger()
    run = new_run()
    asset = discover(run, 1)
    ledger.save(run, asset)
    ledger.app.recorder.insert_events(
        [StoredEvent(asset.id, asset.version + 1, "NoSuchFact", b"\x91\x01")]
    )
    projection = MediaProjection(library.config.state_dir / "media.db", CrashPoints())
    try:
        with pytest.raises(LedgerDamagedError, match=f"{asset.id.hex} v{asset.version + 1} at"):
            projection.rebuild(ledger)
    finally:
        projection.close()
        ledger.close()
