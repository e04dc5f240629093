"""The ledger contract, run unchanged on embedded SQLite and on a real PostgreSQL server.

What the rest of photoledger relies on from the event store: batched saves are one
all-or-nothing transaction, an asset's identity can be created only once, concurrent writers
of one aggregate conflict instead of interleaving, raw reads page in position order without
gaps or duplicates, the media projection (always a local SQLite file) caught up incrementally
equals a rebuild, the CLI works on either backend, and an unreachable server is one clear
line and exit code 9.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import Any
from uuid import UUID

import eventsourcing.persistence
import msgspec
import pytest

import projections.media as media_module
from engine import events as ev
from engine.asset import Asset, SyncRun
from engine.crashpoints import CrashPoints
from engine.errors import ExitCode, NotFoundError
from engine.ledger import IntegrityError, Ledger, RawEvent
from engine.resources import archived_hashes
from projections.media import MediaProjection, replay_rows, row_to_state
from tests.factories import (
    T0,
    Library,
    discover,
    download,
    make_library,
    new_run,
    remote_change,
    run_cli,
)
from tests.pg import free_port


@pytest.fixture
def ledger(any_library: Library) -> Iterator[Ledger]:
    opened = any_library.open_ledger()
    try:
        yield opened
    finally:
        opened.close()


def _all_events(ledger: Ledger) -> list[RawEvent]:
    """Every stored event; a paging bug fails here (too many events) instead of hanging."""
    events = list(islice(ledger.iter_all(), ledger.max_position() + 1))
    assert len(events) <= ledger.max_position(), "iter_all yields more events than are stored"
    return events


def _backend(library: Library) -> str:
    return "sqlite" if library.config.settings.ledger.url is None else "postgresql"


def _assert_utc(value: Any, what: str) -> None:
    assert value is not None, f"{what} is None"
    assert value.tzinfo is not None, f"{what} is naive: {value!r}"
    assert value.utcoffset() == timedelta(0), f"{what} is not UTC: {value!r}"


def _nas_verify(asset: Asset, run: SyncRun) -> None:
    s = asset.state
    asset.record(
        ev.NasCopied, run.id.hex, nas_relpath=s.local_relpath, size_bytes=s.declared_size_bytes
    )
    asset.record(ev.NasVerified, run.id.hex, sha256=s.sha256, method="reread-fadvise-dontneed",
                 files=archived_hashes(s))


def test_engine_integrity_error_is_the_eventsourcing_one() -> None:
    assert IntegrityError is eventsourcing.persistence.IntegrityError


# (a) one batch in, the same states and events out -----------------------------------------


def test_batch_save_round_trips_states_events_and_aware_datetimes(
    any_library: Library, ledger: Ledger
) -> None:
    run = new_run("discover")
    assets = [discover(run, i) for i in range(1, 6)]
    for asset in assets[:3]:
        download(asset, run)
    _nas_verify(assets[0], run)
    assets[1].record(ev.Quarantined, run.id.hex, reason="size-mismatch", detail="1 byte short")
    expected_states = {a.id: msgspec.structs.replace(a.state) for a in assets}
    expected_versions = {a.id: a.version for a in assets}
    assert expected_versions[assets[0].id] == 4

    position = ledger.save(run, *assets)

    assert position == ledger.max_position()
    stored = _all_events(ledger)
    assert len(stored) == 1 + 5 + 3 + 2 + 1
    assert stored[-1].position == position

    reopened = any_library.open_ledger()  # a second application: nothing served from memory
    try:
        for asset in assets:
            replayed = reopened.get_asset(asset.id)
            assert replayed.state == expected_states[asset.id]
            assert replayed.version == expected_versions[asset.id]

        events = reopened.events_of(assets[0].id)
        assert [type(e) for e in events] == [
            ev.Discovered, ev.Downloaded, ev.NasCopied, ev.NasVerified,
        ]
        assert [e.originator_version for e in events] == [1, 2, 3, 4]
        assert all(e.originator_id == assets[0].id for e in events)
        assert all(e.run_id == run.id.hex for e in events)
        timestamps = [e.timestamp for e in events]
        for i, stamp in enumerate(timestamps):
            _assert_utc(stamp, f"event {i} timestamp")
        assert timestamps == sorted(timestamps)
        discovered = events[0]
        _assert_utc(discovered.captured_at_utc, "captured_at_utc")
        assert discovered.captured_at_utc == T0 - timedelta(days=1, minutes=1)
        assert discovered.record_name == "REC-00000001"
        assert events[3].sha256 == expected_states[assets[0].id].sha256

        assert [type(e) for e in reopened.events_of(assets[1].id)] == [
            ev.Discovered, ev.Downloaded, ev.Quarantined,
        ]
        assert [type(e) for e in reopened.events_of(assets[4].id)] == [ev.Discovered]

        run_events = reopened.events_of(run.id)
        assert [type(e) for e in run_events] == [ev.RunStarted]
        assert run_events[0].command == "discover"
        _assert_utc(run_events[0].timestamp, "RunStarted timestamp")

        state = reopened.get_asset(assets[0].id).state
        for name in ("captured_at_utc", "added_at_utc", "discovered_at_utc",
                     "downloaded_at_utc", "nas_verified_at_utc", "updated_at_utc"):
            _assert_utc(getattr(state, name), name)
    finally:
        reopened.close()


# (b) one identity, one asset; a failed batch stores nothing ----------------------------------


def test_rediscovering_an_identity_is_refused_and_the_whole_batch_is_rolled_back(
    ledger: Ledger,
) -> None:
    run = new_run("discover")
    first, bystander = discover(run, 1), discover(run, 3)
    ledger.save(run, first, bystander)
    before = _all_events(ledger)

    fresh = discover(run, 2)
    download(bystander, run)  # an append to an existing asset, in the same failing batch
    again = discover(run, 1, filename="IMG_9999.HEIC")
    assert again.id == first.id  # same iCloud identity, same aggregate id

    with pytest.raises(IntegrityError):
        ledger.save(fresh, bystander, again)

    assert _all_events(ledger) == before
    assert ledger.max_position() == before[-1].position
    assert ledger.events_of(fresh.id) == []
    with pytest.raises(NotFoundError):
        ledger.get_asset(fresh.id)
    assert ledger.get_asset(bystander.id).version == 1
    assert ledger.get_asset(first.id).state.filename == first.state.filename

    # The store is still usable after the failed transaction (no poisoned connection).
    retried = discover(run, 2)
    position = ledger.save(retried)
    assert position > before[-1].position
    assert ledger.get_asset(retried.id).state == retried.state


def test_the_same_identity_twice_in_one_batch_is_refused(ledger: Ledger) -> None:
    run = new_run("discover")
    ledger.save(run)
    one, two = discover(run, 7), discover(run, 7, filename="copy.HEIC")
    with pytest.raises(IntegrityError):
        ledger.save(one, two)
    assert ledger.events_of(one.id) == []
    assert [r.topic for r in _all_events(ledger)] == ["RunStarted"]


# (c) optimistic concurrency -----------------------------------------------------------------


def test_two_writers_of_one_asset_conflict_instead_of_interleaving(
    any_library: Library, ledger: Ledger
) -> None:
    run = new_run("download")
    asset = discover(run, 1)
    ledger.save(run, asset)

    other = any_library.open_ledger()
    try:
        mine, theirs = ledger.get_asset(asset.id), other.get_asset(asset.id)
        download(mine, run)
        theirs.record(ev.DownloadFailed, run.id.hex, error="timeout", is_retriable=True)

        ledger.save(mine)
        with pytest.raises(IntegrityError):
            other.save(theirs)

        for reader in (ledger, other):
            events = reader.events_of(asset.id)
            assert [type(e) for e in events] == [ev.Discovered, ev.Downloaded]
            state = reader.get_asset(asset.id).state
            assert state.download_failures == 0
            assert state.sha256 == mine.state.sha256
    finally:
        other.close()


# (d) raw reads -------------------------------------------------------------------------------


def test_read_after_pages_in_position_order_without_gaps_or_duplicates(ledger: Ledger) -> None:
    run = new_run("discover")
    ledger.save(run)
    assets = [discover(run, i) for i in range(30)]
    for chunk in (assets[:10], assets[10:25], assets[25:]):
        ledger.save(*chunk)
    for asset in assets[::2]:
        download(asset, run)
    ledger.save(*assets[::2])
    run.record(ev.StageCompleted, stage="download", counts_json='{"downloaded": 15}')
    ledger.save(run)

    everything = ledger.read_after(0, 10_000)
    assert len(everything) == 1 + 30 + 15 + 1
    positions = [r.position for r in everything]
    assert positions == sorted(set(positions)), "positions must be unique and increasing"
    assert positions[-1] == ledger.max_position()
    assert all(isinstance(r, RawEvent) and isinstance(r.state, bytes) for r in everything)
    expected = {(run.id.hex, 1), (run.id.hex, 2)}
    expected |= {(a.id.hex, 1) for a in assets} | {(a.id.hex, 2) for a in assets[::2]}
    assert {(r.originator_id, r.originator_version) for r in everything} == expected
    assert [r.topic for r in everything[:2]] == ["RunStarted", "Discovered"]
    assert everything[-1].topic == "StageCompleted"

    for limit in (1, 4, 7, 46, 47, 48):
        paged: list[RawEvent] = []
        position = 0
        while page := ledger.read_after(position, limit):
            assert len(page) <= limit
            assert page[0].position > position, "a page repeats or goes back"
            paged.extend(page)
            position = page[-1].position
            assert len(paged) <= len(everything), f"paging with limit {limit} never ends"
        assert paged == everything, f"paging with limit {limit} differs from one read"

    middle = everything[20].position
    assert ledger.read_after(middle, 5) == everything[21:26]
    assert ledger.read_after(positions[-1], 10) == []
    # islice: a paging bug must fail here, not loop forever
    assert list(islice(ledger.iter_all(page_size=4), len(everything) + 1)) == everything
    assert list(islice(ledger.iter_all(), len(everything) + 1)) == everything


# (e) the media projection --------------------------------------------------------------------


def _bounded(ledger: Ledger) -> Any:
    """A progress callback that fails (instead of looping forever) past the stored count."""
    limit, seen = ledger.max_position(), [0]

    def progress(count: int) -> None:
        seen[0] += count
        assert seen[0] <= limit, f"applied {seen[0]} events but only {limit} are stored"

    return progress


def _runs_rows(projection: MediaProjection) -> list[tuple[Any, ...]]:
    return projection._con.execute("SELECT * FROM runs ORDER BY run_id").fetchall()


def test_projection_caught_up_in_steps_equals_a_rebuild(
    any_library: Library, ledger: Ledger, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(media_module, "BATCH_EVENTS", 3)  # several batches per catch-up
    state_dir = any_library.config.state_dir
    projection = any_library.open_projection()
    try:
        assert projection.path == state_dir / "media.db"
        run = new_run("run")
        assets = [discover(run, i) for i in range(12)]
        ledger.save(run, *assets)
        assert projection.catch_up(ledger, _bounded(ledger)) == 13
        assert projection.position() == ledger.max_position()

        for asset in assets[:8]:
            download(asset, run)
        for asset in assets[:4]:
            _nas_verify(asset, run)
        assets[9].record(ev.DownloadFailed, run.id.hex, error="HTTP 503", is_retriable=True)
        remote_change(assets[10], run, remote_change_tag="tag10b", remote_checksum="new",
                      declared_size_bytes=2_000_000)
        ledger.save(*assets)
        assert projection.catch_up(ledger, _bounded(ledger)) == 8 + 8 + 2
        assert projection.position() == ledger.max_position()

        for asset in assets[:2]:
            asset.record(ev.PixelStaged, run.id.hex, outbox_relpath=asset.state.local_relpath,
                         size_bytes=asset.state.downloaded_size_bytes, method="hardlink")
            asset.record(ev.GoogleVerified, run.id.hex, device_id="PIXEL-1",
                         size_bytes=asset.state.downloaded_size_bytes)
            asset.record(ev.Compressed, run.id.hex, tier="t1", codec="heic", params_hash="p",
                         size_bytes_before=asset.state.downloaded_size_bytes,
                         size_bytes_after=400_000, sha256_after="f" * 64, source="nas",
                         local_relpath_after=None, live_video_sha256_after=None)
        download(assets[3], run, sha256="e" * 64)  # a new original after a verified one
        assets[11].record(ev.RemoteDeleted, run.id.hex, observed_via="full scan")
        run.record(ev.RunFinished, exit_code=0, outcome="ok")
        ledger.save(run, *assets)
        assert projection.catch_up(ledger, _bounded(ledger)) == 6 + 1 + 1 + 1
        assert projection.catch_up(ledger, _bounded(ledger)) == 0  # idempotent
        assert projection.position() == ledger.max_position()

        incremental = projection.rows()
        incremental_runs = _runs_rows(projection)
        assert len(incremental) == 12
        assert incremental_runs[0][0] == run.id.hex and incremental_runs[0][-1] == "ok"

        # Every row is exactly the aggregate's state.
        for row in incremental:
            asset_id, state = row_to_state(row)
            assert state == ledger.get_asset(UUID(asset_id)).state

        rebuilt = MediaProjection(tmp_path / "rebuilt.db", CrashPoints())
        try:
            assert rebuilt.rebuild(ledger, _bounded(ledger)) == 13 + 18 + 9
            assert rebuilt.rows() == incremental
            assert _runs_rows(rebuilt) == incremental_runs
            assert rebuilt.position() == projection.position()
        finally:
            rebuilt.close()
        assert replay_rows(ledger, ledger.max_position()) == incremental

        projection.rebuild(ledger, _bounded(ledger))  # in place
        assert projection.rows() == incremental
        assert _runs_rows(projection) == incremental_runs
    finally:
        projection.close()

    # The projection is a local SQLite file on both backends; the events are in the backend.
    with sqlite3.connect(state_dir / "media.db") as con:
        assert con.execute("SELECT COUNT(*) FROM media").fetchone()[0] == 12
    assert ledger.backend == _backend(any_library)
    assert (ledger.sqlite_path is None) == (ledger.backend == "postgresql")


# (f) the CLI on either backend ----------------------------------------------------------------


def test_cli_status_and_check_succeed(any_library: Library) -> None:
    ledger = any_library.open_ledger()
    try:
        run = new_run("discover")
        assets = [discover(run, i) for i in range(4)]
        download(assets[0], run)
        position = ledger.save(run, *assets)
    finally:
        ledger.close()

    status = run_cli(["status", "--json"], any_library.config_path, timeout=60)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["totals"]["assets"] == 4
    assert report["totals"]["downloaded"] == 1
    assert report["ledger_position"] == position
    assert report["last_run"]["run_id"] == run.id.hex
    waiting = {s["stage"]: s["waiting"] for s in report["stages"]}
    assert waiting["download"] == 3

    check = run_cli(["check"], any_library.config_path, timeout=60)
    assert check.returncode == ExitCode.OK, check.stdout + check.stderr
    assert "ok: 6 events, 4 assets, projection matches" in check.stdout


# (g) an unreachable server -------------------------------------------------------------------


def test_unreachable_postgresql_is_one_redacted_line_and_exit_9(tmp_path: Path) -> None:
    library = make_library(tmp_path)  # SQLite init, then point the config at a closed port
    port = free_port()
    secret = "s3cr%2Ft-Pa55"  # percent-encoded in the URL; "s3cr/t-Pa55" once decoded
    url = f"postgresql://photos:{secret}@127.0.0.1:{port}/photoledger"
    text = library.config_path.read_text()
    assert "  url: null" in text
    library.config_path.write_text(text.replace("  url: null", f"  url: {url}"))

    result = run_cli(["status"], library.config_path, env={"COLUMNS": "40"}, timeout=90)

    assert result.returncode == ExitCode.LEDGER_UNAVAILABLE, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("photoledger: error:"), lines[0]
    assert f"127.0.0.1:{port}" in lines[0]
    for leaked in (secret, "s3cr/t-Pa55", "Pa55"):
        assert leaked not in result.stderr
        assert leaked not in result.stdout
