"""`photoledger report`: figures equal sums computed from the events; stable JSON; CSV; charts."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pytest

from commands.context import Settings
from engine.crashpoints import CrashPoints
from engine.errors import ExitCode
from engine.reports import run_named_report, write_csv
from engine.services import open_reader, utc_now
from projections import media as media_module
from projections.media import row_to_state
from projections.reports import REPORT_NAMES, load_sections
from tests.factories import Library, discover, make_library, new_run, run_cli
from tests.reports_world import Expected, populate_reports_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Library, Expected]:
    library = make_library(tmp_path_factory.mktemp("reports"))
    return library, populate_reports_world(library)


def report_json(library: Library, name: str) -> dict:
    result = run_cli(["report", name, "--json"], library.config_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_savings_equal_sums_of_the_events(world: tuple[Library, Expected]) -> None:
    library, exp = world
    doc = report_json(library, "savings")
    sections = doc["sections"]
    totals = sections["totals"][0]
    assert totals["compression_saved_bytes"] == exp.bytes_before - exp.bytes_after
    assert (totals["bytes_before"], totals["bytes_after"]) == (exp.bytes_before, exp.bytes_after)
    assert totals["icloud_freed_bytes"] == exp.freed and exp.freed > 0
    assert totals["recoverable_bytes"] == exp.recoverable and 0 < exp.recoverable < exp.freed
    assert totals["freed_for_good_bytes"] == exp.freed - exp.recoverable
    assert totals["recoverable_until_utc"] is not None
    assert {r["tier"]: r["saved_bytes"] for r in sections["by_tier"]} == exp.saved_by_tier
    assert {r["year"]: r["saved_bytes"] for r in sections["by_year"]} == exp.saved_by_year
    assert {r["kind"]: r["saved_bytes"] for r in sections["by_kind"]} == exp.saved_by_kind
    storage = sections["storage"][0]
    assert (storage["local_bytes"], storage["nas_bytes"], storage["outbox_staged_bytes"]) == (
        exp.local, exp.nas, exp.outbox)
    over_time = sections["over_time"]
    assert over_time[-1]["compression_saved_total"] == exp.bytes_before - exp.bytes_after
    assert over_time[-1]["icloud_freed_total"] == exp.freed


def test_json_schemas_are_stable(world: tuple[Library, Expected]) -> None:
    library, _exp = world
    expected_columns = {
        "savings": {"totals": {"compressed_assets", "bytes_before", "bytes_after",
                               "compression_saved_bytes", "deleted_from_icloud",
                               "icloud_freed_bytes", "recoverable_assets", "recoverable_bytes",
                               "recoverable_until_utc", "freed_for_good_bytes"},
                    "storage": {"local_bytes", "nas_bytes", "outbox_staged_bytes",
                                "icloud_bytes"},
                    "by_tier": {"tier", "assets", "bytes_before", "bytes_after", "saved_bytes"},
                    "by_year": {"year", "assets", "bytes_before", "bytes_after", "saved_bytes"},
                    "by_kind": {"kind", "assets", "bytes_before", "bytes_after", "saved_bytes"},
                    "over_time": {"month", "compression_saved_bytes", "icloud_freed_bytes",
                                  "compression_saved_total", "icloud_freed_total"}},
        "backlog": {"stages": {"stage", "waiting", "waiting_bytes", "oldest_captured_at_utc",
                               "oldest_filename", "with_problems"},
                    "stuck": {"stage", "reason", "assets", "size_bytes"}},
        "failures": {"failures": {"asset_id", "record_name", "filename", "local_relpath",
                                  "quarantine_reason", "missing_resources", "last_error",
                                  "last_error_at_utc",
                                  "download_failures", "waiting_for"}},
    }
    assert set(expected_columns) == set(REPORT_NAMES)
    for name, sections in expected_columns.items():
        doc = report_json(library, name)
        assert set(doc) == {"report", "schema_version", "ledger_position", "sections"}
        assert doc["report"] == name and doc["schema_version"] == 1
        assert set(doc["sections"]) == set(load_sections(name))
        for section, columns in sections.items():
            rows = doc["sections"][section]
            assert rows, (name, section)
            assert set(rows[0]) == columns, (name, section)


def test_backlog_counts_stages_and_says_why(world: tuple[Library, Expected]) -> None:
    library, exp = world
    doc = report_json(library, "backlog")
    stages = {r["stage"]: r for r in doc["sections"]["stages"]}
    assert list(stages) == ["download", "backup-nas", "backup-google", "compress",
                            "album-move", "delete"]
    assert stages["download"]["waiting"] == exp.waiting_download
    assert stages["download"]["waiting_bytes"] == exp.waiting_download_bytes
    reasons = {(r["stage"], r["reason"]): r["assets"] for r in doc["sections"]["stuck"]}
    assert reasons[("download", "failed: HTTP 503")] == exp.waiting_download
    assert reasons[("download", "quarantined: size_mismatch")] == 3
    assert reasons[("album-move", "gate: too-recent")] == 1  # the asset captured yesterday
    assert all(r["reason"].startswith(("failed", "quarantined", "gate: ")) for r in
               doc["sections"]["stuck"])


def test_failures_list_every_problem(world: tuple[Library, Expected]) -> None:
    library, exp = world
    rows = report_json(library, "failures")["sections"]["failures"]
    assert {r["asset_id"] for r in rows} == exp.problems
    assert all(r["last_error"] for r in rows)


def test_csv_and_table_and_plot(world: tuple[Library, Expected], tmp_path: Path) -> None:
    library, exp = world
    chart = tmp_path / "savings.png"
    result = run_cli(["report", "savings", "--section", "by_tier", "--csv", "--plot", str(chart)],
                     library.config_path)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    by_tier = {r["tier"]: int(r["saved_bytes"]) for r in rows}
    assert by_tier == exp.saved_by_tier
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = run_cli(["report", "backlog", "--plot", str(tmp_path / "b.png")], library.config_path)
    assert table.returncode == 0, table.stderr
    assert "backlog: stages" in table.stdout and "backup-nas" in table.stdout
    assert (tmp_path / "b.png").stat().st_size > 1000
    both = run_cli(["report", "failures", "--json", "--csv"], library.config_path)
    assert both.returncode == ExitCode.USAGE


def test_reports_file_is_readable_by_others(world: tuple[Library, Expected]) -> None:
    library, exp = world
    with open_reader(library.config, Settings(library.config_path, CrashPoints(), utc_now, False, lambda _m: None)) as deps:
        report = run_named_report(deps, "failures")
    buffer = io.StringIO()
    write_csv(report.sections["failures"], buffer)
    assert buffer.getvalue().count("\n") == len(exp.problems) + 1
    con = duckdb.connect(str(library.config.state_dir / "reports.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT COUNT(*) FROM media").fetchone() == (24,)
    finally:
        con.close()


def test_states_read_for_the_gate_equal_the_rows(world: tuple[Library, Expected],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    library, _exp = world
    projection = library.open_projection()
    try:
        by_row = [row_to_state(row) for row in projection._con.execute("SELECT * FROM media")]
        assert list(projection.states_where("1")) == by_row
        # More fields than one SQLite function takes: the JSON objects are spliced.
        monkeypatch.setattr(media_module, "_STATE_CHUNK", 7)
        assert list(projection.states_where("1")) == by_row
    finally:
        projection.close()


def test_reports_file_is_kept_in_step_with_the_ledger(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    exp = populate_reports_world(library, count=16)
    path = library.config.state_dir / "reports.duckdb"
    saved = report_json(library, "savings")["sections"]["totals"][0]
    assert saved["icloud_freed_bytes"] == exp.freed
    built = path.stat().st_ino, path.stat().st_mtime_ns
    report_json(library, "failures")  # same position: the file is reused as it is
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == built
    backlog = report_json(library, "backlog")  # same copy, gate blocks judged afresh
    assert any(r["reason"].startswith("gate: ") for r in backlog["sections"]["stuck"])
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("SELECT has_gate_blocks, gate_blocks_at_utc IS NOT NULL "
                           "FROM report_meta").fetchone() == (True, True)
    finally:
        con.close()
    # A new fact moves the projection on: the next report is built from it.
    icloud_before = report_json(library, "savings")["sections"]["storage"][0]["icloud_bytes"]
    run = new_run("more")
    ledger = library.open_ledger()
    try:
        ledger.save(run, discover(run, 999, declared_size_bytes=4321))
    finally:
        ledger.close()
    doc = report_json(library, "savings")
    assert doc["sections"]["storage"][0]["icloud_bytes"] == icloud_before + 4321
    # Built afresh at the new position (not an inode check: a freed inode number is reused).
    assert doc["ledger_position"] > backlog["ledger_position"]
