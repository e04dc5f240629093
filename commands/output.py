"""Terminal output helpers: consoles, JSON, byte sizes and progress bars."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (sorted keys, ISO dates)."""
    console.out(json.dumps(data, indent=2, sort_keys=True, default=str), highlight=False)


def print_outcome(outcome: str, label: str, detail: str = "") -> None:
    """One plain line on stderr about one asset: `outcome: label (detail)` (never markup)."""
    line = f"{outcome}: {label}" + (f" ({detail})" if detail else "")
    err_console.print(line, markup=False, highlight=False, soft_wrap=True)


def human_bytes(size_bytes: int | None) -> str:
    """1536 -> '1.5 KiB'."""
    if size_bytes is None:
        return "-"
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


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
