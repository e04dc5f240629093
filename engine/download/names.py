"""The dry-run plan of names: where the work list would be written.

Invariant: read-only: the ledger and projection are queried (projections.download), the disk
only checked for existence; nothing is written.
"""

from __future__ import annotations

from uuid import UUID

from engine.download.fetch import NameRegistry
from engine.download.options import DownloadOptions, DownloadSummary, naming_policy
from engine.download.plan import plan_files
from engine.services import Services
from projections.download import held_relpaths
from projections.worklists import worklist


def plan_dry_run(services: Services, options: DownloadOptions) -> DownloadSummary:
    """The relative paths a run would write, from the ledger alone (no iCloud calls)."""
    policy = naming_policy(services.config, options.local_tz)
    library_root = services.config.library_root
    summary = DownloadSummary()
    registry = NameRegistry(held_relpaths(services.projection))
    for asset_id in worklist(services.projection, "download", limit=options.limit):
        state = services.ledger.get_asset(UUID(asset_id)).state
        for plan in plan_files(
            state, None, asset_key=asset_id, sizes=options.sizes, policy=policy,
            resources=options.resources,
        ):
            relpath = registry.reserve_first_free(
                plan.relfolder, plan.candidates, asset_id, library_root
            )
            summary.planned_relpaths.append(relpath or plan.first_relpath)
    return summary
