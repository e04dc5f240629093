"""`album-move`: put assets that passed every required stage into the iCloud album DeletePending.

Invariants:
- Candidates are the projection's album-move rows that `decide_album_move` (the gate's
  copy, age and change checks) lets through; nothing else is ever added to the album.
- The album is looked up by name and created only when missing. Membership is read from
  iCloud before adding, so a rerun after a crash between "added" and "recorded" records
  AlbumMoved without adding twice (and the relation's name makes a second add EXISTS anyway).
- An asset recorded as moved that is no longer in the album was taken out by the user:
  AlbumRemovalObserved is recorded, and the asset is never added again nor deleted.
- Facts are saved in batches through the effects seam.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from engine import events as ev
from engine.asset import Asset, MediaState
from engine.cleanup.effects import CleanupContext
from engine.cleanup.gate import DELETE_PENDING_ALBUM, decide_album_move
from engine.cleanup.plan import label_of
from engine.config import ConfigFile
from engine.icloud.model import RemoteAlbum
from projections.media import MediaProjection

SAVE_EVERY = 100
_ALBUM_MOVE_WHERE = (
    "NOT is_remote_deleted AND deletion_state IS NULL AND sha256 IS NOT NULL "
    "AND album_moved_at_utc IS NULL AND NOT is_album_removal_observed AND zone = ?"
)
# Moved, not yet deleted: these must still be in the album.
_IN_ALBUM_WHERE = (
    "NOT is_remote_deleted AND album_moved_at_utc IS NOT NULL "
    "AND (deletion_state IS NULL OR deletion_state = 'failed') AND zone = ?"
)


@dataclass
class AlbumMoveSummary:
    """What an album-move run did (or, dry, would do)."""

    moved: list[str] = field(default_factory=list)
    removals_observed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    not_eligible: int = 0


def plan_album_move(
    projection: MediaProjection, now: datetime, settings: ConfigFile
) -> tuple[list[tuple[str, MediaState]], int]:
    """(asset id, state) of every asset to move, oldest capture first; and how many wait."""
    rows = projection.query(
        f"SELECT asset_id FROM media WHERE {_ALBUM_MOVE_WHERE} ORDER BY captured_at_utc, asset_id",
        (settings.icloud.library,),
    )
    ids = [row["asset_id"] for row in rows]
    states = projection.states_of(set(ids))
    chosen = [(i, states[i]) for i in ids if not decide_album_move(states[i], now, settings)]
    return chosen, len(ids) - len(chosen)


def execute_album_move(ctx: CleanupContext, limit: int | None = None) -> AlbumMoveSummary:
    """Observe removals from DeletePending, then add the eligible assets to it."""
    summary = AlbumMoveSummary()
    album = ctx.port.find_or_create_album(ctx.zone, DELETE_PENDING_ALBUM)
    members = observed_members(ctx, album)
    execute_removal_observation(ctx, members, summary.removals_observed)
    ctx.projection.catch_up(ctx.ledger)
    chosen, summary.not_eligible = plan_album_move(ctx.projection, ctx.clock(), ctx.settings)
    chosen = chosen[:limit] if limit is not None else chosen
    for start in range(0, len(chosen), SAVE_EVERY):
        _move_batch(ctx, album, members, chosen[start : start + SAVE_EVERY], summary)
    return summary


def observed_members(ctx: CleanupContext, album: RemoteAlbum) -> set[str]:
    """Record names in the album: its listing, plus each moved asset the listing leaves out
    whose relation record still exists (iCloud's album listings never show hidden photos, and
    a hidden photo must not be mistaken for one the user took out)."""
    listed = set(ctx.port.album_member_ids(ctx.zone, album))
    rows = ctx.projection.query(
        f"SELECT record_name FROM media WHERE {_IN_ALBUM_WHERE}", (ctx.zone,)
    )
    unseen = [row["record_name"] for row in rows if row["record_name"] not in listed]
    if unseen:
        listed |= ctx.port.album_relations_present(ctx.zone, album, unseen)
    return listed


def execute_removal_observation(
    ctx: CleanupContext, members: set[str], observed: list[str]
) -> None:
    """AlbumRemovalObserved for every moved asset the album no longer holds."""
    rows = ctx.projection.query(
        f"SELECT asset_id, record_name FROM media WHERE {_IN_ALBUM_WHERE}", (ctx.zone,)
    )
    gone = [row["asset_id"] for row in rows if row["record_name"] not in members]
    assets = []
    for asset_id in gone:
        asset = ctx.ledger.get_asset(UUID(asset_id))
        asset.record(ev.AlbumRemovalObserved, ctx.run_id, album_name=DELETE_PENDING_ALBUM,
                     timestamp=ctx.clock())
        assets.append(asset)
        observed.append(label_of(asset.state))
    ctx.effects.save(*assets)


def _move_batch(
    ctx: CleanupContext,
    album: RemoteAlbum,
    members: set[str],
    batch: list[tuple[str, MediaState]],
    summary: AlbumMoveSummary,
) -> None:
    to_add = [state.record_name for _id, state in batch if state.record_name not in members]
    ctx.crash.reach("album_move.before_icloud_call")
    refused = ctx.effects.add_to_album(ctx.zone, album, to_add) if to_add else {}
    ctx.crash.reach("album_move.after_icloud_call_before_save")
    assets: list[Asset] = []
    for asset_id, state in batch:
        problem = refused.get(state.record_name)
        if problem is not None:
            summary.refused.append(f"{label_of(state)}: {problem}")
            continue
        asset = ctx.ledger.get_asset(UUID(asset_id))
        asset.record(ev.AlbumMoved, ctx.run_id, album_name=album.name, timestamp=ctx.clock())
        assets.append(asset)
        summary.moved.append(label_of(state))
    ctx.effects.save(*assets)
