"""kill -9 inside backup-nas, a NAS that fills up or goes away mid-run: rerun, each asset
verified once.

`photoledger backup-nas` runs as a real subprocess with PHOTOLEDGER_CRASH_AT armed; after the
kill a plain rerun must leave every asset with exactly one NasVerified, the NAS holding the
downloaded bytes, no temp file on the NAS, and the projection equal to a replay. The same
points are killed while a damaged NAS copy is being repaired from the library: the rerun repairs
it once, and the damage stays recorded once.
The disk-full test puts the NAS on a 2 MiB tmpfs (needs root, as on CI and dev machines).
The unmount tests take the share away from inside the run, at the moment a copy is about to be
renamed into place (a hook on that crash point in the subprocess): moved away with an empty
mount point left, or a real tmpfs lazily unmounted (root only).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.crashpoints import CRASH_ENV
from engine.errors import ExitCode
from engine.nas.access import NAS_MARKER_NAME, TEMP_SUFFIX
from tests.commands.test_backup_nas import (
    _ENTRY,
    NasLibrary,
    assert_nas_holds_the_originals,
    events,
    make_nas_library,
    media,
    nas_cli,
)
from tests.factories import REPO_ROOT
from tests.reliability.invariants import (
    assert_invariants,
    assert_no_stray_files,
    assert_projection_matches_replay,
)

NAS_CRASH_TESTS: dict[str, str] = {
    "backup_nas.before_rename": "copy synced as a temp file, killed before the rename",
    "backup_nas.after_rename_before_verify": "copy in place, killed before the re-read",
    "backup_nas.after_verify_before_save": "copy verified, killed before NasVerified is saved",
}
ASSETS = 12


def assert_each_asset_verified_once(nl: NasLibrary, scratch: Path) -> None:
    counts = events(nl)
    assert counts["NasVerified"] == dict.fromkeys(nl.asset_ids, 1)
    assert set(counts.get("NasCopied", {}).values()) <= {1}
    assert "NasMismatched" not in counts
    assert_nas_holds_the_originals(nl)
    scratch.mkdir(exist_ok=True)
    ledger = nl.library.open_ledger()
    try:
        assert_projection_matches_replay(nl.library, ledger, scratch)
    finally:
        ledger.close()
    assert_no_stray_files(nl.library)
    assert_invariants(nl.library, scratch / "all", nas_root=nl.nas_root)


@pytest.mark.parametrize("point", sorted(NAS_CRASH_TESTS))
def test_kill_during_backup_nas_then_rerun_verifies_each_asset_once(
    tmp_path: Path, point: str
) -> None:
    nl = make_nas_library(tmp_path, ASSETS, size_bytes=200_000, live_every=4)

    killed = nas_cli(["backup-nas", "--workers", "2"], nl.library.config_path,
                     env={CRASH_ENV: point})

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "NasVerified" not in events(nl)  # the kill came before the first batch was saved
    temps = [p for p in nl.nas_root.rglob("*") if p.name.endswith(TEMP_SUFFIX)]
    if point == "backup_nas.before_rename":
        assert temps, "the kill should have left a temp file for the rerun to clean"

    rerun = nas_cli(["backup-nas"], nl.library.config_path)

    assert rerun.returncode == 0, rerun.stderr
    assert_each_asset_verified_once(nl, tmp_path / "scratch")
    if point != "backup_nas.before_rename":  # the copies left in place were adopted
        assert "adopted 0" not in rerun.stdout, rerun.stdout


@pytest.fixture
def small_nas(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs as the NAS folder (skipped where mounting is not allowed)."""
    mount_point = tmp_path / "nas"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if os.path.ismount(mount_point):  # a test may have unmounted it itself
            subprocess.run(["umount", str(mount_point)], check=True)


def test_full_nas_leaves_no_counted_partial_and_a_rerun_completes(
    tmp_path: Path, small_nas: Path
) -> None:
    nl = make_nas_library(tmp_path, 6, size_bytes=250_000, nas_root=small_nas)
    filler = small_nas / f"filler-{uuid.uuid4().hex}"
    filler.write_bytes(b"\0" * 900_000)  # leaves room for about 4 of the 6 copies

    full = nas_cli(["backup-nas", "--workers", "1"], nl.library.config_path)

    assert full.returncode == ExitCode.NAS_UNAVAILABLE, full.stdout + full.stderr
    assert "No space left on device" in full.stderr
    assert [p for p in small_nas.rglob("*") if p.name.endswith(TEMP_SUFFIX)] == []
    verified = {aid for aid, row in media(nl).items() if row["nas_status"] == "verified"}
    assert 0 < len(verified) < 6
    for aid, row in media(nl).items():  # every counted copy is whole; nothing else is counted
        path = small_nas / str(row["local_relpath"])
        if aid in verified:
            assert path.read_bytes() == (nl.library_root / str(row["local_relpath"])).read_bytes()
        else:
            assert row["nas_status"] is None

    filler.unlink()
    rerun = nas_cli(["backup-nas"], nl.library.config_path)

    assert rerun.returncode == 0, rerun.stderr
    assert_each_asset_verified_once(nl, tmp_path / "scratch")


# The real CLI, with the share taken away when the Nth copy is about to be renamed into place.
_UNMOUNT_HOOK = """
import os, subprocess
from pathlib import Path
from engine.crashpoints import CrashPoints
nas, how, at = Path(os.environ["T_NAS"]), os.environ["T_HOW"], int(os.environ["T_AT"])
real, seen = CrashPoints.reach, []
def reach(self, name):
    if name == "backup_nas.before_rename":
        seen.append(name)
        if len(seen) == at and how == "moved":  # the share is gone, its mount point stays
            os.rename(nas, nas.with_name("nas-away"))
            nas.mkdir()
        elif len(seen) == at:
            subprocess.run(["umount", "-l", str(nas)], check=True)
    real(self, name)
CrashPoints.reach = reach
"""


def unmounting_cli(nl: NasLibrary, how: str, at: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "T_NAS": str(nl.nas_root), "T_HOW": how,
           "T_AT": str(at)}
    return subprocess.run(
        [sys.executable, "-c", _UNMOUNT_HOOK + _ENTRY.replace("; ", "\n"), "--config",
         str(nl.library.config_path), "--no-progress", "backup-nas", "--workers", "1"],
        capture_output=True, text=True, env=env, timeout=120, cwd=REPO_ROOT,
    )


def assert_stopped_with_nothing_written_or_recorded(
    nl: NasLibrary, run: subprocess.CompletedProcess[str]
) -> None:
    assert run.returncode == ExitCode.NAS_UNAVAILABLE, run.stdout + run.stderr
    last = run.stderr.splitlines()[-1]  # the lines before are progress
    assert last.startswith("photoledger: error: ") and "changed during the run" in last, last
    assert list(nl.nas_root.iterdir()) == []  # no folder, no file below the mount point
    assert not {"NasCopied", "NasVerified", "NasMismatched"} & set(events(nl))


def test_share_moved_away_mid_run_gets_nothing_written_and_a_remount_completes(
    tmp_path: Path,
) -> None:
    nl = make_nas_library(tmp_path, 6, live_every=2)

    stopped = unmounting_cli(nl, "moved", at=3)  # the first asset's two files were placed

    assert_stopped_with_nothing_written_or_recorded(nl, stopped)
    nl.nas_root.rmdir()
    os.rename(tmp_path / "nas-away", nl.nas_root)  # mounted again
    assert (nl.nas_root / NAS_MARKER_NAME).is_file()

    rerun = nas_cli(["backup-nas"], nl.library.config_path)

    assert rerun.returncode == 0, rerun.stderr
    assert_each_asset_verified_once(nl, tmp_path / "scratch")


def test_tmpfs_unmounted_mid_run_gets_nothing_written_below_the_mount_point(
    tmp_path: Path, small_nas: Path
) -> None:
    nl = make_nas_library(tmp_path, 4, size_bytes=50_000, nas_root=small_nas)

    stopped = unmounting_cli(nl, "umount", at=2)

    assert_stopped_with_nothing_written_or_recorded(nl, stopped)


@pytest.mark.parametrize("point", sorted(NAS_CRASH_TESTS))
def test_kill_during_a_nas_repair_then_rerun_repairs_it_once(tmp_path: Path, point: str) -> None:
    nl = make_nas_library(tmp_path, 4, size_bytes=200_000)
    assert nas_cli(["backup-nas"], nl.library.config_path).returncode == 0
    target = next(iter(nl.asset_ids))
    relpath = str(media(nl)[target]["local_relpath"])
    damaged = nl.nas_root / relpath
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: same size
    damaged.write_bytes(bytes(data))
    found = nas_cli(["verify", "nas"], nl.library.config_path)
    assert found.returncode == ExitCode.NAS_MISMATCHED, found.stderr
    assert events(nl)["NasMismatched"] == {target: 1}

    killed = nas_cli(["backup-nas"], nl.library.config_path, env={CRASH_ENV: point})

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rerun = nas_cli(["backup-nas"], nl.library.config_path)
    assert rerun.returncode == 0, rerun.stderr
    counts = events(nl)
    assert counts["NasMismatched"] == {target: 1}  # the damage was recorded once
    # each: the first backup, then verify nas's re-read (the others) or the repair (the
    # damaged one); none from the killed run, none twice
    assert counts["NasVerified"] == dict.fromkeys(nl.asset_ids, 2)
    assert_nas_holds_the_originals(nl)  # the repaired copy is the downloaded bytes
    assert not [p for p in nl.nas_root.rglob("*") if p.name.endswith(TEMP_SUFFIX)]
    assert_invariants(nl.library, tmp_path / "scratch", nas_root=nl.nas_root)
