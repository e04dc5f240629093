"""`watch` over several accounts: each cycle is `run` over every account in turn.

Invariants:
- The same watcher as engine.watch (signals, sd_notify, per-cycle writer locks, temp-file
  clean-up), holding every account's `<state>/watch.lock` for its life: a second watcher on
  any of the libraries is refused at start. Every account's library must exist at start.
- A cycle runs every account through engine.pipeline.accounts_run (one account's failure
  never stops the others; notifications go out after each account, named by it).
- The exit code is the last finished cycle's worst account code when that code is a failure
  (anything but OK and NEEDS_ATTENTION), else OK; an interrupted cycle does not count.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Sequence
from contextlib import ExitStack

from engine.config import Config
from engine.errors import ExitCode
from engine.lock import WriterLock
from engine.pipeline.accounts_run import AccountOutcome, run_accounts, worst
from engine.pipeline.summary import PipelineOptions
from engine.services import Runtime, check_library
from engine.tempfiles import remove_temp_files
from engine.watch import StopSignals, WatchResult, WatchSchedule, sd_notify, temp_roots

AccountsCycleFn = Callable[[int, list[AccountOutcome]], None]


def decide_accounts_exit(last: list[AccountOutcome] | None) -> tuple[ExitCode, str]:
    """The watcher's code and reason from its last finished cycle's accounts."""
    decisive = worst(last or [])
    if decisive is None or decisive.exit_code == ExitCode.NEEDS_ATTENTION:
        return ExitCode.OK, ""
    return decisive.exit_code, f"account {decisive.account}: {decisive.headline}"


def run_watch_accounts(configs: Sequence[Config], runtime: Runtime, options: PipelineOptions,
                       schedule: WatchSchedule, *, on_cycle: AccountsCycleFn) -> WatchResult:
    """Hold every account's watch lock and run cycles until stopped, then clean up."""
    state_dirs = [check_library(config) for config in configs]
    signals = StopSignals()
    with ExitStack() as locks:
        for state_dir in state_dirs:
            locks.enter_context(WriterLock(state_dir / "watch.lock", "watch"))
        locks.enter_context(signals.installed())
        sd_notify("READY=1", os.environ)
        try:
            done, last = _loop(configs, runtime, options, schedule, signals, on_cycle=on_cycle)
        finally:
            sd_notify("STOPPING=1", os.environ)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the clean-up is short: finish it
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            removed = remove_temp_files([r for c in configs for r in temp_roots(c)])
    return WatchResult(done, removed, *decide_accounts_exit(last))


def _loop(configs: Sequence[Config], runtime: Runtime, options: PipelineOptions,
          schedule: WatchSchedule, signals: StopSignals, *, on_cycle: AccountsCycleFn
          ) -> tuple[int, list[AccountOutcome] | None]:
    cycles, done, last = schedule.cycles, 0, None
    while not signals.stopping.is_set() and (cycles == 0 or done < cycles):
        signals.in_cycle = True
        try:
            outcomes = run_accounts(configs, runtime, options, command="watch")
        except KeyboardInterrupt:
            break
        finally:
            signals.in_cycle = False
        done, last = done + 1, outcomes
        on_cycle(done, outcomes)
        codes = ", ".join(f"{o.account} {int(o.exit_code)}" for o in outcomes)
        sd_notify(f"STATUS=cycle {done}: {codes}", os.environ)
        if cycles == 0 or done < cycles:
            signals.stopping.wait(schedule.interval_s)
    return done, last
