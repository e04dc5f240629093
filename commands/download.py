"""`photoledger download`: fetch every discovered, not yet downloaded asset into the library.

Invariants:
- The work list is the projection's `download` list; a rerun after any stop does exactly
  what is left (files already in place with the same bytes are adopted, never duplicated).
- `--dry-run` and `--only-print-filenames` read the ledger only: no lock, no run, no iCloud
  call, nothing written.
- Facts are appended by the engine's run in batches; this module only wires dependencies,
  shows progress and prints the summary.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, tzinfo
from typing import Any

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from commands.context import Deps, Settings, open_icloud, open_reader, open_writer
from commands.output import console, err_console, human_bytes, print_json, print_outcome
from engine.config import Config, load_config
from engine.download.names import plan_dry_run
from engine.download.options import (
    DownloadOptions,
    DownloadProgress,
    DownloadSummary,
    RunContext,
)
from engine.download.plan import SIZE_CHOICES
from engine.download.run import execute_download_run
from engine.errors import AssetsFailedError
from engine.icloud.port import IcloudPort
from engine.naming import NamingPolicy
from engine.nas.repair import RedownloadRoute
from engine.sidecar_run import SidecarContext, write_sidecars


def local_timezone() -> tzinfo:
    """The machine's zone for folder dates (icloudpd uses the host's zone too)."""
    try:
        import tzlocal

        zone: tzinfo = tzlocal.get_localzone()
        return zone
    except Exception:  # no zone database or an odd TZ: UTC is a stable fallback
        return UTC


def naming_policy(config: Config, local_tz: tzinfo) -> NamingPolicy:
    """The naming settings of the config, with the zone folder dates are computed in."""
    library = config.settings.library
    return NamingPolicy(
        local_tz=local_tz,
        folder_structure=library.folder_structure,
        file_match_policy=library.file_match_policy,
        keep_unicode=library.keep_unicode_in_filenames,
    )


def download_options(config: Config, **overrides: Any) -> DownloadOptions:
    """The run's options from the config (download.*) and what the command line asked."""
    settings = config.settings.download
    return DownloadOptions(
        resources=tuple(settings.resources),
        max_consecutive_failures=settings.max_consecutive_failures,
        **overrides,
    )


def _context(deps: Deps, local_tz: tzinfo, run_id: str) -> RunContext:
    return RunContext(
        ledger=deps.ledger,
        projection=deps.projection,
        crash=deps.crash,
        run_id=run_id,
        library_root=deps.config.library_root,
        naming=naming_policy(deps.config, local_tz),
    )


def redownload_route(deps: Deps, port: IcloudPort) -> RedownloadRoute:
    """The download stage as a repair re-downloads with it (quietly, this run's facts)."""
    ctx = _context(deps, local_timezone(), deps.run_id)
    return RedownloadRoute(ctx, port, download_options(deps.config), LogProgress(enabled=False))


def run_download(
    deps: Deps,
    port: IcloudPort,
    opts: DownloadOptions,
    progress: DownloadProgress | None = None,
    local_tz: tzinfo | None = None,
) -> DownloadSummary:
    """Download the work list and record one fact per asset; returns what happened."""
    ctx = _context(deps, local_tz or local_timezone(), deps.run_id)
    summary = execute_download_run(ctx, port, opts, progress or LogProgress(enabled=False))
    sidecars = write_sidecars(SidecarContext(
        ledger=deps.ledger, projection=deps.projection, crash=deps.crash, run_id=deps.run_id,
        library_root=deps.config.library_root,
    ))
    summary.sidecars_written, summary.sidecars_rewritten = sidecars.written, sidecars.rewritten
    summary.sidecars_failed, summary.sidecar_failures = sidecars.failed, sidecars.failures
    deps.record_stage_completed("download", summary.counts())
    return summary


def plan_download(
    deps: Deps, opts: DownloadOptions, local_tz: tzinfo | None = None
) -> DownloadSummary:
    """Where the work list would be written (from the ledger only)."""
    return plan_dry_run(_context(deps, local_tz or local_timezone(), ""), opts)


class LogProgress:
    """Plain lines on stderr (logs, cron): every asset that did not simply succeed, and a
    count at each tenth of the work list; a line per success would cost more than it tells."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.size_bytes_seen = 0
        self.assets_total = self.assets_done = 0

    def started(self, assets: int, total_bytes: int) -> None:
        self.assets_total = assets
        if self.enabled:
            err_console.print(
                f"downloading {assets} assets ({human_bytes(total_bytes)})", markup=False
            )

    def advance_bytes(self, size_bytes: int) -> None:
        self.size_bytes_seen += size_bytes

    def asset_done(self, outcome: str, label: str, detail: str) -> None:
        self.assets_done += 1
        if not self.enabled:
            return
        if outcome != "ok":
            print_outcome(outcome, label, detail)
        tenth = max(1, self.assets_total // 10)
        if self.assets_done % tenth == 0 or self.assets_done == self.assets_total:
            err_console.print(
                f"{self.assets_done}/{self.assets_total} assets, "
                f"{human_bytes(self.size_bytes_seen)}", markup=False, highlight=False,
            )


class RichProgress:
    """A bar for files and one for bytes (rate, ETA) on a terminal."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.files: TaskID | None = None
        self.bytes: TaskID | None = None

    def started(self, assets: int, total_bytes: int) -> None:
        self.files = self.progress.add_task("files", total=assets)
        self.bytes = self.progress.add_task("bytes", total=total_bytes)

    def advance_bytes(self, size_bytes: int) -> None:
        if self.bytes is not None:
            self.progress.advance(self.bytes, size_bytes)

    def asset_done(self, outcome: str, label: str, detail: str) -> None:
        if self.files is not None:
            self.progress.advance(self.files, 1)
        if outcome != "ok":
            self.progress.console.print(
                Text(f"{outcome}: {label}" + (f" ({detail})" if detail else ""))
            )


@contextmanager
def progress_for(settings: Settings) -> Iterator[DownloadProgress]:
    """Rich bars on a terminal, plain log lines otherwise."""
    if not settings.show_progress:
        yield LogProgress(enabled=True)
        return
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )
    with bars:
        yield RichProgress(bars)


@click.command("download")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Files downloaded at the same time.",
)
@click.option(
    "--size",
    "sizes",
    type=click.Choice(SIZE_CHOICES),
    multiple=True,
    help="Renditions to fetch (repeatable; default original). Live-photo videos "
    "are always fetched.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be downloaded; change nothing.")
@click.option(
    "--only-print-filenames",
    is_flag=True,
    help="Print the relative paths that would be written, one per line.",
)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many assets.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def download_command(
    settings: Settings,
    workers: int,
    sizes: tuple[str, ...],
    dry_run: bool,
    only_print_filenames: bool,
    limit: int | None,
    as_json: bool,
) -> None:
    """Download every discovered asset not yet in the library.

    Each file streams to a hidden .part file beside its destination, resumes after a cut,
    and is kept only when its byte count matches what iCloud declared; it is then hashed,
    synced to disk and renamed into place (icloudpd-compatible names and folders).
    """
    config = load_config(settings.config_path)
    opts = download_options(
        config,
        workers=workers,
        sizes=tuple(sizes) or ("original",),
        limit=limit,
        dry_run=dry_run or only_print_filenames,
    )
    if opts.dry_run:
        with open_reader(config, settings) as deps:
            summary = plan_download(deps, opts)
        _print_plan(summary, only_print_filenames, as_json)
        return
    with (
        open_writer(config, settings, "download") as deps,
        open_icloud(config) as port,
        progress_for(settings) as progress,
    ):
        summary = run_download(deps, port, opts, progress)
        if as_json:
            print_json(asdict(summary))
        else:
            _print_summary(summary)
        if summary.has_failures:  # finished, but not everything: never a silent success
            raise AssetsFailedError(failure_message(summary))


command = download_command


def failure_message(summary: DownloadSummary) -> str:
    """The one line of a download that finished with failures (recorded, retried next run)."""
    sidecars = (f", and {summary.sidecars_failed} sidecars could not be written"
                if summary.sidecars_failed else "")
    return (f"{summary.partial + summary.failed} assets failed and {summary.quarantined} were "
            "quarantined, each recorded with its reason (`photoledger report failures`)"
            f"{sidecars}; the next run retries the failures")


def _print_plan(summary: DownloadSummary, only_filenames: bool, as_json: bool) -> None:
    if as_json:
        print_json({"would_download": summary.planned_relpaths})
        return
    for relpath in summary.planned_relpaths:
        console.print(Text(relpath if only_filenames else f"would download {relpath}"))
    if not only_filenames:
        console.print(f"{len(summary.planned_relpaths)} files would be downloaded")


def _print_summary(summary: DownloadSummary) -> None:
    console.print(
        f"downloaded {summary.downloaded} assets ({summary.files_downloaded} files), "
        f"partly downloaded {summary.partial}, failed {summary.failed}, "
        f"quarantined {summary.quarantined}"
        + (f", changed in iCloud {summary.remote_changed}" if summary.remote_changed else "")
        + (f", gone from iCloud {summary.remote_deleted}" if summary.remote_deleted else "")
        + f"; {human_bytes(summary.bytes_downloaded)} in {summary.elapsed_s:.1f} s"
    )
    if summary.sidecars_written or summary.sidecars_rewritten or summary.sidecars_failed:
        console.print(
            f"sidecars: {summary.sidecars_written} written, {summary.sidecars_rewritten} "
            f"rewritten, {summary.sidecars_failed} failed", markup=False, highlight=False,
        )
    for failure in summary.sidecar_failures:
        err_console.print(f"sidecar failed: {failure}", markup=False, highlight=False)
    if summary.fallback_named:
        err_console.print(
            f"photoledger: warning: {summary.fallback_named} assets have no usable file name in "
            "iCloud (filenameEnc missing or undecodable) and were named from their record "
            "name, as icloudpd does", highlight=False, markup=False,
        )

