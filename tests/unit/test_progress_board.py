"""The progress board's pure parts and its file: snapshots, throttled writes, the lock table,
the reader's decisions (running / stopped / finished / waiting), pace and the words shown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine import progress_board as pb
from engine.lock import WriterLock
from engine.reporting import NullReporter, TeeReporter
from engine.run_control import (
    ELSEWHERE,
    FINISHED,
    IDLE,
    RUNNING,
    STOPPED,
    WAITING,
    Live,
    cancel_refusal,
    decide_state,
    holds,
    holds_library_lock,
    pace,
    parse_lock_table,
    read_live,
    request_cancel,
)
from engine.web.live import duration_words, live_words

T0 = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def snap(**changes: object) -> pb.Snapshot:
    base = pb.Snapshot(pid=4242, host="h", command="download", run_id="r1",
                       started_at=T0.isoformat(), updated_at=T0.isoformat())
    return replace(base, **changes)  # type: ignore[arg-type]


def test_snapshot_round_trip_and_damage() -> None:
    one = snap(phase="download", assets_total=3, bytes_total=10)
    assert pb.parse_snapshot(pb.snapshot_json(one)) == one
    assert pb.parse_snapshot(b"{not json") is None
    assert pb.parse_snapshot(b"[1, 2]") is None
    assert pb.parse_snapshot(b'{"pid": 1}') is None  # fields missing
    assert pb.parse_snapshot(b'{"pid": "x", "host": "h", "command": "c", "run_id": "r", '
                             b'"started_at": "t", "updated_at": "t"}') is None
    extra = pb.snapshot_json(one).replace(b"{", b'{"from_a_later_version": 1, ', 1)
    assert pb.parse_snapshot(extra) == one


def test_a_bytes_total_that_proves_too_small_follows_what_is_done() -> None:
    moved = pb.advanced(snap(bytes_total=100, bytes_done=90), assets=1, size_bytes=30)
    assert (moved.assets_done, moved.bytes_done, moved.bytes_total) == (1, 120, 120)
    unknown = pb.advanced(snap(), size_bytes=5)
    assert (unknown.bytes_done, unknown.bytes_total) == (5, None)


def test_the_board_writes_its_start_each_phase_at_most_twice_a_second_and_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    writes: list[bool] = []
    real_write = pb.write_snapshot

    def counted(path: Path, snapshot: pb.Snapshot, *, durable: bool) -> None:
        writes.append(durable)
        real_write(path, snapshot, durable=durable)

    monkeypatch.setattr(pb, "write_snapshot", counted)
    board = pb.ProgressBoard.start(tmp_path, "download", "run-1", clock)
    first = pb.read_snapshot(tmp_path)
    assert first is not None and first.pid == os.getpid() and first.run_id == "run-1"
    assert first.host == socket.gethostname() and not first.is_finished
    assert writes == [True]  # the start is synced
    board.started("download", 4, 1000)
    assert writes == [True, False]  # a phase change is written at once
    assert pb.read_snapshot(tmp_path).phase == "download"  # type: ignore[union-attr]
    began = time.monotonic()
    while time.monotonic() - began < 1.2:  # a stage reporting as fast as it can
        board.advance_bytes(1)
    assert 1 <= len(writes) - 2 <= 4, writes  # about two a second, not thousands
    board.asset_done("ok", "a.jpg", size_bytes=10)
    board.asset_done("failed", "b.jpg", "HTTP 503")
    clock.now = T0 + timedelta(seconds=30)
    board.finish("interrupted", 130)
    assert writes[-1] is True  # the end is synced
    last = pb.read_snapshot(tmp_path)
    assert last is not None and last.is_finished
    assert (last.outcome, last.exit_code, last.assets_done, last.problems) == (
        "interrupted", 130, 2, 1)
    assert last.last_asset == "b.jpg" and last.finished_at == (T0 + timedelta(seconds=30)
                                                               ).isoformat()
    assert not any(p.name.endswith(".photoledger-tmp") for p in tmp_path.iterdir())


def test_a_quiet_writer_still_beats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pb, "HEARTBEAT_S", 0.2)
    clock = Clock()
    board = pb.ProgressBoard.start(tmp_path, "download", "r", clock, write_every_s=0.05)
    clock.now = T0 + timedelta(seconds=7)  # nothing reported since the start
    time.sleep(0.6)
    beat = pb.read_snapshot(tmp_path)
    assert beat is not None and beat.updated_at == clock.now.isoformat()
    board.finish("ok", 0)


def test_a_failed_snapshot_write_never_fails_the_command(tmp_path: Path) -> None:
    board = pb.ProgressBoard.start(tmp_path, "download", "r", Clock())
    board.path = tmp_path / "gone" / "progress.json"  # its folder vanished
    board.started("download", 1)
    board.finish("ok", 0)


def test_current_board_and_tee(tmp_path: Path) -> None:
    assert isinstance(pb.current_board(), NullReporter)
    board = pb.ProgressBoard.start(tmp_path, "run", "r", Clock())
    with board.current():
        assert pb.current_board() is board
        TeeReporter(NullReporter(), pb.current_board()).started("backup", 2, 20)
    assert isinstance(pb.current_board(), NullReporter)
    board.finish("ok", 0)
    assert pb.read_snapshot(tmp_path).phase == "backup"  # type: ignore[union-attr]


def test_sigterm_interrupts_a_writer_once_then_waits_for_its_end() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pb.sigterm_stops_writer() as stop:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        stop.finishing = True
        os.kill(os.getpid(), signal.SIGTERM)  # ignored while the writer records its end
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_process_that_handles_sigterm_itself_keeps_its_handler() -> None:
    def own(_signum: int, _frame: object) -> None:
        """watch's handler stands here."""

    previous = signal.signal(signal.SIGTERM, own)
    try:
        with pb.sigterm_stops_writer():
            assert signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, previous)


LOCKS = """1: FLOCK  ADVISORY  WRITE 801 fe:00:2146538 0 EOF
2: POSIX  ADVISORY  WRITE 900 fe:00:77 0 EOF
3: -> FLOCK  ADVISORY  WRITE 950 fe:00:2146538 0 EOF
4: FLOCK  ADVISORY  WRITE 802 00:2f:555 0 EOF
garbage
"""


def test_the_lock_table_says_who_holds_which_file() -> None:
    table = parse_lock_table(LOCKS)
    assert table == [(801, (0xFE, 0, 2146538)), (802, (0, 0x2F, 555))]
    assert holds(801, [(0xFE, 0, 2146538)], table)
    assert not holds(950, [(0xFE, 0, 2146538)], table)  # a waiter holds nothing
    assert not holds(900, [(0xFE, 0, 77)], table)  # a POSIX lock is not ours
    assert not holds(801, [(0xFE, 1, 2146538)], table)  # same inode, another device
    assert holds(802, [(0xFE, 3, 555)], table)  # an overlay's anonymous device


def test_only_the_pid_holding_the_writer_lock_holds_the_library(tmp_path: Path) -> None:
    assert not holds_library_lock(tmp_path, os.getpid())  # no lock file yet
    with WriterLock(tmp_path / "writer.lock", "download"):
        assert holds_library_lock(tmp_path, os.getpid())
        assert not holds_library_lock(tmp_path, os.getppid())
    assert not holds_library_lock(tmp_path, os.getpid())


def test_the_readers_decisions() -> None:
    soon = T0 + timedelta(seconds=20)  # within the heartbeat's allowance
    late = T0 + timedelta(seconds=31)
    assert decide_state(None, False, soon, "h") == IDLE
    assert decide_state(snap(), True, late, "h") == RUNNING  # its pid holds the lock: alive
    assert decide_state(snap(host="container-1"), True, late, "h") == RUNNING
    assert decide_state(snap(), False, soon, "h") == STOPPED  # killed, or its pid reused
    # Not visible here, written in another container, its heartbeat fresh: alive elsewhere.
    assert decide_state(snap(host="container-1"), False, soon, "h") == ELSEWHERE
    assert decide_state(snap(host="container-1"), False, late, "h") == STOPPED
    done = snap(finished_at=T0.isoformat(), outcome="ok", exit_code=0)
    assert decide_state(done, False, soon, "h") == FINISHED
    assert decide_state(replace(done, command="watch"), True, late, "h") == WAITING
    assert decide_state(replace(done, command="watch"), False, late, "h") == FINISHED
    assert cancel_refusal(snap(), RUNNING, "r1") is None
    assert cancel_refusal(snap(), WAITING, "r1") is None
    assert "another container" in (cancel_refusal(snap(), ELSEWHERE, "r1") or "")
    assert "does not hold" in (cancel_refusal(snap(), STOPPED, "r1") or "")
    assert "already ended" in (cancel_refusal(done, FINISHED, "r1") or "")
    assert "no longer" in (cancel_refusal(snap(), RUNNING, "r2") or "")
    assert "no longer" in (cancel_refusal(None, IDLE, "r1") or "")


def test_pace_from_the_snapshot_alone() -> None:
    moving = snap(phase_started_at=T0.isoformat(), bytes_done=3 * 2**20,
                  bytes_total=9 * 2**20)
    now = T0 + timedelta(seconds=3)
    measured = pace(moving, now)
    assert measured.is_bytes and measured.rate_per_s == 2**20
    assert measured.seconds_left == pytest.approx(6.0)
    assert pace(snap(phase_started_at=T0.isoformat()), now).rate_per_s is None  # nothing moved
    files = pace(snap(phase_started_at=T0.isoformat(), assets_done=6, assets_total=12), now)
    assert not files.is_bytes and files.rate_per_s == 2 and files.seconds_left == 3
    words = live_words(Live(RUNNING, moving, measured))
    assert words["bytes"] == "3.0 MiB of 9.0 MiB" and words["rate"] == "1.0 MiB/s"
    assert words["eta"] == "6 s" and words["percent"] == 33 and words["active"]
    assert words["files"] == "-"  # nothing done, no total known
    assert duration_words(75) == "1 min 15 s" and duration_words(7260) == "2 h 1 min"
    assert duration_words(None) == "-"


def test_headlines() -> None:
    running = snap(started_at="2026-12-06T04:00:00+00:00")
    assert "is running since 2026-12-06 04:00:00 UTC" in live_words(
        Live(RUNNING, running, None))["headline"]
    stopping = live_words(Live(RUNNING, running, None), "r1")
    assert stopping["headline"].startswith("Cancelling")
    assert stopping["moving"] and not stopping["active"]  # no second Cancel, no time left
    assert stopping["eta"] == "-"
    assert not live_words(Live(RUNNING, running, None), "r0")["headline"].startswith("Cancel")
    ended = snap(finished_at="2026-12-06T04:01:00+00:00", outcome="interrupted", exit_code=130)
    words = live_words(Live(FINISHED, ended, None), "r1")
    assert "interrupted (exit 130, stopped as asked" in words["headline"]
    assert not words["active"]
    assert "stopped without recording" in live_words(Live(STOPPED, running, None))["headline"]
    between = live_words(Live(WAITING, replace(ended, command="watch", exit_code=0,
                                               outcome="ok"), None))
    assert "waits for its next cycle; the last cycle ended at 2026-12-06 04:01:00 UTC: ok" in (
        between["headline"])
    assert between["active"] and not between["moving"]  # Cancel, but no stale figures
    assert live_words(Live(RUNNING, running, None))["bytes"] == "-"  # nothing moved, no total
    assert "Nothing is running" in live_words(Live(IDLE, None, None))["headline"]
    elsewhere = live_words(Live(ELSEWHERE, running, None))
    assert "cannot be cancelled from here" in elsewhere["headline"]
    assert elsewhere["moving"] and not elsewhere["active"]  # figures, no Cancel


def test_cancel_signals_no_process_that_does_not_hold_the_lock(tmp_path: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "writer.lock").touch()
        stale = snap(pid=bystander.pid, host=socket.gethostname())  # a recycled pid
        pb.write_snapshot(pb.progress_path(tmp_path), stale, durable=False)
        assert read_live(tmp_path, T0).state == STOPPED
        refusal = request_cancel(tmp_path, "r1", T0)
        assert refusal is not None and "does not hold" in refusal
        assert "no longer" in (request_cancel(tmp_path, "another-run", T0) or "")
        ended = replace(stale, finished_at=T0.isoformat(), outcome="ok", exit_code=0)
        pb.write_snapshot(pb.progress_path(tmp_path), ended, durable=False)
        assert "already ended" in (request_cancel(tmp_path, "r1", T0) or "")
        time.sleep(0.2)
        assert bystander.poll() is None  # never signalled
    finally:
        bystander.kill()
        bystander.wait()
