"""`photoledger delete plan` and `photoledger delete execute PLAN`: deletion from iCloud.

Invariants:
- Deciding and deleting happen in `engine.cleanup.run`; this module wires dependencies, prints,
  and maps the outcome to the exit code: a run stopped by the mass-delete guard or an I/O
  error is DELETE_REFUSED (20); a run that skipped assets because a NAS copy re-read wrong
  or was missing at deletion is NAS_MISMATCHED (17), after every other asset was processed;
  a NAS not mounted (marker missing, at the start or mid-run) is NAS_UNAVAILABLE (12), raised
  by the engine. The code is raised inside the writer, so the run's RunFinished records it.
  A damaged last copy anywhere in the ledger (commands.output) is the alarm, exit 18,
  before any of those; a NAS copy damaged earlier and still not repaired is 17 after them.
- `--dry-run` runs the same engine code with no-op effects under a read-only open (no lock, no
  run recorded): the ledger, the library and iCloud are left exactly as they were.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

import click
from rich.text import Text

from commands.album_move import cleanup_context
from commands.context import Deps, Settings, open_icloud, open_reader, open_writer
from commands.output import check_nas_damage, console, human_bytes, print_json
from engine.cleanup.last_copy import raise_for_damage
from engine.cleanup.plan import DeletionPlan, decide_mass_delete_guard
from engine.cleanup.run import (
    DeleteSummary,
    execute_deletions,
    execute_reconcile,
    library_asset_count,
    plan_deletions,
    record_plan,
    refuse_damaged_ledger,
)
from engine.config import load_config
from engine.errors import DeleteRefusedError, NasMismatchedError
from engine.icloud.port import IcloudPort


def run_delete_plan(deps: Deps, port: IcloudPort, *, dry_run: bool = False) -> DeletionPlan:
    """Reconcile open requests, evaluate the gate for every album-moved asset, record the plan."""
    ctx = cleanup_context(deps, port, dry_run=dry_run)
    refuse_damaged_ledger(ctx)
    execute_reconcile(ctx)
    plan = plan_deletions(ctx, uuid.uuid4().hex)
    if deps.run is not None:
        record_plan(ctx, deps.run, plan)
        deps.projection.catch_up(deps.ledger)
    return plan


def run_delete_execute(
    deps: Deps, port: IcloudPort, plan_id: str, *, force: bool = False, dry_run: bool = False
) -> DeleteSummary:
    """Execute a stored plan (see engine.cleanup.run); records the stage unless dry."""
    summary = execute_deletions(cleanup_context(deps, port, dry_run=dry_run), plan_id, force=force)
    if deps.run is not None:
        counts = {key: len(getattr(summary, key)) for key in ("deleted", "failed", "skipped")}
        deps.record_stage_completed("delete", counts)
    else:
        deps.projection.catch_up(deps.ledger)
    return summary


@click.group("delete")
def command() -> None:
    """Delete from iCloud behind the deletion gate: make a plan, read it, execute it.

    Nothing is deleted unless, when `execute` runs, every resource was downloaded with the
    declared size and hashed, every required backup is verified for those bytes (each NAS
    copy re-read and re-hashed at the moment of deletion, on the NAS the evidence names),
    iCloud holds the same version,
    the asset is still in DeletePending, and the plan is under the mass-delete limits.
    iCloud keeps deleted photos 30 days in Recently Deleted.
    """


@command.command("plan")
@click.option("--dry-run", is_flag=True, help="Evaluate and print; record no plan.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.pass_obj
def plan_command(settings: Settings, dry_run: bool, as_json: bool) -> None:
    """Evaluate the gate for every album-moved asset and record a plan with its evidence."""
    config = load_config(settings.config_path)
    opener = (open_reader(config, settings) if dry_run
              else open_writer(config, settings, "delete", verify_ledger=True))
    with open_icloud(config) as port, opener as deps:
        plan = run_delete_plan(deps, port, dry_run=dry_run)
        library = library_asset_count(deps.projection)
    guard = decide_mass_delete_guard(len(plan.entries), library, config.settings, False)
    _print_plan(plan, guard, recorded=not dry_run, as_json=as_json)


def _print_plan(plan: DeletionPlan, guard: tuple[str, ...], *, recorded: bool,
                as_json: bool) -> None:
    data: dict[str, Any] = {
        "plan_id": plan.plan_id if recorded else None,
        "plan_sha256": plan.plan_sha256,
        "would_delete": [e.record_name for e in plan.entries],
        "blocked": [
            {"asset_id": b.asset_id, "label": b.label, "reasons": [str(r) for r in b.blocks]}
            for b in plan.blocked
        ],
        "icloud_freed_bytes": plan.freed_bytes,
        "needs_force": list(guard),
    }
    if as_json:
        print_json(data)
        return
    for blocked in plan.blocked:
        reasons = "; ".join(str(r) for r in blocked.blocks)
        console.print(Text(f"blocked {blocked.label}: {reasons}"))
    console.print(
        f"{len(plan.entries)} assets would be deleted from iCloud, freeing "
        f"{human_bytes(plan.freed_bytes)}; {len(plan.blocked)} blocked"
    )
    for reason in guard:
        console.print(Text(f"execute will need --force: {reason}"))
    if recorded:
        console.print(f"plan {plan.plan_id} (sha256 {plan.plan_sha256[:16]}...)")
        console.print(f"run `photoledger delete execute {plan.plan_id}` to delete")


@command.command("execute")
@click.argument("plan_id")
@click.option("--dry-run", is_flag=True, help="Run every check; delete and record nothing.")
@click.option("--force", is_flag=True, help="Go past the mass-delete guard.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def execute_command(
    settings: Settings, plan_id: str, dry_run: bool, force: bool, as_json: bool
) -> None:
    """Re-check the gate for each asset of PLAN_ID and delete it from iCloud.

    Per asset: the NAS copies are re-read (when cleanup.require lists nas), then
    DeletionRequested (with the evidence) is recorded, then iCloud is asked, then Deleted or
    DeletionFailed. A request left without an outcome by a crash is settled on the next
    start by asking iCloud, never by deleting again. Exit 17 when a NAS copy re-read wrong
    (that asset stays in DeletePending), 12 when the NAS is not mounted.
    """
    config = load_config(settings.config_path)
    opener = (open_reader(config, settings) if dry_run
              else open_writer(config, settings, "delete", verify_ledger=True))
    with open_icloud(config) as port, opener as deps:
        summary = run_delete_execute(deps, port, plan_id, force=force, dry_run=dry_run)
        if as_json:
            print_json({**asdict(summary), "dry_run": dry_run})
        else:
            _print_summary(summary, dry_run)
        damage = None if dry_run else check_nas_damage(deps, settings.warn, quiet=as_json)
        if damage is not None:  # the alarm (18) outranks every other outcome
            raise_for_damage(damage, deps.clock(), alarm_only=True)
        raise_for_outcome(summary, dry_run)
        if damage is not None:  # a NAS copy damaged before this run and still not repaired
            raise_for_damage(damage, deps.clock())


def raise_for_outcome(summary: DeleteSummary, dry_run: bool) -> None:
    """The run's exit code when it is not 0 (see the module invariants)."""
    if summary.stopped_by:
        raise DeleteRefusedError(f"stopped: {summary.stopped_by}")
    if summary.nas_mismatched:
        recorded = "not recorded: dry run" if dry_run else "recorded as NasMismatched"
        raise NasMismatchedError(
            f"{len(summary.nas_mismatched)} assets not deleted: a NAS copy is missing or "
            f"holds other bytes ({recorded}; `photoledger backup-nas` repairs it from a good "
            f"copy); first: {summary.nas_mismatched[0]}"
        )


def _print_summary(summary: DeleteSummary, dry_run: bool) -> None:
    verb = "would delete" if dry_run else "deleted"
    for label in summary.deleted:
        console.print(Text(f"{verb} {label}"))
    for line in summary.skipped:
        console.print(Text(f"skipped {line}"))
    for line in summary.failed:
        console.print(Text(f"failed {line}"))
    for line in summary.reconciled:
        console.print(Text(f"reconciled {line}"))
    console.print(
        f"{verb} {len(summary.deleted)} ({human_bytes(summary.freed_bytes)} freed in iCloud, "
        f"recoverable for 30 days), skipped {len(summary.skipped)}, failed {len(summary.failed)}"
    )
    if summary.nas_reread_bytes or summary.nas_mismatched:
        console.print(
            f"NAS copies re-read at deletion: {human_bytes(summary.nas_reread_bytes)} in "
            f"{summary.nas_reread_s:.1f} s; {len(summary.nas_mismatched)} did not match"
        )
