"""How a stage tells its caller what it is doing: one protocol for every stage, and a silent one.

Invariants:
- Stages report through `Reporter` only (never print): the CLI renders it as rich bars or
  plain lines (commands/progress.py), the web UI as events, tests with `NullReporter`.
- Calls may come from worker threads (`advance_bytes`, from copies in flight); an
  implementation must be thread-safe for that one.
- `phase` names what the stage does now: "download", "backup", "verify", "stage", "confirm",
  "compress", "album-move", "delete", "recover", "discover".
- Sizes are in bytes; `assets` or `total_bytes` None means the stage cannot know it up front
  (discover learns how many records iCloud holds only by reading them all).
"""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    """Where a stage reports progress and per-asset outcomes."""

    def started(
        self, phase: str, assets: int | None, total_bytes: int | None = None
    ) -> None: ...
    def advance_bytes(self, size_bytes: int) -> None: ...
    def asset_done(
        self, outcome: str, label: str, detail: str = "", size_bytes: int = 0
    ) -> None: ...
    def note(self, message: str) -> None: ...


class NullReporter:
    """Reports nothing (a stage run inside another, tests, `--json`)."""

    def started(
        self, phase: str, assets: int | None, total_bytes: int | None = None
    ) -> None:
        """Nothing to show."""

    def advance_bytes(self, size_bytes: int) -> None:
        """Nothing to show."""

    def asset_done(self, outcome: str, label: str, detail: str = "", size_bytes: int = 0) -> None:
        """Nothing to show."""

    def note(self, message: str) -> None:
        """Nothing to show."""
