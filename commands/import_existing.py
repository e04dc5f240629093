"""`photoledger import-existing PATH`: adopt an icloudpd tree's files instead of downloading them.

Invariants:
- Options -> config -> services -> one engine entry (engine.import_existing) -> render.
- `--dry-run` reads the ledger and the tree only (no lock, nothing written) and prints
  exactly the lines the run prints, with "would " in front.
- iCloud is opened only for `--confirm` (the comparison with iCloud's bytes); its failures
  exit 16 like `download`'s.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from rich.text import Text

from commands.context import Settings
from commands.options import naming_flags, naming_options
from commands.output import console, print_json, warn_line
from commands.progress import reporter_for
from engine.config import Config
from engine.errors import AssetsFailedError
from engine.icloud.port import IcloudPort
from engine.import_existing import ImportOptions, ImportSummary, run_import_existing
from engine.naming_settings import with_naming_flags
from engine.reporting import NullReporter
from engine.services import open_icloud, open_reader, open_writer
from engine.units import human_bytes


@click.command("import-existing")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@naming_options
@click.option("--time-zone", "zone", metavar="ZONE",
              help="The time zone icloudpd dated its folders in (its TZ, e.g. Etc/UTC in "
              "icloudpd's Docker image); default this machine's.")
@click.option("--confirm", is_flag=True,
              help="Then compare every adopted file with iCloud's bytes at once (streams "
              "each from iCloud, writes nothing for a file that matches); otherwise the next "
              "`photoledger download` does it.")
@click.option("--dry-run", is_flag=True,
              help="List what would be adopted and what left for download; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def command(settings: Settings, /, path: Path, zone: str | None, confirm: bool, dry_run: bool,
            as_json: bool, **naming: Any) -> None:
    """Adopt the photos an icloudpd (1.32) download folder PATH already holds.

    Run `photoledger discover` first: for each discovered asset not yet downloaded, each
    resource is looked for where icloudpd names it (default names and {:%Y/%m/%d} folders,
    -<size> dedup twins, name-id7, live-photo _HEVC.MOV/.MOV, RAW twins; set the naming
    options to the ones icloudpd ran with). A regular file with exactly the byte count iCloud
    declares is hashed and recorded as downloaded (provenance "adopted"); anything else
    (missing, truncated, another size) is left for `photoledger download`.

    Size alone cannot prove the bytes: an adopted file cannot be deleted from iCloud until
    iCloud's own bytes, streamed and hashed by the next `photoledger download` (or at once
    with --confirm), hash to it. One that does not is moved to Quarantine/ in the library
    and downloaded again.

    When PATH is library.root the files are adopted where they are. Otherwise each is
    hard-linked into the library under the same relative path (same file system; the
    icloudpd copy is never modified), or copied there when a link is impossible.
    Exits 7 when PATH is not a folder or nothing is discovered yet.
    """
    config = with_naming_flags(settings.load_config(), naming_flags(naming))
    options = ImportOptions(tree=path, dry_run=dry_run, local_tz=_zone(zone), confirm=confirm)
    if dry_run:
        with open_reader(config, settings) as services:
            summary = run_import_existing(services, options, NullReporter())
    else:
        with (
            open_writer(config, settings, "import-existing") as services,
            _icloud(config, confirm) as port,
            reporter_for(settings.show_progress, quiet=as_json) as reporter,
        ):
            summary = run_import_existing(services, options, reporter, port)
    _render(summary, dry_run, as_json, confirm)
    checked = summary.confirmation
    if checked is not None and checked.has_failures:
        raise AssetsFailedError(
            f"the adopted files of {checked.adopted_failed + checked.failed + checked.partial} "
            "assets could not be compared with iCloud's bytes or downloaded again, each "
            "recorded with its reason (`photoledger report failures`); they cannot be deleted "
            "from iCloud until they are, and the next download retries them")


def _icloud(config: Config, confirm: bool) -> AbstractContextManager[IcloudPort | None]:
    """iCloud only for --confirm: adopting alone makes no iCloud call."""
    return open_icloud(config) if confirm else nullcontext()


def _zone(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {name!r} (an IANA name such as "
                                 "Europe/Paris or Etc/UTC)", param_hint="--time-zone") from None


def _render(summary: ImportSummary, dry_run: bool, as_json: bool, confirm: bool) -> None:
    if as_json:
        print_json({**asdict(summary), "dry_run": dry_run})
        return
    would = "would " if dry_run else ""
    for relpath in summary.adopted:
        console.print(Text(f"{would}adopt {relpath}"))
    for relpath, reason in summary.left:
        console.print(Text(f"{would}leave {relpath} for download: {reason}"))
    console.print(Text(
        f"{would}adopt {summary.files_adopted} files ({human_bytes(summary.bytes_adopted)}) of "
        f"{summary.assets_adopted + summary.assets_partly} assets ({summary.linked} hard-linked, "
        f"{summary.copied} copied, {summary.in_place} in place); {len(summary.left)} files "
        f"of {summary.assets_partly + summary.assets_left} assets left for download"
        + (f"; {summary.files_not_selected} more files of assets outside the selection are "
           "not in the tree" if summary.files_not_selected else "")
    ))


    checked = summary.confirmation
    if checked is not None:
        console.print(Text(
            f"compared with iCloud's bytes: {checked.adopted_confirmed} files confirmed, "
            f"{checked.adopted_disproved} not iCloud's (moved to Quarantine/, downloaded "
            f"again: {checked.files_downloaded} files), failed for {checked.adopted_failed} "
            "assets (retried by the next download)"))
        for line in checked.adoption_problems:
            warn_line(line)
    elif summary.files_adopted and not (dry_run and confirm):
        console.print(Text(f"{would}compare the adopted files with iCloud's bytes in `photoledger "
                           "run` once their assets may leave iCloud (or now: --confirm, or "
                           "`download --compare-adopted`); until then they are not deleted "
                           "from iCloud"))
    elif summary.files_adopted:
        console.print(Text(f"would then compare the {summary.files_adopted} adopted files with "
                           "iCloud's bytes"))
