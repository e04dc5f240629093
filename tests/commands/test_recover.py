"""The last copy is watched, and Recently Deleted is used: the alarm (exit 18, one
`backup-damaged` notification per damage) for a damaged NAS copy of an asset deleted from
iCloud whose local copy is gone, and `photoledger recover` bringing it back within the 30
days (the exact bytes, the NAS copy repaired), or saying clearly that iCloud no longer has it.

Every stage runs for real against the iCloud simulator over HTTP (tests/cleanup_world.py);
the local copy is removed by `delete execute` itself (cleanup.remove_local), or, for the
compressed case, replaced by other bytes with the Compressed fact the compress stage records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine import events as ev
from engine.errors import ExitCode
from engine.resources import ARCHIVE_KEYS
from simulator.icloud.control import SimControlClient
from simulator.icloud.rows import ORIGINAL
from tests.cleanup_world import CleanupWorld, open_cleanup_world, prepare
from tests.commands.test_run import notifications, with_notify_script
from tests.factories import run_cli
from tests.scenarios.fault_world import asset_id
from tests.sim import PASSWORD
from tests.unit.test_nas_files import flip_byte_keep_stat


@contextmanager
def deleted_world(
    tmp_path: Path, *, remove_local: bool = True
) -> Iterator[tuple[CleanupWorld, list[str]]]:
    """Every downloadable asset backed up and deleted from iCloud (local copies removed)."""
    with open_cleanup_world(tmp_path, assets=6, remove_local=remove_local) as cw:
        prepare(cw)
        plan = cw.plan()
        cw.execute(plan.plan_id)
        deleted = [e.record_name for e in plan.entries
                   if cw.state(e.record_name).deletion_state == "deleted"]
        assert deleted
        yield cw, deleted


def cli(cw: CleanupWorld, *args: str) -> Any:
    env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": cw.world.server.base_url,
           "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
    return run_cli(["--no-progress", *args], cw.config_path, env=env, timeout=300)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def nas_file(cw: CleanupWorld, record_name: str) -> Path:
    relpath = cw.state(record_name).local_relpath
    assert relpath is not None
    return cw.nas_root / relpath


def test_damaged_last_copy_is_the_alarm_and_recover_restores_the_exact_bytes(
    tmp_path: Path,
) -> None:
    with deleted_world(tmp_path) as (cw, deleted):
        target = deleted[0]
        state = cw.state(target)
        assert state.local_removed_at_utc is not None  # the NAS copy is the last one
        recorded = {r.key: r.sha256 for r in state.resources_downloaded}
        flip_byte_keep_stat(nas_file(cw, target))

        checked = cli(cw, "verify", "nas")

        assert checked.returncode == ExitCode.LAST_COPY_DAMAGED, checked.stdout + checked.stderr
        error = checked.stderr.strip().splitlines()[-1]
        assert error.startswith("photoledger: error: ALARM: ")
        assert f"`photoledger recover {asset_id(target).hex}`" in error
        assert f"{state.recoverable_until_utc:%Y-%m-%d}" in error
        assert cli(cw, "backup-nas").returncode == ExitCode.LAST_COPY_DAMAGED
        status = cli(cw, "status")
        assert status.stdout.startswith("ALARM: "), status.stdout
        assert f"in iCloud's Recently Deleted until {state.recoverable_until_utc:%Y-%m-%d}" in (
            status.stdout)
        assert "freed in iCloud for good: 0 assets" in status.stdout
        history = cli(cw, "history", target)
        assert "in Recently Deleted until" in history.stdout and "photoledger recover" in (
            history.stdout)

        recovered = cli(cw, "recover", asset_id(target).hex)

        assert recovered.returncode == 0, recovered.stdout + recovered.stderr
        assert "recovered from iCloud's Recently Deleted" in recovered.stdout
        after = cw.state(target)
        assert after.deletion_state is None and after.refetch_resources == ()
        assert after.nas_status == "verified" and after.local_removed_at_utc is None
        for resource in (r for r in after.resources_downloaded if r.key in ARCHIVE_KEYS):
            local = cw.library.config.library_root / resource.relpath
            assert sha256_of(local) == recorded[resource.key] == resource.sha256
            assert sha256_of(cw.nas_root / resource.relpath) == recorded[resource.key]
        assert target not in cw.icloud_deleted()
        assert cw.topics_of(target).count("Recovered") == 1
        assert cli(cw, "verify", "nas").returncode == 0
        assert "recovered from Recently Deleted" in cli(cw, "history", target).stdout


FAILING_FIRST = """#!/bin/sh
[ -e "$0.fail" ] && { echo "mail server down" >&2; exit 1; }
{ echo "--- $PHOTOLEDGER_EVENT"; env | grep -E '^PHOTOLEDGER_(EVENT|SUMMARY|DETAIL_)' | sort; } >> "$0.log"
"""


def test_a_failed_alarm_is_sent_by_the_next_run_and_only_once(tmp_path: Path) -> None:
    with deleted_world(tmp_path) as (cw, deleted):
        log = with_notify_script(cw.library, tmp_path)
        script = log.with_suffix("")
        script.write_text(FAILING_FIRST)
        Path(f"{script}.fail").touch()
        flip_byte_keep_stat(nas_file(cw, deleted[0]))

        checked = cli(cw, "verify", "nas")  # finds it; the notification fails: not told

        assert checked.returncode == ExitCode.LAST_COPY_DAMAGED
        assert "notify script" in checked.stderr and "mail server down" in checked.stderr
        assert "DamageAlarmRaised" not in cw.topics_of(deleted[0])
        Path(f"{script}.fail").unlink()
        for _ in range(2):
            ran = cli(cw, "run", "--json")
            assert ran.returncode == ExitCode.LAST_COPY_DAMAGED, ran.stdout + ran.stderr
        assert log.read_text().count("--- backup-damaged") == 1
        assert cw.topics_of(deleted[0]).count("DamageAlarmRaised") == 1


def test_two_watch_cycles_send_no_second_alarm(tmp_path: Path) -> None:
    with deleted_world(tmp_path) as (cw, deleted):
        log = with_notify_script(cw.library, tmp_path)
        flip_byte_keep_stat(nas_file(cw, deleted[0]))
        assert cli(cw, "verify", "nas").returncode == ExitCode.LAST_COPY_DAMAGED

        watched = cli(cw, "watch", "--interval", "0", "--cycles", "2")

        # watch ends with its last cycle's code when that cycle failed: the alarm, 18
        assert watched.returncode == ExitCode.LAST_COPY_DAMAGED, watched.stderr
        assert watched.stdout.count("exit 18") == 2, watched.stdout
        assert watched.stdout.startswith("ALARM: ")
        assert log.read_text().count("--- backup-damaged") == 1  # verify's, none from watch
        sent = notifications(log)["backup-damaged"]
        assert sent["PHOTOLEDGER_SUMMARY"].startswith("ALARM: ")
        assert sent["PHOTOLEDGER_DETAIL_RECOVER_COMMAND"] == (
            f"photoledger recover {asset_id(deleted[0]).hex}")
        assert cw.topics_of(deleted[0]).count("DamageAlarmRaised") == 1


def test_after_31_days_recover_says_icloud_no_longer_has_it(tmp_path: Path) -> None:
    with deleted_world(tmp_path) as (cw, deleted):
        target = deleted[0]
        SimControlClient(cw.world.server.base_url).advance_clock(days=31)

        result = cli(cw, "recover", target)

        assert result.returncode == ExitCode.GONE_FROM_ICLOUD, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "iCloud no longer has it" in lines[0], result.stderr
        assert "Recovered" not in cw.topics_of(target)
        assert cw.topics_of(target)[-1] == "RemoteDeleted"  # the purge, as observed
        flip_byte_keep_stat(nas_file(cw, target))
        checked = cli(cw, "verify", "nas")
        assert checked.returncode == ExitCode.LAST_COPY_DAMAGED
        assert "the NAS copy must be restored from elsewhere" in checked.stderr
        assert "photoledger recover" not in checked.stderr
        savings = cli(cw, "report", "savings")
        assert "is freed for good" in savings.stdout and "in Recently Deleted until" in (
            savings.stdout)


def test_recover_of_an_asset_in_the_library_says_so(tmp_path: Path) -> None:
    with open_cleanup_world(tmp_path, assets=4) as cw:
        names = prepare(cw)

        result = cli(cw, "recover", names[0])

        assert result.returncode == 0, result.stderr
        assert "not deleted from iCloud: nothing to recover" in result.stdout
        assert "Recovered" not in cw.topics_of(names[0])


def test_recover_dry_run_changes_nothing(tmp_path: Path) -> None:
    with deleted_world(tmp_path) as (cw, deleted):
        before = cw.library.ledger_path.read_bytes()

        result = cli(cw, "recover", "--dry-run", deleted[0])

        assert result.returncode == 0, result.stderr
        assert "in Recently Deleted: would recover it" in result.stdout
        assert cw.library.ledger_path.read_bytes() == before
        assert deleted[0] in cw.icloud_deleted()


def test_recovered_bytes_other_than_recorded_are_refused(tmp_path: Path) -> None:
    with deleted_world(tmp_path) as (cw, deleted):
        target = deleted[0]
        other = tmp_path / "other-bytes"  # same size, same listed checksum, other bytes
        other.write_bytes(nas_file(cw, target).read_bytes()[:-1] + b"\0")
        master_name = cw.world.state.asset(target).master_name
        cw.world.state.real_files[(master_name, ORIGINAL)] = other

        result = cli(cw, "recover", target)

        assert result.returncode == ExitCode.ASSETS_FAILED, result.stdout + result.stderr
        assert "recovered_bytes_differ" in result.stderr
        state = cw.state(target)
        assert state.quarantine_reason == "recovered_bytes_differ"
        assert not (cw.library.config.library_root / str(state.local_relpath)).exists()
        assert [e for e in cw.topics_of(target) if e == "Downloaded"] == ["Downloaded"] * len(
            state.resources_downloaded)


def test_compressed_local_copy_is_replaced_by_the_recovered_original(tmp_path: Path) -> None:
    with deleted_world(tmp_path, remove_local=False) as (cw, deleted):
        target = deleted[0]
        state = cw.state(target)
        local = cw.library.config.library_root / str(state.local_relpath)
        local.write_bytes(b"a smaller re-encode")  # what the compress stage leaves
        with cw.writer("compress") as deps:
            asset = deps.ledger.get_asset(asset_id(target))
            asset.record(ev.Compressed, deps.run_id, tier="heavy", codec="jpeg",
                         params_hash="0" * 64, size_bytes_before=state.downloaded_size_bytes or 0,
                         size_bytes_after=local.stat().st_size, sha256_after=sha256_of(local),
                         source="nas", local_relpath_after=None, live_video_sha256_after=None)
            deps.ledger.save(asset)
        (cw.nas_root / str(state.local_relpath)).unlink()  # the last copy is missing

        assert cli(cw, "verify", "nas").returncode == ExitCode.LAST_COPY_DAMAGED
        result = cli(cw, "recover", "--all-damaged")

        assert result.returncode == 0, result.stdout + result.stderr
        after = cw.state(target)
        assert after.compression_tier is None and after.nas_status == "verified"
        assert sha256_of(local) == state.sha256 == sha256_of(cw.nas_root / str(state.local_relpath))
