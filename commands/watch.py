"""`photoledger watch --interval S`: `run` again and again, for systemd or a terminal.

Invariant: the loop, its locks, signals, sd_notify and clean-up are engine.watch's; this module
reads the options and prints one line per cycle (the alarm first) and one at the end, and exits
with the code engine.watch decided (the last cycle's, when it failed). With an `accounts:`
list, engine.watch_accounts runs every account (or the one --account names) each cycle and
this module prints one line per account per cycle.
"""

from __future__ import annotations

from typing import Any

import click

from commands.context import Settings
from commands.options import (
    library_option,
    naming_flags,
    naming_options,
    selection_flags,
    selection_options,
    with_library_flag,
)
from commands.output import console
from engine.errors import ExitCode
from engine.naming_settings import with_naming_flags
from engine.pipeline.accounts_run import AccountOutcome
from engine.pipeline.run import RunAttentionError
from engine.pipeline.summary import PipelineOptions, RunSummary
from engine.selection_scope import with_selection_flags
from engine.watch import WatchSchedule, run_watch
from engine.watch_accounts import run_watch_accounts


def _print_cycle(done: int, summary: RunSummary) -> None:
    status = ", ".join(f"{s.stage} {s.status}" for s in summary.stages)
    for line in summary.damage[:20]:  # the alarm first
        console.print(line, markup=False, highlight=False)
    console.print(f"cycle {done}: exit {int(summary.exit_code)}; {status}", markup=False)


def _print_accounts_cycle(done: int, outcomes: list[AccountOutcome]) -> None:
    for outcome in outcomes:
        for line in (outcome.summary.damage[:20] if outcome.summary else []):
            console.print(line, markup=False, highlight=False)
        console.print(f"cycle {done}: {outcome.line()}", markup=False, highlight=False)


@click.command("watch")
@click.option("--interval", "interval_s", type=click.FloatRange(min=0), default=3600.0,
              show_default=True, help="Seconds to wait between the end of one run and the next.")
@click.option("--cycles", type=click.IntRange(min=0), default=0, show_default=True,
              help="Stop after this many runs (0: until stopped).")
@click.option("--execute-deletes", is_flag=True,
              help="Also execute deletion plans that pass every guard without --force.")
@selection_options
@naming_options
@library_option
@click.pass_obj
def command(
    settings: Settings, /, interval_s: float, cycles: int, execute_deletes: bool,
    libraries: tuple[str, ...], **selection: Any,
) -> None:
    """Run every stage again and again (`photoledger run` in a loop), for systemd or cron-less
    machines.

    SIGTERM or Ctrl-C finish the files in flight, save what is decided, remove temp files
    and exit 0. A second watcher on the same library is refused. Speaks sd_notify when
    started by systemd (Type=notify). Notifications go out after every cycle. Exits with the
    last finished cycle's code when that cycle failed (15, needs attention, is not a failure),
    so `--cycles N` exits non-zero when every cycle failed.

    With an `accounts:` list, each cycle runs every account in turn (or only --account NAME),
    one line per account; the exit code is the last cycle's worst failing account's.
    """
    flags, naming = selection_flags(selection), naming_flags(selection)
    configs = [with_naming_flags(with_library_flag(with_selection_flags(c, flags), libraries),
                                 naming)
               for c in settings.load_accounts()]
    options = PipelineOptions(execute_deletes=execute_deletes)
    schedule = WatchSchedule(interval_s=interval_s, cycles=cycles)
    if configs[0].account is not None:  # an `accounts:` list
        result = run_watch_accounts(configs, settings, options, schedule,
                                    on_cycle=_print_accounts_cycle)
    else:
        result = run_watch(configs[0], settings, options, schedule, on_cycle=_print_cycle)
    console.print(f"watch stopped after {result.cycles} runs; {result.temp_files_removed} "
                  "temp files removed", markup=False)
    if result.exit_code != ExitCode.OK:
        raise RunAttentionError(f"the last cycle failed: {result.headline}", result.exit_code)
