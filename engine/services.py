"""The composition root: the services a use case runs with, built and torn down in one place.

Invariants:
- Config, clock and crash points are built once per process and passed down (no globals).
- Readers see a projection caught up with the ledger; they never take the writer lock.
- Writers hold the writer lock for their whole life, start a SyncRun before any asset event,
  and record RunFinished with their exit code even when they fail.
- Run-level facts are written only here (`Services`): stages call `record_stage_completed`.
- Every writer keeps a progress board (engine.progress_board: `<state>/progress.json`, what
  the web UI shows live) from its run's start to its end, and while it is open SIGTERM stops
  it as Ctrl-C does (exit 130, RunFinished `interrupted`).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from engine import events as ev
from engine.asset import SyncRun
from engine.config import Config
from engine.crashpoints import CrashPoints
from engine.errors import ExitCode, LedgerDamagedError, PhotoledgerError, StorageError
from engine.fsutil import probe_writable
from engine.icloud.port import IcloudPort
from engine.ledger import Ledger, open_ledger
from engine.ledger_check import refuse_damaged_ledger
from engine.lock import WriterLock
from engine.progress_board import ProgressBoard, sigterm_stops_writer
from engine.reporting import NullReporter, Reporter
from projections.media import MediaProjection

if TYPE_CHECKING:
    from engine.icloud.adapter import PyicloudPort

VERSION = "0.1.0"
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


class Runtime(Protocol):
    """Process-wide inputs built once by the entry point (the CLI's Settings is one)."""

    @property
    def clock(self) -> Clock: ...
    @property
    def crash(self) -> CrashPoints: ...
    @property
    def warn(self) -> Callable[[str], None]: ...


@dataclass
class Services:
    """Everything a use case runs with: one per command, built by `open_reader`/`open_writer`.

    It is the one writer of run-level facts (RunStarted, StageCompleted, RunFinished)."""

    config: Config
    ledger: Ledger
    projection: MediaProjection
    clock: Clock
    crash: CrashPoints
    run: SyncRun | None = None
    lock: WriterLock | None = None
    progress: Reporter = field(default_factory=NullReporter)  # a writer's progress board

    @property
    def run_id(self) -> str:
        if self.run is None:
            raise RuntimeError("only writer commands have a run")
        return self.run.id.hex

    def record_stage_completed(self, stage: str, counts: Mapping[str, int]) -> None:
        """StageCompleted with the stage's counts, saved; the projection is caught up after."""
        if self.run is None:
            raise RuntimeError("only writer commands have a run")
        self.run.record(ev.StageCompleted, stage=stage, counts_json=json.dumps(dict(counts)))
        self.ledger.save(self.run)
        self.projection.catch_up(self.ledger)


def check_library(config: Config) -> Path:
    """The library root and state folder exist and can be written; returns the state folder."""
    config.require_existing_dir("library.root", config.settings.library.root)
    state_dir = config.state_dir
    if not state_dir.is_dir():
        raise LedgerDamagedError(
            f"{state_dir} does not exist: run `photoledger init` for a new library "
            "(or check that the library folder is mounted)"
        )
    probe_writable(state_dir)
    return state_dir


@contextmanager
def open_reader(config: Config, settings: Runtime, *, catch_up: bool = True) -> Iterator[Services]:
    """Dependencies for a command that only reads (the projection is caught up first)."""
    state_dir = check_library(config)
    ledger = open_ledger(state_dir, config.settings.ledger.url, settings.crash)
    try:
        projection = MediaProjection(state_dir / "media.db", settings.crash)
        if projection.damage:
            settings.warn(
                f"the media projection was unreadable ({projection.damage}); rebuilding it"
            )
        try:
            if catch_up:
                projection.catch_up(ledger)
            yield Services(config, ledger, projection, settings.clock, settings.crash)
        finally:
            projection.close()
    finally:
        ledger.close()


@contextmanager
def writer_lock(config: Config, settings: Runtime, command: str) -> Iterator[WriterLock]:
    """Hold the library's writer lock; warn when taking over a dead holder's lock."""
    state_dir = check_library(config)
    with WriterLock(state_dir / "writer.lock", command) as lock:
        if lock.stale is not None:
            settings.warn(
                f"took over the writer lock left by {lock.stale.describe()}, "
                "which is no longer running"
            )
        yield lock


@contextmanager
def open_writer(
    config: Config, settings: Runtime, command: str, *, verify_ledger: bool = False
) -> Iterator[Services]:
    """Dependencies for a command that appends events: lock, run start, run finish.

    With `verify_ledger` (commands that act outside the ledger on what it says), a ledger
    that fails integrity or decoding is refused before the run is recorded.
    """
    with writer_lock(config, settings, command) as lock, open_reader(config, settings) as deps:
        deps.lock = lock
        if verify_ledger:
            refuse_damaged_ledger(deps.ledger, command)
        deps.run = SyncRun.start(
            uuid.uuid4(),
            command=command,
            host=socket.gethostname(),
            pid=os.getpid(),
            config_sha256=hashlib.sha256(config.path.read_bytes()).hexdigest(),
            version=VERSION,
        )
        deps.ledger.save(deps.run)
        with _recorded_run(deps, command, settings.clock):
            yield deps


@contextmanager
def _recorded_run(deps: Services, command: str, clock: Clock) -> Iterator[Services]:
    """RunFinished with the exit code whatever happens; the progress board (and SIGTERM as
    Ctrl-C) meanwhile."""
    board = ProgressBoard.start(deps.config.state_dir, command, deps.run_id, clock)
    deps.progress = board
    exit_code = ExitCode.INTERNAL
    with sigterm_stops_writer() as sigterm:
        try:
            with board.current():
                yield deps
            exit_code = ExitCode.OK
        except PhotoledgerError as exc:
            exit_code = exc.exit_code
            raise
        except KeyboardInterrupt:
            exit_code = ExitCode.INTERRUPTED
            raise
        finally:
            sigterm.finishing = True
            try:
                _finish_run(deps, exit_code)
            finally:
                board.finish(run_outcome(exit_code), int(exit_code))


@contextmanager
def open_icloud(config: Config) -> Iterator[IcloudPort]:
    """The configured account's iCloud port (PHOTOLEDGER_ICLOUD_ENDPOINT redirects Apple hosts).

    Stages never prompt: a missing password or 2FA code is an error that points at
    `photoledger login`, so unattended runs fail fast instead of hanging. The port is built on
    first use, so a stage with nothing to do neither imports pyicloud nor signs in.
    """
    port = PortOnDemand(lambda: _build_port(config))
    try:
        yield cast(IcloudPort, port)
    finally:
        port.close()


def _build_port(config: Config) -> PyicloudPort:
    # Imported here: pyicloud costs most of a second to import, and only iCloud work needs it.
    from engine.icloud.factory import ENDPOINT_ENV, build_port

    return build_port(config, os.environ.get(ENDPOINT_ENV) or None, None, None)


class PortOnDemand:
    """Stands for an IcloudPort and builds the real one the first time it is used."""

    def __init__(self, build: Callable[[], PyicloudPort]) -> None:
        self._build = build
        self._port: PyicloudPort | None = None

    def __getattr__(self, name: str) -> object:
        if self._port is None:
            self._port = self._build()
        return getattr(self._port, name)

    def close(self) -> None:
        if self._port is not None:
            self._port.close()


def run_outcome(exit_code: ExitCode) -> str:
    """The outcome RunFinished records for an exit code ("ok", "interrupted", ...)."""
    return "ok" if exit_code == ExitCode.OK else exit_code.name.lower()


def _finish_run(deps: Services, exit_code: ExitCode) -> None:
    assert deps.run is not None
    deps.run.record(ev.RunFinished, exit_code=int(exit_code), outcome=run_outcome(exit_code))
    try:
        deps.ledger.save(deps.run)
        deps.projection.catch_up(deps.ledger)
    except (PhotoledgerError, sqlite3.OperationalError) as exc:
        # Already failing (a full disk has usually filled the projection's too): the original
        # error is the one worth reporting. The projection catches up on its next open.
        if exit_code != ExitCode.OK:
            return
        if isinstance(exc, sqlite3.OperationalError):
            raise StorageError(f"cannot update the media projection: {exc}") from exc
        raise
