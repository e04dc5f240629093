"""How a stage tells its caller what it is doing: one protocol for every stage, and a silent one.

Invariants:
- Stages report through `Reporter` only (never print): the CLI renders it as rich bars or
  plain lines (commands/progress.py), a writer's progress board (engine.progress_board) as a
  snapshot file the web UI streams, tests with `NullReporter`; `TeeReporter` feeds several.
- Calls may come from worker threads (`advance_bytes`, from copies in flight); an
  implementation must be thread-safe for that one.
- `phase` names what the stage does now: "download", "compare" (adopted files with
  iCloud's bytes), "backup", "verify", "stage", "confirm",
  "compress", "album-move", "delete", "recover", "discover".
- Sizes are in bytes; `assets` or `total_bytes` None means the stage cannot know it up front
  (discover learns how many records iCloud holds only by reading them all).
"""

from __future__ import annotations

from typing import Protocol

# What each phase is doing, in words (the CLI's first line, the web UI's live page).
PHASE_VERBS = {
    "download": "downloading",
    "compare": "comparing with iCloud's bytes the adopted files of",
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
# Per-asset outcomes that are problems (shown even when successes are not).
PROBLEM_OUTCOMES = frozenset({"failed", "mismatched", "quarantined", "partial", "unrepairable"})


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


class TeeReporter:
    """Sends every call to each reporter in turn (the CLI's bars and the progress board)."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = reporters

    def started(
        self, phase: str, assets: int | None, total_bytes: int | None = None
    ) -> None:
        for reporter in self.reporters:
            reporter.started(phase, assets, total_bytes)

    def advance_bytes(self, size_bytes: int) -> None:
        for reporter in self.reporters:
            reporter.advance_bytes(size_bytes)

    def asset_done(self, outcome: str, label: str, detail: str = "", size_bytes: int = 0) -> None:
        for reporter in self.reporters:
            reporter.asset_done(outcome, label, detail, size_bytes)

    def note(self, message: str) -> None:
        for reporter in self.reporters:
            reporter.note(message)
