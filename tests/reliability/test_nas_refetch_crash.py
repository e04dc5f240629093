"""kill -9 while `photoledger run` repairs a NAS copy from a re-download, then rerun: the request
recorded once, each resource downloaded once again, no half file, the NAS holding the bytes.

The simulator runs in this process; `photoledger run` runs as a real subprocess. The target's
local copy was compressed (no local source) and its NAS copy damaged, found by `verify nas`;
every other asset is verified on the NAS, so each crash point below is reached only by the
repair (the download stage's points by its re-download, backup-nas's by its NAS repair).
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from engine import events as ev
from engine.crashpoints import CRASH_ENV
from engine.errors import ExitCode
from tests.cleanup_world import CleanupWorld, open_cleanup_world
from tests.commands.test_nas_redownload import (
    assert_nas_holds_the_downloads,
    backed_up,
    compress_by_hand,
    refetch_facts,
)
from tests.factories import run_cli
from tests.reliability.invariants import (
    assert_no_temp_files,
    assert_projection_matches_replay,
    assert_versions_contiguous,
)
from tests.scenarios.fault_world import asset_id
from tests.sim import PASSWORD
from tests.unit.test_nas_files import flip_byte_keep_stat

REPAIR_POINTS = (
    "download.mid_write", "download.after_rename_before_save",
    "backup_nas.before_rename", "backup_nas.after_verify_before_save",
)


def run(cw: CleanupWorld, crash_at: str = "") -> tuple[int, str]:
    env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": cw.world.server.base_url,
           "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD, CRASH_ENV: crash_at}
    result = run_cli(["--no-progress", "run"], cw.config_path, env=env, timeout=300)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("point", REPAIR_POINTS)
def test_kill_during_a_repair_from_icloud_then_rerun_repairs_it_once(
    tmp_path: Path, point: str
) -> None:
    with open_cleanup_world(tmp_path, assets=6) as cw:
        target = backed_up(cw)[-1]
        compress_by_hand(cw, target)
        flip_byte_keep_stat(cw.nas_root / str(cw.state(target).local_relpath))
        assert run_cli(["verify", "nas"], cw.config_path).returncode == ExitCode.NAS_MISMATCHED

        code, output = run(cw, crash_at=point)
        assert code == -signal.SIGKILL, output
        code, output = run(cw)

        assert code == 0, output
        assert len(refetch_facts(cw, target)) == 1
        ledger = cw.library.open_ledger()
        try:
            downloads = Counter(e.resource for e in ledger.events_of(asset_id(target))
                                if isinstance(e, ev.Downloaded))
            assert set(downloads.values()) == {2}  # first download, then exactly once again
            assert_versions_contiguous(ledger)
            (tmp_path / "scratch").mkdir()
            assert_projection_matches_replay(cw.library, ledger, tmp_path / "scratch")
        finally:
            ledger.close()
        assert_nas_holds_the_downloads(cw, target)
        assert_no_temp_files(cw.library.config.library_root, cw.nas_root)
