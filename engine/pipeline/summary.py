"""What one pass over the stages did, and the one exit code it ends with.

Invariant: the exit code is LAST_COPY_DAMAGED when the ledger holds a damaged last copy (the
alarm outranks everything), else the first failed stage's code, else NAS_MISMATCHED for any
NAS copy still damaged, else ASSETS_FAILED when a stage finished with some assets failed
(recorded; retried next run), else NEEDS_ATTENTION when something waits for the user, else OK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.errors import ExitCode
from engine.notify import Notification


@dataclass
class StageResult:
    stage: str
    status: str  # "ok", "partial" (finished, some assets failed), "failed", "skipped"
    detail: str = ""
    exit_code: int = 0


@dataclass
class RunSummary:
    """What one pass over the stages did and what needs the user."""

    stages: list[StageResult] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    plan_id: str | None = None
    plan_assets: int = 0
    partial_stages: set[str] = field(default_factory=set)  # finished, some assets failed
    damage: list[str] = field(default_factory=list)  # damaged NAS copies, last copies first
    damage_code: ExitCode | None = None  # LAST_COPY_DAMAGED or NAS_MISMATCHED

    @property
    def exit_code(self) -> ExitCode:
        if self.damage_code == ExitCode.LAST_COPY_DAMAGED:  # the alarm outranks everything
            return self.damage_code
        failed = [s for s in self.stages if s.status == "failed"]
        if failed:
            return ExitCode(failed[0].exit_code)
        if self.damage_code is not None:
            return self.damage_code
        if any(s.status == "partial" for s in self.stages):
            return ExitCode.ASSETS_FAILED
        attention = [n for n in self.notifications if n.event != "run-completed"]
        return ExitCode.NEEDS_ATTENTION if attention else ExitCode.OK

    @property
    def headline(self) -> str:
        """The one line that says why the run did not end with 0."""
        if self.damage_code == ExitCode.LAST_COPY_DAMAGED:
            return self.damage[0]
        failed = [s for s in self.stages if s.status == "failed"]
        if failed:
            return f"{failed[0].stage} failed: {failed[0].detail}"
        if self.damage:
            return self.damage[0]
        return "; ".join(n.summary for n in self.notifications if n.event != "run-completed")


@dataclass(frozen=True)
class PipelineOptions:
    execute_deletes: bool = False
    download_workers: int = 8


def summary_json(summary: RunSummary) -> dict[str, Any]:
    """The run summary as JSON data."""
    return {
        "exit_code": int(summary.exit_code),
        "stages": [s.__dict__ for s in summary.stages],
        "notifications": [{"event": n.event, "summary": n.summary, "details": dict(n.details)}
                          for n in summary.notifications],
        "plan_id": summary.plan_id,
        "nas_damage": summary.damage,
    }
