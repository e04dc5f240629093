"""`photoledger watch --interval S`: `run` again and again, for systemd or a terminal.

Invariants:
- One watcher per library: `<state>/watch.lock` is held for the watcher's life (a second
  `watch` exits LOCKED at once). The writer lock is taken per cycle only, so other commands
  can run between cycles.
- SIGTERM and SIGINT stop the watcher cleanly: during a cycle the stages stop as on Ctrl-C
  (files already being fetched are finished, facts decided so far are saved); during the
  pause the wait ends at once. Then temp files are removed and the exit code is 0.
- Every cycle opens a new iCloud session (refreshed from the stored one) and re-reads the
  albums through the stages; nothing is kept between cycles but the ledger.
- systemd: READY=1 after start, STATUS= after each cycle, STOPPING=1 on stop, through
  $NOTIFY_SOCKET when set; without it (or on any socket error) nothing happens.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from commands.context import Settings, check_library
from commands.output import console
from commands.pipeline import PipelineOptions
from commands.run import notify, run_once
from engine.config import Config, load_config
from engine.lock import WriterLock
from engine.tempfiles import remove_temp_files


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


def temp_roots(config: Config) -> list[Path]:
    """Where photoledger's writers put temp files: the library, the NAS and the outbox."""
    s = config.settings
    roots = [config.library_root]
    roots += [config.resolve(p) for p in (s.nas.root, s.google.outbox) if p]
    return roots


def watch_loop(config: Config, settings: Settings, options: PipelineOptions,
               interval_s: float, cycles: int, signals: StopSignals) -> int:
    """Run cycles until stopped (or `cycles` done); returns how many cycles ran."""
    done = 0
    while not signals.stopping.is_set() and (cycles == 0 or done < cycles):
        signals.in_cycle = True
        try:
            summary = run_once(config, settings, options, command="watch")
        except KeyboardInterrupt:
            break
        finally:
            signals.in_cycle = False
        done += 1
        notify(config, summary, settings.warn)
        status = ", ".join(f"{s.stage} {s.status}" for s in summary.stages)
        for line in summary.damage[:20]:  # the alarm first
            console.print(line, markup=False, highlight=False)
        console.print(f"cycle {done}: exit {int(summary.exit_code)}; {status}", markup=False)
        sd_notify(f"STATUS=cycle {done}: exit {int(summary.exit_code)}", os.environ)
        if cycles == 0 or done < cycles:
            signals.stopping.wait(interval_s)
    return done


@click.command("watch")
@click.option("--interval", "interval_s", type=click.FloatRange(min=0), default=3600.0,
              show_default=True, help="Seconds to wait between the end of one run and the next.")
@click.option("--cycles", type=click.IntRange(min=0), default=0, show_default=True,
              help="Stop after this many runs (0: until stopped).")
@click.option("--execute-deletes", is_flag=True,
              help="Also execute deletion plans that pass every guard without --force.")
@click.pass_obj
def command(settings: Settings, interval_s: float, cycles: int, execute_deletes: bool) -> None:
    """Run every stage again and again (`photoledger run` in a loop), for systemd or cron-less
    machines.

    SIGTERM or Ctrl-C finish the files in flight, save what is decided, remove temp files
    and exit 0. A second watcher on the same library is refused. Speaks sd_notify when
    started by systemd (Type=notify). Notifications go out after every cycle.
    """
    config = load_config(settings.config_path)
    state_dir = check_library(config)
    signals = StopSignals()
    with WriterLock(state_dir / "watch.lock", "watch"), signals.installed():
        sd_notify("READY=1", os.environ)
        try:
            done = watch_loop(config, settings, PipelineOptions(execute_deletes=execute_deletes),
                              interval_s, cycles, signals)
        finally:
            sd_notify("STOPPING=1", os.environ)
            # Ignore a second signal while cleaning up: the clean-up is short and must finish.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            removed = remove_temp_files(temp_roots(config))
    console.print(f"watch stopped after {done} runs; {removed} temp files removed", markup=False)
