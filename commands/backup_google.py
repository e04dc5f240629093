"""`photoledger backup-google`: stage downloaded originals for the Pixel and confirm them.

Invariants:
- The Syncthing set-up is checked first (the doctor's checks); any danger stops the command
  before a file is placed (exit 14; 13 when Syncthing cannot be reached).
- `--dry-run` reads the ledger only: no lock, no run, no Syncthing call, nothing written
  (with `--resend` it also hashes the copies a resend would read, to name the source).
- `--resend ASSET` names assets the way `photoledger history` does (projections.assets).
- Facts are appended by the engine (engine.google.run); this module wires the services,
  renders the progress and prints the summary.
"""

from __future__ import annotations

import os
from dataclasses import asdict

import click
from rich.text import Text

from commands.context import Settings
from commands.output import console, print_json
from commands.progress import reporter_for
from engine.config import Config
from engine.google.resend import plan_google_resend_lines
from engine.google.route import google_route
from engine.google.run import (
    GoogleOptions,
    GoogleSummary,
    plan_backup_google,
    run_backup_google,
    run_google_resend,
)
from engine.services import open_reader, open_writer


@click.command("backup-google")
@click.option("--wait-s", type=click.FloatRange(min=0), default=120.0, show_default=True,
              help="How long to wait for the Pixel to confirm staged files (stops early when "
              "all are confirmed or the Pixel is offline).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many assets.")
@click.option("--resend", "resend", multiple=True, metavar="ASSET",
              help="Send this asset (on the Pixel already, or staged) to the Pixel again "
              "instead of the work list; repeatable. ASSET is an asset id, iCloud record name "
              "or local path, as for `photoledger history`.")
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
    counts as "on the Pixel" (GoogleVerified) when the server's Syncthing shows the Pixel holds
    that exact file. That is all photoledger can see: the Pixel's Google Photos app backs the
    folder up, but neither its upload nor its quality is visible from here (Pixel 2 to 5 upload
    in Storage saver quality; later models count against the Google account's storage).
    Refuses a dangerous set-up (see `photoledger doctor`).

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
    config = settings.load_config()
    if dry_run:
        _print_plan(_plan(config, settings, resend, limit), as_json,
                    "re-sent" if resend else "staged or confirmed")
        return
    route = google_route(config, os.environ)
    options = GoogleOptions(wait_s=wait_s, limit=limit)
    with open_writer(config, settings, "backup-google") as services, \
            reporter_for(settings.show_progress) as reporter:
        if resend:
            summary = run_google_resend(services, route, resend, options, reporter)
        else:
            summary = run_backup_google(services, route, options, reporter)
    if as_json:
        print_json(asdict(summary))
    else:
        _print_summary(summary)


command = backup_google_command


def _plan(config: Config, settings: Settings, resend: tuple[str, ...], limit: int | None) -> (
    list[str]
):
    with open_reader(config, settings) as services:
        if resend:
            return plan_google_resend_lines(services, resend)
        return plan_backup_google(services, limit)


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
