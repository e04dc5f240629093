"""`photoledger report savings|backlog|failures`: DuckDB reports over the media projection.

Invariants:
- Read-only: no lock, no run; engine.reports brings the reports file (`<state>/reports.duckdb`)
  in step with the caught-up projection and runs the report's SQL file on it.
- Tables show people's headers (projections.reports.label); `--json` prints the report's
  stable document, keyed by column name. A CSV is one section with its column names as the
  header: `--csv` prints the section `--section` names (or the report's only one), and
  `--csv-dir DIR` writes every section to `DIR/<report>-<section>.csv`.
- Output paths are checked before any work: a missing folder is a usage error (exit 2).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from commands.context import Settings
from commands.output import console, print_json
from engine.reports import run_named_report, write_csv, write_csv_folder
from engine.services import open_reader
from engine.units import human_bytes
from projections.reports import REPORT_NAMES, Report, Section, is_bytes, label, plain
from projections.reports.charts import plot_report


@click.group("report")
def command() -> None:
    """Reports over the ledger: savings, backlog and failures (tables, JSON, CSV, charts).

    Each report is a SQL file run by DuckDB on a copy of the media projection rebuilt for the
    occasion; nothing is written to the ledger. Notebooks in notebooks/ open the same file.
    """


def _plot_path(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and not value.parent.is_dir():
        raise click.BadParameter(f"folder {value.parent} does not exist", param_hint="--plot")
    return value


def _output_options(func: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.option("--json", "as_json", is_flag=True, help="Print the report as JSON."),
        click.option("--section", help="Only this section (tables, JSON and CSV)."),
        click.option("--csv", "as_csv", is_flag=True,
                     help="Print one section as CSV (--section, or the report's only one)."),
        click.option("--csv-dir", type=click.Path(exists=True, file_okay=False, writable=True,
                                                  path_type=Path),
                     help="Write every section to DIR/<report>-<section>.csv."),
        click.option("--plot", "plot_path", callback=_plot_path,
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="Also write a chart to this PNG file (its folder must exist)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _emit(settings: Settings, name: str, options: dict[str, Any]) -> None:
    if options["as_json"] and options["as_csv"]:
        raise click.UsageError("--json and --csv exclude each other")
    with open_reader(settings.load_config(), settings) as services:
        report = run_named_report(services, name)
    if options["plot_path"] is not None:  # from every section, whichever are shown
        plot_report(report, options["plot_path"])
    if options["section"] or (options["as_csv"] and len(report.sections) == 1):
        try:
            report = report.only(options["section"] or next(iter(report.sections)))
        except KeyError as exc:
            raise click.BadParameter(exc.args[0], param_hint="--section") from None
    elif options["as_csv"]:
        raise click.UsageError(f"--csv prints one section: add --section NAME (one of "
                               f"{', '.join(report.sections)}), or use --csv-dir DIR")
    _write_outputs(report, options)


def _write_outputs(report: Report, options: dict[str, Any]) -> None:
    written = write_csv_folder(report, options["csv_dir"]) if options["csv_dir"] else []
    if options["as_json"]:
        print_json(report.as_json())
    elif options["as_csv"]:
        write_csv(next(iter(report.sections.values())), sys.stdout)
    elif written:
        console.print(Text("\n".join(f"wrote {path}" for path in written)))
    else:
        print_tables(report)
        if report.name == "savings" and "totals" in report.sections:
            print_icloud_freed(report)
    if options["plot_path"] is not None and not (options["as_json"] or options["as_csv"]):
        console.print(Text(f"chart written to {options['plot_path']}"))


_HELP = {
    "savings": """Bytes saved by compression (by tier, year and kind) and freed in iCloud.

    Also what is still recoverable from iCloud's Recently Deleted, and the bytes held locally,
    on the NAS and staged for the Pixel. The chart shows savings month by month.
    """,
    "backlog": """What each stage still has to do, its oldest item, and why items are stuck.

    Stuck means a failure, a quarantine, or a reason the deletion gate gives for holding an
    asset back (not verified on the NAS, too recent, changed in iCloud ...). Compression counts
    only what `compress` would do now (`compress --plan`). The chart shows the backlog.
    """,
    "failures": """Every asset with a failure or in quarantine, with its last error (newest first).

    The chart counts the problems by the stage each asset waits for.
    """,
}


def _add_report_command(name: str) -> None:
    @command.command(name, help=_HELP[name])
    @_output_options
    @click.pass_obj
    def report_command(settings: Settings, /, **options: Any) -> None:
        _emit(settings, name, options)


for _name in REPORT_NAMES:
    _add_report_command(_name)


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


def print_tables(report: Report) -> None:
    """One rich table per section: people's headers, byte columns human-readable."""
    for name, section in report.sections.items():
        console.print(_table(f"{report.name}: {name.replace('_', ' ')}", section))
    console.print(f"ledger position {report.ledger_position}")


def _table(title: str, section: Section) -> Table:
    table = Table(*map(label, section.columns), title=title)
    if not section.rows:
        table.caption = "nothing to show"
    for row in section.rows:
        table.add_row(*(_cell(c, v) for c, v in zip(section.columns, row, strict=True)))
    return table


def _cell(column: str, value: Any) -> Text:
    if value is None:
        return Text("-")
    if is_bytes(column) and isinstance(value, int | float):
        return Text(human_bytes(int(value)))
    return Text(str(plain(value)))  # data, never rich markup
