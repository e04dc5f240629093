"""`photoledger report savings|backlog|failures`: DuckDB reports over the media projection.

Invariants:
- Read-only: no lock, no run; engine.reports brings the reports file (`<state>/reports.duckdb`)
  in step with the caught-up projection and runs the report's SQL file on it.
- `--json` prints the report's stable document (projections.reports); `--csv` prints every
  section in one CSV whose first column names the section; `--plot` writes a PNG chart.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import click
from rich.table import Table
from rich.text import Text

from commands.context import Settings
from commands.output import console, human_bytes, print_json
from engine.config import load_config
from engine.reports import run_named_report
from engine.services import open_reader
from projections.reports import Report, Section, plain
from projections.reports.charts import plot_report


@click.group("report")
def command() -> None:
    """Reports over the ledger: savings, backlog and failures (tables, JSON, CSV, charts).

    Each report is a SQL file run by DuckDB on a copy of the media projection rebuilt for the
    occasion; nothing is written to the ledger. Notebooks in notebooks/ open the same file.
    """


def _output_options(func: Callable[..., None]) -> Callable[..., None]:
    func = click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
                        help="Also write a chart to this PNG file.")(func)
    func = click.option("--csv", "as_csv", is_flag=True,
                        help="Print every section as one CSV (first column: section).")(func)
    return click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")(func)


def _emit(settings: Settings, name: str, as_json: bool, as_csv: bool,
          plot_path: Path | None) -> None:
    if as_json and as_csv:
        raise click.UsageError("--json and --csv exclude each other")
    with open_reader(load_config(settings.config_path), settings) as services:
        report = run_named_report(services, name)
    if plot_path is not None:
        plot_report(report, plot_path)
    if as_json:
        print_json(report.as_json())
    elif as_csv:
        write_csv(report, sys.stdout)
    else:
        print_tables(report)
        if name == "savings":
            print_icloud_freed(report)
        if plot_path is not None:
            console.print(Text(f"chart written to {plot_path}"))


@command.command("savings")
@_output_options
@click.pass_obj
def savings_command(settings: Settings, as_json: bool, as_csv: bool,
                    plot_path: Path | None) -> None:
    """Bytes saved by compression (by tier, year and kind) and freed in iCloud.

    Also what is still recoverable from iCloud's Recently Deleted, and the bytes held locally,
    on the NAS and staged for the Pixel. The chart shows savings month by month.
    """
    _emit(settings, "savings", as_json, as_csv, plot_path)


@command.command("backlog")
@_output_options
@click.pass_obj
def backlog_command(settings: Settings, as_json: bool, as_csv: bool,
                    plot_path: Path | None) -> None:
    """What each stage still has to do, its oldest item, and why items are stuck.

    Stuck means a failure, a quarantine, or a reason the deletion gate gives for holding an
    asset back (not verified on the NAS, too recent, changed in iCloud ...). The chart shows
    the backlog by stage.
    """
    _emit(settings, "backlog", as_json, as_csv, plot_path)


@command.command("failures")
@_output_options
@click.pass_obj
def failures_command(settings: Settings, as_json: bool, as_csv: bool,
                     plot_path: Path | None) -> None:
    """Every asset with a failure or in quarantine, with its last error (newest first).

    The chart counts the problems by the stage each asset waits for.
    """
    _emit(settings, "failures", as_json, as_csv, plot_path)


def print_icloud_freed(report: Report) -> None:
    """Say it in words: iCloud bytes still in Recently Deleted (until when) and freed for good."""
    totals = report.sections["totals"].records()
    if not totals or not totals[0]["deleted_from_icloud"]:
        return
    t = totals[0]
    until = t["recoverable_until_utc"]
    console.print(Text(
        f"iCloud space freed by deletion: {human_bytes(t['icloud_freed_bytes'])}; of it "
        f"{human_bytes(t['recoverable_bytes'])} ({t['recoverable_assets']} assets) is in "
        "Recently Deleted"
        + (f" until {str(until)[:10]} at the latest (`photoledger recover ASSET` brings one "
           "back)" if until else "")
        + f", and {human_bytes(t['freed_for_good_bytes'])} is freed for good"
    ))


def write_csv(report: Report, out: TextIO) -> None:
    """All sections in one CSV: `section` first, then the union of columns in order."""
    csv.writer(out, lineterminator="\n").writerows(report.csv_rows())


def print_tables(report: Report) -> None:
    """One rich table per section; byte columns shown human-readable."""
    for name, section in report.sections.items():
        console.print(_table(f"{report.name}: {name.replace('_', ' ')}", section))
    console.print(f"ledger position {report.ledger_position}")


def _table(title: str, section: Section) -> Table:
    table = Table(*section.columns, title=title)
    if not section.rows:
        table.caption = "nothing to show"
    for row in section.rows:
        cells = [_cell(column, value) for column, value in zip(section.columns, row, strict=True)]
        table.add_row(*cells)
    return table


def _cell(column: str, value: Any) -> Text:
    if value is None:
        return Text("-")
    if "bytes" in column and isinstance(value, int | float):
        return Text(human_bytes(int(value)))
    return Text(str(plain(value)))  # data, never rich markup
