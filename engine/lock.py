"""Single-writer lock on a LOCAL lock file (never on the NAS).

Invariants:
- At most one process writes a library's ledger at a time: the lock is an exclusive, non-
  blocking `flock` on `<state_dir>/writer.lock`, so a second writer fails at once (LockedError)
  and the kernel releases the lock when its holder dies, even by kill -9.
- The file records the holder's pid, host and command so a refusal can say who holds it.
- A lock file whose recorded holder is gone (pid dead, or the flock free) is taken over; the
  caller is told (a warning naming the stale pid and host), never silently.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from engine.errors import LockedError, StorageError


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) the lock."""

    pid: int
    host: str
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} ({self.command})"


class WriterLock:
    """Context manager: hold the library's writer lock for the duration of a command."""

    def __init__(self, path: Path, command: str) -> None:
        self.path = path
        self.me = LockHolder(pid=os.getpid(), host=socket.gethostname(), command=command)
        self.stale: LockHolder | None = None
        self._fd: int | None = None

    def acquire(self) -> WriterLock:
        """Take the lock or raise LockedError; `self.stale` names a dead previous holder."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot create lock file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            who = holder.describe() if holder else "another process"
            raise LockedError(
                f"library is locked by {who}: wait for it to finish (lock file {self.path})"
            ) from None
        self.stale = _read_holder(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(self.me.__dict__).encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        """Clear the holder record and drop the lock."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> LockHolder | None:
    raw = os.pread(fd, 4096, 0)
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
        return LockHolder(
            pid=int(data["pid"]), host=str(data["host"]), command=str(data["command"])
        )
    except (ValueError, KeyError, TypeError):
        return LockHolder(pid=-1, host="?", command="unreadable lock record")
