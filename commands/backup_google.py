"""`photoledger backup-google`: stage downloaded originals for the Pixel and confirm them.

Invariants:
- The Syncthing set-up is checked first (the doctor's checks); any danger stops the command
  before a file is placed (exit 14; 13 when Syncthing cannot be reached).
- `--dry-run` reads the ledger only: no lock, no run, no Syncthing call, nothing written
  (with `--resend` it also hashes the copies a resend would read, to name the source).
- `--resend ASSET` names assets the way `photoledger history` does (commands.history).
- Facts are appended by the engine's run in batches; this module only wires dependencies,
  shows progress and prints the summary.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from uuid import UUID

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.text import Text

from commands.context import Deps, Settings, open_reader, open_writer
from commands.doctor import doctor_inputs, refuse_if_unsafe, syncthing_client
from commands.output import console, err_console, print_json, print_outcome
from engine.config import Config, load_config
from engine.errors import ConfigError
from engine.google.doctor import examine_setup
from engine.google.resend import describe_resend, plan_google_resend
from engine.google.run import (
    GoogleOptions,
    GoogleProgress,
    GoogleRoute,
    GoogleSummary,
    StageContext,
    execute_backup_google,
    execute_google_resend,
    execute_outbox_cleanup,
    plan_backup_google,
)
from projections.assets import resolve_asset


def google_route(config: Config, environ: Mapping[str, str]) -> GoogleRoute:
    """The configured route; ConfigError names the missing key."""
    google = config.settings.google
    for key, value in (("outbox", google.outbox), ("pixel_device_id", google.pixel_device_id)):
        if not value:
            raise ConfigError(f"{config.where(f'google.{key}')}: must be set for backup-google")
    assert google.outbox is not None and google.pixel_device_id is not None
    return GoogleRoute(
        client=syncthing_client(config, environ),
        folder_id=google.folder_id,
        pixel_device_id=google.pixel_device_id,
        outbox=config.resolve(google.outbox),
        library_root=config.library_root,
        remove_after_days=google.remove_outbox_copy_after_days,
        nas_root=config.nas_root(),
        include_edits=google.include_edits,
    )


def resolve_assets(deps: Deps, names: Sequence[str]) -> list[UUID]:
    """Asset ids for names given like `photoledger history ASSET` takes them."""
    return [resolve_asset(deps.projection, name, deps.config.library_root) for name in names]


def run_backup_google(
    deps: Deps,
    route: GoogleRoute,
    options: GoogleOptions,
    progress: GoogleProgress | None = None,
    resend: Sequence[str] = (),
) -> GoogleSummary:
    """Refuse a dangerous set-up, stage and confirm the work list (or re-send and confirm the
    assets named in `resend`), clean up; record the run."""
    resend_ids = resolve_assets(deps, resend)  # a name that fits no asset: before any check
    refuse_if_unsafe(examine_setup(doctor_inputs(deps.config), route.client))
    ctx = StageContext(deps.ledger, deps.projection, deps.crash, deps.run_id, deps.clock())
    shown = progress or LogProgress(enabled=False)
    if resend_ids:
        summary = execute_google_resend(ctx, route, resend_ids, options, shown)
    else:
        summary = execute_backup_google(ctx, route, options, shown)
    deps.projection.catch_up(deps.ledger)
    summary.outbox_copies_removed = execute_outbox_cleanup(deps.projection, route, deps.clock())
    deps.record_stage_completed("backup-google", summary.counts())
    return summary


class LogProgress:
    """Plain lines on stderr, one per asset."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled

    def started(self, phase: str, total: int) -> None:
        if self.enabled and total:
            verb = {"stage": "staging", "resend": "re-sending"}.get(phase,
                                                                    "confirming on the Pixel")
            err_console.print(f"{verb}: {total} assets", markup=False, highlight=False)

    def asset_done(self, outcome: str, label: str, detail: str) -> None:
        if self.enabled:
            print_outcome(outcome, label, detail)


class RichProgress:
    """One bar per phase on a terminal; problems printed above it."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def started(self, phase: str, total: int) -> None:
        self.task = self.progress.add_task(phase, total=total)

    def asset_done(self, outcome: str, label: str, detail: str) -> None:
        if self.task is not None and outcome in ("staged", "already staged", "resent",
                                                 "failed", "verified"):
            self.progress.advance(self.task, 1)
        if outcome == "failed":
            self.progress.console.print(Text(f"{outcome}: {label} ({detail})"))


@contextmanager
def progress_for(settings: Settings) -> Iterator[GoogleProgress]:
    """Rich bars on a terminal, plain log lines otherwise."""
    if not settings.show_progress:
        yield LogProgress(enabled=True)
        return
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    console=err_console, transient=True)
    with bars:
        yield RichProgress(bars)


@click.command("backup-google")
@click.option("--wait-s", type=click.FloatRange(min=0), default=120.0, show_default=True,
              help="How long to wait for the Pixel to confirm staged files (stops early when "
              "all are confirmed or the Pixel is offline).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many assets.")
@click.option("--resend", "resend", multiple=True, metavar="ASSET",
              help="Send this Google-verified (or staged) asset to the Pixel again instead of "
              "the work list; repeatable. ASSET is an asset id, iCloud record name or local "
              "path, as for `photoledger history`.")
@click.option("--dry-run", is_flag=True, help="Show what would be staged or confirmed (with "
              "--resend: re-sent, and from which copy); change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def backup_google_command(
    settings: Settings, wait_s: float, limit: int | None, resend: tuple[str, ...],
    dry_run: bool, as_json: bool,
) -> None:
    """Back up downloaded originals to Google Photos by way of the Pixel (Syncthing).

    Each original (and its live-photo video) is placed in the Syncthing send-only outbox at
    its library path (hardlink, else copy; checked against the downloaded sha256). The asset
    is verified when the server's Syncthing shows the Pixel holds that exact file; the Pixel's
    Google Photos backs the folder up. Refuses a dangerous set-up (see `photoledger doctor`).

    A file the Pixel frees later (Google Photos "Free up space") is not sent again unless you
    ask: --resend ASSET writes a fresh copy into the outbox from the library copy if it still
    has the downloaded bytes, else from the NAS copy (refused when neither has them), with a
    new modification time so Syncthing sends it as a new version (the Pixel's receive-only
    folder takes it over its own deletion; no "Revert local changes" is needed). The asset is
    then "staged" again: the deletion gate no longer counts its Google copy until the Pixel
    confirms the new version (the same run waits for that).
    """
    if resend and limit is not None:
        raise click.UsageError("--limit applies to the work list, not to --resend")
    config = load_config(settings.config_path)
    if dry_run:
        with open_reader(config, settings) as deps:
            if resend:
                jobs = plan_google_resend(
                    deps.ledger, resolve_assets(deps, resend), config.library_root,
                    config.nas_root(), include_edits=config.settings.google.include_edits,
                )
                planned = describe_resend(jobs)
            else:
                planned = plan_backup_google(deps.projection, limit)
        _print_plan(planned, as_json, "re-sent" if resend else "staged or confirmed")
        return
    route = google_route(config, os.environ)
    options = GoogleOptions(wait_s=wait_s, limit=limit)
    with open_writer(config, settings, "backup-google") as deps, progress_for(settings) as bars:
        summary = run_backup_google(deps, route, options, bars, resend)
    if as_json:
        print_json(asdict(summary))
    else:
        _print_summary(summary)


command = backup_google_command


def _print_plan(planned: list[str], as_json: bool, what: str) -> None:
    if as_json:
        print_json({"would": planned})
        return
    for line in planned:
        console.print(Text(f"would {line}"))
    console.print(f"{len(planned)} files would be {what}")


def _print_summary(summary: GoogleSummary) -> None:
    console.print(
        (f"re-sent {summary.resent}, " if summary.resent else "")
        + f"staged {summary.staged} (hardlink {summary.hardlinked}, copy {summary.copied}), "
        f"verified on the Pixel {summary.verified}, waiting {summary.waiting}, "
        f"unknown {summary.unknown}, failed {summary.failed}"
        + (f", outbox copies removed {summary.outbox_copies_removed}"
           if summary.outbox_copies_removed else "")
        + f"; {summary.elapsed_s:.1f} s"
    )
    if summary.unknown:
        console.print(
            f"the Pixel is not connected: {summary.unknown} staged assets wait for it "
            "(run backup-google again once it is online)"
        )
