"""A running writer's progress, shared with other processes (the web UI) through one small file.

Invariants:
- One JSON snapshot, `<state>/progress.json`, placed whole (a temp file beside it with
  engine.placement's temp-name scheme, then a rename), so a reader never sees half of one.
  While stages report, at most one write every WRITE_EVERY_S (a flusher thread writes what is
  pending) plus one at each phase change; the first and the last are synced (place_bytes).
- It holds no secret and nothing the ledger needs: pid, host, command, run id, phase, assets
  and bytes done/total, started/updated times (UTC, ISO 8601). When the writer ends, whatever
  the reason, the last write adds `finished_at`, the outcome and the exit code (the same ones
  RunFinished records). A failed write of the snapshot never fails the command.
- While the writer lives the file is rewritten at least every HEARTBEAT_S (`updated_at`), even
  when nothing moves: a reader that cannot see the writer's pid (another container) still
  knows it is alive. A writer killed outright leaves a snapshot that still reads as running:
  whether its pid holds the library's lock is decided by the reader (engine.run_control),
  never by this file alone.
- `current_board()` is the board of the writer this process holds now (set by
  engine.services.open_writer for the writer's life), so the CLI's reporter can feed it.
- While a writer is open, the first SIGTERM stops it as Ctrl-C does (KeyboardInterrupt in the
  main thread: files in flight are finished, what was decided is saved, RunFinished says
  `interrupted`, exit 130); once the writer is finishing, SIGTERM is ignored until it has
  recorded its end. A process that already handles SIGTERM (`watch`) keeps its own handler.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from types import FrameType

from engine.errors import PhotoledgerError
from engine.placement import place_bytes, temp_path
from engine.reporting import PROBLEM_OUTCOMES, NullReporter, Reporter

PROGRESS_NAME = "progress.json"
WRITE_EVERY_S = 0.5  # at most ~2 writes a second while stages report
HEARTBEAT_S = 5.0  # written at least this often while the writer lives, moving or not
_CURRENT: ContextVar[ProgressBoard | None] = ContextVar("progress_board", default=None)


@dataclass(frozen=True)
class Snapshot:
    """What a writer is doing now (times are UTC ISO 8601 strings)."""

    pid: int
    host: str
    command: str
    run_id: str
    started_at: str
    updated_at: str
    phase: str = ""
    phase_started_at: str | None = None
    assets_done: int = 0
    assets_total: int | None = None
    bytes_done: int = 0
    bytes_total: int | None = None
    note: str = ""
    last_asset: str = ""  # the last asset done
    problems: int = 0  # assets of this phase that failed (or worse)
    finished_at: str | None = None
    outcome: str | None = None
    exit_code: int | None = None

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None


def progress_path(state_dir: Path) -> Path:
    return state_dir / PROGRESS_NAME


def snapshot_json(snapshot: Snapshot) -> bytes:
    return (json.dumps(asdict(snapshot), sort_keys=True) + "\n").encode()


def parse_snapshot(raw: bytes | str) -> Snapshot | None:
    """The snapshot in `raw`; None when it is not one (damaged, another shape)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    known = {f.name for f in fields(Snapshot)}
    try:
        snapshot = Snapshot(**{k: v for k, v in data.items() if k in known})
    except TypeError:
        return None
    is_sane = (isinstance(snapshot.pid, int) and isinstance(snapshot.assets_done, int)
               and isinstance(snapshot.bytes_done, int))
    return snapshot if is_sane else None


def read_snapshot(state_dir: Path) -> Snapshot | None:
    """The library's last snapshot (None: no writer has reported, or it cannot be read)."""
    try:
        return parse_snapshot(progress_path(state_dir).read_bytes())
    except OSError:
        return None


def write_snapshot(path: Path, snapshot: Snapshot, *, durable: bool) -> None:
    """Place the snapshot whole: synced when `durable`, else a cheap temp + rename."""
    data = snapshot_json(snapshot)
    if durable:
        place_bytes(path, data, tag="progress")
        return
    temp = temp_path(path, "progress")
    try:
        temp.write_bytes(data)
        temp.replace(path)
    except OSError:
        temp.unlink(missing_ok=True)
        raise


def advanced(snapshot: Snapshot, *, assets: int = 0, size_bytes: int = 0) -> Snapshot:
    """The snapshot after `assets` more done and `size_bytes` more moved; a bytes total that
    proves too small follows what is done."""
    done = snapshot.bytes_done + size_bytes
    total = snapshot.bytes_total
    if total is not None and done > total:
        total = done
    return replace(snapshot, assets_done=snapshot.assets_done + assets, bytes_done=done,
                   bytes_total=total)


class ProgressBoard:
    """A Reporter that keeps the snapshot file (see module invariants). Thread-safe."""

    def __init__(self, path: Path, snapshot: Snapshot, clock: Callable[[], datetime],
                 write_every_s: float = WRITE_EVERY_S) -> None:
        self.path = path
        self.snapshot = snapshot
        self.clock = clock
        self.write_every_s = write_every_s
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._dirty = False
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    @classmethod
    def start(cls, state_dir: Path, command: str, run_id: str,
              clock: Callable[[], datetime],
              write_every_s: float = WRITE_EVERY_S) -> ProgressBoard:
        """The board of a writer that starts now: its first snapshot is placed (synced)."""
        now = _iso(clock())
        board = cls(progress_path(state_dir), Snapshot(
            pid=os.getpid(), host=socket.gethostname(), command=command, run_id=run_id,
            started_at=now, updated_at=now), clock, write_every_s)
        board._write(durable=True)
        board._flusher = threading.Thread(target=board._flush_loop, name="progress-board",
                                          daemon=True)
        board._flusher.start()
        return board

    def started(self, phase: str, assets: int | None, total_bytes: int | None = None) -> None:
        with self._lock:
            self.snapshot = replace(
                self.snapshot, phase=phase, phase_started_at=_iso(self.clock()),
                assets_done=0, assets_total=assets, bytes_done=0, bytes_total=total_bytes,
                note="", last_asset="", problems=0)
            self._dirty = True
        self._write(durable=False)

    def advance_bytes(self, size_bytes: int) -> None:
        with self._lock:
            self.snapshot = advanced(self.snapshot, size_bytes=size_bytes)
            self._dirty = True

    def asset_done(self, outcome: str, label: str, detail: str = "",  # noqa: ARG002
                   size_bytes: int = 0) -> None:  # noqa: ARG002 (the protocol's signature)
        with self._lock:
            self.snapshot = replace(
                advanced(self.snapshot, assets=1), last_asset=label,
                problems=self.snapshot.problems + (outcome in PROBLEM_OUTCOMES))
            self._dirty = True

    def note(self, message: str) -> None:
        with self._lock:
            self.snapshot = replace(self.snapshot, note=message)
            self._dirty = True

    def finish(self, outcome: str, exit_code: int) -> None:
        """The writer has ended (its run recorded): stop the flusher, place the last snapshot."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(5)
        with self._lock:
            self.snapshot = replace(self.snapshot, finished_at=_iso(self.clock()),
                                    outcome=outcome, exit_code=exit_code)
            self._dirty = True
        self._write(durable=True)

    @contextmanager
    def current(self) -> Iterator[ProgressBoard]:
        """Be `current_board()` for the block."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    def _flush_loop(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.write_every_s):
            if self._dirty or time.monotonic() - last >= HEARTBEAT_S:
                with self._lock:
                    self._dirty = True
                self._write(durable=False)
                last = time.monotonic()

    def _write(self, *, durable: bool) -> None:
        with self._write_lock:
            with self._lock:
                if not self._dirty and not durable:
                    return
                self.snapshot = replace(self.snapshot, updated_at=_iso(self.clock()))
                snapshot, self._dirty = self.snapshot, False
            with suppress(OSError, PhotoledgerError):  # progress is never worth failing for
                write_snapshot(self.path, snapshot, durable=durable)


def current_board() -> Reporter:
    """The board of the writer this process holds now (a silent reporter when none)."""
    board = _CURRENT.get()
    return NullReporter() if board is None else board


class SigtermStop:
    """SIGTERM as Ctrl-C while a writer works; ignored once it is `finishing`."""

    def __init__(self) -> None:
        self.fired = False
        self.finishing = False

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.fired or self.finishing:
            return
        self.fired = True
        raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def sigterm_stops_writer() -> Iterator[SigtermStop]:
    """Install SigtermStop for the block (only in the main thread, and only where SIGTERM
    still has its default action: `watch` handles it itself)."""
    stop = SigtermStop()
    is_main = threading.current_thread() is threading.main_thread()
    if not is_main or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield stop
        return
    previous = signal.signal(signal.SIGTERM, stop.handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")

