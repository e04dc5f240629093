"""Logs for a service: `--log-level`, UTC timestamps on plain (non-terminal) lines and
`--log-format json` (one JSON object a line), from the one implementation in commands.output
that PlainReporter, warnings and errors share."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from commands import output
from commands.progress import PlainReporter
from tests.factories import run_cli
from tests.scenarios.fault_world import World, open_world
from tests.sim import PASSWORD

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def photoledger(world: World, *args: str) -> tuple[int, str]:
    env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": world.server.base_url,
           "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
    result = run_cli(list(args), world.library.config_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.returncode, result.stderr


def test_levels_timestamps_and_json_lines_from_a_real_discover(tmp_path: Path) -> None:
    with open_world(tmp_path, assets=12) as world:
        _, stderr = photoledger(world, "--log-format", "json", "--log-level", "debug",
                                "discover")
        records = [json.loads(line) for line in stderr.splitlines()]  # every line is JSON
        assert records and all(re.fullmatch(STAMP, r["time"]) for r in records)
        assert records[0] == {"time": records[0]["time"], "level": "info",
                              "message": "reading what iCloud holds ..."}
        per_asset = [r for r in records if "outcome" in r]
        assert len(per_asset) >= 10 and {r["level"] for r in per_asset} == {"debug"}
        assert all(r["outcome"] == "ok" and r["label"] and r["detail"] == "" for r in per_asset)

        _, stderr = photoledger(world, "discover")  # text, not a terminal: UTC times
        lines = stderr.splitlines()
        assert lines and all(re.match(rf"{STAMP} ", line) for line in lines), stderr

        _, stderr = photoledger(world, "--log-level", "warning", "discover")
        assert stderr == ""  # nothing at warning or above


def test_plain_lines_and_warnings_follow_level_and_format(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "LOG", output.LogStyle(level="info", format="text",
                                                       timestamps=True))
    reporter = PlainReporter()
    reporter.started("download", 2, 3 * 1024 * 1024)
    reporter.asset_done("ok", "IMG_1.HEIC", size_bytes=1024)  # debug: not shown at info
    reporter.asset_done("failed", "IMG_2.HEIC", "HTTP 503", 2048)
    output.warn_line("disk nearly full")
    lines = capsys.readouterr().err.splitlines()
    assert re.fullmatch(rf"{STAMP} downloading: 2 assets \(3.0 MiB\)", lines[0])
    assert re.fullmatch(rf"{STAMP} failed: IMG_2.HEIC \(2.0 KiB\) \(HTTP 503\)", lines[1])
    assert lines[2] == "photoledger: warning: disk nearly full"  # the documented first word
    assert len(lines) == 3

    monkeypatch.setattr(output, "LOG", output.LogStyle(level="debug", format="json"))
    reporter.asset_done("ok", "IMG_1.HEIC", size_bytes=1024)
    output.warn_line("disk nearly full")
    output.error_line("NAS gone", exit_code=12)
    first, warning, error = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["level"] == "debug" and first["outcome"] == "ok"
    assert (first["label"], first["detail"], first["size_bytes"]) == ("IMG_1.HEIC", "", 1024)
    assert (warning["level"], warning["message"]) == ("warning", "disk nearly full")
    assert (error["level"], error["message"], error["exit_code"]) == ("error", "NAS gone", 12)

    monkeypatch.setattr(output, "LOG", output.LogStyle(level="error", format="text"))
    output.warn_line("hidden")
    output.error_line("shown")  # an error is never filtered out
    assert capsys.readouterr().err == "photoledger: error: shown\n"
