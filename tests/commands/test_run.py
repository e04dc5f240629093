"""`photoledger run`: every stage in order against the simulator, one summary, exit codes,
and the notification script's environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import commands.run
from commands.run import print_summary
from engine.errors import ExitCode
from engine.pipeline.run import decide_skip
from engine.pipeline.summary import (
    RunSummary,
    StageDetail,
    StageResult,
    counts_detail,
    summary_json,
)
from tests.factories import Library, run_cli
from tests.scenarios.fault_world import open_world
from tests.sim import PASSWORD

SCRIPT = """#!/bin/sh
{ echo "--- $PHOTOLEDGER_EVENT"; env | grep -E '^PHOTOLEDGER_(EVENT|SUMMARY|DETAIL_|SMTP)' | sort; } >> "$0.log"
"""


def with_notify_script(library: Library, tmp_path: Path) -> Path:
    script = tmp_path / "notify.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    text = library.config_path.read_text()
    text = text.replace("  events: [2fa-needed, run-failed, quarantined, deletion-plan-waiting, "
                        "assets-failed,\n           backup-damaged, trust-expiring]",
                        "  events: [2fa-needed, run-failed, quarantined, deletion-plan-waiting, "
                        "assets-failed, backup-damaged, trust-expiring, "
                        "run-completed]")
    library.config_path.write_text(text.replace("  script: null", f"  script: {script}"))
    return Path(f"{script}.log")


def notifications(log: Path) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for block in log.read_text().split("--- ")[1:]:
        lines = block.strip().splitlines()
        found[lines[0]] = dict(line.split("=", 1) for line in lines[1:])
    return found


def photoledger_run(library: Library, base_url: str, password: str) -> tuple[int, dict]:
    env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": base_url, "PHOTOLEDGER_ICLOUD_PASSWORD": password,
           "PHOTOLEDGER_SMTP_PASSWORD": "never-shown"}
    result = run_cli(["--no-progress", "run", "--json"], library.config_path, env=env,
                     timeout=300)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_run_executes_stages_in_order_and_notifies(tmp_path: Path) -> None:
    with open_world(tmp_path) as world:
        log = with_notify_script(world.library, tmp_path)
        code, summary = photoledger_run(world.library, world.server.base_url, "wrong password")
        stages = {s["stage"]: s for s in summary["stages"]}
        assert list(stages) == ["discover", "download", "backup-nas", "backup-google",
                                "compress", "album-move", "delete"]
        assert stages["discover"]["status"] == "failed"
        assert code == ExitCode.AUTH_FAILED == stages["discover"]["exit_code"]
        for stage in ("download", "album-move", "delete"):  # they need iCloud
            assert stages[stage]["status"] == "skipped"
            assert "icloud" in stages[stage]["detail"]
        failed = notifications(log)["run-failed"]
        assert failed["PHOTOLEDGER_DETAIL_STAGE"] == "discover"
        assert failed["PHOTOLEDGER_DETAIL_EXIT_CODE"] == "10"
        assert failed["PHOTOLEDGER_SUMMARY"].startswith("discover failed")
        assert "never-shown" not in log.read_text()  # the SMTP password stays with photoledger

        log.unlink()
        code, summary = photoledger_run(world.library, world.server.base_url, PASSWORD)
        stages = {s["stage"]: s for s in summary["stages"]}
        assert [stages[s]["status"] for s in ("discover", "download", "album-move", "delete")] \
            == ["ok"] * 4
        assert stages["backup-nas"]["detail"] == "nas.root is not set"
        sent = notifications(log)
        quarantined = "quarantined" in sent
        assert code == (ExitCode.NEEDS_ATTENTION if quarantined else ExitCode.OK)
        assert sent["run-completed"]["PHOTOLEDGER_DETAIL_DOWNLOAD"] == "ok"
        assert "run-failed" not in sent
        counts = stages["download"]["counts"]  # numbers in an object, not JSON in a string
        assert counts["downloaded"] > 0 and counts["failed"] == 0
        assert stages["download"]["detail"].startswith(f"downloaded {counts['downloaded']}, ")
        assert stages["discover"]["detail"].startswith("full: ")
        assert isinstance(stages["discover"]["counts"], dict)
        assert stages["backup-nas"]["counts"] == {}  # skipped: a reason, no counts


def test_a_lost_nas_skips_what_needs_it(tmp_path: Path) -> None:
    with open_world(tmp_path, assets=1) as world:
        config = world.library.config
        assert decide_skip("compress", config, {"nas"}) is not None  # compression.require: nas
        assert decide_skip("delete", config, {"nas"}) is not None
        assert decide_skip("album-move", config, {"google"}) is None
        assert "ledger" in (decide_skip("album-move", config, {"ledger"}) or "")


def test_stage_counts_are_data_and_readable_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = {"downloaded": 12, "partial": 0, "failed": 0, "quarantined": 1, "files": 30}
    summary = RunSummary(stages=[
        StageResult("download", "ok", counts_detail(counts)),
        StageResult("compress", "ok", counts_detail({"compressed": 0, "skipped": 0, "failed": 0})),
        StageResult("backup-nas", "skipped", "nas.root is not set"),
        StageResult("delete", "ok", StageDetail("nothing in DeletePending", {"planned": 0})),
    ])
    data = json.loads(json.dumps(summary_json(summary)))  # serialisable as it is
    by_stage = {s["stage"]: s for s in data["stages"]}
    assert by_stage["download"]["counts"] == counts
    assert by_stage["download"]["detail"] == "downloaded 12, failed 0, quarantined 1, files 30"
    assert by_stage["compress"]["detail"] == "compressed 0, failed 0"
    assert by_stage["backup-nas"] == {"stage": "backup-nas", "status": "skipped", "counts": {},
                                      "detail": "nas.root is not set", "exit_code": 0}
    assert by_stage["delete"]["counts"] == {"planned": 0}
    monkeypatch.setattr(commands.run.console, "width", 160)  # one table row a line
    print_summary(summary)
    table = capsys.readouterr().out
    assert "downloaded 12, failed 0, quarantined 1, files 30" in table
    assert "{" not in table and '"' not in table  # no JSON in the human table

