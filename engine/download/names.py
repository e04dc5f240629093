"""The dry-run plan of names: where the work list would be written.

Invariant: read-only: the ledger and projection are queried (projections.download), the disk
only checked for existence; nothing is written.
"""

from __future__ import annotations

from uuid import UUID

from engine.download.fetch import NameRegistry
from engine.download.options import DownloadOptions, DownloadSummary, RunDeps
from engine.download.plan import plan_files
from projections.download import held_relpaths
from projections.worklists import worklist

__all__ = ["held_relpaths", "plan_dry_run"]  # held_relpaths: moved, still imported from here


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
