"""Queries of the deletion plans `delete plan` (and `run`) recorded: their list, one plan, and
the plans still waiting to be executed.

Invariants:
- A plan is a row of `delete_plans` (projections.runs, from DeletePlanned); what became of its
  assets is read from the media rows whose `deletion_plan_id` names it (DeletionRequested,
  then Deleted or DeletionFailed).
- At most one plan *waits*: the newest plan, when it lists at least one asset, no asset was
  asked to be deleted under it, and it was made after the last deletion request of any plan.
  A newer plan holds the current verdict (every `run`/`watch` cycle makes one), so an older
  plan never waits, nor does one that a later execution overtook.
- Newest first; times are compared as instants (julianday), not as text.
"""

from __future__ import annotations

from typing import NamedTuple

from projections.media import MediaProjection


class PlanRow(NamedTuple):
    """One recorded deletion plan and what became of its assets so far."""

    plan_id: str
    run_id: str
    asset_count: int
    plan_sha256: str
    planned_at_utc: str
    requested: int  # assets asked to be deleted under this plan (any outcome)
    deleted: int
    failed: int

    @property
    def is_executed(self) -> bool:
        return self.requested > 0


_PLANS_SQL = (
    "SELECT p.plan_id, p.run_id, p.asset_count, p.plan_sha256, p.planned_at_utc, "
    "COUNT(m.asset_id) AS requested, "
    "COALESCE(SUM(m.deletion_state = 'deleted'), 0) AS deleted, "
    "COALESCE(SUM(m.deletion_state = 'failed'), 0) AS failed "
    "FROM delete_plans p LEFT JOIN media m ON m.deletion_plan_id = p.plan_id "
)
_NEWEST_FIRST = "GROUP BY p.plan_id ORDER BY julianday(p.planned_at_utc) DESC, p.plan_id"


def _rows(projection: MediaProjection, sql: str, params: tuple[object, ...] = ()
          ) -> list[PlanRow]:
    return [PlanRow(row["plan_id"], row["run_id"], int(row["asset_count"]), row["plan_sha256"],
                    row["planned_at_utc"], int(row["requested"]), int(row["deleted"]),
                    int(row["failed"]))
            for row in projection._query(sql, params)]


def deletion_plans(projection: MediaProjection, limit: int = 50) -> list[PlanRow]:
    """The newest `limit` plans, newest first."""
    return _rows(projection, f"{_PLANS_SQL} {_NEWEST_FIRST} LIMIT ?", (limit,))


def deletion_plan(projection: MediaProjection, plan_id: str) -> PlanRow | None:
    """One plan, or None when no plan has that id."""
    found = _rows(projection, f"{_PLANS_SQL} WHERE p.plan_id = ? {_NEWEST_FIRST}", (plan_id,))
    return found[0] if found else None


def waiting_plan(projection: MediaProjection) -> PlanRow | None:
    """The plan waiting to be executed (see the module invariants), or None."""
    found = _rows(projection, (
        f"{_PLANS_SQL} WHERE p.plan_id = (SELECT plan_id FROM delete_plans ORDER BY "
        "julianday(planned_at_utc) DESC, plan_id LIMIT 1) AND p.asset_count > 0 "
        "AND NOT EXISTS (SELECT 1 FROM media r WHERE r.deletion_plan_id = p.plan_id) "
        "AND julianday(p.planned_at_utc) > COALESCE((SELECT MAX(julianday("
        "d.deletion_requested_at_utc)) FROM media d WHERE d.deletion_requested_at_utc IS NOT "
        f"NULL), 0) {_NEWEST_FIRST}"))
    return found[0] if found else None
