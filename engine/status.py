"""The status use case: what the library holds, what each stage still has to do, what is wrong.

Invariants:
- Read-only: it reads the caught-up projection; nothing is recorded or sent.
- Damaged NAS copies come last copies first (the alarm is shown before anything else).
- Bytes deleted from iCloud are told apart by the clock: still in Recently Deleted (and until
  when) or freed for good.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.cleanup.last_copy import decide_damage, describe_damage
from engine.icloud.twofa_state import icloud_login_status
from engine.services import Services
from projections.last_copy import DeletedBytes, damaged_nas_copies, deleted_bytes
from projections.worklists import (
    StageSummary,
    failures,
    last_run,
    library_totals,
    stage_summaries,
)


@dataclass(frozen=True)
class StatusReport:
    totals: dict[str, int]
    stages: list[StageSummary]
    failures: list[dict[str, Any]]
    last_run: dict[str, Any] | None
    ledger_position: int
    nas_damage: list[dict[str, Any]]  # last copies first
    icloud_deleted: DeletedBytes
    icloud_login: str | None = None  # a 2FA code awaited, or Apple's trust ending (estimated)


def run_status(services: Services) -> StatusReport:
    """Gather the status report from the (caught-up) projection."""
    now = services.clock()
    projection = services.projection
    return StatusReport(
        nas_damage=[
            {"asset_id": d.asset_id, "nas_relpath": d.nas_relpath,
             "is_last_copy": d.is_last_copy, "message": describe_damage(d, now)}
            for asset_id, state in damaged_nas_copies(projection)
            if (d := decide_damage(asset_id, state)) is not None
        ],
        icloud_deleted=deleted_bytes(projection, now),
        totals=library_totals(projection),
        stages=stage_summaries(projection),
        failures=failures(projection),
        last_run=last_run(projection),
        ledger_position=projection.position(),
        icloud_login=icloud_login_status(services.config, now),
    )
