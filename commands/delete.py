"""`photoledger delete plan` and `photoledger delete execute PLAN`: deletion from iCloud.

Invariants:
- Deciding and deleting happen in `engine.cleanup.run`; this module opens the services, prints,
  and raises the run's exit code inside the writer, so the run's RunFinished records it: a
  damaged last copy anywhere in the ledger (commands.output.check_nas_damage) is the alarm,
  exit 18, before the run's own outcome (engine.cleanup.execute.raise_for_outcome: 20 or 17);
  a NAS copy damaged earlier and still not repaired is 17 after it. A NAS not mounted is 12,
  raised by the engine.
- `--dry-run` runs the same engine code with no-op effects under a read-only open (no lock, no
  run recorded). Progress goes to a terminal only (bars); plain output is the result alone.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import asdict
from typing import Any

import click
from rich.text import Text

from commands.context import Settings
from commands.options import library_option, with_library_flag
from commands.output import check_nas_damage, console, print_json
from commands.progress import reporter_for
from engine.cleanup import run as cleanup
from engine.cleanup.last_copy import raise_for_damage
from engine.icloud.port import IcloudPort
from engine.library_passes import one_library, plan_library
from engine.services import Services, open_icloud, open_reader, open_writer
from engine.units import human_bytes


@click.group("delete")
def command() -> None:
    """Delete from iCloud behind the deletion gate: make a plan, read it, execute it.

    Nothing is deleted unless, when `execute` runs, every resource was downloaded with the
    declared size and hashed, every required backup is verified for those bytes (each NAS
    copy re-read and re-hashed at the moment of deletion, on the NAS the evidence names),
    iCloud holds the same version, the asset is still in DeletePending, and the plan is
    under the mass-delete limits. iCloud keeps deleted photos 30 days in Recently Deleted.
    """


def _open(
    settings: Settings, dry_run: bool, libraries: tuple[str, ...]
) -> tuple[AbstractContextManager[IcloudPort], AbstractContextManager[Services]]:
    config = with_library_flag(settings.load_config(), libraries)
    services = (open_reader(config, settings) if dry_run
                else open_writer(config, settings, "delete", verify_ledger=True))
    return open_icloud(config), services


@command.command("plan")
@click.option("--dry-run", is_flag=True, help="Evaluate and print; record no plan.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@library_option
@click.pass_obj
def plan_command(
    settings: Settings, dry_run: bool, as_json: bool, libraries: tuple[str, ...]
) -> None:
    """Evaluate the gate for every album-moved asset and record a plan with its evidence
    (one library at a time)."""
    icloud, opener = _open(settings, dry_run, libraries)
    with icloud as port, opener as services:
        plan = cleanup.run_delete_plan(one_library(services, "delete plan"), port,
                                       dry_run=dry_run)
    data: dict[str, Any] = {
        "plan_id": None if dry_run else plan.plan_id, "plan_sha256": plan.plan_sha256,
        "would_delete": [e.record_name for e in plan.entries],
        "blocked": [{"asset_id": b.asset_id, "label": b.label,
                     "reasons": [str(r) for r in b.blocks]} for b in plan.blocked],
        "icloud_freed_bytes": plan.freed_bytes, "needs_force": list(plan.needs_force),
    }
    if as_json:
        print_json(data)
        return
    for blocked in plan.blocked:
        reasons = "; ".join(str(r) for r in blocked.blocks)
        console.print(Text(f"blocked {blocked.label}: {reasons}"))
    console.print(f"{len(plan.entries)} assets would be deleted from iCloud, freeing "
                  f"{human_bytes(plan.freed_bytes)}; {len(plan.blocked)} blocked")
    for reason in plan.needs_force:
        console.print(Text(f"execute will need --force: {reason}"))
    if not dry_run:
        console.print(f"plan {plan.plan_id} (sha256 {plan.plan_sha256[:16]}...)")
        console.print(f"run `photoledger delete execute {plan.plan_id}` to delete")


@command.command("execute")
@click.argument("plan_id")
@click.option("--dry-run", is_flag=True, help="Run every check; delete and record nothing.")
@click.option("--force", is_flag=True, help="Go past the mass-delete guard.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@library_option
@click.pass_obj
def execute_command(
    settings: Settings, plan_id: str, dry_run: bool, force: bool, as_json: bool,
    libraries: tuple[str, ...],
) -> None:
    """Re-check the gate for each asset of PLAN_ID and delete it from iCloud.

    Per asset: the NAS copies are re-read (when cleanup.require lists nas), then
    DeletionRequested (with the evidence) is recorded, then iCloud is asked, then Deleted or
    DeletionFailed. A request left without an outcome by a crash is settled on the next
    start by asking iCloud, never by deleting again. Exit 17 when a NAS copy re-read wrong
    (that asset stays in DeletePending), 12 when the NAS is not mounted.
    """
    icloud, opener = _open(settings, dry_run, libraries)
    with icloud as port, opener as opened:
        services = plan_library(opened, plan_id)
        with reporter_for(settings.show_progress, quiet=as_json or not settings.show_progress) as r:
            summary = cleanup.run_delete_execute(services, port, plan_id, force=force,
                                                 dry_run=dry_run, reporter=r)
        if as_json:
            print_json(asdict(summary))
        else:
            _print_summary(summary)
        damage = None if dry_run else check_nas_damage(services, settings.warn, quiet=as_json)
        if damage is not None:  # the alarm (18) outranks every other outcome
            raise_for_damage(damage, services.clock(), alarm_only=True)
        cleanup.raise_for_outcome(summary)
        if damage is not None:  # a NAS copy damaged before this run and still not repaired
            raise_for_damage(damage, services.clock())


def _print_summary(summary: cleanup.DeleteSummary) -> None:
    verb = "would delete" if summary.dry_run else "deleted"
    lines = [f"{verb} {label}" for label in summary.deleted]
    lines += [f"skipped {line}" for line in summary.skipped]
    lines += [f"failed {line}" for line in summary.failed]
    lines += [f"reconciled {line}" for line in summary.reconciled]
    for line in lines:
        console.print(Text(line))
    console.print(
        f"{verb} {len(summary.deleted)} ({human_bytes(summary.freed_bytes)} freed in iCloud, "
        f"recoverable for 30 days), skipped {len(summary.skipped)}, failed {len(summary.failed)}"
    )
    if summary.nas_reread_bytes or summary.nas_mismatched:
        console.print(
            f"NAS copies re-read at deletion: {human_bytes(summary.nas_reread_bytes)} in "
            f"{summary.nas_reread_s:.1f} s; {len(summary.nas_mismatched)} did not match"
        )
