"""The NAS route's entries: `backup-nas` and `verify nas`, run or planned.

Invariants:
- `run_backup_nas` and `run_verify_nas` append every fact of their stage: one per asset, in
  batches (engine.nas.run), then StageCompleted ("backup-nas", "verify-nas") with the counts.
- Given an iCloud port (`run`), a backup that asked iCloud for re-downloads (RefetchRequested)
  fetches them and repairs those NAS copies at once, after its StageCompleted; the summary's
  counts then carry "repaired_from_icloud". Without one (`backup-nas`) the next `download`
  and `backup-nas` do it.
- The plans read the ledger and, for a backup, the NAS marker (which NAS is mounted decides
  what it lacks): no lock, no run, no other NAS access, nothing written.
- A missing nas.root is ConfigError; a missing NAS marker is NasUnavailableError before
  anything is read or recorded (engine.nas.access.NasGuard).
"""

from __future__ import annotations

from datetime import timedelta

from engine.icloud.port import IcloudPort
from engine.nas.access import read_nas_id
from engine.nas.files import nas_root_of
from engine.nas.repair import execute_redownload_and_repair
from engine.nas.run import NasOptions, NasRun, NasSummary, Phase, nas_jobs
from engine.reporting import Reporter
from engine.services import Services
from projections.media import MediaProjection
from projections.nas import count_outdated_nas_copies
from projections.worklists import nas_backup_worklist, nas_reverify_worklist


def run_backup_nas(
    services: Services, options: NasOptions, reporter: Reporter, port: IcloudPort | None = None
) -> NasSummary:
    """Copy and verify the backup-nas work list (for the NAS mounted now); with `port`, repair
    from iCloud what no local source could (module invariants)."""
    run = NasRun(services, options, reporter, "backup")
    ids = nas_backup_worklist(services.projection, run.guard.nas_id, options.limit)
    summary = run.execute(ids)
    services.record_stage_completed("backup-nas", summary.counts())
    if port is not None and summary.refetch_requested:
        repaired = execute_redownload_and_repair(
            services, port, frozenset(summary.refetch_requested), reporter
        )
        summary.repaired_from_icloud = repaired.copied if repaired is not None else 0
    return summary


def run_verify_nas(services: Services, options: NasOptions, reporter: Reporter) -> NasSummary:
    """Re-read NAS copies, least recently verified first, for at most `max_duration_s`;
    record each verdict and the stage, then count the copies whose verification is too old."""
    run = NasRun(services, options, reporter, "verify")
    summary = run.execute(nas_reverify_worklist(services.projection, options.limit))
    services.record_stage_completed("verify-nas", summary.counts())
    max_age = timedelta(days=services.config.settings.nas.max_verify_age_days)
    summary.outdated_after_run = count_outdated_nas_copies(
        services.projection, services.clock(), max_age
    )
    return summary


def plan_backup_nas(services: Services, options: NasOptions) -> list[str]:
    """The relative paths a backup would copy or adopt, in order (the ledger's work list for
    the NAS mounted now; only the ledger's own when none is)."""
    mounted = read_nas_id(nas_root_of(services.config))
    ids = nas_backup_worklist(services.projection, mounted, options.limit)
    return _relpaths(services.projection, ids, "backup")


def plan_verify_nas(services: Services, options: NasOptions) -> list[str]:
    """The relative paths `verify nas` would re-read, in order (ledger only)."""
    ids = nas_reverify_worklist(services.projection, options.limit)
    return _relpaths(services.projection, ids, "verify")


def _relpaths(projection: MediaProjection, ids: list[str], phase: Phase) -> list[str]:
    return [f.relpath for job, _size in nas_jobs(projection, ids, phase) for f in job.files]
