"""The two ways the CLI renders any stage's Reporter: rich bars on a terminal, plain lines in logs.

Invariants:
- Every stage reports through engine.reporting.Reporter; these are its only CLI renderings.
- Rich: a bar of assets (done/total, "n/N") and, when the stage knows its bytes, a bar of bytes
  with size, rate and time left in binary units (KiB, MiB: the unit of every other size the CLI
  prints; never a file count shown as bytes). The bytes total is never below what is done, and
  once every asset is done it is what was moved. Problems are printed above the bars, never
  markup.
- Plain (cron, logs, `--no-progress`): log lines through commands.output.log (levels, UTC
  timestamps, `--log-format json`): the start with its size, one line per asset that did not
  simply succeed (outcome "ok", shown at `--log-level debug`), and a count at each tenth.
- Both write to stderr; stdout is for results and JSON only.
- `reporter_for` also feeds the progress board of the writer the command holds (the web UI's
  live view), whatever is shown here, `--json` included.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from commands.output import LOG, err_console, log
from engine.progress_board import current_board
from engine.reporting import (
    PHASE_VERBS,
    PROBLEM_OUTCOMES,
    NullReporter,
    Reporter,
    TeeReporter,
)
from engine.units import human_bytes

QUIET_OUTCOMES = frozenset({"ok"})  # plain output: success needs no line of its own


def asset_line(outcome: str, label: str, detail: str = "", size_bytes: int = 0) -> str:
    """`outcome: label (size): detail` on one line."""
    size = f" ({human_bytes(size_bytes)})" if size_bytes else ""
    return f"{outcome}: {label}{size}" + (f" ({detail})" if detail else "")


class PlainReporter:
    """Plain lines on stderr (see module invariants)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.assets_total = self.assets_done = self.bytes_done = 0

    def started(
        self, phase: str, assets: int | None, total_bytes: int | None = None
    ) -> None:
        self.assets_total, self.assets_done, self.bytes_done = assets or 0, 0, 0
        size = f" ({human_bytes(total_bytes)})" if total_bytes is not None else ""
        verb = PHASE_VERBS.get(phase, phase)
        if assets is None:
            log("info", f"{verb} ...")
            return
        log("info", f"{verb}: {assets} asset{'s' if assets != 1 else ''}{size}")

    def advance_bytes(self, size_bytes: int) -> None:
        with self.lock:
            self.bytes_done += size_bytes

    def asset_done(self, outcome: str, label: str, detail: str = "", size_bytes: int = 0) -> None:
        self.assets_done += 1
        level = ("debug" if outcome in QUIET_OUTCOMES
                 else "warning" if outcome in PROBLEM_OUTCOMES else "info")
        log(level, asset_line(outcome, label, detail, size_bytes), outcome=outcome, label=label,
            detail=detail, size_bytes=size_bytes)
        tenth = max(1, -(-self.assets_total // 10))
        if self.assets_total >= 10 and (
            self.assets_done % tenth == 0 or self.assets_done == self.assets_total
        ):
            log("info", f"{self.assets_done}/{self.assets_total} assets, "
                f"{human_bytes(self.bytes_done)}")

    def note(self, message: str) -> None:
        log("info", message)


class RichReporter:
    """Bars for assets and bytes on a terminal (see module invariants)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.lock = threading.Lock()
        self.assets: TaskID | None = None
        self.bytes: TaskID | None = None
        self.assets_total: int | None = None
        self.assets_done = self.bytes_done = self.bytes_total = 0

    def started(
        self, phase: str, assets: int | None, total_bytes: int | None = None
    ) -> None:
        for task in (self.assets, self.bytes):
            if task is not None:
                self.progress.remove_task(task)
        self.assets = self.progress.add_task(f"{phase}: assets", total=assets, show_bytes=False)
        self.bytes = None
        with self.lock:
            self.assets_total, self.assets_done = assets, 0
            self.bytes_done, self.bytes_total = 0, total_bytes or 0
        if total_bytes is not None:
            self.bytes = self.progress.add_task(f"{phase}: bytes", total=total_bytes,
                                                show_bytes=True)

    def advance_bytes(self, size_bytes: int) -> None:
        with self.lock:  # from worker threads
            self.bytes_done += size_bytes
            if self.bytes is None:
                return
            if self.bytes_done > self.bytes_total:  # more than announced: the total follows
                self.bytes_total = self.bytes_done
                self.progress.update(self.bytes, total=self.bytes_total)
            self.progress.update(self.bytes, completed=self.bytes_done)

    def asset_done(self, outcome: str, label: str, detail: str = "", size_bytes: int = 0) -> None:
        with self.lock:
            self.assets_done += 1
            if self.assets is not None:
                self.progress.update(self.assets, completed=self.assets_done)
            if (self.bytes is not None and self.assets_done == self.assets_total
                    and self.bytes_total != self.bytes_done):
                self.bytes_total = self.bytes_done  # all done: the total is what was moved
                self.progress.update(self.bytes, total=self.bytes_total)
        if outcome in PROBLEM_OUTCOMES:
            self.progress.console.print(Text(asset_line(outcome, label, detail, size_bytes)))

    def note(self, message: str) -> None:
        self.progress.console.print(Text(message))


class _BytesOnly(DownloadColumn):
    """Sizes for the bytes bar only ("1.5/17.3 MiB"): the assets bar shows its count."""

    def render(self, task: Task) -> Text:
        return super().render(task) if task.fields.get("show_bytes") else Text("")


class _RateOnly(ProgressColumn):
    """The bytes bar's rate in the same binary units ("4.2 MiB/s")."""

    def render(self, task: Task) -> Text:
        if not task.fields.get("show_bytes"):
            return Text("")
        speed = task.finished_speed or task.speed
        return Text("?" if speed is None else f"{human_bytes(int(speed))}/s")


class _CountOnly(MofNCompleteColumn):
    """The assets bar's "n/N" ("n/?" while the total is unknown)."""

    def render(self, task: Task) -> Text:
        return Text("") if task.fields.get("show_bytes") else super().render(task)


@contextmanager
def reporter_for(show_progress: bool, *, quiet: bool = False) -> Iterator[Reporter]:
    """Rich bars on a terminal, plain lines otherwise; nothing at all when `quiet` (--json).
    Whatever the CLI shows, the writer's progress board (engine.progress_board) is fed too."""
    with _cli_reporter(show_progress, quiet=quiet) as shown:
        board = current_board()
        yield shown if isinstance(board, NullReporter) else TeeReporter(shown, board)


@contextmanager
def _cli_reporter(show_progress: bool, *, quiet: bool) -> Iterator[Reporter]:
    if quiet:
        yield NullReporter()
        return
    if not show_progress or LOG.format == "json":
        yield PlainReporter()
        return
    bars = Progress(
        TextColumn("{task.description}"), BarColumn(), _CountOnly(),
        _BytesOnly(binary_units=True), _RateOnly(), TimeRemainingColumn(), console=err_console,
        transient=True,
    )
    with bars:
        yield RichReporter(bars)
