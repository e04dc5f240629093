"""Report output people can read: headers, one CSV per section, charts for a first run.

- Tables show people's headers, never the SQL column names (JSON and CSV keep those).
- `--csv` prints one section (`--section`, or a report's only one); `--csv-dir` writes each
  section to its own file; `--csv` on a report of several sections alone is a usage error.
- Charts: dated, counts and bytes from 0 up, words instead of an empty frame; `--plot` into a
  missing folder is one error line, exit 2.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.errors import ExitCode
from projections.reports import Report, Section, load_sections
from projections.reports.charts import draw_report
from tests.factories import Library, make_library, run_cli
from tests.reliability.test_bad_input import assert_one_line_error
from tests.reports_world import populate_reports_world


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    library = make_library(tmp_path_factory.mktemp("reports"))
    populate_reports_world(library)
    return library


def test_tables_show_human_headers(library: Library) -> None:
    result = run_cli(["report", "backlog"], library.config_path)
    assert result.returncode == 0, result.stderr
    assert "size waiting" in result.stdout and "oldest capture (UTC)" in result.stdout
    for column in ("waiting_bytes", "oldest_captured_at_utc", "with_problems"):
        assert column not in result.stdout
    savings = run_cli(["report", "savings"], library.config_path)
    assert "saved by compression" in savings.stdout and "compression_saved_bytes" not in (
        savings.stdout)


def test_csv_is_one_section_and_csv_dir_one_file_per_section(
    library: Library, tmp_path: Path
) -> None:
    result = run_cli(["report", "backlog", "--section", "stages", "--csv"], library.config_path)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["stage"] for r in rows][:2] == ["download", "backup-nas"]
    assert "section" not in rows[0]
    only = run_cli(["report", "failures", "--csv"], library.config_path)  # its only section
    assert only.returncode == 0 and only.stdout.startswith("asset_id,"), only.stderr

    several = run_cli(["report", "savings", "--csv"], library.config_path)
    assert_one_line_error(several, ExitCode.USAGE, "--section", "by_tier", "--csv-dir")
    unknown = run_cli(["report", "savings", "--section", "nope", "--csv"], library.config_path)
    assert_one_line_error(unknown, ExitCode.USAGE, "nope", "by_tier")

    written = run_cli(["report", "savings", "--csv-dir", str(tmp_path)], library.config_path)
    assert written.returncode == 0, written.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"savings-{name}.csv" for name in load_sections("savings"))
    by_tier = list(csv.DictReader((tmp_path / "savings-by_tier.csv").open()))
    assert by_tier and set(by_tier[0]) == {"tier", "assets", "bytes_before", "bytes_after",
                                           "saved_bytes"}


def test_plot_into_a_missing_folder_is_one_error_line(library: Library, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "chart.png"
    result = run_cli(["report", "backlog", "--plot", str(target)], library.config_path)
    assert_one_line_error(result, ExitCode.USAGE, "--plot", "does not exist")
    missing_dir = run_cli(["report", "savings", "--csv-dir", str(tmp_path / "nope")],
                          library.config_path)
    assert_one_line_error(missing_dir, ExitCode.USAGE, "--csv-dir")


NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def first_run_report(name: str, section: str, columns: tuple[str, ...],
                     rows: list[tuple[object, ...]]) -> Report:
    return Report(name, 7, {section: Section(columns, rows)}, NOW)


@pytest.mark.parametrize(("report", "words"), [
    (first_run_report("backlog", "stages", ("stage", "waiting"),
                      [("download", 0), ("compress", 0)]), "nothing waiting"),
    (first_run_report("failures", "failures", ("asset_id", "waiting_for"), []), "no problems"),
    (first_run_report("savings", "over_time", ("month", "compression_saved_total",
                                               "icloud_freed_total"), []),
     "nothing saved or freed yet"),
])
def test_a_chart_with_nothing_to_draw_says_so_and_is_dated(report: Report, words: str) -> None:
    import matplotlib.pyplot as plt

    fig = draw_report(report)
    try:
        texts = [t.get_text() for t in fig.texts] + [
            t.get_text() for ax in fig.axes for t in ax.texts]
        assert words in texts
        assert any("2026-12-06 03:00 UTC" in t and "ledger position 7" in t for t in texts)
        assert not any(ax.axison for ax in fig.axes)  # no empty frame
    finally:
        plt.close(fig)


@pytest.mark.parametrize("report", [
    first_run_report("backlog", "stages", ("stage", "waiting"), [("download", 3)]),
    first_run_report("savings", "over_time", ("month", "compression_saved_total",
                                              "icloud_freed_total"), [("2026-12", 0, 5_000_000)]),
])
def test_a_first_run_chart_starts_at_zero_and_is_dated(report: Report) -> None:
    import matplotlib.pyplot as plt

    fig = draw_report(report)
    try:
        (ax,) = fig.axes
        low, high = ax.get_ylim()
        assert low == 0 and high >= 1
        assert any("2026-12-06" in t.get_text() for t in fig.texts)
    finally:
        plt.close(fig)
