"""Single writer (style-and-reliability.md part B, test 16).

A second writer exits LOCKED at once, naming the holder, and records nothing; after the holder
is killed the next writer takes the lock over and says whose stale lock it was; when processes
race for the lock, exactly one wins.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import events as ev
from engine.errors import ExitCode
from engine.ledger import IntegrityError
from tests.factories import REPO_ROOT, Library, new_run, run_cli
from tests.reliability.invariants import file_digest, ledger_digests
from tests.reliability.writer_script import asset_id
from tests.reliability.writer_script import main as write_assets

HOLD_SECONDS = 60
REFUSAL_SECONDS = 5  # "at once": far below HOLD_SECONDS, generous for a loaded CI machine

HOLDER = """
import sys, time
from pathlib import Path
from engine.lock import WriterLock
WriterLock(Path(sys.argv[1]), "test-holder").acquire()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""

RACER = """
import sys, time
from pathlib import Path
from engine.errors import LockedError
from engine.lock import WriterLock
lock_path, go = Path(sys.argv[1]), Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.0005)
try:
    lock = WriterLock(lock_path, "test-racer").acquire()
except LockedError as exc:
    print("locked", exc, flush=True)
    sys.exit(4)
print("won", flush=True)
sys.stdin.read()  # hold the lock until the test closes our stdin
lock.release()
"""


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


def _read_line(process: subprocess.Popen[str], timeout: float = 20) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "child said nothing in time"
    line = process.stdout.readline()
    assert line, f"child exited early: {process.wait()} {process.stderr.read() if process.stderr else ''}"
    return line.strip()


def _stop(process: subprocess.Popen[str]) -> None:
    """Kill (if still running) and reap a child started by _spawn."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture
def populated(library: Library) -> Library:
    """A library with a few recorded assets, so 'nothing changed' is about real content."""
    assert write_assets([str(library.config_path), "--assets", "30", "--batch", "10"]) == 0
    return library


@pytest.fixture
def holder(populated: Library) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the writer lock (and sleeping)."""
    process = _spawn(HOLDER, str(populated.config.state_dir / "writer.lock"), str(HOLD_SECONDS))
    try:
        assert _read_line(process) == "held"
        yield process
    finally:
        _stop(process)


def _state_digests(library: Library) -> dict[str, str | None]:
    media = library.config.state_dir / "media.db"
    return {**ledger_digests(library), "media.db": file_digest(media)}


def test_second_writer_exits_locked_at_once_naming_the_holder(
    populated: Library, holder: subprocess.Popen[str]
) -> None:
    before = _state_digests(populated)
    host = socket.gethostname()

    started = time.monotonic()
    result = run_cli(["rebuild"], populated.config_path, timeout=HOLD_SECONDS)
    elapsed = time.monotonic() - started

    assert result.returncode == ExitCode.LOCKED, result.stderr
    assert elapsed < REFUSAL_SECONDS, f"waited {elapsed:.1f} s for the lock instead of refusing"
    assert holder.poll() is None  # refused while the holder was still running
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("photoledger: error: library is locked by ")
    assert f"pid {holder.pid} on {host}" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert _state_digests(populated) == before


def test_readers_do_not_need_the_writer_lock(
    populated: Library, holder: subprocess.Popen[str]
) -> None:
    result = run_cli(["status", "--json"], populated.config_path, timeout=HOLD_SECONDS)

    assert result.returncode == ExitCode.OK, result.stderr
    assert '"assets": 30' in result.stdout
    assert holder.poll() is None


def test_engine_writer_refuses_while_locked_and_appends_nothing(
    populated: Library, holder: subprocess.Popen[str]
) -> None:
    before = _state_digests(populated)

    result = subprocess.run(
        [sys.executable, "-m", "tests.reliability.writer_script", str(populated.config_path),
         "--assets", "60"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=HOLD_SECONDS,
    )

    assert result.returncode == ExitCode.LOCKED, result.stderr
    assert f"pid {holder.pid}" in result.stderr
    assert _state_digests(populated) == before


def test_lock_of_a_killed_holder_is_taken_over_with_a_warning(
    populated: Library, holder: subprocess.Popen[str]
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    lock_file = populated.config.state_dir / "writer.lock"
    assert lock_file.read_bytes(), "a killed holder leaves its record behind"

    result = run_cli(["rebuild"], populated.config_path)

    assert result.returncode == ExitCode.OK, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("photoledger: warning: took over the writer lock left by ")
    assert f"pid {holder.pid} on {socket.gethostname()}" in lines[0]
    assert "rebuilt the media projection: " in result.stdout
    assert lock_file.read_bytes() == b""  # released cleanly: the next run has nothing to report
    again = run_cli(["rebuild"], populated.config_path)
    assert again.returncode == ExitCode.OK
    assert again.stderr == ""


def test_stale_expected_version_append_is_refused(populated: Library) -> None:
    """Behind the lock, the store itself refuses a second writer's stale append."""
    first, second = populated.open_ledger(), populated.open_ledger()
    try:
        mine, theirs = first.get_asset(asset_id(0)), second.get_asset(asset_id(0))
        run = new_run()
        first.save(run)
        mine.record(ev.RemoteDeleted, run.id.hex, observed_via="full scan")
        theirs.record(ev.RemoteDeleted, run.id.hex, observed_via="full scan")
        first.save(mine)
        head = first.max_position()

        with pytest.raises(IntegrityError):
            second.save(theirs)

        assert second.max_position() == head
        assert [type(e).__name__ for e in first.events_of(asset_id(0))] == [
            "Discovered", "Downloaded", "RemoteDeleted",
        ]
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("racers", [2, 4])
def test_racing_writers_exactly_one_wins(tmp_path: Path, racers: int) -> None:
    lock_path = tmp_path / "writer.lock"
    for round_number in range(3):
        go = tmp_path / f"go-{round_number}"
        processes = [_spawn(RACER, str(lock_path), str(go)) for _ in range(racers)]
        try:
            assert all(_read_line(p) == "ready" for p in processes)
            go.touch()
            outcomes = {p.pid: _read_line(p) for p in processes}
            winners = [pid for pid, outcome in outcomes.items() if outcome == "won"]
            assert len(winners) == 1, outcomes
            (winner,) = winners
            losers = {pid: line for pid, line in outcomes.items() if pid != winner}
            assert all(line.startswith("locked library is locked by ") for line in losers.values())
            assert f'"pid": {winner}' in lock_path.read_text()  # the record names the winner
            for pid in losers:
                assert next(p for p in processes if p.pid == pid).wait(timeout=10) == 4
            winner_process = next(p for p in processes if p.pid == winner)
            assert winner_process.poll() is None  # still holding while the others gave up
            winner_process.communicate(input="", timeout=10)
            assert winner_process.returncode == 0
            assert lock_path.read_text() == ""
        finally:
            for process in processes:
                _stop(process)
        assert os.path.exists(lock_path)


def test_stale_lock_warning_is_one_line_on_a_narrow_terminal(
    populated: Library, holder: subprocess.Popen[str]
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)

    result = run_cli(["rebuild"], populated.config_path, env={"COLUMNS": "80"})

    assert result.returncode == ExitCode.OK, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert f"pid {holder.pid} on {socket.gethostname()}" in result.stderr
