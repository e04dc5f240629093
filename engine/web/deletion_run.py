"""The deletion pages' two actions, exactly as the CLI does them: `delete plan` and
`delete execute PLAN [--force]`.

Invariants:
- Each action opens the services as its command does (open_writer(..., "delete",
  verify_ledger=True): the writer lock, a recorded run, a ledger that passes its check) and
  calls the same engine entry (engine.cleanup.run.run_delete_plan / run_delete_execute): the
  gate, the re-reads of the NAS evidence, the mass-delete guard and `force` are theirs.
- Execute raises its outcome inside the writer in the CLI's order, so the run records the exit
  code `delete execute` would exit with: a damaged last copy (18) first, then the run's own
  outcome (20 or 17), then a NAS copy damaged before and still not repaired (17). The damage
  alarm is notified through the same path (engine.cleanup.last_copy.notify_damage).
- A dry run is `delete execute --dry-run`: the same entry with no-op effects under a read-only
  open (no lock, no run recorded, nothing deleted), its exit code decided the same way.
- Another process holding the writer lock (e.g. `watch`) is a refusal that changed nothing
  (`is_locked`); every other error is one line with its exit code. Nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.cleanup.last_copy import notify_damage, raise_for_damage
from engine.cleanup.run import (
    DeleteSummary,
    DeletionPlan,
    raise_for_outcome,
    run_delete_execute,
    run_delete_plan,
)
from engine.config import Config
from engine.errors import ExitCode, LockedError, PhotoledgerError
from engine.services import Runtime, open_icloud, open_reader, open_writer


@dataclass(frozen=True)
class ActionError:
    """Why an action did not finish cleanly: one line and the CLI's exit code."""

    message: str
    exit_code: int
    is_locked: bool = False  # another process holds the writer lock: nothing was changed

    @property
    def code_name(self) -> str:
        return ExitCode(self.exit_code).name.lower().replace("_", " ")


@dataclass(frozen=True)
class ExecuteResult:
    """What an Execute did: the run's summary (None when it stopped before one), the error."""

    plan_id: str
    summary: DeleteSummary | None
    error: ActionError | None
    warnings: list[str] = field(default_factory=list)


def execute_plan(config: Config, runtime: Runtime, plan_id: str, *,
                 force: bool = False, dry_run: bool = False) -> ExecuteResult:
    """`photoledger delete execute PLAN_ID [--force] [--dry-run]` (module invariants)."""
    if dry_run:
        return _dry_run(config, runtime, plan_id, force=force)
    summary: DeleteSummary | None = None
    warnings: list[str] = []
    try:
        with open_icloud(config) as port, open_writer(config, runtime, "delete",
                                                      verify_ledger=True) as services:
            summary = run_delete_execute(services, port, plan_id, force=force)
            damage = notify_damage(services, warnings.append)
            if damage.damages:  # the alarm (18) outranks every other outcome
                raise_for_damage(damage, services.clock(), alarm_only=True)
            raise_for_outcome(summary)
            raise_for_damage(damage, services.clock())
    except PhotoledgerError as exc:
        return ExecuteResult(plan_id, summary, _error(exc), warnings)
    return ExecuteResult(plan_id, summary, None, warnings)


def _dry_run(config: Config, runtime: Runtime, plan_id: str, *, force: bool) -> ExecuteResult:
    """`delete execute --dry-run`: every check (the NAS re-read included) under a read-only
    open, no lock, nothing recorded or deleted; the outcome's exit code as the CLI's."""
    summary: DeleteSummary | None = None
    try:
        with open_icloud(config) as port, open_reader(config, runtime) as services:
            summary = run_delete_execute(services, port, plan_id, force=force, dry_run=True)
            raise_for_outcome(summary)
    except PhotoledgerError as exc:
        return ExecuteResult(plan_id, summary, _error(exc))
    return ExecuteResult(plan_id, summary, None)


def make_plan(config: Config, runtime: Runtime) -> DeletionPlan | ActionError:
    """`photoledger delete plan`: the recorded plan, or why none was made."""
    try:
        with open_icloud(config) as port, open_writer(config, runtime, "delete",
                                                      verify_ledger=True) as services:
            return run_delete_plan(services, port)
    except PhotoledgerError as exc:
        return _error(exc)


def _error(exc: PhotoledgerError) -> ActionError:
    if isinstance(exc, LockedError):
        return ActionError(f"{exc}. Nothing was changed.", int(exc.exit_code), is_locked=True)
    return ActionError(str(exc), int(exc.exit_code))


@dataclass(frozen=True)
class OutcomeRow:
    """One asset's outcome after Execute, as `delete execute` prints it."""

    outcome: str  # "deleted", "not deleted", "failed", "settled"
    text: str  # its label, and for the others the reason


def outcome_rows(summary: DeleteSummary | None) -> list[OutcomeRow]:
    """Every asset the run touched, deleted first, then refused, failed and settled ones."""
    if summary is None:
        return []
    verb = "would delete" if summary.dry_run else "deleted"
    return [*(OutcomeRow(verb, label) for label in summary.deleted),
            *(OutcomeRow("not deleted", line) for line in summary.skipped),
            *(OutcomeRow("failed", line) for line in summary.failed),
            *(OutcomeRow("settled", line) for line in summary.reconciled)]
