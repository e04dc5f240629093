"""The CLI as a user meets it: real subprocesses, real files, exit codes and output."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import click
import pytest

from commands import cli
from engine import events as ev
from engine.errors import EXIT_CODE_MEANINGS, ExitCode
from tests.factories import REPO_ROOT, Library, discover, download, new_run, run_cli

COMMANDS = cli.list_commands(click.Context(cli))


def populate(library: Library, count: int = 3) -> list[str]:
    ledger = library.open_ledger()
    run = new_run("populate")
    assets = [discover(run, i) for i in range(count)]
    download(assets[0], run)
    assets[1].record(ev.DownloadFailed, run.id.hex, error="HTTP 503 from iCloud", is_retriable=True)
    ledger.save(run, *assets)
    ledger.close()
    return [a.id.hex for a in assets]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_explains_itself(name: str) -> None:
    result = run_cli([name, "--help"])
    assert result.returncode == 0
    first_line = result.stdout.split("\n\n")[1].strip()
    assert len(first_line) > 30, f"{name} --help has no real description"


def test_top_level_help_lists_every_command() -> None:
    result = run_cli(["--help"])
    assert result.returncode == 0
    for name in COMMANDS:
        assert re.search(rf"^\s+{name}\s", result.stdout, re.M), name


def test_readme_documents_every_command_and_exit_code() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for name in COMMANDS:
        assert f"photoledger {name}" in readme, name
    table = dict(re.findall(r"^\| (\d+) \| `([A-Z_]+)` \|", readme, re.M))
    assert table == {str(int(code)): code.name for code in ExitCode}
    assert set(EXIT_CODE_MEANINGS) == set(ExitCode)


def test_usage_error_exits_2() -> None:
    result = run_cli(["status", "--no-such-option"])
    assert result.returncode == ExitCode.USAGE
    assert "No such option" in result.stderr


@pytest.mark.parametrize(("args", "needle"), [
    (["download", "--frobnicate"], "No such option '--frobnicate' (see `photoledger download"),
    (["history"], "Missing argument 'ASSET'"),
    (["--log-level", "loud", "status"], "'loud' is not one of"),
    (["report", "nonsense"], "No such command 'nonsense'"),
    (["frobnicate"], "No such command 'frobnicate'"),
    (["download", "--workers", "many"], "'many' is not a valid integer"),
])
def test_usage_errors_are_one_error_line(tmp_path: Path, args: list[str], needle: str) -> None:
    result = run_cli(args, tmp_path / "none.yaml")
    assert result.returncode == ExitCode.USAGE == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # no usage block, no "Try ..." line
    assert result.stderr.startswith("photoledger: error: "), result.stderr
    assert needle in result.stderr and "--help`" in result.stderr
    assert result.stdout == ""


def test_help_still_prints_the_usage(tmp_path: Path) -> None:
    result = run_cli(["download", "--help"], tmp_path / "none.yaml")
    assert result.returncode == 0 and result.stdout.startswith("Usage: photoledger download")
    assert result.stderr == ""
    bare = run_cli([])  # no command: the help, as before
    assert "Commands:" in bare.stdout + bare.stderr


def test_json_log_format_writes_the_error_as_one_object(library: Library) -> None:
    populate(library)
    result = run_cli(["--log-format", "json", "history", "IMG_9999.JPG"], library.config_path)
    assert result.returncode == ExitCode.NOT_FOUND
    [line] = result.stderr.splitlines()
    record = json.loads(line)
    assert record["level"] == "error" and record["exit_code"] == ExitCode.NOT_FOUND
    assert record["message"].startswith("no asset")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
    usage = run_cli(["--log-format", "json", "history"], library.config_path)
    assert usage.returncode == ExitCode.USAGE
    assert json.loads(usage.stderr)["message"].startswith("Missing argument")


def test_init_writes_a_config_and_refuses_to_overwrite(tmp_path: Path) -> None:
    config = tmp_path / "pl.yaml"
    first = run_cli(["init", "--library-root", str(tmp_path / "lib"), "--username", "a@b.c"], config)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "lib" / ".photoledger" / "ledger.db").is_file()
    assert config.stat().st_mode & 0o077 == 0  # the config names the account: private
    before = config.read_bytes()
    again = run_cli(["init", "--library-root", str(tmp_path / "x"), "--username", "z@b.c"], config)
    assert again.returncode == ExitCode.CONFIG and "--force" in again.stderr
    assert config.read_bytes() == before
    rerun = run_cli(["init"], config)  # with the existing config: reports, changes nothing
    assert rerun.returncode == 0 and "already there" in rerun.stdout


def test_init_without_config_or_options_says_what_to_pass(tmp_path: Path) -> None:
    result = run_cli(["init"], tmp_path / "none.yaml")
    assert result.returncode == ExitCode.CONFIG
    assert "--library-root" in result.stderr and result.stderr.count("\n") == 1


def test_status_counts_stages_and_failures(library: Library) -> None:
    populate(library)
    result = run_cli(["status", "--json"], library.config_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["totals"]["assets"] == 3
    assert report["totals"]["downloaded"] == 1
    stages = {s["stage"]: s for s in report["stages"]}
    assert stages["download"]["waiting"] == 2
    assert stages["backup-nas"]["waiting"] == 1
    assert [f["last_error"] for f in report["failures"]] == ["HTTP 503 from iCloud"]
    assert report["last_run"]["command"] == "populate"
    human = run_cli(["status"], library.config_path)
    assert "3 assets" in human.stdout and "HTTP 503 from iCloud" in human.stdout


def test_history_by_id_record_name_and_path(library: Library) -> None:
    ids = populate(library)
    root = library.config.library_root
    for name in (ids[0], "REC-00000000", "2024/05/17/IMG_0000.HEIC", str(root / "2024/05/17/IMG_0000.HEIC")):
        result = run_cli(["history", name, "--json"], library.config_path)
        assert result.returncode == 0, (name, result.stderr)
        story = json.loads(result.stdout)
        assert story["asset_id"] == ids[0]
        assert [e["event"] for e in story["events"]] == ["Discovered", "Downloaded"]
        assert story["events"][1]["facts"]["sha256"]
    readable = run_cli(["history", "REC-00000001"], library.config_path)
    assert "DownloadFailed" in readable.stdout and "HTTP 503" in readable.stdout


def test_history_of_unknown_asset_exits_not_found(library: Library) -> None:
    populate(library)
    result = run_cli(["history", "IMG_9999.JPG"], library.config_path)
    assert result.returncode == ExitCode.NOT_FOUND
    assert result.stderr.startswith("photoledger: error: no asset")


def test_history_refuses_an_ambiguous_name(library: Library) -> None:
    ledger = library.open_ledger()
    run = new_run()
    a, b = discover(run, 1), discover(run, 2)
    for asset in (a, b):
        asset.record(ev.Downloaded, run.id.hex, local_relpath="same/IMG_1.JPG", size_bytes=1,
                     sha256="0" * 64, live_video_relpath=None, live_video_size_bytes=None,
                     live_video_sha256=None, extra_files=())
    ledger.save(run, a, b)
    result = run_cli(["history", "same/IMG_1.JPG"], library.config_path)
    assert result.returncode == ExitCode.NOT_FOUND and "2 assets" in result.stderr


def test_rebuild_reproduces_the_projection(library: Library) -> None:
    populate(library, count=20)
    assert run_cli(["status"], library.config_path).returncode == 0
    projection = library.open_projection()
    before = projection.rows()
    projection.close()
    result = run_cli(["rebuild"], library.config_path)
    assert result.returncode == 0, result.stderr
    assert "20 assets" in result.stdout
    projection = library.open_projection()
    assert projection.rows() == before
    projection.close()


def test_check_passes_on_a_healthy_library(library: Library) -> None:
    populate(library)
    result = run_cli(["check", "--json"], library.config_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["is_clean"] is True


def test_check_catches_a_tampered_projection_and_rebuild_repairs_it(library: Library) -> None:
    ids = populate(library)
    assert run_cli(["status"], library.config_path).returncode == 0
    con = sqlite3.connect(library.config.state_dir / "media.db")
    con.execute("UPDATE media SET sha256 = ? WHERE asset_id = ?", ("e" * 64, ids[0]))
    con.commit()
    con.close()
    result = run_cli(["check"], library.config_path)
    assert result.returncode == ExitCode.CHECK_FAILED
    assert ids[0] in result.stdout and "rebuild" in result.stdout
    assert run_cli(["rebuild"], library.config_path).returncode == 0
    assert run_cli(["check"], library.config_path).returncode == 0


def test_unreadable_projection_is_replaced_with_a_warning(library: Library) -> None:
    populate(library)
    (library.config.state_dir / "media.db").write_bytes(b"not a database at all" * 100)
    result = run_cli(["status", "--json"], library.config_path)
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr and json.loads(result.stdout)["totals"]["assets"] == 3


def test_config_from_environment_variable(library: Library) -> None:
    populate(library)
    result = run_cli(["status", "--json"], env={"PHOTOLEDGER_CONFIG": str(library.config_path)},
                     cwd="/")
    assert result.returncode == 0 and json.loads(result.stdout)["totals"]["assets"] == 3
