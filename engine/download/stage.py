"""The download stage's entries: the run over its work list, the whole stage, and the dry run.

Invariants:
- `execute_download` fetches and records (engine.download.run) and nothing else: no sidecar,
  no StageCompleted. Recover and the NAS repair use it on chosen assets (`asset_ids`) inside
  their own runs.
- `run_download` is the stage as `download` and `run` execute it: the files, then (only when
  the options ask, `compare_adopted_before_utc`) the comparison of adopted files with
  iCloud's bytes (engine.download.adoption, which downloads again what it disproves), then
  the XMP sidecars (engine.sidecar_run), then one StageCompleted("download") with the counts
  of all. A plain `download` never fetches an adopted file.
- `plan_download` reads the ledger only: no iCloud call, nothing written.
- The naming policy comes from the services' config and the options' zone (machine's if none).
"""

from __future__ import annotations

from engine.download.adoption import confirm_adoptions, planned_confirmations
from engine.download.names import plan_dry_run
from engine.download.options import DownloadOptions, DownloadSummary
from engine.download.run import DownloadRun
from engine.icloud.port import IcloudPort
from engine.reporting import Reporter
from engine.services import Services
from engine.sidecar_run import write_sidecars


def execute_download(
    services: Services, port: IcloudPort, options: DownloadOptions, reporter: Reporter
) -> DownloadSummary:
    """Download the work list (or its `asset_ids`) and record one outcome per asset."""
    return DownloadRun(services, port, options, reporter).execute()


def run_download(
    services: Services, port: IcloudPort, options: DownloadOptions, reporter: Reporter
) -> DownloadSummary:
    """The whole stage: the files, the sidecars, then StageCompleted("download")."""
    summary = execute_download(services, port, options, reporter)
    if options.compare_adopted_before_utc is not None:
        confirm_adoptions(services, port, options, reporter, summary)
    sidecars = write_sidecars(services)
    summary.sidecars_written, summary.sidecars_rewritten = sidecars.written, sidecars.rewritten
    summary.sidecars_failed, summary.sidecar_failures = sidecars.failed, sidecars.failures
    services.record_stage_completed("download", summary.counts())
    return summary


def plan_download(services: Services, options: DownloadOptions) -> DownloadSummary:
    """Where the work list would be written, and which adopted files would be compared with
    iCloud's bytes (from the ledger only)."""
    summary = plan_dry_run(services, options)
    if options.compare_adopted_before_utc is not None:
        summary.planned_confirmations = planned_confirmations(services, options)
    return summary

