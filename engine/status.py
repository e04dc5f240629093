"""The status use case: what the library holds, what each stage still has to do, what is wrong.

Invariants:
- Read-only: it reads the caught-up projection; nothing is recorded or sent.
- Damaged NAS copies come last copies first (the alarm is shown before anything else).
- iCloud bytes reconcile (projections.icloud_bytes): in iCloud now, deletion requested, in
  Recently Deleted (until when), freed for good and deleted elsewhere add up to every byte
  iCloud ever listed, each split into originals, live-photo videos and other resources.
- The compress backlog is what a `compress` run would compress now: the candidates the plan
  (engine.compress.plan, the tier/age and backup decision) says are due, never the others.
  `report backlog` counts the same set (`due_for_compression`).
- A damaged projection file is reported as ProjectionDamagedError (`photoledger rebuild`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.cleanup.last_copy import decide_damage, describe_damage
from engine.compress.plan import compression_policy, plan_compression
from engine.icloud.twofa_state import icloud_login_status
from engine.services import Services
from projections.damage import reported_as_damage
from projections.icloud_bytes import IcloudStandings, icloud_standings
from projections.last_copy import damaged_nas_copies
from projections.worklists import (
    StageSummary,
    failures,
    last_run,
    library_totals,
    stage_summaries,
    summary_of,
)


@dataclass(frozen=True)
class StatusReport:
    totals: dict[str, int]
    stages: list[StageSummary]
    failures: list[dict[str, Any]]
    last_run: dict[str, Any] | None
    ledger_position: int
    nas_damage: list[dict[str, Any]]  # last copies first
    icloud: IcloudStandings
    icloud_login: str | None = None  # a 2FA code awaited, or Apple's trust ending (estimated)


def due_for_compression(services: Services) -> list[str]:
    """Asset ids a `compress` run would compress now (its plan's decision), oldest first."""
    config = services.config
    policy = compression_policy(config, services.clock(), config.nas_root())
    return [asset_id for asset_id, decision in plan_compression(services.projection, policy)
            if decision.action == "compress"]


def run_status(services: Services) -> StatusReport:
    """Gather the status report from the (caught-up) projection."""
    with reported_as_damage(services.projection.path):
        return _gather(services)


def _gather(services: Services) -> StatusReport:
    now = services.clock()
    projection = services.projection
    stages = [summary_of(projection, "compress", due_for_compression(services))
              if s.stage == "compress" else s for s in stage_summaries(projection)]
    return StatusReport(
        nas_damage=[
            {"asset_id": d.asset_id, "nas_relpath": d.nas_relpath,
             "is_last_copy": d.is_last_copy, "message": describe_damage(d, now)}
            for asset_id, state in damaged_nas_copies(projection)
            if (d := decide_damage(asset_id, state)) is not None
        ],
        icloud=icloud_standings(projection, now),
        totals=library_totals(projection),
        stages=stages,
        failures=failures(projection),
        last_run=last_run(projection),
        ledger_position=projection.position(),
        icloud_login=icloud_login_status(services.config, now),
    )
