"""The two ways the CLI renders any stage's Reporter: rich bars on a terminal, plain lines in logs.

Invariants:
- Every stage reports through engine.reporting.Reporter; these are its only CLI renderings.
- Rich: a bar of assets (done/total) and, when the stage knows its bytes, a bar of bytes with
  size, rate and time left, in bytes (never a file count shown as bytes). Problems are printed
  above the bars, never markup.
- Plain (cron, logs, `--no-progress`): the start with its size, one line per asset that did not
  simply succeed (outcome "ok"), and a count at each tenth of the work list.
- Both write to stderr; stdout is for results and JSON only.
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
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from commands.output import err_console, human_bytes
from engine.reporting import NullReporter, Reporter

# What the first line says each phase is doing.
PHASE_VERBS = {
    "download": "downloading",
    "backup": "copying to the NAS",
    "verify": "re-reading NAS copies of",
    "stage": "staging for the Pixel",
    "resend": "re-sending to the Pixel",
    "confirm": "confirming on the Pixel",
    "compress": "compressing",
    "album-move": "moving to DeletePending",
    "delete": "deleting from iCloud",
    "recover": "recovering",
    "discover": "reading what iCloud holds",
}
QUIET_OUTCOMES = frozenset({"ok"})  # plain output: success needs no line of its own
PROBLEM_OUTCOMES = frozenset({"failed", "mismatched", "quarantined", "partial", "unrepairable"})


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
            _print(f"{verb} ...")
            return
        _print(f"{verb}: {assets} asset{'s' if assets != 1 else ''}{size}")

    def advance_bytes(self, size_bytes: int) -> None:
        with self.lock:
            self.bytes_done += size_bytes

    def asset_done(self, outcome: str, label: str, detail: str = "", size_bytes: int = 0) -> None:
        self.assets_done += 1
        if outcome not in QUIET_OUTCOMES:
            _print(asset_line(outcome, label, detail, size_bytes))
        tenth = max(1, -(-self.assets_total // 10))
        if self.assets_total >= 10 and (
            self.assets_done % tenth == 0 or self.assets_done == self.assets_total
        ):
            _print(f"{self.assets_done}/{self.assets_total} assets, "
                   f"{human_bytes(self.bytes_done)}")

    def note(self, message: str) -> None:
        _print(message)


class RichReporter:
    """Bars for assets and bytes on a terminal (see module invariants)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.assets: TaskID | None = None
        self.bytes: TaskID | None = None

    def started(
        self, phase: str, assets: int | None, total_bytes: int | None = None
    ) -> None:
        for task in (self.assets, self.bytes):
            if task is not None:
                self.progress.remove_task(task)
        self.assets = self.progress.add_task(f"{phase}: assets", total=assets, show_bytes=False)
        self.bytes = None
        if total_bytes is not None:
            self.bytes = self.progress.add_task(f"{phase}: bytes", total=total_bytes,
                                                show_bytes=True)

    def advance_bytes(self, size_bytes: int) -> None:
        if self.bytes is not None:  # rich's Progress is thread-safe
            self.progress.advance(self.bytes, size_bytes)

    def asset_done(self, outcome: str, label: str, detail: str = "", size_bytes: int = 0) -> None:
        if self.assets is not None:
            self.progress.advance(self.assets, 1)
        if outcome in PROBLEM_OUTCOMES:
            self.progress.console.print(Text(asset_line(outcome, label, detail, size_bytes)))

    def note(self, message: str) -> None:
        self.progress.console.print(Text(message))


class _BytesOnly(DownloadColumn):
    """Sizes for the bytes bar only: the assets bar shows its count (MofNCompleteColumn)."""

    def render(self, task):  # type: ignore[no-untyped-def]
        return super().render(task) if task.fields.get("show_bytes") else Text("")


class _RateOnly(TransferSpeedColumn):
    def render(self, task):  # type: ignore[no-untyped-def]
        return super().render(task) if task.fields.get("show_bytes") else Text("")


class _CountOnly(MofNCompleteColumn):
    def render(self, task):  # type: ignore[no-untyped-def]
        return Text("") if task.fields.get("show_bytes") else super().render(task)


@contextmanager
def reporter_for(show_progress: bool, *, quiet: bool = False) -> Iterator[Reporter]:
    """Rich bars on a terminal, plain lines otherwise; nothing at all when `quiet` (--json)."""
    if quiet:
        yield NullReporter()
        return
    if not show_progress:
        yield PlainReporter()
        return
    bars = Progress(
        TextColumn("{task.description}"), BarColumn(), _CountOnly(), _BytesOnly(), _RateOnly(),
        TimeRemainingColumn(), console=err_console, transient=True,
    )
    with bars:
        yield RichReporter(bars)


def _print(line: str) -> None:
    err_console.print(line, markup=False, highlight=False, soft_wrap=True)
