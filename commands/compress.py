"""`photoledger compress`: shrink the local working copy by age tier, never touching the NAS.

Invariants:
- `--plan` and `--dry-run` read the ledger only: no lock, no run, no file opened.
- When the NAS is a required backup, its marker is checked before the writer lock is taken:
  without it the command exits NAS_UNAVAILABLE (12) and records nothing.
- Facts are appended by the engine (engine.compress.run); this module wires the services,
  renders the progress and prints the summary and the savings report.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import click
from rich.text import Text

from commands.context import Settings
from commands.output import console, print_json
from commands.progress import reporter_for
from engine.compress.plan import plan_compress_listing, plan_compress_tiers
from engine.compress.run import CompressOptions, CompressSummary, run_compress
from engine.compress.sources import nas_source_root
from engine.services import Services, open_reader, open_writer
from engine.units import human_bytes
from projections.compression import savings_by_tier


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
    config = settings.load_config()
    if show_plan or dry_run:
        with open_reader(config, settings) as services:
            if show_plan:
                _print_tiers(plan_compress_tiers(services, limit), as_json)
            else:
                _print_listing(services, limit, as_json)
        return
    nas_source_root(config)  # before the lock: a required NAS that is not mounted stops us
    options = CompressOptions(workers=workers, limit=limit)
    writer = open_writer(config, settings, "compress", verify_ledger=True)
    with writer as services, reporter_for(settings.show_progress) as reporter:
        summary = run_compress(services, options, reporter)
        report = [asdict(s) for s in savings_by_tier(services.projection)]
    if as_json:
        print_json({**asdict(summary), "savings_by_tier": report})
    else:
        _print_summary(summary, report)


command = compress_command


def _print_listing(services: Services, limit: int | None, as_json: bool) -> None:
    due = plan_compress_listing(services, limit)
    if as_json:
        print_json({"would_compress": [asdict(d) for d in due]})
        return
    for d in due:
        console.print(Text(f"would compress {d.relpath} ({d.tier}, {d.codec})"))
    console.print(f"{len(due)} assets would be compressed")


def _print_tiers(plan: dict[str, Any], as_json: bool) -> None:
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
