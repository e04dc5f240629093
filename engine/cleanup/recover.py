"""`recover`: bring assets back from iCloud's Recently Deleted, re-download them, repair the NAS.

Invariants:
- Per asset, iCloud is asked first (`recover_asset`), then Recovered is saved. A crash in
  between is reconciled by the next run: iCloud then says the asset is in the Library
  ("not-deleted") while the ledger says deleted, and Recovered is recorded with the tag
  observed (`is_reconciled`). iCloud is never asked to recover an asset the ledger already
  holds as recovered, so each recover is recorded once.
- The recovered assets are then re-downloaded by the download stage's own engine, limited to
  them: every resource downloaded before the deletion is fetched again to its own path and
  must hash to the sha256 recorded then; other bytes are quarantined
  (`recovered_bytes_differ`) and never filed, and the local copy is left as it was. Then the
  NAS stage's own engine repairs their NAS copies from the re-downloaded files (copy,
  re-read, hash), on the NAS mounted now.
- An asset recovered earlier whose re-download or NAS repair did not finish (a crash, a
  failure) is finished by the next `recover` of it, without asking iCloud again.
- "gone" (iCloud purged it after its 30 days) is recorded as RemoteDeleted, which ends the
  asset's time in Recently Deleted in the ledger (status, savings and the alarm then say the
  NAS copy must be restored from elsewhere); "not-deleted" records nothing.
- A dry run asks iCloud only to look (records/lookup) and writes nothing anywhere.
- `run_recover` appends every fact of the recover, its StageCompleted("recover") last; it
  runs inside the command's writer (engine.services.Services), and the re-download and the
  NAS repair report through the caller's Reporter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from engine import events as ev
from engine import resources as res
from engine.asset import Asset, MediaState
from engine.cleanup.plan import label_of
from engine.icloud.port import IcloudPort, RecoverOutcome
from engine.nas.repair import NAS_UNMOUNTED_NOTE, execute_nas_repair, execute_redownload
from engine.reporting import Reporter
from engine.services import Services

Action = Literal["ask-icloud", "finish", "nothing"]
ItemOutcome = Literal[
    "recovered", "reconciled", "finishing", "not-deleted", "gone", "conflict",
    "would-recover",
]
CONFLICT_ATTEMPTS = 3  # the record changed between lookup and write: ask again this often
_REPAIRING = ("recovered", "reconciled", "finishing")
_COUNTED = ("recovered", "reconciled", "finishing", "not-deleted", "gone", "conflict")


@dataclass
class RecoverItem:
    """What happened to one asset named on the command line."""

    asset_id: str  # hex
    label: str
    outcome: ItemOutcome
    detail: str = ""
    recoverable_until_utc: datetime | None = None
    refetched: int = 0  # resources downloaded again with their recorded sha256
    problems: list[str] = field(default_factory=list)  # re-download or NAS repair trouble
    is_nas_repaired: bool = False

    @property
    def is_repairing(self) -> bool:
        return self.outcome in _REPAIRING


@dataclass
class RecoverSummary:
    """What a recover run did (or, dry, would do)."""

    items: list[RecoverItem] = field(default_factory=list)
    nas_note: str = ""  # why the NAS step did not run, if it did not
    is_nas_unmounted: bool = False  # ... because the NAS marker is missing


def decide_recover_action(state: MediaState) -> Action:
    """Ask iCloud (the ledger holds a deletion), finish an earlier recover, or nothing."""
    if state.deletion_state in ("deleted", "requested") or state.is_remote_deleted:
        return "ask-icloud"
    if state.refetch_resources or (
        state.recovered_at_utc is not None and state.nas_status != "verified"
    ):
        return "finish"
    return "nothing"


def decide_recovered_fact(
    state: MediaState, outcome: RecoverOutcome
) -> tuple[ItemOutcome, dict[str, object] | None]:
    """The item's outcome and the Recovered fields to record (None: record nothing)."""
    if outcome.kind == "recovered":
        return "recovered", {"remote_change_tag": outcome.change_tag or "",
                             "is_reconciled": False}
    if outcome.kind == "not-deleted":  # back already: a crashed recover, or one on a phone
        tag = outcome.change_tag or state.remote_change_tag
        return "reconciled", {"remote_change_tag": tag, "is_reconciled": True}
    if outcome.kind == "gone":
        return "gone", None
    return "conflict", None


def describe_gone(item: RecoverItem, now: datetime) -> str:
    """The one line for an asset iCloud no longer holds."""
    until = item.recoverable_until_utc
    when = (f" (Recently Deleted let it go on {until:%Y-%m-%d})" if until and until <= now
            else " (purged from Recently Deleted)")
    return (f"{item.label}: iCloud no longer has it{when}; it cannot come back from iCloud: "
            "its NAS copy, or another backup of it, is all there is")


def run_recover(
    services: Services, port: IcloudPort, asset_ids: list[UUID], reporter: Reporter
) -> RecoverSummary:
    """Recover each asset from Recently Deleted, re-download it and repair its NAS copy;
    then StageCompleted("recover") with how many items ended each way."""
    summary = RecoverSummary()
    for asset_id in asset_ids:
        summary.items.append(_recover_one(services, port, services.ledger.get_asset(asset_id)))
    services.projection.catch_up(services.ledger)
    repairing = [item for item in summary.items if item.is_repairing]
    if repairing:
        wanted = frozenset(item.asset_id for item in repairing)
        execute_redownload(services, port, wanted, reporter)
        services.crash.reach("recover.after_redownload")
        _repair_nas(services, wanted, reporter, summary)
        _judge(services, repairing)
    services.record_stage_completed("recover", {
        outcome: sum(item.outcome == outcome for item in summary.items) for outcome in _COUNTED
    })
    return summary


def _recover_one(services: Services, port: IcloudPort, asset: Asset) -> RecoverItem:
    state = asset.state
    item = RecoverItem(asset.id.hex, label_of(state), "not-deleted",
                       recoverable_until_utc=state.recoverable_until_utc)
    action = decide_recover_action(state)
    if action == "nothing":
        item.detail = "not deleted from iCloud: nothing to recover"
        return item
    if action == "finish":
        item.outcome, item.detail = "finishing", "recovered earlier; finishing the repair"
        return item
    outcome = _ask_icloud(port, state)
    services.crash.reach("recover.after_icloud_call")
    item.outcome, facts = decide_recovered_fact(state, outcome)
    item.detail = outcome.detail
    if facts is not None:
        asset.record(ev.Recovered, services.run_id, timestamp=services.clock(), **facts)
        services.ledger.save(asset)  # durable before anything else is done about it
    elif item.outcome == "gone":
        asset.record(ev.RemoteDeleted, services.run_id, timestamp=services.clock(),
                     observed_via="recover: no longer in Recently Deleted")
        services.ledger.save(asset)
    return item


def _ask_icloud(port: IcloudPort, state: MediaState) -> RecoverOutcome:
    """recover_asset, asked again while the record keeps changing under it (CONFLICT)."""
    outcome = port.recover_asset(state.zone, state.record_name)
    for _attempt in range(CONFLICT_ATTEMPTS - 1):
        if outcome.kind != "conflict":
            break
        outcome = port.recover_asset(state.zone, state.record_name)
    return outcome


def _repair_nas(
    services: Services, wanted: frozenset[str], reporter: Reporter, summary: RecoverSummary
) -> None:
    """The NAS stage's engine over these assets' damaged or missing copies (a note if not)."""
    if services.config.nas_root() is None:
        summary.nas_note = "no NAS configured (nas.root): nothing to repair"
        return
    if execute_nas_repair(services, reporter, wanted) is None:
        summary.is_nas_unmounted = True
        summary.nas_note = NAS_UNMOUNTED_NOTE


def _judge(services: Services, items: list[RecoverItem]) -> None:
    """Each item's result, from the ledger: re-downloaded as recorded? NAS copy verified?"""
    states = services.projection.states_of({item.asset_id for item in items})
    for item in items:
        state = states[item.asset_id]
        item.refetched = sum(1 for r in state.resources_downloaded
                             if r.key in res.ARCHIVE_KEYS and r.key not in state.refetch_resources)
        if state.quarantine_reason is not None:
            item.problems.append(f"quarantined ({state.quarantine_reason}): {state.last_error}")
        elif state.refetch_resources:
            item.problems.append(
                f"not downloaded again yet: {', '.join(state.refetch_resources)}"
                + (f" ({state.last_error})" if state.last_error else "")
            )
        item.is_nas_repaired = (
            state.nas_status == "verified" and state.nas_verified_sha256 == state.sha256
        )


def plan_recover(
    services: Services, port: IcloudPort, asset_ids: list[UUID]
) -> RecoverSummary:
    """Dry run: what `run_recover` would do, from the ledger and a read-only lookup."""
    summary = RecoverSummary()
    for asset_id in asset_ids:
        state = services.ledger.get_asset(asset_id).state
        item = RecoverItem(asset_id.hex, label_of(state), "not-deleted",
                           recoverable_until_utc=state.recoverable_until_utc)
        action = decide_recover_action(state)
        if action == "finish":
            item.outcome, item.detail = "finishing", "recovered earlier; would finish the repair"
        elif action == "ask-icloud":
            item.outcome, item.detail = _look(port, state)
        else:
            item.detail = "not deleted from iCloud: nothing to recover"
        summary.items.append(item)
    return summary


def _look(port: IcloudPort, state: MediaState) -> tuple[ItemOutcome, str]:
    page = port.lookup_assets(state.zone, [state.record_name])
    live = next((a for a in page.assets if a.record_name == state.record_name), None)
    if live is None:
        return "gone", "iCloud no longer has it"
    if not live.is_deleted:
        return "reconciled", "already back in the Library: would record it as recovered"
    count = sum(1 for r in state.resources_downloaded if r.key in res.ARCHIVE_KEYS)
    return "would-recover", (f"in Recently Deleted: would recover it, download its {count} "
                             f"resource{'s' if count != 1 else ''} again and repair its NAS copy")
