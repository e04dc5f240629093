"""What one pass over the stages did, and the one exit code it ends with.

Invariant: the exit code is LAST_COPY_DAMAGED when the ledger holds a damaged last copy (the
alarm outranks everything), else the first failed stage's code, else NAS_MISMATCHED for any
NAS copy still damaged, else ASSETS_FAILED when a stage finished with some assets failed
(recorded; retried next run), else NEEDS_ATTENTION when something waits for the user, else OK.
- A stage's detail is data: its counts stay a mapping of numbers (`run --json` prints them as a
  JSON object, never as JSON inside a string) beside one line of text for people.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ExitCode
from engine.notify import Notification


@dataclass(frozen=True)
class StageDetail:
    """What a finished stage reports: its counts and one readable line ("downloaded 12, ...")."""

    text: str
    counts: Mapping[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text


def counts_detail(counts: Mapping[str, int], lead: str = "") -> StageDetail:
    """The counts as data and as text: the first count and `failed` always, others when not 0
    ("downloaded 12, failed 0, files 30"); `lead` goes first ("full: listed 40, ...")."""
    shown = [
        f"{key.replace('_', ' ')} {value}"
        for i, (key, value) in enumerate(counts.items())
        if i == 0 or key == "failed" or value
    ]
    text = ", ".join(shown) or "nothing to do"
    return StageDetail(f"{lead}: {text}" if lead else text, dict(counts))


@dataclass
class StageResult:
    stage: str
    status: str  # "ok", "partial" (finished, some assets failed), "failed", "skipped"
    detail: StageDetail | str = ""  # a failed or skipped stage has only its reason
    exit_code: int = 0

    @property
    def text(self) -> str:
        """The detail as one line of text."""
        return str(self.detail)

    @property
    def counts(self) -> dict[str, int]:
        """The stage's counts ({} for a stage that did not finish)."""
        return dict(self.detail.counts) if isinstance(self.detail, StageDetail) else {}

    def as_json(self) -> dict[str, Any]:
        """JSON data: the text in `detail`, the counts as an object of numbers."""
        return {"stage": self.stage, "status": self.status, "detail": self.text,
                "counts": self.counts, "exit_code": self.exit_code}


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
            return f"{failed[0].stage} failed: {failed[0].text}"
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
        "stages": [s.as_json() for s in summary.stages],
        "notifications": [{"event": n.event, "summary": n.summary, "details": dict(n.details)}
                          for n in summary.notifications],
        "plan_id": summary.plan_id,
        "nas_damage": summary.damage,
    }
