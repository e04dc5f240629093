"""What the deletion pages show: the recorded plans, one plan's assets with their evidence, the
blocked assets with the gate's reasons, and the plans waiting to be executed.

Invariants:
- Read-only: everything is read inside engine.services.open_reader (never the writer lock) and
  nothing here calls iCloud or reads the NAS' files (only its marker, as the gate does).
- A plan's entries are the stored DeletePlanned's, loaded and hash-checked by the same
  function `delete execute` uses (engine.cleanup.execute.load_plan): a plan whose entries do
  not match its hash is shown as invalid, never as deletable.
- The evidence shown per asset is the plan's own (sha256, NAS re-read time, Pixel time, iCloud
  change tag) plus the asset's XMP sidecar and its current outcome from the ledger.
- "Blocked now" is the gate's answer at this moment (engine.cleanup.gate.decide_deletable) for
  every delete candidate, in words; `delete plan` asks the same gate (and iCloud about the
  album first).
- The mass-delete guard is the one `delete execute` applies (decide_mass_delete_guard on the
  plan's whole entry count): its reasons are what executing needs force for.
- Times are shown in UTC, to the second; bytes in binary units.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine import resources as res
from engine.asset import MediaState
from engine.cleanup.effects import CleanupScope, cleanup_scope, mounted_nas_id
from engine.cleanup.execute import load_plan
from engine.cleanup.gate import decide_deletable
from engine.cleanup.plan import decide_mass_delete_guard, label_of
from engine.config import Config
from engine.errors import PlanInvalidError
from engine.events import PlanEntry
from engine.nas.access import short_id
from engine.services import Runtime, Services, open_icloud, open_reader
from engine.units import human_bytes
from projections.cleanup import delete_candidates, library_asset_count
from projections.deletion_plans import PlanRow, deletion_plan, deletion_plans, waiting_plan


def when(moment: datetime | str | None) -> str:
    """A time as people read it here: '2026-12-06 04:33:18 UTC' ('-' when unknown)."""
    if moment is None:
        return "-"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class PlanLine:
    """One plan in the list."""

    plan_id: str
    planned: str
    assets: int
    status: str  # "waiting", "executed: ...", "not executed"


@dataclass(frozen=True)
class AssetEvidence:
    """One planned asset: how to recognise it, why it was deletable, what became of it."""

    asset_id: str
    label: str
    kind: str
    captured: str
    size: str
    sha256: str
    nas_reread: str
    pixel: str
    change_tag: str
    sidecar: str
    outcome: str  # "waiting", "deleted ...", "failed: ...", ...
    is_pending: bool  # not deleted or asked for yet: executing the plan will try it


@dataclass(frozen=True)
class BlockedLine:
    asset_id: str
    label: str
    reasons: list[str]  # the gate's details, in words


@dataclass(frozen=True)
class PlanView:
    """Everything the plan page shows."""

    plan_id: str
    plan_sha256: str
    planned: str
    entries: list[AssetEvidence]
    blocked: list[BlockedLine]
    freed_bytes: int
    needs_force: tuple[str, ...]
    status: str

    @property
    def freed(self) -> str:
        return human_bytes(self.freed_bytes)

    @property
    def pending(self) -> list[AssetEvidence]:
        return [e for e in self.entries if e.is_pending]


def read_plan_list(config: Config, runtime: Runtime) -> list[PlanLine]:
    """The newest recorded plans, newest first."""
    with open_reader(config, runtime) as services:
        rows = deletion_plans(services.projection)
        waiting = waiting_plan(services.projection)
        return [PlanLine(row.plan_id, when(row.planned_at_utc), row.asset_count,
                         _status(row, waiting, rows[0]))
                for row in rows]


def read_plan(config: Config, runtime: Runtime, plan_id: str) -> PlanView | None:
    """The plan page's contents; None when no plan has that id. PlanInvalidError when its
    entries do not match its stored hash."""
    with open_reader(config, runtime) as services, open_icloud(config) as port:
        row = deletion_plan(services.projection, plan_id)
        if row is None:
            return None
        scope = cleanup_scope(services, port, dry_run=True)  # the port is never used
        entries = load_plan(scope, plan_id)
        states = services.projection.states_of({e.asset_id for e in entries})
        status = _status(row, waiting_plan(services.projection),
                         deletion_plans(services.projection, limit=1)[0])
        guard = decide_mass_delete_guard(len(entries), library_asset_count(services.projection),
                                         config.settings, had_io_error=False)
        blocked = blocked_now(scope)
        refused = {b.asset_id: b.reasons for b in blocked}
        return PlanView(
            plan_id=plan_id, plan_sha256=row.plan_sha256, planned=when(row.planned_at_utc),
            entries=[_evidence(e, states.get(e.asset_id), plan_id, refused.get(e.asset_id))
                     for e in entries],
            blocked=blocked, freed_bytes=sum(e.icloud_size_bytes for e in entries),
            needs_force=guard, status=status,
        )


def blocked_now(scope: CleanupScope) -> list[BlockedLine]:
    """Every delete candidate the gate refuses at this moment, with its reasons in words."""
    settings = scope.settings
    ids = delete_candidates(scope.projection, scope.zone)
    states = scope.projection.states_of(set(ids))
    nas_id = mounted_nas_id(scope.nas_root)
    now = scope.now()
    lines = []
    for asset_id in ids:
        verdict = decide_deletable(states[asset_id], now, settings, nas_id, scope.selection)
        if not verdict.is_deletable:
            lines.append(BlockedLine(asset_id, label_of(states[asset_id]),
                                     [b.detail for b in verdict.blocks]))
    return lines


def _status(row: PlanRow, waiting: PlanRow | None, newest: PlanRow) -> str:
    """What became of the plan, in words (projections.deletion_plans says which one waits)."""
    if row.is_executed:
        return (f"executed: {row.deleted} deleted, {row.failed} failed, "
                f"{row.asset_count - row.deleted - row.failed} not deleted")
    if row.asset_count == 0:
        return "nothing to delete"
    if waiting is not None and row.plan_id == waiting.plan_id:
        return "waiting"
    if row.plan_id != newest.plan_id:
        return "not executed; a newer plan replaces it"
    return "not executed; a later execution overtook it"


def _evidence(entry: PlanEntry, state: MediaState | None, plan_id: str,
              refused: list[str] | None) -> AssetEvidence:
    """One entry's evidence; `refused`: the gate's reasons when it refuses the asset now."""
    state = state or MediaState(record_name=entry.record_name)
    pixel = (f"{when(entry.google_verified_at_utc)} ({entry.google_device_id})"
             if entry.google_verified_at_utc else "not required")
    outcome, is_pending = _outcome(state, plan_id)
    if is_pending and refused:
        outcome = f"{outcome}; the gate refuses it now: {'; '.join(refused)}"
    return AssetEvidence(
        asset_id=entry.asset_id, label=label_of(state), kind=state.kind or "-",
        captured=when(state.captured_at_utc), size=human_bytes(entry.icloud_size_bytes),
        sha256=entry.sha256,
        nas_reread=_nas_reread(entry, state),
        pixel=pixel, change_tag=entry.remote_change_tag, sidecar=_sidecar(state),
        outcome=outcome, is_pending=is_pending,
    )


def _nas_reread(entry: PlanEntry, state: MediaState) -> str:
    """When the plan's NAS evidence was re-read, and the last re-read since (at deletion, or by
    `verify nas`), on which NAS."""
    if entry.nas_verified_at_utc is None:
        return "not required"
    text = f"{when(entry.nas_verified_at_utc)} (NAS {short_id(state.nas_id)})"
    last = state.nas_verified_at_utc
    if last is not None and last > entry.nas_verified_at_utc:
        text += f"; re-read again {when(last)}"
    return text


def _sidecar(state: MediaState) -> str:
    if state.sidecar_sha256 is None:
        return "none written"
    where = "on the NAS" if res.is_sidecar_on_nas(state) else "not on the NAS"
    stale = "; iCloud's metadata changed since" if state.is_sidecar_stale else ""
    return f"{state.sidecar_relpath} (sha256 {state.sidecar_sha256[:12]}…, {where}{stale})"


def _outcome(state: MediaState, plan_id: str) -> tuple[str, bool]:
    """What became of a planned asset, and whether executing the plan would still try it."""
    other = state.deletion_plan_id not in (None, plan_id)
    under = f" under plan {state.deletion_plan_id}" if other else ""
    if state.is_remote_deleted and state.deletion_state is None:
        return "deleted in iCloud by someone else (copies kept)", False
    if state.deletion_state == "deleted":
        return (f"deleted{under} {when(state.deleted_at_utc)}; recoverable until "
                f"{when(state.recoverable_until_utc)}", False)
    if state.deletion_state == "requested":
        return f"asked{under}, outcome not known yet (the next run asks iCloud)", False
    if state.deletion_state == "failed":
        return f"failed{under}: {state.last_error or 'no reason recorded'}", True
    return "waiting", True


@dataclass(frozen=True)
class WaitingPlan:
    """The plan made and not executed (projections.deletion_plans.waiting_plan)."""

    plan_id: str
    assets: int
    freed_bytes: int | None  # None: the plan's entries do not match its hash
    planned: str

    @property
    def text(self) -> str:
        freed = ("its entries do not match its hash" if self.freed_bytes is None
                 else f"{human_bytes(self.freed_bytes)} to free in iCloud")
        return (f"Deletion plan {self.plan_id[:8]} waits for your review: {self.assets} assets, "
                f"{freed} (made {self.planned})")

    @property
    def link(self) -> str:
        return f"/deletion/plans/{self.plan_id}"


def read_waiting_plan(services: Services) -> WaitingPlan | None:
    """The plan waiting to be executed, with the bytes it frees."""
    waiting = waiting_plan(services.projection)
    if waiting is None:
        return None
    try:
        with open_icloud(services.config) as port:  # built only if used: never here
            entries = load_plan(cleanup_scope(services, port, dry_run=True), waiting.plan_id)
        freed: int | None = sum(e.icloud_size_bytes for e in entries)
    except PlanInvalidError:  # its page says so; the alarm still points there
        freed = None
    return WaitingPlan(waiting.plan_id, waiting.asset_count, freed, when(waiting.planned_at_utc))
