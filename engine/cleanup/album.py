"""`album-move`: put assets that passed every required stage into the iCloud album DeletePending.

Invariants:
- Candidates are projections.cleanup's album-move candidates that `decide_album_move` (the
  gate's copy, age and change checks) lets through; nothing else is ever added to the album.
- The album is looked up by name and created only when missing. Membership is read from
  iCloud before adding, so a rerun after a crash between "added" and "recorded" records
  AlbumMoved without adding twice (and the relation's name makes a second add EXISTS anyway).
  Deletion plans and executions only look the album up (`delete_pending_members`): a user who
  deleted the album took every photo out of it.
- An asset recorded as moved that is no longer in the album was taken out by the user:
  AlbumRemovalObserved is recorded, and the asset is never added again nor deleted.
- Facts are saved in batches through the effects seam; `run_album_move` records the stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from engine import events as ev
from engine.asset import Asset, MediaState
from engine.cleanup.effects import CleanupScope, cleanup_scope
from engine.cleanup.gate import DELETE_PENDING_ALBUM, decide_album_move
from engine.cleanup.plan import label_of
from engine.icloud.model import RemoteAlbum
from engine.icloud.port import IcloudPort
from engine.libraries import is_shared_library_zone
from engine.reporting import Reporter
from engine.selection_scope import selection_scope
from engine.services import Services
from projections.cleanup import album_move_candidates, in_delete_pending

SAVE_EVERY = 100


@dataclass
class AlbumMoveSummary:
    """What an album-move run did (or, dry, would do)."""

    moved: list[str] = field(default_factory=list)
    removals_observed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    not_eligible: int = 0


@dataclass(frozen=True)
class AlbumMovePlan:
    """The assets to move, oldest capture first, and how many candidates wait."""

    chosen: list[tuple[str, MediaState]]  # (asset id hex, state)
    not_eligible: int
    waiting: list[tuple[str, list[str]]] = field(default_factory=list)  # (label, the gate's words)

    @property
    def labels(self) -> list[str]:
        return [label_of(state) for _id, state in self.chosen]


def run_album_move(
    services: Services, port: IcloudPort, reporter: Reporter, *, limit: int | None = None
) -> AlbumMoveSummary:
    """Observe removals and add eligible assets to DeletePending; record the stage."""
    summary = execute_album_move(cleanup_scope(services, port, dry_run=False), reporter, limit)
    counts = {
        "moved": len(summary.moved),
        "removals_observed": len(summary.removals_observed),
        "refused": len(summary.refused),
    }
    services.record_stage_completed("album-move", counts)
    return summary


def plan_album_move(services: Services, limit: int | None = None) -> AlbumMovePlan:
    """The (at most `limit`) assets the gate lets into DeletePending now."""
    settings = services.config.settings
    ids = album_move_candidates(services.projection, settings.icloud.library)
    states = services.projection.states_of(set(ids))
    now = services.clock()
    selection = selection_scope(services)  # outside the selection: never moved
    blocks = {i: decide_album_move(states[i], now, settings, selection) for i in ids}
    chosen = [(i, states[i]) for i in ids if not blocks[i]]
    waiting = [(label_of(states[i]), [str(b) for b in blocks[i]]) for i in ids if blocks[i]]
    return AlbumMovePlan(chosen[:limit], len(ids) - len(chosen), waiting)


def execute_album_move(
    scope: CleanupScope, reporter: Reporter, limit: int | None = None
) -> AlbumMoveSummary:
    """Observe removals from DeletePending, then add the eligible assets to it."""
    summary = AlbumMoveSummary()
    if is_shared_library_zone(scope.zone) and not scope.settings.cleanup.include_shared_library:
        # Nothing is written to a Shared Library the config keeps out (not even the album):
        # every participant would see it. The gate blocks each asset (`shared-library`).
        summary.not_eligible = plan_album_move(scope.services, limit).not_eligible
        return summary
    album = scope.port.find_or_create_album(scope.zone, DELETE_PENDING_ALBUM)
    members = observed_members(scope, album)
    execute_removal_observation(scope, members, summary.removals_observed)
    scope.projection.catch_up(scope.ledger)
    plan = plan_album_move(scope.services, limit)
    summary.not_eligible = plan.not_eligible
    reporter.started("album-move", len(plan.chosen))
    for start in range(0, len(plan.chosen), SAVE_EVERY):
        batch = plan.chosen[start : start + SAVE_EVERY]
        _move_batch(scope, album, members, batch, summary, reporter=reporter)
    return summary


def delete_pending_members(scope: CleanupScope) -> set[str]:
    """Record names in DeletePending; none when the album is gone (see module invariants)."""
    for album in scope.port.list_albums(scope.zone):
        if album.name == DELETE_PENDING_ALBUM and album.parent_id is None and not album.is_folder:
            return observed_members(scope, album)
    return set()


def observed_members(scope: CleanupScope, album: RemoteAlbum) -> set[str]:
    """Record names in the album: its listing, plus each moved asset the listing leaves out
    whose relation record still exists (iCloud's album listings never show hidden photos, and
    a hidden photo must not be mistaken for one the user took out)."""
    listed = set(scope.port.album_member_ids(scope.zone, album))
    moved = in_delete_pending(scope.projection, scope.zone)
    unseen = [m.record_name for m in moved if m.record_name not in listed]
    if unseen:
        listed |= scope.port.album_relations_present(scope.zone, album, unseen)
    return listed


def execute_removal_observation(
    scope: CleanupScope, members: set[str], observed: list[str]
) -> None:
    """AlbumRemovalObserved for every moved asset the album no longer holds."""
    moved = in_delete_pending(scope.projection, scope.zone)
    gone = [m.asset_id for m in moved if m.record_name not in members]
    assets = []
    for asset_id in gone:
        asset = scope.ledger.get_asset(UUID(asset_id))
        asset.record(ev.AlbumRemovalObserved, scope.run_id, album_name=DELETE_PENDING_ALBUM,
                     timestamp=scope.now())
        assets.append(asset)
        observed.append(label_of(asset.state))
    scope.effects.save(*assets)


def _move_batch(
    scope: CleanupScope,
    album: RemoteAlbum,
    members: set[str],
    batch: list[tuple[str, MediaState]],
    summary: AlbumMoveSummary,
    *,
    reporter: Reporter,
) -> None:
    to_add = [state.record_name for _id, state in batch if state.record_name not in members]
    scope.crash.reach("album_move.before_icloud_call")
    refused = scope.effects.add_to_album(scope.zone, album, to_add) if to_add else {}
    scope.crash.reach("album_move.after_icloud_call_before_save")
    assets: list[Asset] = []
    for asset_id, state in batch:
        label, problem = label_of(state), refused.get(state.record_name)
        if problem is not None:
            summary.refused.append(f"{label}: {problem}")
            reporter.asset_done("refused", label, problem)
            continue
        asset = scope.ledger.get_asset(UUID(asset_id))
        asset.record(ev.AlbumMoved, scope.run_id, album_name=album.name, timestamp=scope.now())
        assets.append(asset)
        summary.moved.append(label)
    scope.effects.save(*assets)
    for asset in assets:
        reporter.asset_done("ok", label_of(asset.state))
