"""`photoledger backup-nas`: copy every downloaded resource to the NAS, then re-read and hash it.

Invariants:
- The NAS marker (`.photoledger-nas` at nas.root) is checked before the writer lock is taken:
  without it the command exits NAS_UNAVAILABLE (12) and the ledger is not touched at all.
- `--dry-run` reads the ledger and the NAS marker only (which NAS is mounted decides what
  it lacks): no lock, no run, no other NAS access, nothing written.
- Facts are appended by the engine's run in batches; this module only wires dependencies,
  shows progress and prints the summary.
- A NAS copy still damaged after the run is exit 17, a damaged last copy the alarm, exit 18
  (commands.output, as for `verify nas`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

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

from commands.context import Deps, Settings, open_reader, open_writer
from commands.output import (
    console,
    err_console,
    finish_with_damage_check,
    human_bytes,
    print_json,
    print_outcome,
)
from engine.config import Config, load_config
from engine.errors import ConfigError
from engine.icloud.port import IcloudPort
from engine.nas.access import read_nas_id, require_nas_available
from engine.nas.files import NasRoots, RepairSource
from engine.nas.repair import execute_nas_repair, execute_redownload
from engine.nas.run import (
    NasContext,
    NasOptions,
    NasProgress,
    NasSummary,
    execute_backup_nas,
    plan_nas_run,
)


def nas_root_of(config: Config) -> Path:
    """The configured NAS root; ConfigError when nas.root is not set."""
    root = config.settings.nas.root
    if not root:
        raise ConfigError(f"{config.where('nas.root')}: must be set to use the NAS")
    return config.resolve(root)


def nas_context(deps: Deps, nas_root: Path) -> NasContext:
    """The engine's view of this command's dependencies."""
    return NasContext(
        ledger=deps.ledger,
        projection=deps.projection,
        crash=deps.crash,
        run_id=deps.run_id,
        clock=deps.clock,
        roots=NasRoots(
            library_root=deps.config.library_root, nas_root=nas_root,
            repair_sources=repair_sources(deps.config),
        ),
    )


def repair_sources(config: Config) -> tuple[RepairSource, ...]:
    """Where a missing or damaged NAS copy may also be found, after the library: the Pixel
    outbox (same relative path) when the Google route is configured."""
    outbox = config.settings.google.outbox
    return (RepairSource("Pixel outbox", config.resolve(outbox)),) if outbox else ()


def run_backup_nas(
    deps: Deps, options: NasOptions, progress: NasProgress | None = None
) -> NasSummary:
    """Copy and verify the backup-nas work list; record one fact per asset and the stage."""
    nas_root = nas_root_of(deps.config)
    summary = execute_backup_nas(
        nas_context(deps, nas_root), options, progress or LogProgress(enabled=False)
    )
    deps.record_stage_completed("backup-nas", summary.counts())
    return summary


def repair_by_redownload(
    deps: Deps, port: IcloudPort, asset_ids: frozenset[str]
) -> NasSummary | None:
    """Download again what backup-nas asked of iCloud for these assets, then repair their NAS
    copies from those bytes (None: the NAS is not mounted any more)."""
    from commands.download import redownload_route

    execute_redownload(redownload_route(deps, port), asset_ids)
    nas = nas_context(deps, nas_root_of(deps.config))
    return execute_nas_repair(nas, LogProgress(enabled=False), asset_ids)


class LogProgress:
    """Plain lines on stderr: the start, then one line per asset."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled

    def started(self, phase: str, assets: int, total_bytes: int) -> None:
        if self.enabled:
            verb = "copying to the NAS" if phase == "backup" else "re-reading NAS copies of"
            err_console.print(
                f"{verb}: {assets} assets ({human_bytes(total_bytes)})",
                markup=False, highlight=False,
            )

    def advance_bytes(self, size_bytes: int) -> None:
        """Plain output has no byte counter."""

    def asset_done(self, outcome: str, label: str, detail: str) -> None:
        if self.enabled:
            print_outcome(outcome, label, detail)


class RichProgress:
    """Bars for assets and bytes on a terminal; problems printed above them."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.assets: TaskID | None = None
        self.bytes: TaskID | None = None

    def started(self, phase: str, assets: int, total_bytes: int) -> None:
        self.assets = self.progress.add_task(f"{phase} assets", total=assets)
        self.bytes = self.progress.add_task(f"{phase} bytes", total=total_bytes)

    def advance_bytes(self, size_bytes: int) -> None:
        if self.bytes is not None:  # rich's Progress is thread-safe
            self.progress.advance(self.bytes, size_bytes)

    def asset_done(self, outcome: str, label: str, detail: str) -> None:
        if self.assets is not None:
            self.progress.advance(self.assets, 1)
        if outcome in ("failed", "mismatched"):
            self.progress.console.print(Text(f"{outcome}: {label} ({detail})"))


@contextmanager
def progress_for(settings: Settings) -> Iterator[NasProgress]:
    """Rich bars on a terminal, plain log lines otherwise."""
    if not settings.show_progress:
        yield LogProgress(enabled=True)
        return
    bars = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), DownloadColumn(),
        TransferSpeedColumn(), TimeRemainingColumn(), console=err_console, transient=True,
    )
    with bars:
        yield RichProgress(bars)


def print_plan(relpaths: list[str], verb: str, outcome: str, as_json: bool) -> None:
    """The dry run's list, one relative path a line, and a count."""
    if as_json:
        print_json({"would": verb, "relpaths": relpaths})
        return
    for relpath in relpaths:
        console.print(Text(f"would {verb} {relpath}"))
    console.print(f"{len(relpaths)} files would be {outcome}")


@click.command("backup-nas")
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Assets copied and re-read at the same time.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many assets.")
@click.option("--dry-run", is_flag=True, help="List what would be copied; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def backup_nas_command(
    settings: Settings, workers: int, limit: int | None, dry_run: bool, as_json: bool
) -> None:
    """Copy every downloaded resource to the NAS and verify each copy.

    An asset's resources are all the files iCloud would destroy with it: the original, the
    live-photo video, the RAW/JPEG twin, the edited still and the edited video. Each file
    goes to nas.root at its library path: temp file beside it, fsync, rename,
    fsync the folder; then the copy is re-read with the page cache dropped and hashed.
    Equal to the downloaded sha256: NasVerified; different: NasMismatched, and the next
    run repairs it from the library copy, else the Pixel outbox copy, whichever still
    hashes to the download (assets deleted from iCloud too: their NAS copy may be the
    last). With neither, an asset still in iCloud is asked of iCloud again: the next
    `download` fetches it (the same bytes or nothing) and the next backup-nas repairs
    the NAS copy from it; `run` does both at once. A copy already there with the right
    bytes is adopted. Exits 12 and records nothing when the NAS marker .photoledger-nas
    is missing (share not mounted).
    """
    config = load_config(settings.config_path)
    if dry_run:
        with open_reader(config, settings) as deps:
            mounted = read_nas_id(nas_root_of(config))
            planned = plan_nas_run(deps.projection, "backup", limit, mounted)
        print_plan(planned, "copy or adopt", "copied or adopted", as_json)
        return
    require_nas_available(nas_root_of(config))  # before the lock: record nothing at all
    options = NasOptions(workers=workers, limit=limit)
    with open_writer(config, settings, "backup-nas") as deps:
        with progress_for(settings) as bars:
            summary = run_backup_nas(deps, options, bars)
        if as_json:
            print_json(asdict(summary))
        else:
            _print_summary(summary)
        # Inside the writer: the alarm's facts and the exit code (17/18) are this run's.
        finish_with_damage_check(deps, settings.warn, quiet=as_json)


command = backup_nas_command


def _print_summary(summary: NasSummary) -> None:
    console.print(
        f"copied {summary.copied} ({human_bytes(summary.bytes_copied)}), adopted "
        f"{summary.adopted}, mismatched {summary.mismatched}, failed {summary.failed}; "
        f"{summary.elapsed_s:.1f} s"
    )
    for problem in summary.problems[:20]:
        console.print(Text(f"  {problem}"))
    if summary.unrepairable:
        console.print(
            f"{summary.unrepairable} of them have no good local source (the library and the "
            "Pixel outbox copies are gone or not the downloaded bytes): they need a "
            "re-download from iCloud"
        )
    if summary.refetch_requested:
        count = len(summary.refetch_requested)
        console.print(
            f"{count} asset{'s' if count != 1 else ''} still in iCloud will be downloaded again "
            "(checked against the recorded sha256): `photoledger download` then `photoledger "
            "backup-nas`, or one `photoledger run`, repairs the NAS copies from them"
        )
    if summary.mismatched > summary.unrepairable:
        console.print("mismatched copies are replaced by the next backup-nas run")
