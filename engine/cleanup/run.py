"""`delete plan` and `delete execute`: the entries, and the only code that deletes from iCloud.

Invariants:
- `run_delete_plan` reconciles open requests (engine.cleanup.reconcile), observes album
  removals, asks the gate about every delete candidate (projections.cleanup) and, in a
  writer, records the plan (DeletePlanned: every entry and the hash that covers them).
- `run_delete_execute` works through a stored plan (engine.cleanup.execute; per asset,
  engine.cleanup.deletion) and, in a writer, records the stage.
- Both run with no-op effects when `dry_run` (engine.cleanup.effects): under a read-only open
  the ledger, the library and iCloud are left exactly as they were.
- The exit code of an execute run is `raise_for_outcome`'s; a damaged ledger refuses both
  before anything is decided.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from engine import events as ev
from engine.asset import SyncRun
from engine.cleanup.album import delete_pending_members, execute_removal_observation
from engine.cleanup.effects import CleanupScope, cleanup_scope, mounted_nas_id
from engine.cleanup.execute import (
    DeleteSummary,
    execute_deletions,
    raise_for_outcome,
    refuse_damaged_ledger,
)
from engine.cleanup.plan import DeletionPlan, decide_mass_delete_guard, plan_deletion
from engine.cleanup.reconcile import execute_reconcile
from engine.icloud.port import IcloudPort
from engine.reporting import NullReporter, Reporter
from engine.services import Services
from projections.cleanup import delete_candidates, library_asset_count

__all__ = [
    "DeleteSummary", "DeletionPlan", "library_asset_count", "plan_deletions", "raise_for_outcome",
    "record_plan", "run_delete_execute", "run_delete_plan",
]


def run_delete_plan(
    services: Services, port: IcloudPort, *, dry_run: bool = False
) -> DeletionPlan:
    """Reconcile open requests, evaluate the gate for every album-moved asset, record the plan
    (in a writer); the plan says what executing it would need --force for."""
    scope = cleanup_scope(services, port, dry_run=dry_run)
    refuse_damaged_ledger(scope)
    execute_reconcile(scope)
    plan = plan_deletions(scope, uuid.uuid4().hex)
    if services.run is not None:
        record_plan(scope, services.run, plan)
        services.projection.catch_up(services.ledger)
    library = library_asset_count(services.projection)
    guard = decide_mass_delete_guard(len(plan.entries), library, scope.settings, False)
    return replace(plan, needs_force=guard)


def run_delete_execute(
    services: Services, port: IcloudPort, plan_id: str, *, force: bool = False,
    dry_run: bool = False, reporter: Reporter | None = None,
) -> DeleteSummary:
    """Execute a stored plan (see engine.cleanup.execute); records the stage unless dry."""
    scope = cleanup_scope(services, port, dry_run=dry_run)
    summary = execute_deletions(scope, plan_id, reporter or NullReporter(), force=force)
    if services.run is not None:
        counts = {key: len(getattr(summary, key)) for key in ("deleted", "failed", "skipped")}
        services.record_stage_completed("delete", counts)
    else:
        services.projection.catch_up(services.ledger)
    return summary


def plan_deletions(scope: CleanupScope, plan_id: str) -> DeletionPlan:
    """Evaluate the gate for every delete candidate (after observing album removals)."""
    execute_removal_observation(scope, delete_pending_members(scope), [])
    scope.projection.catch_up(scope.ledger)
    ids = delete_candidates(scope.projection, scope.zone)
    states = scope.projection.states_of(set(ids))
    nas_id = mounted_nas_id(scope.nas_root)
    candidates = ((i, states[i]) for i in ids)
    return plan_deletion(
        plan_id, candidates, scope.now(), scope.settings, nas_id, selection=scope.selection
    )


def record_plan(scope: CleanupScope, run: SyncRun, plan: DeletionPlan) -> None:
    """Append DeletePlanned with every entry and the hash that covers them."""
    run.record(
        ev.DeletePlanned,
        plan_id=plan.plan_id,
        asset_count=len(plan.entries),
        plan_sha256=plan.plan_sha256,
        entries=plan.entries,
    )
    scope.effects.save(run)
