"""`photoledger compress`: shrink the local working copy by age tier, never touching the NAS.

Invariants:
- `--plan` and `--dry-run` read the ledger only: no lock, no run, no file opened.
- When the NAS is a required backup, its marker is checked before the writer lock is taken:
  without it the command exits NAS_UNAVAILABLE (12) and records nothing.
- Facts are appended by the engine's run in batches; this module wires dependencies, shows
  progress and prints the summary and the savings report.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from commands.context import Deps, Settings, open_reader, open_writer
from commands.output import console, err_console, human_bytes, print_json
from engine.cleanup.effects import mounted_nas_id
from engine.compress.run import (
    CompressContext,
    CompressOptions,
    CompressProgress,
    CompressSummary,
    execute_compress,
    plan_compression,
)
from engine.compress.tiers import CompressDecision, CompressionPolicy, estimate_ratio
from engine.compress.work import WorkerSettings
from engine.config import Config, load_config
from engine.nas.access import NasUnavailableError, require_nas_available
from projections.compression import measured_ratios, savings_by_tier


def nas_source_root(config: Config) -> Path | None:
    """The NAS root to read originals from; NasUnavailableError if required and not mounted."""
    root = config.settings.nas.root
    required = "nas" in config.settings.compression.require
    if not root:
        if required:
            raise NasUnavailableError(
                f"{config.where('compression.require')}: lists nas, but nas.root is not set"
            )
        return None
    path = config.resolve(root)
    try:
        require_nas_available(path)
    except NasUnavailableError:
        if required:
            raise
        return None  # optional: encode from local originals only
    return path


def compress_context(deps: Deps, nas_root: Path | None) -> CompressContext:
    """The engine's view of this command's dependencies."""
    s = deps.config.settings
    return CompressContext(
        ledger=deps.ledger, projection=deps.projection, crash=deps.crash, run_id=deps.run_id,
        clock=deps.clock, settings=s.compression,
        max_nas_verify_age=timedelta(days=s.nas.max_verify_age_days),
        mounted_nas_id=mounted_nas_id(nas_root),
        worker=WorkerSettings(
            library_root=deps.config.library_root, nas_root=nas_root,
            ffmpeg=s.compression.ffmpeg, ffprobe=s.compression.ffprobe,
            exiftool=s.compression.exiftool,
            video_timeout_s_per_s=s.compression.video_timeout_s_per_s,
            min_saving_fraction=s.compression.min_saving_fraction,
        ),
    )


def run_compress(
    deps: Deps, options: CompressOptions, progress: CompressProgress | None = None
) -> CompressSummary:
    """Compress the due assets; record one fact per asset and the stage."""
    nas_root = nas_source_root(deps.config)
    summary = execute_compress(
        compress_context(deps, nas_root), options, progress or LogProgress(enabled=False)
    )
    deps.record_stage_completed("compress", summary.counts())
    return summary


def policy_of(deps: Deps) -> CompressionPolicy:
    s = deps.config.settings
    return CompressionPolicy(
        s.compression, timedelta(days=s.nas.max_verify_age_days), deps.clock(),
        mounted_nas_id(deps.config.nas_root()),
    )


def build_plan(deps: Deps, limit: int | None) -> dict[str, Any]:
    """What a run would do now: per tier the assets, bytes and expected saving."""
    decisions = plan_compression(deps.projection, policy_of(deps), limit)
    measured = measured_ratios(deps.projection)
    tiers: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"assets": 0, "bytes_now": 0, "expected_bytes_after": 0, "kinds": {}}
    )
    others: dict[str, int] = defaultdict(int)
    for _asset_id, decision in decisions:
        if decision.job is None:
            others[decision.action] += 1
            continue
        _add_to_plan(tiers[decision.job.tier], decision, measured)
    for tier in tiers.values():
        tier["expected_saving_bytes"] = tier["bytes_now"] - tier["expected_bytes_after"]
        tier["ratio_source"] = "measured" if tier.pop("is_measured", False) else "estimate"
    return {"tiers": dict(tiers), "not_compressed": dict(others)}


def _add_to_plan(row: dict[str, Any], decision: CompressDecision, measured: dict[str, float]) -> (
    None
):
    job = decision.job
    assert job is not None
    ratio = measured.get(job.tier)
    if ratio is None:
        ratio = sum(estimate_ratio(f) for f in job.files) / len(job.files)
    else:
        row["is_measured"] = True
    row["assets"] += 1
    row["bytes_now"] += job.size_bytes
    row["expected_bytes_after"] += int(job.size_bytes * ratio)
    row["kinds"][job.codec] = row["kinds"].get(job.codec, 0) + 1


class LogProgress:
    """Plain lines on stderr: the start, then one line per asset."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled

    def started(self, assets: int, total_bytes: int) -> None:
        if self.enabled:
            err_console.print(f"compressing {assets} assets ({human_bytes(total_bytes)})",
                              markup=False, highlight=False)

    def asset_done(self, outcome: str, label: str, detail: str, size_bytes: int) -> None:
        if self.enabled:
            line = f"{outcome}: {label} ({human_bytes(size_bytes)})" + (
                f": {detail}" if detail else ""
            )
            err_console.print(line, markup=False, highlight=False, soft_wrap=True)


class RichProgress:
    """A bar of assets on a terminal; failures printed above it."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.assets: TaskID | None = None
        self.bytes: TaskID | None = None

    def started(self, assets: int, total_bytes: int) -> None:
        self.assets = self.progress.add_task("compress assets", total=assets)
        self.bytes = self.progress.add_task("compress bytes", total=total_bytes)

    def asset_done(self, outcome: str, label: str, detail: str, size_bytes: int) -> None:
        if self.assets is not None and self.bytes is not None:
            self.progress.advance(self.assets, 1)
            self.progress.advance(self.bytes, size_bytes)
        if outcome == "failed":
            self.progress.console.print(Text(f"{outcome}: {label} ({detail})"))


@contextmanager
def progress_for(settings: Settings) -> Iterator[CompressProgress]:
    """A rich bar on a terminal, plain log lines otherwise."""
    if not settings.show_progress:
        yield LogProgress(enabled=True)
        return
    bars = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=err_console, transient=True,
    )
    with bars:
        yield RichProgress(bars)


@click.command("compress")
@click.option("--plan", "show_plan", is_flag=True,
              help="Show per tier what would be compressed and the expected saving.")
@click.option("--dry-run", is_flag=True, help="List each asset that would be compressed.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many assets.")
@click.option("--workers", type=click.IntRange(1, 64), default=os.cpu_count() or 1,
              show_default="all cores", help="Encodes at the same time.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def compress_command(
    settings: Settings, show_plan: bool, dry_run: bool, limit: int | None, workers: int,
    as_json: bool,
) -> None:
    """Re-encode the local working copy by age tier (light, medium, heavy by default).

    Only assets whose required backups are verified are touched, and the NAS original is
    only read. Each encode starts from the original (the NAS copy, or the local file while
    it is still the original), goes to a temp file, is decoded back and checked for size,
    duration and metadata, then replaces the local copy. A result not smaller by
    compression.min_saving_fraction is skipped with its reason. Tiers live in the config.
    """
    config = load_config(settings.config_path)
    if show_plan or dry_run:
        with open_reader(config, settings) as deps:
            _print_plan(deps, limit, show_plan, as_json)
        return
    nas_source_root(config)  # before the lock: a required NAS that is not mounted stops us
    options = CompressOptions(workers=workers, limit=limit)
    writer = open_writer(config, settings, "compress", verify_ledger=True)
    with writer as deps, progress_for(settings) as bars:
        summary = run_compress(deps, options, bars)
        report = [asdict(s) for s in savings_by_tier(deps.projection)]
    if as_json:
        print_json({**asdict(summary), "savings_by_tier": report})
    else:
        _print_summary(summary, report)


command = compress_command


def _print_plan(deps: Deps, limit: int | None, show_plan: bool, as_json: bool) -> None:
    if not show_plan:
        decisions = plan_compression(deps.projection, policy_of(deps), limit)
        due = [(d.job.label, d.job.tier, d.job.codec) for _a, d in decisions if d.job]
        if as_json:
            print_json({"would_compress": [dict(zip(("relpath", "tier", "codec"), d,
                                                    strict=True)) for d in due]})
            return
        for relpath, tier, codec in due:
            console.print(Text(f"would compress {relpath} ({tier}, {codec})"))
        console.print(f"{len(due)} assets would be compressed")
        return
    plan = build_plan(deps, limit)
    if as_json:
        print_json(plan)
        return
    for name, row in plan["tiers"].items():
        console.print(Text(
            f"{name}: {row['assets']} assets, {human_bytes(row['bytes_now'])} -> about "
            f"{human_bytes(row['expected_bytes_after'])} (saves about "
            f"{human_bytes(row['expected_saving_bytes'])}, {row['ratio_source']})"
        ))
    for action, count in sorted(plan["not_compressed"].items()):
        console.print(f"{action}: {count} assets")


def _print_summary(summary: CompressSummary, report: list[dict[str, Any]]) -> None:
    console.print(
        f"compressed {summary.compressed} ({human_bytes(summary.bytes_before)} -> "
        f"{human_bytes(summary.bytes_after)}), skipped {summary.skipped}, failed "
        f"{summary.failed}; {summary.elapsed_s:.1f} s"
    )
    for problem in summary.problems[:20]:
        console.print(Text(f"  {problem}"))
    for row in report:
        console.print(Text(
            f"  {row['tier']}: {row['assets']} assets, saved "
            f"{human_bytes(row['bytes_before'] - row['bytes_after'])} so far"
        ))
