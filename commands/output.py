"""Terminal output helpers shared by the commands: consoles, JSON, byte sizes, progress bars,
and the NAS damage check that `verify nas`, `backup-nas`, `delete execute`, `recover`, `run`
and `watch` end with.

Invariants:
- The damage check (engine.cleanup.last_copy) runs inside the command's writer block, after
  the command's own facts are saved: the DamageAlarmRaised facts and the exit code it leads to
  (RunFinished) belong to that run. The `backup-damaged` notification is sent from there,
  inside the run, unlike the other notifications of `run`: a damage counts as told only once
  its notification was delivered. A failed delivery is a warning; the next run tries again.
- The exit code is the ledger's verdict after the run (18 for a damaged last copy, else 17 for
  any damage not repaired), never a count of what this run happened to see.
- Logs (`log`, `warn_line`, `error_line`) are the one way stderr lines are written: `--log-level`
  drops lines below it (errors always pass); `--log-format json` writes one JSON object per
  line (time, level, message and any fields); text lines that are not on a terminal start with
  the UTC time (ISO 8601), except `photoledger: warning:`/`photoledger: error:` lines, which
  keep that documented first word so scripts can match them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from engine.cleanup.last_copy import (
    DamageReport,
    describe_damage,
    notify_damage,
    raise_for_damage,
)
from engine.services import Services

DAMAGE_LINES_SHOWN = 20  # damage lines printed; the rest are counted

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


@dataclass
class LogStyle:
    """How stderr lines are written (set once by the CLI's global options)."""

    level: str = "info"
    format: str = "text"
    timestamps: bool = False  # text lines start with the UTC time (output that is no terminal)


LOG = LogStyle(timestamps=not err_console.is_terminal)


def configure_logging(level: str, log_format: str) -> None:
    """Apply `--log-level` and `--log-format`."""
    LOG.level, LOG.format = level, log_format


def log(level: str, message: str, **fields: str | int) -> None:
    """One line on stderr at `level`, unless below `--log-level` (never markup)."""
    _emit(level, message, "", fields)


def warn_line(message: str) -> None:
    """A warning: `photoledger: warning: <message>`."""
    _emit("warning", message, "photoledger: warning: ", {})


def error_line(message: str, **fields: str | int) -> None:
    """The one error line a failed command ends with: `photoledger: error: <message>`."""
    _emit("error", message, "photoledger: error: ", fields)


def _emit(level: str, message: str, prefix: str, fields: dict[str, str | int]) -> None:
    if level != "error" and LOG_LEVELS.index(level) < LOG_LEVELS.index(LOG.level):
        return
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if LOG.format == "json":
        record = {"time": now, "level": level, "message": message, **fields}
        err_console.out(json.dumps(record, ensure_ascii=False), highlight=False)
        return
    line = prefix + message if prefix or not LOG.timestamps else f"{now} {message}"
    err_console.print(line, markup=False, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (sorted keys, ISO dates)."""
    console.out(json.dumps(data, indent=2, sort_keys=True, default=str), highlight=False)


def print_outcome(outcome: str, label: str, detail: str = "") -> None:
    """One plain line on stderr about one asset: `outcome: label (detail)` (never markup)."""
    line = f"{outcome}: {label}" + (f" ({detail})" if detail else "")
    log("info", line, outcome=outcome, label=label, detail=detail)


@contextmanager
def progress_bar(description: str, total: int | None, enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr; `advance(n)` is the callable to pass to the engine."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not enabled,
        transient=True,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


def print_plan(relpaths: list[str], verb: str, outcome: str, as_json: bool) -> None:
    """A dry run's list of files, one relative path a line ("would <verb> <path>"), and a
    count ("N files would be <outcome>")."""
    if as_json:
        print_json({"would": verb, "relpaths": relpaths})
        return
    for relpath in relpaths:
        console.print(Text(f"would {verb} {relpath}"))
    console.print(f"{len(relpaths)} files would be {outcome}")


def check_nas_damage(
    services: Services, warn: Callable[[str], None], *, quiet: bool
) -> DamageReport:
    """Raise (notify and record) the alarms not told yet, and print every damage held
    (unless `quiet`, e.g. for --json); returns the damage."""
    report = notify_damage(services, warn)
    if not quiet:
        print_damage(report, services.clock())
    return report


def print_damage(report: DamageReport, now: datetime) -> None:
    """The damage, last copies first, one line each."""
    for damage in report.damages[:DAMAGE_LINES_SHOWN]:
        console.print(Text(describe_damage(damage, now)))
    if len(report.damages) > DAMAGE_LINES_SHOWN:
        console.print(f"... and {len(report.damages) - DAMAGE_LINES_SHOWN} more damaged NAS copies")


def finish_with_damage_check(
    services: Services, warn: Callable[[str], None], *, quiet: bool
) -> None:
    """Check and print the damage, then raise its exit code, if any."""
    report = check_nas_damage(services, warn, quiet=quiet)
    raise_for_damage(report, services.clock())
