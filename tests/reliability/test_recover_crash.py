"""kill -9 during `photoledger recover`, then rerun: one Recovered per asset, no half file, the
exact bytes back in the library and on the NAS.

The simulator runs in this process; `photoledger recover` runs as a real subprocess reaching
it through PHOTOLEDGER_ICLOUD_ENDPOINT. The world's assets were deleted from iCloud with their
local copies removed, and one NAS copy was then damaged: the last copy, the alarm.
"""

from __future__ import annotations

import hashlib
import signal
from collections import Counter
from pathlib import Path

import pytest

from engine import events as ev
from engine.crashpoints import CRASH_ENV
from engine.errors import ExitCode
from engine.resources import ARCHIVE_KEYS
from tests.cleanup_world import CleanupWorld, open_cleanup_world, prepare
from tests.factories import run_cli
from tests.reliability.invariants import (
    assert_no_temp_files,
    assert_projection_matches_replay,
    assert_versions_contiguous,
)
from tests.scenarios.fault_world import asset_id
from tests.sim import PASSWORD
from tests.unit.test_nas_files import flip_byte_keep_stat

RECOVER_CRASH_TESTS: dict[str, str] = {
    "recover.after_icloud_call": "iCloud recovered the asset, killed before Recovered was saved",
    "recover.after_redownload": "Recovered and the re-download saved, killed before the NAS "
    "repair",
}
# The download stage's own points, reached by recover's re-download (no new point: covered
# here again because a half-written re-download must not survive the rerun either).
RECOVER_DOWNLOAD_POINTS = ("download.mid_write", "download.after_rename_before_save")


def recover(cw: CleanupWorld, record_name: str, crash_at: str = "") -> tuple[int, str]:
    env = {
        "PHOTOLEDGER_ICLOUD_ENDPOINT": cw.world.server.base_url,
        "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD,
        CRASH_ENV: crash_at,
    }
    result = run_cli(["--no-progress", "recover", record_name], cw.config_path, env=env,
                     timeout=300)
    return result.returncode, result.stdout + result.stderr


def downloads_per_resource(cw: CleanupWorld, record_name: str) -> Counter[str]:
    ledger = cw.library.open_ledger()
    try:
        return Counter(e.resource for e in ledger.events_of(asset_id(record_name))
                       if isinstance(e, ev.Downloaded))
    finally:
        ledger.close()


def recover_calls(cw: CleanupWorld, since: int) -> int:
    """records/modify requests (un-deletes here) the simulator answered from entry `since`."""
    return sum(1 for e in cw.world.server.requests.entries()[since:]
               if "records/modify" in e.path)


@pytest.mark.parametrize("point", [*sorted(RECOVER_CRASH_TESTS), *RECOVER_DOWNLOAD_POINTS])
def test_kill_during_recover_then_rerun_records_once_and_leaves_no_half_file(
    tmp_path: Path, point: str
) -> None:
    with open_cleanup_world(tmp_path, assets=6, remove_local=True) as cw:
        prepare(cw)
        plan = cw.plan()
        cw.execute(plan.plan_id)
        target = plan.entries[0].record_name
        state = cw.state(target)
        assert state.deletion_state == "deleted" and state.local_removed_at_utc is not None
        recorded = {r.relpath: r.sha256 for r in state.resources_downloaded
                    if r.key in ARCHIVE_KEYS}
        flip_byte_keep_stat(cw.nas_root / str(state.local_relpath))
        checked = run_cli(["verify", "nas"], cw.config_path)
        assert checked.returncode == ExitCode.LAST_COPY_DAMAGED, checked.stdout + checked.stderr
        start = len(cw.world.server.requests.entries())

        code, output = recover(cw, target, crash_at=point)

        assert code == -signal.SIGKILL, output
        assert target not in cw.icloud_deleted()  # iCloud recovered it before every point
        is_saved = point != "recover.after_icloud_call"
        assert ("Recovered" in cw.topics_of(target)) is is_saved

        code, output = recover(cw, target)

        assert code == 0, output
        topics = Counter(cw.topics_of(target))
        assert topics["Recovered"] == 1
        assert recover_calls(cw, start) == 1  # the rerun never asked iCloud to recover again
        after = cw.state(target)
        assert after.deletion_state is None and after.refetch_resources == ()
        assert after.nas_status == "verified"
        downloads = downloads_per_resource(cw, target)
        assert {k: n for k, n in downloads.items() if k in ARCHIVE_KEYS} == {
            r.key: 2 for r in state.resources_downloaded if r.key in ARCHIVE_KEYS
        }  # before the deletion, and exactly once again
        for relpath, sha256 in recorded.items():
            for root in (cw.library.config.library_root, cw.nas_root):
                assert hashlib.sha256((root / relpath).read_bytes()).hexdigest() == sha256
        assert_no_temp_files(cw.library.config.library_root, cw.nas_root)
        (tmp_path / "scratch").mkdir()
        ledger = cw.library.open_ledger()
        try:
            assert_versions_contiguous(ledger)
            assert_projection_matches_replay(cw.library, ledger, tmp_path / "scratch")
        finally:
            ledger.close()


def test_recover_of_a_purged_asset_exits_gone_and_records_nothing(tmp_path: Path) -> None:
    with open_cleanup_world(tmp_path, assets=4, remove_local=True) as cw:
        prepare(cw)
        plan = cw.plan()
        cw.execute(plan.plan_id)
        target = plan.entries[0].record_name
        cw.world.state.advance_clock(31 * 86400)
        before = cw.library.ledger_path.read_bytes()

        code, output = recover(cw, target)

        assert code == ExitCode.GONE_FROM_ICLOUD, output
        assert "iCloud no longer has it" in output
        assert "Recovered" not in cw.topics_of(target)
        assert cw.state(target).deletion_state == "deleted"
        assert before != cw.library.ledger_path.read_bytes()  # the run itself is recorded
