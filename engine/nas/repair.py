"""Repair NAS copies from a re-download: the download stage, then the NAS stage, on chosen assets.

Invariants:
- The re-download is the download stage's own engine (engine.download.stage.execute_download)
  limited to these assets: every resource in their `refetch_resources` is fetched again to its
  own path and must hash to the sha256 recorded at its download; other bytes are quarantined
  and never filed (engine.download.plan.decide_refetched_bytes). It records no StageCompleted:
  the facts belong to the run that asked for them (`run`, `recover`).
- The NAS repair is the NAS stage's own engine limited to these assets and to what the
  backup work list holds for the NAS mounted now: it copies from the library copy only
  while that hashes to the download, and re-reads every copy (engine.nas.files).
- Nothing else is decided here: `recover` (assets brought back from Recently Deleted) and
  `run` (NAS copies backup-nas could not repair from a local source) share it.
"""

from __future__ import annotations

import dataclasses

from engine.download.options import download_options
from engine.download.stage import execute_download
from engine.icloud.port import IcloudPort
from engine.nas.access import read_nas_id
from engine.nas.files import nas_root_of
from engine.nas.run import NasOptions, NasRun, NasSummary
from engine.reporting import Reporter
from engine.services import Services
from projections.worklists import nas_backup_worklist

NAS_UNMOUNTED_NOTE = (
    "the NAS is not mounted (marker .photoledger-nas missing): run `photoledger backup-nas` "
    "once it is"
)


def execute_redownload(
    services: Services, port: IcloudPort, asset_ids: frozenset[str], reporter: Reporter
) -> None:
    """Download what these assets lack or must fetch again (their work-list entries only)."""
    options = dataclasses.replace(
        download_options(services.config), asset_ids=asset_ids, limit=None
    )
    execute_download(services, port, options, reporter)
    services.projection.catch_up(services.ledger)


def execute_nas_repair(
    services: Services, reporter: Reporter, asset_ids: frozenset[str]
) -> NasSummary | None:
    """Back up these assets' missing or damaged NAS copies; None when the NAS is not mounted
    (nothing is read or recorded then)."""
    if read_nas_id(nas_root_of(services.config)) is None:
        return None
    run = NasRun(services, NasOptions(), reporter, "backup")
    worklist = nas_backup_worklist(services.projection, run.guard.nas_id)
    summary = run.execute([i for i in worklist if i in asset_ids])
    services.projection.catch_up(services.ledger)
    return summary


def execute_redownload_and_repair(
    services: Services, port: IcloudPort, asset_ids: frozenset[str], reporter: Reporter
) -> NasSummary | None:
    """Download these assets again, then repair their NAS copies from those bytes (None: the
    NAS is not mounted any more)."""
    execute_redownload(services, port, asset_ids, reporter)
    return execute_nas_repair(services, reporter, asset_ids)
