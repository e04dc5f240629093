"""`delete plan` and `delete execute`: the only code that deletes from iCloud.

Invariants:
- Order per asset (DESIGN.md §5): the gate passes again at that moment, the live iCloud record
  is unchanged, the NAS copies are re-read (when the NAS is required, see
  engine.cleanup.nas_evidence), DeletionRequested with its evidence is saved (durable, in one
  save with the re-read's NasVerified, whose time is the evidence's NAS time), then iCloud is
  asked (isDeleted with the record's current change tag), then Deleted (with
  recoverable_until) or DeletionFailed is saved. Nothing else in photoledger calls
  `soft_delete`.
- With the NAS required, no asset is deleted unless the NAS the run started on (NasGuard:
  marker id and device) is still mounted: a marker missing at the start or during the run
  stops it with NasUnavailableError (exit 12) and nothing more is deleted. A copy that re-reads
  wrong or is missing is recorded (NasMismatched) and its asset skipped; the others go on
  (`DeleteSummary.nas_mismatched`, exit 17 from the command).
- Before anything else, a request left without an outcome (a crash) is reconciled by asking
  iCloud: in Recently Deleted (or gone) means Deleted, listed means DeletionFailed. It is
  never deleted again by reconciliation; a later plan may include it again through the gate.
- Only assets of the stored plan are considered, and only if the plan's entries still hash to
  its stored sha256. The mass-delete guard runs before the first delete, and an I/O error
  stops the run before the next one; both are overridden only by `force`.
- A deletion someone else made (RemoteDeleted, or found in Recently Deleted here) never removes
  a local or NAS copy. The local copy is removed only when `cleanup.remove_local` is set and the
  NAS and Google copies are verified for the downloaded sha256, and it is recorded.
- Every change goes through `ctx.effects`, so `--dry-run` runs this same code and changes nothing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from uuid import UUID

from engine import events as ev
from engine.asset import Asset, MediaState, SyncRun
from engine.cleanup.album import observed_members
from engine.cleanup.effects import CleanupContext, mounted_nas_id
from engine.cleanup.gate import DELETE_PENDING_ALBUM, RECOVERABLE_FOR, Evidence, decide_deletable
from engine.cleanup.nas_evidence import (
    decide_nas_evidence,
    record_nas_reread,
    reread_nas_copies,
    start_nas_guard,
)
from engine.cleanup.plan import (
    DeletionPlan,
    decide_mass_delete_guard,
    label_of,
    plan_deletion,
    plan_sha256,
)
from engine.discover import remote_facts
from engine.errors import DeleteRefusedError, PlanInvalidError
from engine.icloud.model import RemoteAsset
from engine.icloud.port import ChangeTagConflictError, IcloudError, RecordRefusedError
from engine.ledger_check import refuse_damaged_ledger as refuse_if_damaged
from engine.nas.access import NasGuard, NasUnavailableError, nas_path
from engine.nas.files import NasRoots
from projections.media import MediaProjection

_CANDIDATES_WHERE = (
    "NOT is_remote_deleted AND (album_moved_at_utc IS NOT NULL OR is_album_removal_observed) "
    "AND (deletion_state IS NULL OR deletion_state = 'failed') AND zone = ?"
)


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


def library_asset_count(projection: MediaProjection) -> int:
    """Assets still in iCloud as far as the ledger knows (the mass-delete fraction's base)."""
    rows = projection.query(
        "SELECT COUNT(*) AS n FROM media WHERE NOT is_remote_deleted "
        "AND (deletion_state IS NULL OR deletion_state != 'deleted')"
    )
    return int(rows[0]["n"])


def plan_deletions(ctx: CleanupContext, plan_id: str) -> DeletionPlan:
    """Evaluate the gate for every album-moved asset (after observing album removals)."""
    from engine.cleanup.album import execute_removal_observation

    execute_removal_observation(ctx, delete_pending_members(ctx), [])
    ctx.projection.catch_up(ctx.ledger)
    rows = ctx.projection.query(
        f"SELECT asset_id FROM media WHERE {_CANDIDATES_WHERE} ORDER BY captured_at_utc, asset_id",
        (ctx.zone,),
    )
    ids = [row["asset_id"] for row in rows]
    states = ctx.projection.states_of(set(ids))
    nas_id = mounted_nas_id(ctx.nas_root)
    return plan_deletion(plan_id, ((i, states[i]) for i in ids), ctx.clock(), ctx.settings, nas_id)


def delete_pending_members(ctx: CleanupContext) -> set[str]:
    """Record names in DeletePending; none when the album is gone (plan and execute never
    create it: a user who deleted the album took every photo out of it)."""
    for album in ctx.port.list_albums(ctx.zone):
        if album.name == DELETE_PENDING_ALBUM and album.parent_id is None and not album.is_folder:
            return observed_members(ctx, album)
    return set()


def record_plan(ctx: CleanupContext, run: SyncRun, plan: DeletionPlan) -> None:
    """Append DeletePlanned with every entry and the hash that covers them."""
    run.record(
        ev.DeletePlanned,
        plan_id=plan.plan_id,
        asset_count=len(plan.entries),
        plan_sha256=plan.plan_sha256,
        entries=plan.entries,
    )
    ctx.effects.save(run)


def load_plan(ctx: CleanupContext, plan_id: str) -> tuple[ev.PlanEntry, ...]:
    """The stored plan's entries; PlanInvalidError when unknown or not matching its hash."""
    rows = ctx.projection.query("SELECT run_id FROM delete_plans WHERE plan_id = ?", (plan_id,))
    if not rows:
        raise PlanInvalidError(
            f"no deletion plan {plan_id} in the ledger (`photoledger delete plan` makes one)"
        )
    for event in ctx.ledger.events_of(UUID(rows[0]["run_id"])):
        if isinstance(event, ev.DeletePlanned) and event.plan_id == plan_id:
            entries = tuple(event.entries)
            if plan_sha256(entries) != event.plan_sha256 or len(entries) != event.asset_count:
                raise PlanInvalidError(
                    f"deletion plan {plan_id}: its entries do not match its stored sha256"
                )
            return entries
    raise PlanInvalidError(f"deletion plan {plan_id} is listed but its fact is missing")


def execute_reconcile(ctx: CleanupContext) -> list[str]:
    """Give every DeletionRequested without an outcome its outcome, by asking iCloud."""
    rows = ctx.projection.query(
        "SELECT asset_id FROM media WHERE deletion_state = 'requested' AND zone = ?", (ctx.zone,)
    )
    done = []
    for row in rows:
        asset = ctx.ledger.get_asset(UUID(row["asset_id"]))
        _record_observed_outcome(ctx, asset, _lookup(ctx, asset.state.record_name))
        ctx.effects.save(asset)
        done.append(f"{label_of(asset.state)}: {asset.state.deletion_state}")
    return done


def _record_observed_outcome(ctx: CleanupContext, asset: Asset, live: RemoteAsset | None) -> None:
    """Deleted when iCloud shows the asset deleted or gone; DeletionFailed when it is listed."""
    state = asset.state
    plan_id = state.deletion_plan_id or ""
    if live is None or live.is_deleted:
        requested_at = state.deletion_requested_at_utc or ctx.clock()
        asset.record(
            ev.Deleted, ctx.run_id, plan_id=plan_id, timestamp=ctx.clock(),
            recoverable_until_utc=requested_at + RECOVERABLE_FOR, is_reconciled=True,
        )
        return
    asset.record(
        ev.DeletionFailed, ctx.run_id, plan_id=plan_id, timestamp=ctx.clock(),
        error="the delete was not applied: iCloud still lists the asset",
    )


def _lookup(ctx: CleanupContext, record_name: str) -> RemoteAsset | None:
    page = ctx.port.lookup_assets(ctx.zone, [record_name])
    return next((a for a in page.assets if a.record_name == record_name), None)


def refuse_damaged_ledger(ctx: CleanupContext) -> None:
    """(e) of the gate: deletions need a ledger that passes `check`'s structural part."""
    refuse_if_damaged(ctx.ledger, "delete")


def execute_deletions(
    ctx: CleanupContext, plan_id: str, *, force: bool = False
) -> DeleteSummary:
    """Reconcile, check the plan and the guard, then delete each entry the gate still passes."""
    refuse_damaged_ledger(ctx)
    summary = DeleteSummary(plan_id)
    summary.reconciled = execute_reconcile(ctx)
    entries = load_plan(ctx, plan_id)
    guard = decide_mass_delete_guard(
        len(entries), library_asset_count(ctx.projection), ctx.settings, had_io_error=False
    )
    if guard and not force:
        raise DeleteRefusedError(
            f"refusing to delete {len(entries)} assets: {'; '.join(guard)} (`--force` overrides)"
        )
    nas_guard = start_nas_guard(ctx.nas_root) if entries and is_nas_required(ctx) else None
    members = delete_pending_members(ctx)
    try:
        for entry in entries:
            outcome = _delete_one(ctx, entry, members, summary, nas_guard)
            if outcome == "io-error" and not force:
                summary.stopped_by = "an I/O error talking to iCloud: the rest was not tried"
                break
    except NasUnavailableError as exc:
        raise NasUnavailableError(
            f"{exc}; delete stopped after {len(summary.deleted)} deleted, nothing more was "
            f"deleted (run `photoledger delete execute {plan_id}` again with the NAS mounted)"
        ) from None
    return summary


def is_nas_required(ctx: CleanupContext) -> bool:
    return "nas" in ctx.settings.cleanup.require


def _delete_one(
    ctx: CleanupContext, entry: ev.PlanEntry, members: set[str], summary: DeleteSummary,
    guard: NasGuard | None,
) -> str:
    """Re-check and delete one asset; returns "deleted", "skipped", "failed" or "io-error"."""
    asset = ctx.ledger.get_asset(UUID(entry.asset_id))
    state, label = asset.state, label_of(asset.state)
    if state.deletion_state == "deleted":
        summary.skipped.append(f"{label}: already deleted")
        return "skipped"
    nas_id = _gate_nas_id(ctx, state, guard)
    reason = _recheck(ctx, asset, entry, members, nas_id)
    live = None if reason else _lookup(ctx, state.record_name)
    reason = reason or _remote_difference(ctx, asset, live)
    if not reason and guard is not None:
        reason = _reread_nas_evidence(ctx, asset, entry.asset_id, guard, summary)
    if reason or live is None:
        # AlbumRemovalObserved / RemoteChanged / RemoteDeleted / NasMismatched, if any
        ctx.effects.save(asset)
        summary.skipped.append(f"{label}: {reason}")
        return "skipped"
    ctx.crash.reach("delete.before_request_saved")
    _record_request(ctx, asset, entry.asset_id, summary.plan_id, nas_id)
    ctx.crash.reach("delete.after_request_saved")
    outcome, detail = _call_icloud(ctx, asset, live, summary.plan_id)
    ctx.crash.reach("delete.after_icloud_call")
    if asset.state.deletion_state == "deleted":
        summary.deleted.append(label)
        summary.freed_bytes += entry.icloud_size_bytes
        _remove_local_copy(ctx, asset, summary)
    else:
        unknown = asset.state.deletion_state != "failed"
        summary.failed.append(f"{label}: outcome unknown ({detail}); the next run asks iCloud"
                              if unknown else f"{label}: {detail}")
    ctx.effects.save(asset)
    return outcome


def _gate_nas_id(ctx: CleanupContext, state: MediaState, guard: NasGuard | None) -> str | None:
    """The NAS id the gate is asked about. With the NAS required, the evidence's own: which
    NAS is mounted is decided by the re-read just before the request, on the files, so a
    swapped share is recorded as what it lacks (NasMismatched), never only blocked."""
    if guard is None:
        return mounted_nas_id(ctx.nas_root)
    return state.nas_id or ""


def _reread_nas_evidence(
    ctx: CleanupContext, asset: Asset, asset_id: str, guard: NasGuard, summary: DeleteSummary
) -> str | None:
    """Re-read the asset's NAS copies now and record what they showed (not saved); why the
    asset may not be deleted, or None."""
    ctx.crash.reach("delete.before_nas_reread")
    roots = NasRoots(ctx.library_root, guard.root)
    reread = reread_nas_copies(guard, roots, asset_id, asset.state)
    summary.nas_reread_bytes += reread.bytes_read
    summary.nas_reread_s += reread.seconds
    evidence = decide_nas_evidence(asset.state, reread)
    record_nas_reread(asset, ctx.run_id, ctx.clock(), reread, evidence)
    if evidence.outcome == "mismatched":
        summary.nas_mismatched.append(f"{label_of(asset.state)}: {evidence.reason}")
    return evidence.reason or None


def _recheck(
    ctx: CleanupContext, asset: Asset, entry: ev.PlanEntry, members: set[str],
    nas_id: str | None,
) -> str | None:
    """The gate again, now (with the NAS `nas_id` mounted); the same bytes as planned;
    still in DeletePending."""
    state = asset.state
    verdict = decide_deletable(state, ctx.clock(), ctx.settings, nas_id)
    if not verdict.is_deletable:
        return "; ".join(str(block) for block in verdict.blocks)
    if state.sha256 != entry.sha256:
        return "changed-since-plan: the downloaded original is not the one planned"
    if state.record_name not in members:
        asset.record(ev.AlbumRemovalObserved, ctx.run_id, album_name=DELETE_PENDING_ALBUM,
                     timestamp=ctx.clock())
        return "removed-from-album: the user took it out of DeletePending; not deleted"
    return None


def _remote_difference(ctx: CleanupContext, asset: Asset, live: RemoteAsset | None) -> str | None:
    """Why the live record may not be deleted (and the fact that says so), or None."""
    state = asset.state
    if live is None or live.is_deleted:
        asset.record(ev.RemoteDeleted, ctx.run_id, observed_via="recently deleted",
                     timestamp=ctx.clock())
        return "deleted-elsewhere: already deleted in iCloud by someone else; copies kept"
    difference = describe_remote_change(state, live)
    if difference:
        asset.record(ev.RemoteChanged, ctx.run_id, timestamp=ctx.clock(), **remote_facts(live))
        return f"RemoteChanged: {difference}; download again before deleting"
    return None


def describe_remote_change(state: MediaState, live: RemoteAsset) -> str:
    """How the live record differs from what was downloaded and last seen ("" when not)."""
    original, video = live.original, live.version("live_video")
    differences = []
    if original is None or original.checksum != state.downloaded_checksum:
        differences.append("the original's checksum changed")
    elif original.size_bytes != state.downloaded_size_bytes:
        differences.append("the original's size changed")
    if state.live_video_checksum and (video is None or video.checksum != state.live_video_checksum):
        differences.append("the live video changed")
    if not differences and live.change_tag != state.remote_change_tag:
        differences.append(f"change tag {state.remote_change_tag} -> {live.change_tag}")
    return "; ".join(differences)


def _record_request(
    ctx: CleanupContext, asset: Asset, asset_id: str, plan_id: str, nas_id: str | None
) -> None:
    verdict = decide_deletable(asset.state, ctx.clock(), ctx.settings, nas_id)
    evidence: Evidence | None = verdict.evidence
    if evidence is None:  # _recheck passed a moment ago; this cannot change in between
        raise AssertionError(f"asset {asset_id} lost its evidence between checks")
    asset.record(
        ev.DeletionRequested, ctx.run_id, plan_id=plan_id, timestamp=ctx.clock(),
        sha256=evidence.sha256, nas_verified_at_utc=evidence.nas_verified_at_utc,
        google_device_id=evidence.google_device_id,
        google_verified_at_utc=evidence.google_verified_at_utc,
        remote_change_tag=evidence.remote_change_tag, files=evidence.files,
    )
    ctx.effects.save(asset)  # the intent is durable before iCloud hears of it


def _call_icloud(
    ctx: CleanupContext, asset: Asset, live: RemoteAsset, plan_id: str
) -> tuple[str, str]:
    """Soft-delete with the live change tag and record the outcome on `asset` (not saved)."""
    try:
        ctx.effects.soft_delete(ctx.zone, live.record_name, live.change_tag)
    except (ChangeTagConflictError, RecordRefusedError) as exc:
        # CONFLICT may also be our own earlier attempt that iCloud applied: ask what is true.
        observed = _lookup(ctx, live.record_name)
        if observed is None or observed.is_deleted:
            _record_observed_outcome(ctx, asset, observed)
            return "deleted", ""
        asset.record(ev.DeletionFailed, ctx.run_id, plan_id=plan_id, timestamp=ctx.clock(),
                     error=str(exc))
        return "failed", str(exc)
    except IcloudError as exc:
        with contextlib.suppress(IcloudError):  # if so, left requested: the next start asks
            _record_observed_outcome(ctx, asset, _lookup(ctx, live.record_name))
        return "io-error", str(exc)
    asset.record(
        ev.Deleted, ctx.run_id, plan_id=plan_id, timestamp=ctx.clock(),
        recoverable_until_utc=ctx.clock() + RECOVERABLE_FOR, is_reconciled=False,
    )
    return "deleted", ""


def _remove_local_copy(ctx: CleanupContext, asset: Asset, summary: DeleteSummary) -> None:
    """With cleanup.remove_local and both backups verified: remove and record the local copy."""
    state = asset.state
    if not ctx.settings.cleanup.remove_local or not is_backed_up_twice(state):
        return
    current = getattr(state, "compressed_relpath", None) or state.local_relpath
    assert current is not None  # is_backed_up_twice requires a download
    for relpath in (current, state.live_video_relpath):
        if relpath is not None:
            ctx.effects.remove_local_file(nas_path(ctx.library_root, relpath))
    asset.record(ev.LocalCopyRemoved, ctx.run_id, local_relpath=current, timestamp=ctx.clock())
    summary.local_removed.append(current)


def is_backed_up_twice(state: MediaState) -> bool:
    """The NAS and Google copies are both verified for the downloaded original."""
    return (
        state.sha256 is not None
        and state.nas_status == "verified"
        and state.nas_verified_sha256 == state.sha256
        and state.google_status == "verified"
    )
