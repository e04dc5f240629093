"""Which relative paths the ledger already gives to assets, and the dry-run plan of names.

Invariant: read-only: the ledger and projection are queried, the disk only checked for
existence; nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

from engine.asset import MediaState
from engine.download.fetch import NameRegistry
from engine.download.options import DownloadOptions, DownloadSummary, RunDeps
from engine.download.plan import plan_files
from projections.media import MEDIA_FIELDS, MediaProjection, row_to_state
from projections.worklists import worklist


def held_relpaths(projection: MediaProjection) -> dict[str, str]:
    """Relative path -> asset id hex for every file the ledger says an asset holds."""
    columns = ", ".join(MEDIA_FIELDS)
    rows = projection.con.execute(
        f"SELECT asset_id, {columns} FROM media WHERE local_relpath IS NOT NULL"
    )
    held: dict[str, str] = {}
    for row in rows:
        asset_id, state = row_to_state(tuple(row))
        for relpath in _relpaths_of(state):
            held[relpath] = asset_id
    return held


def _relpaths_of(state: MediaState) -> Iterator[str]:
    if state.local_relpath:
        yield state.local_relpath
    if state.live_video_relpath:
        yield state.live_video_relpath
    if state.compressed_relpath:  # a format change's new name is held as much as the old
        yield state.compressed_relpath
    for extra in state.extra_files:
        yield extra.relpath


def plan_dry_run(ctx: RunDeps, options: DownloadOptions) -> DownloadSummary:
    """The relative paths a run would write, from the ledger alone (no iCloud calls)."""
    summary = DownloadSummary()
    registry = NameRegistry(held_relpaths(ctx.projection))
    for asset_id in worklist(ctx.projection, "download", limit=options.limit):
        state = ctx.ledger.get_asset(UUID(asset_id)).state
        for plan in plan_files(
            state, None, asset_key=asset_id, sizes=options.sizes, policy=ctx.naming,
            resources=options.resources,
        ):
            relpath = registry.reserve_first_free(
                plan.relfolder, plan.candidates, asset_id, ctx.library_root
            )
            summary.planned_relpaths.append(relpath or plan.first_relpath)
    return summary
