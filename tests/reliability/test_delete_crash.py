"""kill -9 around the NAS re-read and the iCloud delete call, then rerun: one delete call and
one Deleted per asset, and one re-read fact (NasVerified or NasMismatched) per request.

The simulator runs in this process; `photoledger delete execute PLAN` runs as a real subprocess
reaching it through PHOTOLEDGER_ICLOUD_ENDPOINT. The first asset's delete is interrupted at the
crash point; the rerun must settle it by asking iCloud (never by deleting again) and finish.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from engine.crashpoints import CRASH_ENV
from engine.errors import ExitCode
from tests.cleanup_world import CleanupWorld, open_cleanup_world, prepare
from tests.factories import run_cli
from tests.reliability.invariants import (
    assert_invariants,
    assert_projection_matches_replay,
    assert_versions_contiguous,
    events_by_type,
)
from tests.sim import PASSWORD
from tests.unit.test_nas_files import flip_byte_keep_stat

DELETE_CRASH_TESTS: dict[str, str] = {
    "delete.before_nas_reread": "gate and iCloud re-checked, killed before the NAS re-read",
    "delete.before_request_saved": "NAS re-read, killed before it and the intent were recorded",
    "delete.after_request_saved": "intent recorded, killed before iCloud was asked",
    "delete.after_icloud_call": "iCloud deleted the asset, killed before Deleted was saved",
}


def execute(cw: CleanupWorld, plan_id: str, crash_at: str = "") -> tuple[int, str]:
    env = {
        "PHOTOLEDGER_ICLOUD_ENDPOINT": cw.world.server.base_url,
        "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD,
        CRASH_ENV: crash_at,
    }
    result = run_cli(["--no-progress", "delete", "execute", plan_id], cw.config_path, env=env)
    return result.returncode, result.stdout + result.stderr


def delete_calls(cw: CleanupWorld, since: int) -> Counter[str]:
    """records/modify requests the simulator answered from log entry `since` on."""
    entries = cw.world.server.requests.entries()[since:]
    return Counter(e.path.rsplit("/", 1)[-1] for e in entries if "records/modify" in e.path)


@pytest.mark.parametrize("point", sorted(DELETE_CRASH_TESTS))
def test_kill_around_the_icloud_delete_then_rerun_deletes_each_asset_once(
    tmp_path: Path, point: str
) -> None:
    with open_cleanup_world(tmp_path, assets=6) as cw:
        prepare(cw)
        plan = cw.plan()
        planned = {e.record_name for e in plan.entries}
        assert len(planned) >= 2
        already = cw.icloud_deleted()
        start = len(cw.world.server.requests.entries())

        code, output = execute(cw, plan.plan_id, crash_at=point)

        assert code == -signal.SIGKILL, output
        first = plan.entries[0].record_name
        is_requested = point not in ("delete.before_nas_reread", "delete.before_request_saved")
        assert cw.state(first).deletion_state == ("requested" if is_requested else None)
        is_called = point == "delete.after_icloud_call"
        assert (cw.icloud_deleted() - already) == ({first} if is_called else set())

        code, output = execute(cw, plan.plan_id)

        assert code == 0, output
        assert cw.icloud_deleted() - already == planned
        assert sum(delete_calls(cw, start).values()) == len(planned)  # one call per asset
        ledger = cw.library.open_ledger()
        try:
            counts = events_by_type(ledger)
            assert len(counts["Deleted"]) == len(planned)
            assert set(counts["Deleted"].values()) == {1}
            is_retried = point == "delete.after_request_saved"
            assert set(counts["DeletionRequested"].values()) == ({1, 2} if is_retried else {1})
            for asset in counts["Deleted"]:  # backup-nas's, then one re-read per request
                assert counts["NasVerified"][asset] == 1 + counts["DeletionRequested"][asset]
            assert_versions_contiguous(ledger)
            scratch = tmp_path / "scratch"
            scratch.mkdir()
            assert_projection_matches_replay(cw.library, ledger, scratch)
        finally:
            ledger.close()
        assert_invariants(cw.library, tmp_path / "all", nas_root=cw.nas_root)
        first_topics = cw.topics_of(first)
        if not is_retried:  # settled by asking iCloud, or never requested before the kill
            assert first_topics[-3:] == ["NasVerified", "DeletionRequested", "Deleted"]
            assert cw.state(first).deletion_state == "deleted"
        else:  # iCloud never heard of it: failed, then re-read, requested and deleted once
            assert first_topics[-6:] == [
                "NasVerified", "DeletionRequested", "DeletionFailed",
                "NasVerified", "DeletionRequested", "Deleted",
            ]


@pytest.mark.parametrize("point", ["delete.before_nas_reread", "delete.before_request_saved"])
def test_kill_around_the_re_read_of_a_damaged_copy_then_rerun_records_it_once(
    tmp_path: Path, point: str
) -> None:
    with open_cleanup_world(tmp_path, assets=6) as cw:
        prepare(cw)
        plan = cw.plan()
        first = plan.entries[0].record_name  # the first to reach the re-read, and the kill
        flip_byte_keep_stat(cw.nas_root / cw.state(first).local_relpath)
        already = cw.icloud_deleted()
        start = len(cw.world.server.requests.entries())

        code, output = execute(cw, plan.plan_id, crash_at=point)

        assert code == -signal.SIGKILL, output
        # Killed before its re-read; or, with no request to make, after its NasMismatched was
        # saved, at the next asset's request.
        is_read = point == "delete.before_request_saved"
        assert cw.topics_of(first)[-1] == ("NasMismatched" if is_read else "AlbumMoved")

        code, output = execute(cw, plan.plan_id)

        # The killed run found and recorded the damage when the kill came after its re-read:
        # that the damage still stands is then for the NAS damage check to say, not this run.
        assert code == ExitCode.NAS_MISMATCHED or (is_read and code == 0), output
        planned = {e.record_name for e in plan.entries}
        assert cw.icloud_deleted() - already == planned - {first}
        assert sum(delete_calls(cw, start).values()) == len(planned) - 1
        # the last NAS fact (the run may tell about the damage after it: DamageAlarmRaised)
        assert [t for t in cw.topics_of(first) if t != "DamageAlarmRaised"][-1] == "NasMismatched"
        assert cw.topics_of(first).count("NasMismatched") == 1
        execute(cw, plan.plan_id)  # once more: the gate blocks it now; no second re-read fact
        assert cw.topics_of(first).count("NasMismatched") == 1
        assert sum(delete_calls(cw, start).values()) == len(planned) - 1
