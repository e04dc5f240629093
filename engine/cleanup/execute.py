"""`delete execute`: work through a stored plan, one asset at a time (engine.cleanup.deletion).

Invariants:
- Before anything else, a request left without an outcome (a crash) is reconciled by asking
  iCloud (engine.cleanup.reconcile).
- Only assets of the stored plan are considered, and only if the plan's entries still hash to
  its stored sha256. The mass-delete guard runs before the first delete, and an I/O error
  stops the run before the next one; both are overridden only by `force`.
- With the NAS required, no asset is deleted unless the NAS the run started on (NasGuard:
  marker id and device) is still mounted: a marker missing at the start or during the run
  stops it with NasUnavailableError (exit 12) and nothing more is deleted. A copy that
  re-reads wrong skips only its asset (`DeleteSummary.nas_mismatched`, exit 17).
- The exit code of a run is decided from its summary alone (`raise_for_outcome`): stopped by
  the guard or an I/O error is DELETE_REFUSED (20), a NAS copy that re-read wrong or was
  missing is NAS_MISMATCHED (17), after every other asset was processed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from engine import events as ev
from engine.cleanup.album import delete_pending_members
from engine.cleanup.deletion import AssetDeletion, execute_asset_deletion
from engine.cleanup.effects import CleanupScope
from engine.cleanup.nas_evidence import start_nas_guard
from engine.cleanup.plan import decide_mass_delete_guard, plan_sha256
from engine.cleanup.reconcile import execute_reconcile
from engine.errors import DeleteRefusedError, NasMismatchedError, PlanInvalidError
from engine.ledger_check import refuse_damaged_ledger as refuse_if_damaged
from engine.nas.access import NasGuard, NasUnavailableError
from engine.reporting import Reporter
from projections.cleanup import library_asset_count, plan_run_id


@dataclass
class DeleteSummary:
    """What an execute run did (or, dry, would do)."""

    plan_id: str
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reconciled: list[str] = field(default_factory=list)
    local_removed: list[str] = field(default_factory=list)
    nas_mismatched: list[str] = field(default_factory=list)  # also in `skipped`
    freed_bytes: int = 0
    nas_reread_bytes: int = 0  # NAS copies re-read at deletion (every asset that got there)
    nas_reread_s: float = 0.0
    stopped_by: str | None = None  # why the run stopped before the end of the plan
    dry_run: bool = False

    def add(self, done: AssetDeletion) -> None:
        """Count one asset's outcome in."""
        if done.reread is not None:
            self.nas_reread_bytes += done.reread.bytes_read
            self.nas_reread_s += done.reread.seconds
        line = f"{done.label}: {done.detail}"
        if done.is_deleted:
            self.deleted.append(done.label)
            self.freed_bytes += done.freed_bytes
            if done.local_removed is not None:
                self.local_removed.append(done.local_removed)
        elif done.outcome == "skipped":
            self.skipped.append(line)
            if done.is_nas_mismatched:
                self.nas_mismatched.append(line)
        else:
            self.failed.append(line)


def refuse_damaged_ledger(scope: CleanupScope) -> None:
    """(e) of the gate: deletions need a ledger that passes `check`'s structural part."""
    refuse_if_damaged(scope.ledger, "delete")


def execute_deletions(
    scope: CleanupScope, plan_id: str, reporter: Reporter, *, force: bool = False
) -> DeleteSummary:
    """Reconcile, check the plan and the guard, then delete each entry the gate still passes."""
    refuse_damaged_ledger(scope)
    summary = DeleteSummary(plan_id, dry_run=scope.is_dry_run)
    summary.reconciled = execute_reconcile(scope)
    entries = load_plan(scope, plan_id)
    guard = decide_mass_delete_guard(
        len(entries), library_asset_count(scope.projection), scope.settings, had_io_error=False
    )
    if guard and not force:
        raise DeleteRefusedError(
            f"refusing to delete {len(entries)} assets: {'; '.join(guard)} (`--force` overrides)"
        )
    nas_guard = start_nas_guard(scope.nas_root) if entries and is_nas_required(scope) else None
    members = delete_pending_members(scope)
    reporter.started("delete", len(entries))
    try:
        _delete_entries(scope, entries, members, summary, nas_guard=nas_guard, reporter=reporter,
                        force=force)
    except NasUnavailableError as exc:
        raise NasUnavailableError(
            f"{exc}; delete stopped after {len(summary.deleted)} deleted, nothing more was "
            f"deleted (run `photoledger delete execute {plan_id}` again with the NAS mounted)"
        ) from None
    return summary


def _delete_entries(
    scope: CleanupScope, entries: tuple[ev.PlanEntry, ...], members: set[str],
    summary: DeleteSummary, *, nas_guard: NasGuard | None, reporter: Reporter, force: bool,
) -> None:
    for entry in entries:
        done = execute_asset_deletion(scope, entry, members, summary.plan_id, nas_guard)
        summary.add(done)
        _report(reporter, done)
        if done.outcome == "io-error" and not force:
            summary.stopped_by = "an I/O error talking to iCloud: the rest was not tried"
            break


def _report(reporter: Reporter, done: AssetDeletion) -> None:
    if done.is_deleted:
        reporter.asset_done("ok", done.label, size_bytes=done.freed_bytes)
    elif done.outcome == "skipped":
        reporter.asset_done("mismatched" if done.is_nas_mismatched else "skipped", done.label,
                            done.detail)
    else:
        reporter.asset_done("failed", done.label, done.detail)


def is_nas_required(scope: CleanupScope) -> bool:
    return "nas" in scope.settings.cleanup.require


def load_plan(scope: CleanupScope, plan_id: str) -> tuple[ev.PlanEntry, ...]:
    """The stored plan's entries; PlanInvalidError when unknown or not matching its hash."""
    run_id = plan_run_id(scope.projection, plan_id)
    if run_id is None:
        raise PlanInvalidError(
            f"no deletion plan {plan_id} in the ledger (`photoledger delete plan` makes one)"
        )
    for event in scope.ledger.events_of(UUID(run_id)):
        if isinstance(event, ev.DeletePlanned) and event.plan_id == plan_id:
            entries = tuple(event.entries)
            if plan_sha256(entries) != event.plan_sha256 or len(entries) != event.asset_count:
                raise PlanInvalidError(
                    f"deletion plan {plan_id}: its entries do not match its stored sha256"
                )
            return entries
    raise PlanInvalidError(f"deletion plan {plan_id} is listed but its fact is missing")


def raise_for_outcome(summary: DeleteSummary) -> None:
    """The run's exit code when it is not 0 (see the module invariants)."""
    if summary.stopped_by:
        raise DeleteRefusedError(f"stopped: {summary.stopped_by}")
    if summary.nas_mismatched:
        recorded = "not recorded: dry run" if summary.dry_run else "recorded as NasMismatched"
        raise NasMismatchedError(
            f"{len(summary.nas_mismatched)} assets not deleted: a NAS copy is missing or "
            f"holds other bytes ({recorded}; `photoledger backup-nas` repairs it from a good "
            f"copy); first: {summary.nas_mismatched[0]}"
        )
