"""`watch`: the whole job again and again, for systemd or a terminal.

Invariants:
- One watcher per library: `<state>/watch.lock` is held for the watcher's life (a second
  `watch` exits LOCKED at once). The writer lock is taken per cycle only, so other commands
  can run between cycles.
- SIGTERM and SIGINT stop the watcher cleanly: during a cycle the stages stop as on Ctrl-C
  (files already being fetched are finished, facts decided so far are saved); during the
  pause the wait ends at once. Then temp files are removed.
- Every cycle opens a new iCloud session (refreshed from the stored one) and re-reads the
  albums through the stages; nothing is kept between cycles but the ledger.
- The exit code is the last finished cycle's when that cycle failed (any code but OK and
  NEEDS_ATTENTION), else OK; an interrupted cycle does not count. So `--cycles N` whose
  every cycle failed exits non-zero, and a stopped watcher whose last cycle failed says so.
- systemd: READY=1 after start, STATUS= after each cycle, STOPPING=1 on stop, through
  $NOTIFY_SOCKET when set; without it (or on any socket error) nothing happens.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from engine.config import Config
from engine.errors import ExitCode
from engine.lock import WriterLock
from engine.pipeline.run import run_once, send_notifications
from engine.pipeline.summary import PipelineOptions, RunSummary
from engine.services import Runtime, check_library
from engine.tempfiles import remove_temp_files

CycleFn = Callable[[int, RunSummary], None]  # after each cycle: its number and summary


def sd_notify(message: str, environ: Mapping[str, str]) -> bool:
    """Send one sd_notify datagram; False when there is no socket or sending failed."""
    address = environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket: NUL first
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True


class StopSignals:
    """SIGTERM/SIGINT set `stopping`; inside a cycle the first one also interrupts it."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.in_cycle = False

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        first = not self.stopping.is_set()
        self.stopping.set()
        if first and self.in_cycle:
            raise KeyboardInterrupt(signal.Signals(signum).name)

    @contextmanager
    def installed(self) -> Iterator[StopSignals]:
        previous = {sig: signal.signal(sig, self.handle) for sig in (signal.SIGTERM,
                                                                     signal.SIGINT)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@dataclass(frozen=True)
class WatchSchedule:
    interval_s: float  # between the end of one cycle and the start of the next
    cycles: int  # stop after this many (0: until stopped)


@dataclass(frozen=True)
class WatchResult:
    cycles: int
    temp_files_removed: int
    exit_code: ExitCode = ExitCode.OK  # the last finished cycle's, when it failed
    headline: str = ""  # why that cycle failed


_NOT_FAILED = (ExitCode.OK, ExitCode.NEEDS_ATTENTION)


def decide_exit(last: RunSummary | None) -> tuple[ExitCode, str]:
    """The watcher's exit code and reason from its last finished cycle (None: none finished)."""
    if last is None or last.exit_code in _NOT_FAILED:
        return ExitCode.OK, ""
    return last.exit_code, last.headline


def temp_roots(config: Config) -> list[Path]:
    """Where photoledger's writers put temp files: the library, the NAS and the outbox."""
    s = config.settings
    roots = [config.library_root]
    roots += [config.resolve(p) for p in (s.nas.root, s.google.outbox) if p]
    return roots


def run_watch(config: Config, runtime: Runtime, options: PipelineOptions,
              schedule: WatchSchedule, *, on_cycle: CycleFn) -> WatchResult:
    """Hold the watch lock and run cycles until stopped (or `cycles` done), then clean up."""
    state_dir = check_library(config)
    signals = StopSignals()
    with WriterLock(state_dir / "watch.lock", "watch"), signals.installed():
        sd_notify("READY=1", os.environ)
        try:
            done, last = watch_loop(config, runtime, options, schedule, signals,
                                    on_cycle=on_cycle)
        finally:
            sd_notify("STOPPING=1", os.environ)
            # Ignore a second signal while cleaning up: the clean-up is short and must finish.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            removed = remove_temp_files(temp_roots(config))
    return WatchResult(done, removed, *decide_exit(last))


def watch_loop(config: Config, runtime: Runtime, options: PipelineOptions,
               schedule: WatchSchedule, signals: StopSignals, *, on_cycle: CycleFn
               ) -> tuple[int, RunSummary | None]:
    """Run cycles until stopped (or `cycles` done); returns how many finished and the last."""
    cycles, done, last = schedule.cycles, 0, None
    while not signals.stopping.is_set() and (cycles == 0 or done < cycles):
        signals.in_cycle = True
        try:
            summary = run_once(config, runtime, options, command="watch")
        except KeyboardInterrupt:
            break
        finally:
            signals.in_cycle = False
        done, last = done + 1, summary
        send_notifications(config, summary, runtime.warn)
        on_cycle(done, summary)
        sd_notify(f"STATUS=cycle {done}: exit {int(summary.exit_code)}", os.environ)
        if cycles == 0 or done < cycles:
            signals.stopping.wait(schedule.interval_s)
    return done, last
