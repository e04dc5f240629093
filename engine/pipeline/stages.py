"""Each stage of the pipeline called through its one engine entry, with the line `run` shows.

Invariant: a stage function here only calls the stage's own entry (the one its command
calls) and turns the result into the summary's detail (a StageDetail: the stage's counts as
numbers and one readable line), partial marks and notifications; it decides nothing the stage
itself would not.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from datetime import datetime, timedelta

from engine.cleanup.album import run_album_move
from engine.cleanup.plan import decide_mass_delete_guard
from engine.cleanup.run import (
    library_asset_count,
    raise_for_outcome,
    run_delete_execute,
    run_delete_plan,
)
from engine.compress.run import CompressOptions, run_compress
from engine.discover.stage import DiscoverOptions, run_discover
from engine.download.options import download_options
from engine.download.stage import run_download
from engine.google.run import GoogleOptions, google_route, run_backup_google
from engine.icloud.port import IcloudPort
from engine.library_passes import per_library
from engine.nas.run import NasOptions
from engine.nas.stage import run_backup_nas
from engine.notify import Notification
from engine.pipeline.summary import PipelineOptions, RunSummary, StageDetail, counts_detail
from engine.services import Services
from projections.worklists import worklist

StageFn = Callable[[Services, IcloudPort, PipelineOptions, RunSummary], StageDetail]


def _discover(
    services: Services, port: IcloudPort, _o: PipelineOptions, _s: RunSummary
) -> StageDetail:
    options = DiscoverOptions(zone=services.config.settings.icloud.library)
    result = run_discover(services, port, options, services.progress)
    return counts_detail(dict(sorted(result.counts.items())), lead=result.mode)


def adopted_due_before(services: Services) -> datetime:
    """Adopted files are compared with iCloud's bytes (streamed once) only for assets old
    enough to leave iCloud (cleanup.keep_recent_days): the price of deleting them safely, not
    paid for the ones that stay."""
    keep_days = services.config.settings.cleanup.keep_recent_days
    return services.clock() - timedelta(days=keep_days)


def _download(
    services: Services, port: IcloudPort, o: PipelineOptions, s: RunSummary
) -> StageDetail:
    options = dataclasses.replace(
        download_options(services.config, workers=o.download_workers),
        compare_adopted_before_utc=adopted_due_before(services))
    result = run_download(services, port, options, services.progress)
    if result.has_failures:
        s.partial_stages.add("download")
        s.notifications.append(Notification(
            "assets-failed", f"download: {result.failure_message()}",
            {k: str(v) for k, v in result.counts().items()}))
    return counts_detail(result.counts())


def _backup_nas(
    services: Services, port: IcloudPort, _o: PipelineOptions, _s: RunSummary
) -> StageDetail:
    summary = run_backup_nas(services, NasOptions(), services.progress, port)
    return counts_detail(summary.counts())


def _backup_google(
    services: Services, _p: IcloudPort, _o: PipelineOptions, _s: RunSummary
) -> StageDetail:
    route = google_route(services.config, os.environ)
    summary = run_backup_google(services, route, GoogleOptions(), services.progress)
    return counts_detail(summary.counts())


def _compress(
    services: Services, _p: IcloudPort, _o: PipelineOptions, _s: RunSummary
) -> StageDetail:
    summary = run_compress(services, CompressOptions(), services.progress)
    return counts_detail(summary.counts())


def _album_move(
    services: Services, port: IcloudPort, _o: PipelineOptions, _s: RunSummary
) -> StageDetail:
    result = run_album_move(services, port, services.progress)
    counts = {"moved": len(result.moved), "taken_out_by_you": len(result.removals_observed),
              "refused": len(result.refused), "not_eligible": result.not_eligible}
    return StageDetail(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()), counts)


def _delete(
    services: Services, port: IcloudPort, o: PipelineOptions, summary: RunSummary
) -> StageDetail:
    if not worklist(services.projection, "delete", 1):
        return StageDetail("nothing in DeletePending", {"planned": 0})
    plan = run_delete_plan(services, port)
    counts = {"planned": len(plan.entries), "blocked": len(plan.blocked)}
    if not plan.entries:
        return StageDetail(f"no asset passes the gate ({len(plan.blocked)} blocked)", counts)
    summary.plan_id, summary.plan_assets = plan.plan_id, len(plan.entries)
    if not o.execute_deletes:
        return StageDetail(f"plan {plan.plan_id}: {len(plan.entries)} assets (not executed)",
                           counts)
    failed = [s.stage for s in summary.stages if s.status == "failed"]
    guard = decide_mass_delete_guard(len(plan.entries), library_asset_count(services.projection),
                                     services.config.settings, bool(failed))
    if guard:
        return StageDetail(f"plan {plan.plan_id} not executed: {'; '.join(guard)}", counts)
    result = run_delete_execute(services, port, plan.plan_id)
    summary.plan_id, summary.plan_assets = None, 0
    raise_for_outcome(result)  # the exit code `delete execute` would give
    return counts_detail(counts | {"deleted": len(result.deleted),
                                   "skipped": len(result.skipped), "failed": len(result.failed)})


STAGE_FUNCTIONS: dict[str, StageFn] = {
    "discover": per_library(_discover), "download": per_library(_download),
    "backup-nas": _backup_nas, "backup-google": _backup_google, "compress": _compress,
    "album-move": per_library(_album_move), "delete": per_library(_delete),
}
