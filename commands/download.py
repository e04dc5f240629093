"""`photoledger download`: fetch every discovered, not yet downloaded asset into the library.

Invariants:
- The work list is the projection's `download` list; a rerun after any stop does exactly
  what is left (files already in place with the same bytes are adopted, never duplicated).
- `--dry-run` and `--only-print-filenames` read the ledger only: no lock, no run, no iCloud
  call, nothing written.
- Options -> config -> services -> one engine entry (engine.download.stage) -> render: every
  fact, the sidecars and StageCompleted are the engine's; progress goes through
  commands.progress.reporter_for (stderr), the summary to stdout.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict
from typing import Any

import click
from rich.text import Text

from commands.context import Settings
from commands.options import (
    library_option,
    naming_flags,
    naming_options,
    selection_flags,
    selection_options,
    with_library_flag,
)
from commands.output import console, log, print_json, warn_line
from commands.progress import reporter_for
from engine.download.options import COMPARE_ALL, DownloadSummary, download_options
from engine.download.plan import SIZE_CHOICES
from engine.download.stage import plan_download
from engine.download.stage import run_download as run_download_stage
from engine.errors import AssetsFailedError
from engine.library_passes import download_passes
from engine.naming_settings import with_naming_flags
from engine.selection_scope import with_selection_flags
from engine.services import open_icloud, open_reader, open_writer
from engine.units import human_bytes


@click.command("download")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Files downloaded at the same time.")
@click.option("--size", "sizes", type=click.Choice(SIZE_CHOICES), multiple=True,
              help="Renditions to fetch (repeatable; default original). Live-photo videos "
              "are always fetched.")
@click.option("--dry-run", is_flag=True, help="Show what would be downloaded; change nothing.")
@click.option("--only-print-filenames", is_flag=True,
              help="Print the relative paths that would be written, one per line.")
@click.option("--limit", type=click.IntRange(min=1),
              help="At most this many assets, oldest capture first (--recent: the newest).")
@click.option("--compare-adopted", is_flag=True,
              help="Also stream every file import-existing adopted from iCloud once and hash it "
              "(written nowhere), so its asset may later be deleted; `run` does this for the "
              "assets old enough to leave iCloud.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@selection_options
@naming_options
@library_option
@click.pass_obj
def download_command(
    settings: Settings, /,
    libraries: tuple[str, ...],
    workers: int,
    sizes: tuple[str, ...],
    dry_run: bool,
    only_print_filenames: bool,
    limit: int | None,
    compare_adopted: bool,
    as_json: bool,
    **selection: Any,
) -> None:
    """Download every discovered asset not yet in the library (of the selection).

    Each file streams to a hidden .part file beside its destination, resumes after a cut,
    and is kept only when its byte count matches what iCloud declared; it is then hashed,
    synced to disk and renamed into place (icloudpd-compatible names and folders). Only the
    selected libraries' assets are fetched (icloud.library or --library; "all": every library
    discovered), each library in turn. A file `import-existing` adopted is never fetched;
    with --compare-adopted each one is streamed from iCloud once and hashed (nothing
    written): equal, it is confirmed and its asset may later be deleted from iCloud; other
    bytes are moved to Quarantine/ in the library and iCloud's are downloaded. Exits 16 when
    some asset failed (recorded, retried next run).
    """
    config = with_selection_flags(settings.load_config(), selection_flags(selection))
    config = with_naming_flags(config, naming_flags(selection))  # files written from now on
    config = with_library_flag(config, libraries)
    opts = dataclasses.replace(
        download_options(config, workers=workers, limit=limit),
        sizes=tuple(sizes) or ("original",),
        dry_run=dry_run or only_print_filenames,
        compare_adopted_before_utc=COMPARE_ALL if compare_adopted else None,
    )
    if opts.dry_run:
        with open_reader(config, settings) as services:
            summary = download_passes(services, lambda scoped: plan_download(scoped, opts))
        _print_plan(summary, only_print_filenames, as_json)
        return
    with (
        open_writer(config, settings, "download") as services,
        open_icloud(config) as port,
        reporter_for(settings.show_progress) as reporter,
    ):
        summary = download_passes(
            services, lambda scoped: run_download_stage(scoped, port, opts, reporter))
        if as_json:
            print_json(asdict(summary))
        else:
            _print_summary(summary)
        if summary.has_failures:  # finished, but not everything: never a silent success
            raise AssetsFailedError(summary.failure_message())


command = download_command


def _print_adoptions(summary: DownloadSummary) -> None:
    """The comparison of adopted files with iCloud's bytes, when there was one."""
    if not (summary.adopted_confirmed or summary.adopted_disproved or summary.adopted_failed):
        return
    console.print(Text(
        f"adopted files compared with iCloud's bytes ({human_bytes(summary.bytes_compared)}): "
        f"{summary.adopted_confirmed} confirmed, {summary.adopted_disproved} not iCloud's "
        f"(moved to Quarantine/ and downloaded again), failed for {summary.adopted_failed} "
        "assets (retried next run)"))
    for line in summary.adoption_problems:
        warn_line(line)


def _print_plan(summary: DownloadSummary, only_filenames: bool, as_json: bool) -> None:
    if as_json:
        print_json({"would_download": summary.planned_relpaths,
                    "would_compare": summary.planned_confirmations})
        return
    for relpath in summary.planned_relpaths:
        console.print(Text(relpath if only_filenames else f"would download {relpath}"))
    if not only_filenames:
        for relpath in summary.planned_confirmations:
            console.print(Text(f"would compare with iCloud's bytes {relpath} (adopted)"))
        console.print(f"{len(summary.planned_relpaths)} files would be downloaded"
                      + (f" and {len(summary.planned_confirmations)} adopted files compared "
                         "with iCloud's bytes" if summary.planned_confirmations else ""),
                      markup=False, highlight=False)
        _print_not_selected(summary)


def _print_not_selected(summary: DownloadSummary) -> None:
    if summary.not_selected:
        console.print(f"{summary.not_selected} assets waiting for a download are outside the "
                      "selection (not fetched by this command)", markup=False, highlight=False)


def _print_summary(summary: DownloadSummary) -> None:
    console.print(
        f"downloaded {summary.downloaded} assets ({summary.files_downloaded} files), "
        f"partly downloaded {summary.partial}, failed {summary.failed}, "
        f"quarantined {summary.quarantined}"
        + (f", changed in iCloud {summary.remote_changed}" if summary.remote_changed else "")
        + (f", gone from iCloud {summary.remote_deleted}" if summary.remote_deleted else "")
        + f"; {human_bytes(summary.bytes_downloaded)} in {summary.elapsed_s:.1f} s"
    )
    _print_not_selected(summary)
    _print_adoptions(summary)
    if summary.sidecars_written or summary.sidecars_rewritten or summary.sidecars_failed:
        console.print(
            f"sidecars: {summary.sidecars_written} written, {summary.sidecars_rewritten} "
            f"rewritten, {summary.sidecars_failed} failed", markup=False, highlight=False,
        )
    for failure in summary.sidecar_failures:
        log("warning", f"sidecar failed: {failure}")
    if summary.fallback_named:
        warn_line(
            f"{summary.fallback_named} assets have no usable file name in "
            "iCloud (filenameEnc missing or undecodable) and were named from their record "
            "name, as icloudpd does"
        )
    if summary.found_in_place:
        warn_line(
            f"{summary.found_in_place} files were already in the library with the same bytes "
            "(kept, after downloading them to compare); `photoledger import-existing PATH` "
            "adopts the files of an icloudpd folder without downloading them"
        )

