"""Repair NAS copies from a re-download: the download stage, then the NAS stage, on chosen assets.

Invariants:
- The re-download is the download stage's own engine limited to these assets: every
  resource in their `refetch_resources` is fetched again to its own path and must hash to
  the sha256 recorded at its download; other bytes are quarantined and never filed
  (engine.download.plan.decide_refetched_bytes).
- The NAS repair is the NAS stage's own engine limited to these assets and to what the
  backup work list holds for the NAS mounted now: it copies from the library copy only
  while that hashes to the download, and re-reads every copy (engine.nas.files).
- Nothing else is decided here: `recover` (assets brought back from Recently Deleted) and
  `run` (NAS copies backup-nas could not repair from a local source) share it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from engine.download.options import DownloadOptions, DownloadProgress, RunContext
from engine.download.run import execute_download_run
from engine.icloud.port import IcloudPort
from engine.nas.access import read_nas_id
from engine.nas.run import NasContext, NasOptions, NasProgress, NasRun, NasSummary
from projections.worklists import nas_backup_worklist

NAS_UNMOUNTED_NOTE = (
    "the NAS is not mounted (marker .photoledger-nas missing): run `photoledger backup-nas` "
    "once it is"
)


@dataclass(frozen=True)
class RedownloadRoute:
    """The download stage's dependencies, as a repair uses them."""

    ctx: RunContext
    port: IcloudPort
    options: DownloadOptions
    progress: DownloadProgress


def execute_redownload(route: RedownloadRoute, asset_ids: frozenset[str]) -> None:
    """Download what these assets lack or must fetch again (their work-list entries only)."""
    options = dataclasses.replace(route.options, asset_ids=asset_ids, limit=None)
    execute_download_run(route.ctx, route.port, options, route.progress)
    route.ctx.projection.catch_up(route.ctx.ledger)


def execute_nas_repair(
    nas: NasContext, progress: NasProgress, asset_ids: frozenset[str]
) -> NasSummary | None:
    """Back up these assets' missing or damaged NAS copies; None when the NAS is not mounted
    (nothing is read or recorded then)."""
    if read_nas_id(nas.roots.nas_root) is None:
        return None
    run = NasRun(nas, NasOptions(), progress, "backup")
    ids = [i for i in nas_backup_worklist(nas.projection, run.guard.nas_id) if i in asset_ids]
    summary = run.execute(ids)
    nas.projection.catch_up(nas.ledger)
    return summary
