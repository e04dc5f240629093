"""The NAS damage check that `verify nas`, `backup-nas`, `delete execute`, `run` and `watch`
end with (engine.cleanup.last_copy): the alarm, its notification and the exit code.

Invariants:
- It runs inside the command's writer block, after the command's own facts are saved: the
  DamageAlarmRaised facts and the exit code it leads to (RunFinished) belong to that run.
- The `backup-damaged` notification is sent from here, inside the run, unlike the other
  notifications of `run` (sent after the lock is released): a damage counts as told only
  once its notification was delivered, and that fact needs the writer. A failed delivery is
  a warning, and the next run tries again.
- The exit code is the ledger's verdict after the run (18 for a damaged last copy, else 17
  for any damage not repaired), never a count of what this run happened to see.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

from rich.text import Text

from commands.context import Deps
from commands.output import console
from engine.cleanup.last_copy import (
    AlarmContext,
    DamageReport,
    decide_damage_error,
    describe_damage,
    execute_damage_alarms,
)
from engine.errors import LastCopyDamagedError
from engine.notify import Notifier

SHOWN = 20  # damage lines printed; the rest are counted


def check_nas_damage(deps: Deps, warn: Callable[[str], None], *, quiet: bool) -> DamageReport:
    """Raise (notify and record) the alarms not told yet, and print every damage held
    (unless `quiet`, e.g. for --json); returns the damage."""
    notifier = Notifier(deps.config.settings.notify, dict(os.environ))
    report = execute_damage_alarms(AlarmContext(
        ledger=deps.ledger, projection=deps.projection, run_id=deps.run_id, clock=deps.clock,
        send=notifier.send,
    ))
    for problem in report.problems:
        warn(problem)
    if not quiet:
        print_damage(report, deps.clock())
    return report


def print_damage(report: DamageReport, now: datetime) -> None:
    """The damage, last copies first, one line each."""
    for damage in report.damages[:SHOWN]:
        console.print(Text(describe_damage(damage, now)))
    if len(report.damages) > SHOWN:
        console.print(f"... and {len(report.damages) - SHOWN} more damaged NAS copies")


def raise_for_damage(report: DamageReport, now: datetime, *, alarm_only: bool = False) -> None:
    """LastCopyDamagedError (18) for a damaged last copy, else NasMismatchedError (17) for
    any damage held (unless `alarm_only`: the caller has its own codes to raise first)."""
    error = decide_damage_error(report.damages, now)
    if error is not None and (not alarm_only or isinstance(error, LastCopyDamagedError)):
        raise error


def finish_with_damage_check(deps: Deps, warn: Callable[[str], None], *, quiet: bool) -> None:
    """Check and print the damage, then raise its exit code, if any."""
    report = check_nas_damage(deps, warn, quiet=quiet)
    raise_for_damage(report, deps.clock())
