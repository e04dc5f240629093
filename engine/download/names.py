"""The dry-run plan of names: where the work list would be written.

Invariant: read-only: the ledger and projection are queried (projections.download), the disk
only checked for existence; nothing is written.
"""

from __future__ import annotations

from uuid import UUID

from engine.download.fetch import NameRegistry
from engine.download.options import DownloadOptions, DownloadSummary, naming_policy
from engine.download.plan import plan_files
from engine.download.selected import selected_worklist
from engine.naming import join_relpath
from engine.services import Services
from projections.download import held_relpaths


def plan_dry_run(services: Services, options: DownloadOptions) -> DownloadSummary:
    """The relative paths a run would write, from the ledger alone (no iCloud calls)."""
    policy = naming_policy(services.config, options.local_tz)
    library_root = services.config.library_root
    summary = DownloadSummary()
    registry = NameRegistry(held_relpaths(services.projection))
    work = selected_worklist(services, options)
    summary.not_selected = work.not_selected
    hidden_apart = services.config.settings.selection.hidden == "separate"
    for asset_id in work.asset_ids:
        state = services.ledger.get_asset(UUID(asset_id)).state
        planned: set[str] = set()  # two renditions of one asset with one name (a RAW's JPEG
        # twin and the edit): the run writes the first, then the second under its next name
        for plan in plan_files(
            state, None, asset_key=asset_id, sizes=options.sizes, policy=policy,
            resources=options.resources, hidden_apart=hidden_apart,
        ):
            free = [c for c in plan.candidates
                    if join_relpath(plan.relfolder, c) not in planned] or plan.candidates
            relpath = registry.reserve_first_free(
                plan.relfolder, free, asset_id, library_root, plan.declared_size_bytes,
            )
            planned.add(relpath or plan.first_relpath)
            summary.planned_relpaths.append(relpath or plan.first_relpath)
    return summary
