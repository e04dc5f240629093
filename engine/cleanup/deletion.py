"""Deleting one planned asset from iCloud: the checks at that moment, the request, the call.

Invariants:
- Order per asset (DESIGN.md §5): the gate passes again at that moment, the live iCloud record
  is unchanged, the NAS copies are re-read (when the NAS is required, see
  engine.cleanup.nas_evidence), DeletionRequested with its evidence is saved (durable, in one
  save with the re-read's NasVerified, whose time is the evidence's NAS time), then iCloud is
  asked (isDeleted with the record's current change tag), then Deleted (with
  recoverable_until) or DeletionFailed is saved. Nothing else in photoledger calls
  `soft_delete`.
- A copy that re-reads wrong or is missing is recorded (NasMismatched) and its asset skipped;
  a NAS gone from under the run raises NasUnavailableError out of here (the run stops).
- A deletion someone else made (RemoteDeleted, or found in Recently Deleted here) never removes
  a local or NAS copy. The local copy is removed only when `cleanup.remove_local` is set and the
  NAS and Google copies are verified for the downloaded sha256, and it is recorded.
- Every change goes through the scope's effects, so a dry run follows this same code.
- The result (`AssetDeletion`) is what the run adds up; nothing here keeps totals.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from engine import events as ev
from engine.asset import Asset, MediaState
from engine.cleanup.effects import CleanupScope, mounted_nas_id
from engine.cleanup.gate import DELETE_PENDING_ALBUM, RECOVERABLE_FOR, Evidence, decide_deletable
from engine.cleanup.nas_evidence import (
    NasReread,
    decide_nas_evidence,
    record_nas_reread,
    reread_nas_copies,
)
from engine.cleanup.plan import label_of
from engine.cleanup.reconcile import lookup_live, record_observed_outcome
from engine.discover import remote_facts
from engine.icloud.model import RemoteAsset
from engine.icloud.port import ChangeTagConflictError, IcloudError, RecordRefusedError
from engine.nas.access import NasGuard, nas_path
from engine.nas.files import NasRoots

DeletionOutcome = Literal["deleted", "skipped", "failed", "io-error"]


@dataclass(frozen=True)
class AssetDeletion:
    """What happened to one planned asset. `outcome` is what the run goes on with: an
    "io-error" may still have been applied (`is_deleted`: found so by asking iCloud)."""

    outcome: DeletionOutcome
    label: str
    detail: str = ""  # why it was skipped or failed
    is_deleted: bool = False
    freed_bytes: int = 0
    local_removed: str | None = None  # the local copy's relpath, when removed
    is_nas_mismatched: bool = False
    reread: NasReread | None = None


def execute_asset_deletion(
    scope: CleanupScope, entry: ev.PlanEntry, members: set[str], plan_id: str,
    guard: NasGuard | None,
) -> AssetDeletion:
    """Re-check one planned asset and, when it still may go, delete it (see invariants)."""
    asset = scope.ledger.get_asset(UUID(entry.asset_id))
    label = label_of(asset.state)
    if asset.state.deletion_state == "deleted":
        return AssetDeletion("skipped", label, "already deleted")
    nas_id = _gate_nas_id(scope, asset.state, guard)
    reason = _recheck(scope, asset, entry, members, nas_id)
    live = None if reason else lookup_live(scope, asset.state.record_name)
    reason = reason or _remote_difference(scope, asset, live)
    reread, is_mismatched = None, False
    if not reason and guard is not None:
        reread, reason, is_mismatched = _reread_nas_evidence(scope, asset, entry.asset_id, guard)
    if reason or live is None:
        # AlbumRemovalObserved / RemoteChanged / RemoteDeleted / NasMismatched, if any
        scope.effects.save(asset)
        return AssetDeletion("skipped", label, str(reason), is_nas_mismatched=is_mismatched,
                             reread=reread)
    return _request_and_delete(scope, asset, entry, live, plan_id, nas_id=nas_id, reread=reread)


def _request_and_delete(
    scope: CleanupScope, asset: Asset, entry: ev.PlanEntry, live: RemoteAsset, plan_id: str,
    *, nas_id: str | None, reread: NasReread | None,
) -> AssetDeletion:
    """Save the request, ask iCloud, record and save the outcome."""
    label = label_of(asset.state)
    scope.crash.reach("delete.before_request_saved")
    _record_request(scope, asset, entry.asset_id, plan_id, nas_id)
    scope.crash.reach("delete.after_request_saved")
    outcome, detail = _call_icloud(scope, asset, live, plan_id)
    scope.crash.reach("delete.after_icloud_call")
    if asset.state.deletion_state == "deleted":
        removed = _remove_local_copy(scope, asset)
        done = AssetDeletion(outcome, label, is_deleted=True, freed_bytes=entry.icloud_size_bytes,
                             local_removed=removed, reread=reread)
    else:
        if asset.state.deletion_state != "failed":
            detail = f"outcome unknown ({detail}); the next run asks iCloud"
        done = AssetDeletion(outcome, label, detail, reread=reread)
    scope.effects.save(asset)
    return done


def _gate_nas_id(scope: CleanupScope, state: MediaState, guard: NasGuard | None) -> str | None:
    """The NAS id the gate is asked about. With the NAS required, the evidence's own: which
    NAS is mounted is decided by the re-read just before the request, on the files, so a
    swapped share is recorded as what it lacks (NasMismatched), never only blocked."""
    if guard is None:
        return mounted_nas_id(scope.nas_root)
    return state.nas_id or ""


def _reread_nas_evidence(
    scope: CleanupScope, asset: Asset, asset_id: str, guard: NasGuard
) -> tuple[NasReread, str | None, bool]:
    """Re-read the asset's NAS copies now and record what they showed (not saved): the
    re-read, why the asset may not be deleted (or None), and whether a copy was bad."""
    scope.crash.reach("delete.before_nas_reread")
    roots = NasRoots(scope.library_root, guard.root)
    reread = reread_nas_copies(guard, roots, asset_id, asset.state)
    evidence = decide_nas_evidence(asset.state, reread)
    record_nas_reread(asset, scope.run_id, scope.now(), reread, evidence)
    return reread, evidence.reason or None, evidence.outcome == "mismatched"


def _recheck(
    scope: CleanupScope, asset: Asset, entry: ev.PlanEntry, members: set[str],
    nas_id: str | None,
) -> str | None:
    """The gate again, now (with the NAS `nas_id` mounted); the same bytes as planned;
    still in DeletePending."""
    state = asset.state
    verdict = decide_deletable(state, scope.now(), scope.settings, nas_id, scope.selection)
    if not verdict.is_deletable:
        return "; ".join(str(block) for block in verdict.blocks)
    if state.sha256 != entry.sha256:
        return "changed-since-plan: the downloaded original is not the one planned"
    if state.record_name not in members:
        asset.record(ev.AlbumRemovalObserved, scope.run_id, album_name=DELETE_PENDING_ALBUM,
                     timestamp=scope.now())
        return "removed-from-album: the user took it out of DeletePending; not deleted"
    return None


def _remote_difference(
    scope: CleanupScope, asset: Asset, live: RemoteAsset | None
) -> str | None:
    """Why the live record may not be deleted (and the fact that says so), or None."""
    state = asset.state
    if live is None or live.is_deleted:
        asset.record(ev.RemoteDeleted, scope.run_id, observed_via="recently deleted",
                     timestamp=scope.now())
        return "deleted-elsewhere: already deleted in iCloud by someone else; copies kept"
    difference = describe_remote_change(state, live)
    if difference:
        asset.record(ev.RemoteChanged, scope.run_id, timestamp=scope.now(), **remote_facts(live))
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
    scope: CleanupScope, asset: Asset, asset_id: str, plan_id: str, nas_id: str | None
) -> None:
    verdict = decide_deletable(
        asset.state, scope.now(), scope.settings, nas_id, scope.selection
    )
    evidence: Evidence | None = verdict.evidence
    if evidence is None:  # _recheck passed a moment ago; this cannot change in between
        raise AssertionError(f"asset {asset_id} lost its evidence between checks")
    asset.record(
        ev.DeletionRequested, scope.run_id, plan_id=plan_id, timestamp=scope.now(),
        sha256=evidence.sha256, nas_verified_at_utc=evidence.nas_verified_at_utc,
        google_device_id=evidence.google_device_id,
        google_verified_at_utc=evidence.google_verified_at_utc,
        remote_change_tag=evidence.remote_change_tag, files=evidence.files,
    )
    scope.effects.save(asset)  # the intent is durable before iCloud hears of it


def _call_icloud(
    scope: CleanupScope, asset: Asset, live: RemoteAsset, plan_id: str
) -> tuple[DeletionOutcome, str]:
    """Soft-delete with the live change tag and record the outcome on `asset` (not saved)."""
    try:
        scope.effects.soft_delete(scope.zone, live.record_name, live.change_tag)
    except (ChangeTagConflictError, RecordRefusedError) as exc:
        # CONFLICT may also be our own earlier attempt that iCloud applied: ask what is true.
        observed = lookup_live(scope, live.record_name)
        if observed is None or observed.is_deleted:
            record_observed_outcome(scope, asset, observed)
            return "deleted", ""
        asset.record(ev.DeletionFailed, scope.run_id, plan_id=plan_id, timestamp=scope.now(),
                     error=str(exc))
        return "failed", str(exc)
    except IcloudError as exc:
        with contextlib.suppress(IcloudError):  # if so, left requested: the next start asks
            record_observed_outcome(scope, asset, lookup_live(scope, live.record_name))
        return "io-error", str(exc)
    asset.record(
        ev.Deleted, scope.run_id, plan_id=plan_id, timestamp=scope.now(),
        recoverable_until_utc=scope.now() + RECOVERABLE_FOR, is_reconciled=False,
    )
    return "deleted", ""


def _remove_local_copy(scope: CleanupScope, asset: Asset) -> str | None:
    """With cleanup.remove_local and both backups verified: remove and record the local copy
    (recorded on `asset`, not saved); its relpath, or None when it stays."""
    state = asset.state
    if not scope.settings.cleanup.remove_local or not is_backed_up_twice(state):
        return None
    current = getattr(state, "compressed_relpath", None) or state.local_relpath
    assert current is not None  # is_backed_up_twice requires a download
    for relpath in (current, state.live_video_relpath):
        if relpath is not None:
            scope.effects.remove_local_file(nas_path(scope.library_root, relpath))
    asset.record(ev.LocalCopyRemoved, scope.run_id, local_relpath=current, timestamp=scope.now())
    return current


def is_backed_up_twice(state: MediaState) -> bool:
    """The NAS and Google copies are both verified for the downloaded original."""
    return (
        state.sha256 is not None
        and state.nas_status == "verified"
        and state.nas_verified_sha256 == state.sha256
        and state.google_status == "verified"
    )
