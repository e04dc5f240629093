"""`check` and `rebuild`: the ledger verified, and the projection derived from it again.

Invariants:
- `run_check` only reads (apart from bringing the projection up to date): SQLite integrity,
  every event decodes, versions are contiguous, and the media table equals a fresh replay.
  Comparing with the replay is skipped while the ledger itself has problems. A damaged
  projection file (SQLite's quick_check) is a finding naming `photoledger rebuild`.
- `run_rebuild` replaces the projection's tables in one transaction (the old ones stay
  readable until then); a damaged projection file is recreated from the ledger instead. The
  caller holds the writer lock, so no fact arrives meanwhile.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import PhotoledgerError, ProjectionDamagedError
from engine.ledger_check import check_events, sqlite_integrity
from engine.services import Services
from projections.media import replay_rows
from projections.worklists import asset_count

ProgressFn = Callable[[int], None]


@dataclass(frozen=True)
class CheckReport:
    events: int
    assets: int
    findings: list[str]

    @property
    def is_clean(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class RebuildResult:
    events: int
    assets: int
    seconds: float


def run_check(services: Services, advance: ProgressFn) -> CheckReport:
    """Integrity, decodability, contiguous versions, then projection == replay."""
    findings = sqlite_integrity(services.ledger)
    events = services.ledger.max_position()
    findings += check_events(services.ledger, advance)
    assets = 0
    if not findings:
        findings += _projection_damage(services)
    if not findings:
        findings += _compare_projection(services)
        assets = asset_count(services.projection)
    return CheckReport(events=events, assets=assets, findings=findings)


def _projection_damage(services: Services) -> list[str]:
    problems = services.projection.integrity_findings()
    return [
        f"media projection {services.projection.path} is damaged ({p}): run "
        "`photoledger rebuild`" for p in problems[:5]
    ]


def _compare_projection(services: Services) -> list[str]:
    try:
        services.projection.catch_up(services.ledger)
    except PhotoledgerError as exc:
        return [f"projection cannot catch up: {exc}"]
    actual = services.projection.rows()
    expected = replay_rows(services.ledger, services.projection.position())
    if actual == expected:
        return []
    actual_by_id = {row[0]: row for row in actual}
    expected_by_id = {row[0]: row for row in expected}
    differing = sorted(
        asset_id
        for asset_id in actual_by_id.keys() | expected_by_id.keys()
        if actual_by_id.get(asset_id) != expected_by_id.get(asset_id)
    )
    return [
        f"media projection differs from a fresh replay for {len(differing)} assets "
        f"(first: {differing[0]}): run `photoledger rebuild`"
    ]


def run_rebuild(services: Services, advance: ProgressFn) -> RebuildResult:
    """Replay every event into fresh projection tables (one atomic swap)."""
    # A damaged file's position cannot be read: nothing to compare, the file is recreated.
    with contextlib.suppress(ProjectionDamagedError):
        services.projection.refuse_if_ahead(services.ledger)
    started = time.perf_counter()
    events = services.projection.rebuild(services.ledger, progress=advance)
    assets = asset_count(services.projection)
    return RebuildResult(events, assets, time.perf_counter() - started)
