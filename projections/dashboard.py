"""Queries the web dashboard adds to `status`: the recent runs, and why waiting items wait.

Invariants:
- Read-only named queries on the media projection; stage membership is always the stages' own
  WHERE clauses (projections.worklists.STAGE_WORKLISTS), never restated here.
- `waiting_reasons` counts only assets without a recorded problem (FAILURES_WHERE): problems
  and the deletion gate's blocks are the backlog report's `stuck` section, so an asset is
  never given both a problem and a plain waiting reason for the same stage.
- Each reason is a stable code; engine.web.dashboard says it in words.
"""

from __future__ import annotations

from dataclasses import dataclass

from projections.media import MediaProjection
from projections.worklists import FAILURES_WHERE, STAGE_WORKLISTS

_SIZE = "COALESCE(downloaded_size_bytes, declared_size_bytes)"

# Per stage: (reason code, condition) in order; the first condition that holds names the reason.
_REASONS: dict[str, tuple[tuple[str, str], ...]] = {
    "download": (
        ("partly-downloaded", "sha256 IS NOT NULL"),
        ("retry-due", "download_failures > 0"),
        ("not-downloaded-yet", "1"),
    ),
    "backup-nas": (
        ("nas-not-copied", "nas_status IS NULL"),
        ("nas-mismatched", "nas_status = 'mismatched'"),
        ("nas-incomplete", "nas_status = 'incomplete'"),
        ("nas-not-verified", "nas_status IS NOT 'verified'"),
        ("nas-older-download", "nas_verified_sha256 IS NOT sha256"),
        ("sidecar-not-on-nas", "1"),
    ),
    "backup-google": (
        ("waiting-for-pixel", "google_status = 'staged'"),
        ("not-staged", "1"),
    ),
}


@dataclass(frozen=True)
class RunRow:
    """One run of a command, as the runs table holds it."""

    run_id: str
    command: str
    started_at_utc: str
    finished_at_utc: str | None
    exit_code: int | None
    outcome: str | None


@dataclass(frozen=True)
class WaitingReason:
    """How many assets wait for `stage` for one plain reason (no problem recorded)."""

    stage: str
    code: str
    assets: int
    size_bytes: int


def recent_runs(projection: MediaProjection, limit: int = 8) -> list[RunRow]:
    """The most recently started runs, newest first."""
    rows = projection._query(
        "SELECT run_id, command, started_at_utc, finished_at_utc, exit_code, outcome "
        "FROM runs ORDER BY started_at_utc DESC, run_id LIMIT ?", (limit,))
    return [RunRow(r["run_id"], r["command"], r["started_at_utc"], r["finished_at_utc"],
                   r["exit_code"], r["outcome"]) for r in rows]


def waiting_reasons(projection: MediaProjection, stages: tuple[str, ...] | None = None,
                    ) -> list[WaitingReason]:
    """Plain reasons the problem-free assets of the copying stages (download, backup-nas,
    backup-google) wait, in pipeline order, the largest group first within a stage. The later
    stages wait for a decision instead: compress for its plan, album-move and delete for the
    gate (the backlog report's `stuck` section)."""
    found: list[WaitingReason] = []
    for stage in stages or tuple(_REASONS):
        cases = " ".join(f"WHEN {cond} THEN '{code}'" for code, cond in _REASONS[stage])
        rows = projection._query(
            f"SELECT CASE {cases} END AS code, COUNT(*) AS n, COALESCE(SUM({_SIZE}), 0) AS b "
            f"FROM media WHERE ({STAGE_WORKLISTS[stage]}) AND NOT ({FAILURES_WHERE}) "
            "GROUP BY code ORDER BY n DESC, code")
        found += [WaitingReason(stage, r["code"], int(r["n"]), int(r["b"])) for r in rows]
    return found
