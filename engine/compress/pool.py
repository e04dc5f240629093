"""A pool of worker processes, one task each at a time, that survives a crashing encoder.

Invariants:
- At most `workers` tasks are in flight, so memory is bounded by `workers` decoded photos
  or ffmpeg processes, whatever mix of stills and videos the work list holds.
- A task whose worker dies (segfault, OOM kill) or outlives its deadline yields a failed
  outcome naming why; the worker is killed if needed and replaced, and the run goes on.
  (concurrent.futures would break the whole pool on one crash and cannot kill one task.)
- Workers die with the parent (PR_SET_PDEATHSIG), and `close` kills any still running, so an
  interrupted run leaves no encoder behind.
- Outcomes are handed to the caller in the parent process only; workers never write state.
- A worker keeps the heap memory a task freed for the next task (engine.compress.process):
  no page faults to take the same memory back per photo, and a worker's memory stays its
  largest task's working set, so the bound above holds.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

from engine.compress.process import die_with_parent, keep_freed_memory

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class TaskOutcome(Generic[T, R]):
    """A task and either its value or why it produced none."""

    task: T
    value: R | None
    error: str | None


def _worker_main(conn: Connection, target: Callable[[Any], Any]) -> None:
    die_with_parent()
    keep_freed_memory()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        try:
            conn.send((target(task), None))
        except Exception as exc:  # a bug in one task must not take the worker down
            conn.send((None, f"{type(exc).__name__}: {exc}"))


@dataclass
class _Slot:
    process: BaseProcess
    conn: Connection
    task: Any = None
    deadline: float | None = None


class WorkerPool(Generic[T, R]):
    """`workers` processes running `target(task)`; see module invariants."""

    def __init__(self, target: Callable[[T], R], workers: int) -> None:
        self.target = target
        self.context = multiprocessing.get_context("forkserver")
        self.slots = [self._start() for _ in range(max(1, workers))]
        self._pending: Iterator[T] = iter(())
        self._timeout_of: Callable[[T], float | None] = lambda _task: None
        self._exhausted = True

    def _start(self) -> _Slot:
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_worker_main, args=(child, self.target), daemon=True)
        process.start()
        child.close()
        return _Slot(process, parent)

    def run(
        self, tasks: Iterable[T], timeout_of: Callable[[T], float | None]
    ) -> Iterator[TaskOutcome[T, R]]:
        """Run every task; yield each outcome as it finishes (any order).

        Idle workers get their next task before an outcome is handed over, so a worker never
        waits while the caller records the previous one (a rename, an fsync, a ledger save).
        """
        self._pending = iter(tasks)
        self._timeout_of = timeout_of
        self._exhausted = False
        while True:
            self._feed_idle()
            busy = [s for s in self.slots if s.task is not None]
            if not busy:
                return
            outcomes = list(self._collect(busy))
            self._feed_idle()
            yield from outcomes

    def _feed_idle(self) -> None:
        for index, slot in enumerate(self.slots):
            if slot.task is not None or self._exhausted:
                continue
            task = next(self._pending, None)
            if task is None:
                self._exhausted = True
                return
            self.slots[index] = self._give(slot, task, self._timeout_of(task))

    def _give(self, slot: _Slot, task: T, timeout_s: float | None) -> _Slot:
        if not slot.process.is_alive():
            slot = self._start()
        slot.task = task
        slot.deadline = None if timeout_s is None else time.monotonic() + timeout_s
        slot.conn.send(task)
        return slot

    def _collect(self, busy: list[_Slot]) -> Iterator[TaskOutcome[T, R]]:
        deadlines = [s.deadline for s in busy if s.deadline is not None]
        wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        ready = set(wait([s.conn for s in busy], timeout=wait_s))
        for slot in busy:
            if slot.conn in ready:
                yield self._receive(slot)
            elif slot.deadline is not None and time.monotonic() >= slot.deadline:
                yield self._replace(slot, "timed out (the encoder was killed)")

    def _receive(self, slot: _Slot) -> TaskOutcome[T, R]:
        task = slot.task
        try:
            value, error = slot.conn.recv()
        except (EOFError, OSError):
            slot.process.join(timeout=5)
            return self._replace(slot, f"the encoder crashed (exit {slot.process.exitcode})")
        slot.task, slot.deadline = None, None
        return TaskOutcome(task, value, error)

    def _replace(self, slot: _Slot, error: str) -> TaskOutcome[T, R]:
        task = slot.task
        slot.process.kill()
        slot.process.join(timeout=5)
        slot.conn.close()
        self.slots[self.slots.index(slot)] = self._start()
        return TaskOutcome(task, None, error)

    def close(self) -> None:
        """Stop every worker (kill those still busy)."""
        for slot in self.slots:
            if slot.task is None and slot.process.is_alive():
                with contextlib.suppress(OSError):
                    slot.conn.send(None)
        for slot in self.slots:
            slot.process.join(timeout=0 if slot.task is not None else 5)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(timeout=5)
            slot.conn.close()
