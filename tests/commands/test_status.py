"""`status` figures that add up, on a library driven through the real stages.

- iCloud bytes: in iCloud now, in Recently Deleted and freed for good add up to every byte
  iCloud ever listed (computed here from the ledger's states, not the projection's SQL), each
  split into originals, live videos and other resources that add up to the total.
- `report savings` tells the same: its bytes in iCloud now and freed by deletion.
- The compress backlog is what `compress --plan` says a run would compress now, in `status`
  and in `report backlog`: assets whose tier is not due are not waiting.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from engine import resources as res
from projections.icloud_bytes import STANDINGS, icloud_standings
from tests.cleanup_world import CleanupWorld, open_cleanup_world, prepare
from tests.factories import run_cli
from tests.scenarios.fault_world import asset_id
from tests.sim import PASSWORD

ENV = {"PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}


def status_json(cw: CleanupWorld) -> dict[str, Any]:
    result = run_cli(["status", "--json"], cw.config_path, env=ENV)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def listed_bytes(cw: CleanupWorld, names: list[str]) -> dict[str, int]:
    """Resource key -> bytes iCloud lists, summed over the assets, from the ledger's states."""
    totals: dict[str, int] = {}
    ledger = cw.library.open_ledger()
    try:
        for name in names:
            for key, version in res.listed_resources(ledger.get_asset(asset_id(name)).state).items():
                totals[key] = totals.get(key, 0) + version.size_bytes
    finally:
        ledger.close()
    return totals


def assert_adds_up(icloud: dict[str, Any]) -> None:
    for standing in (*STANDINGS, "ever"):
        row = icloud[standing]
        assert row["original_bytes"] + row["live_video_bytes"] + row["other_bytes"] == (
            row["total_bytes"]), standing
    for field in ("assets", "original_bytes", "live_video_bytes", "other_bytes", "total_bytes"):
        assert sum(icloud[s][field] for s in STANDINGS) == icloud["ever"][field], field


def test_icloud_bytes_reconcile_before_and_after_deletion(tmp_path: Path) -> None:
    with open_cleanup_world(tmp_path, assets=10) as cw:
        names = prepare(cw)
        listed = listed_bytes(cw, names)
        before = status_json(cw)["icloud"]
        assert_adds_up(before)
        assert before["in_icloud"]["total_bytes"] == sum(listed.values()) > 0
        assert before["ever"]["live_video_bytes"] == listed.get(res.LIVE_VIDEO, 0) > 0
        assert before["ever"]["original_bytes"] == listed[res.ORIGINAL]

        plan = cw.plan()
        cw.execute(plan.plan_id)
        deleted = sum(e.icloud_size_bytes for e in plan.entries)
        after = status_json(cw)["icloud"]
        assert_adds_up(after)
        assert after["recently_deleted"]["total_bytes"] == deleted > 0
        assert after["recently_deleted"]["assets"] == len(plan.entries)
        assert after["in_icloud"]["total_bytes"] == before["in_icloud"]["total_bytes"] - deleted
        assert after["ever"] == before["ever"]
        assert after["recoverable_until_last_utc"] is not None

        savings = run_cli(["report", "savings", "--json"], cw.config_path, env=ENV)
        assert savings.returncode == 0, savings.stderr
        sections = json.loads(savings.stdout)["sections"]
        assert sections["storage"][0]["icloud_bytes"] == after["in_icloud"]["total_bytes"]
        assert sections["totals"][0]["icloud_freed_bytes"] == deleted
        assert sections["totals"][0]["recoverable_bytes"] == deleted

        text = run_cli(["status"], cw.config_path, env=ENV)
        assert text.returncode == 0, text.stderr
        assert re.search(r"in Recently Deleted until \d{4}-\d\d-\d\d", text.stdout), text.stdout
        assert "live videos" in text.stdout and "ever in iCloud" in text.stdout

        with cw.reader() as deps:  # 31 days on, Recently Deleted has let go of them
            later = icloud_standings(deps.projection, deps.clock() + timedelta(days=31))
        assert later["recently_deleted"].assets == 0
        assert later["freed_for_good"].total_bytes == deleted
        assert later.ever.total_bytes == after["ever"]["total_bytes"]


def plan_counts(cw: CleanupWorld) -> tuple[int, dict[str, int]]:
    result = run_cli(["--no-progress", "compress", "--plan", "--json"], cw.config_path, env=ENV)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    return sum(t["assets"] for t in doc["tiers"].values()), doc["not_compressed"]


def compress_waiting(cw: CleanupWorld) -> tuple[int, int]:
    """(status's compress backlog, report backlog's)."""
    status = next(s for s in status_json(cw)["stages"] if s["stage"] == "compress")
    report = run_cli(["report", "backlog", "--json"], cw.config_path, env=ENV)
    assert report.returncode == 0, report.stderr
    stages = json.loads(report.stdout)["sections"]["stages"]
    return status["waiting"], next(s["waiting"] for s in stages if s["stage"] == "compress")


def test_compress_backlog_is_what_compress_plan_would_do(tmp_path: Path) -> None:
    with open_cleanup_world(tmp_path, assets=10) as cw:
        prepare(cw)
        due, _others = plan_counts(cw)
        assert due > 0
        assert compress_waiting(cw) == (due, due)

        text = cw.config_path.read_text()  # no tier is due yet: nothing waits for compress
        cw.config_path.write_text(re.sub(
            r"min_age_days: (\d+)", lambda m: f"min_age_days: {99999 + int(m[1])}", text))
        due_now, others = plan_counts(cw)
        assert due_now == 0 and others.get("not-due", 0) >= due
        assert compress_waiting(cw) == (0, 0)
