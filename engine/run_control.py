"""Whether the writer on the progress board still runs, how far it is, and stopping it.

Invariants:
- A snapshot (engine.progress_board) reads as running when it has not finished and its pid
  holds this library's writer lock (`writer.lock`) or watch lock (`watch.lock`) now, as the
  kernel's lock table says (/proc/locks: a FLOCK on that file's inode held by that pid).
- The lock table lists only processes visible in this process namespace: a writer in another
  container is not in it. Such a snapshot, unfinished, written under another host name (a
  container's) and rewritten within STALE_AFTER_S (the board's heartbeat), reads as running
  ELSEWHERE: shown, but it cannot be cancelled from here.
  Anything else unfinished (killed outright, its pid reused, its heartbeat stale) reads as
  stopped.
- `request_cancel` sends SIGTERM to that pid only after the lock-table check, made immediately
  before sending, for the run the person saw (same run id); no other process is ever
  signalled. SIGTERM stops `watch` and every writer as Ctrl-C does (engine.progress_board).
- Rate and time left come from the snapshot alone: bytes (else assets) done since the phase
  started over the time since then; none while nothing has moved or the total is unknown.
"""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from engine.progress_board import Snapshot, read_snapshot

LOCK_NAMES = ("writer.lock", "watch.lock")
LOCK_TABLE = Path("/proc/locks")
RUNNING, WAITING, FINISHED, STOPPED, IDLE = "running", "waiting", "finished", "stopped", "idle"
ELSEWHERE = "elsewhere"  # alive (fresh heartbeat) but its pid is not visible here
CANCELLABLE = frozenset({RUNNING, WAITING})
STALE_AFTER_S = 30.0  # six missed heartbeats (engine.progress_board.HEARTBEAT_S)

FileId = tuple[int, int, int]  # device major, minor, inode


def parse_lock_table(text: str) -> list[tuple[int, FileId]]:
    """(pid, file) of each FLOCK held (waiters, marked `->`, are skipped)."""
    held: list[tuple[int, FileId]] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 6 or parts[1] != "FLOCK":
            continue
        try:
            major, minor, inode = parts[5].split(":")
            held.append((int(parts[4]), (int(major, 16), int(minor, 16), int(inode))))
        except ValueError:
            continue
    return held


def holds(pid: int, files: list[FileId], table: list[tuple[int, FileId]]) -> bool:
    """Whether `pid` holds a FLOCK on one of `files` (matched by inode and device; by inode
    alone when one side is an anonymous device, as an overlay file system reports to stat)."""
    for holder, (major, minor, inode) in table:
        if holder != pid:
            continue
        for f_major, f_minor, f_inode in files:
            if inode == f_inode and (
                    (major, minor) == (f_major, f_minor) or 0 in (major, f_major)):
                return True
    return False


def lock_files(state_dir: Path) -> list[FileId]:
    found: list[FileId] = []
    for name in LOCK_NAMES:
        try:
            st = (state_dir / name).stat()
        except OSError:
            continue
        found.append((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))
    return found


def holds_library_lock(state_dir: Path, pid: int) -> bool:
    """Whether `pid` holds this library's writer or watch lock now (False when unknown)."""
    files = lock_files(state_dir)
    if not files or pid <= 0:
        return False
    try:
        table = parse_lock_table(LOCK_TABLE.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return False
    return holds(pid, files, table)


def decide_state(snapshot: Snapshot | None, is_holding: bool, now: datetime,
                 host: str) -> str:
    """IDLE (nothing ever reported), RUNNING, WAITING (a `watch` between cycles: its last
    cycle finished, the watcher still holds its lock), ELSEWHERE (alive, pid not visible
    here), FINISHED, or STOPPED (it ended without recording its end: killed)."""
    if snapshot is None:
        return IDLE
    if snapshot.is_finished:
        return WAITING if snapshot.command == "watch" and is_holding else FINISHED
    if is_holding:
        return RUNNING
    updated = _parse(snapshot.updated_at)
    is_fresh = updated is not None and (now - updated).total_seconds() <= STALE_AFTER_S
    return ELSEWHERE if is_fresh and snapshot.host != host else STOPPED


@dataclass(frozen=True)
class Pace:
    rate_per_s: float | None  # bytes a second when the phase moves bytes, else assets
    seconds_left: float | None
    is_bytes: bool


def pace(snapshot: Snapshot, now: datetime) -> Pace:
    """How fast the phase goes and how long it has left (module invariants)."""
    is_bytes = snapshot.bytes_total is not None or snapshot.bytes_done > 0
    done = snapshot.bytes_done if is_bytes else snapshot.assets_done
    total = snapshot.bytes_total if is_bytes else snapshot.assets_total
    end = now if snapshot.finished_at is None else _parse(snapshot.finished_at)
    start = _parse(snapshot.phase_started_at)
    if start is None or end is None or done <= 0:
        return Pace(None, None, is_bytes)
    elapsed = (end - start).total_seconds()
    if elapsed <= 0:
        return Pace(None, None, is_bytes)
    rate = done / elapsed
    left = None if total is None or snapshot.is_finished else max(0.0, (total - done) / rate)
    return Pace(rate, left, is_bytes)


@dataclass(frozen=True)
class Live:
    state: str
    snapshot: Snapshot | None
    pace: Pace | None


def read_live(state_dir: Path, now: datetime) -> Live:
    """The board as a reader sees it now."""
    snapshot = read_snapshot(state_dir)
    return Live(_state(state_dir, snapshot, now), snapshot,
                None if snapshot is None else pace(snapshot, now))


def _state(state_dir: Path, snapshot: Snapshot | None, now: datetime) -> str:
    is_holding = snapshot is not None and holds_library_lock(state_dir, snapshot.pid)
    return decide_state(snapshot, is_holding, now, socket.gethostname())


def cancel_refusal(snapshot: Snapshot | None, state: str, run_id: str) -> str | None:
    """Why run `run_id` must not be signalled now, in words (None: it may be)."""
    if snapshot is None or snapshot.run_id != run_id:
        return "that run is no longer the one reporting here: nothing was stopped"
    if state == FINISHED:
        return f"{snapshot.command} had already ended ({snapshot.outcome}): nothing was stopped"
    if state == ELSEWHERE:
        return (f"{snapshot.command} runs in a process this server cannot see (pid "
                f"{snapshot.pid} on {snapshot.host}: another container?): nothing was stopped; "
                "stop it there, or run serve in the same process namespace")
    if state not in CANCELLABLE:
        return (f"pid {snapshot.pid} does not hold this library's lock (the {snapshot.command} "
                "ended without recording it): nothing was stopped")
    return None


def request_cancel(state_dir: Path, run_id: str, now: datetime) -> str | None:
    """SIGTERM to the writer of run `run_id` when it still runs and holds the library's lock;
    the refusal in words otherwise (None: sent)."""
    snapshot = read_snapshot(state_dir)
    refusal = cancel_refusal(snapshot, _state(state_dir, snapshot, now), run_id)
    if refusal is not None or snapshot is None:
        return refusal
    try:
        os.kill(snapshot.pid, signal.SIGTERM)
    except ProcessLookupError:
        return f"{snapshot.command} (pid {snapshot.pid}) had just ended: nothing was stopped"
    except PermissionError:
        return (f"{snapshot.command} (pid {snapshot.pid}) runs as another user: stop it "
                "there (SIGTERM)")
    return None


def _parse(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
