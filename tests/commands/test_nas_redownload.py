"""A damaged or missing NAS copy with no good local source is repaired by a re-download from
iCloud while iCloud still holds the asset: backup-nas asks for it (RefetchRequested, once),
`download` fetches it to its own path checked against the recorded sha256, the next backup-nas
repairs the NAS copy from it, and `run` does all of it at once. A refused or different
re-download repairs nothing and overwrites nothing.

Every stage runs for real through the CLI against the iCloud simulator over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine import events as ev
from engine.errors import ExitCode
from simulator.icloud.rows import ORIGINAL
from tests.cleanup_world import CleanupWorld, open_cleanup_world
from tests.commands.test_recover import cli, sha256_of
from tests.scenarios.fault_world import asset_id
from tests.unit.test_nas_files import flip_byte_keep_stat


def backed_up(cw: CleanupWorld) -> list[str]:
    """Discover, download and back up; the downloaded record names, live photos first."""
    cw.world.discover()
    cw.world.download()
    cw.backup_nas()
    names = cw.downloaded()
    return sorted(names, key=lambda n: cw.state(n).live_video_relpath is None)


def compress_by_hand(cw: CleanupWorld, record_name: str) -> None:
    """What the compress stage leaves: the still and live video re-encoded, Compressed."""
    state = cw.state(record_name)
    root = cw.library.config.library_root
    for relpath in (state.local_relpath, state.live_video_relpath):
        if relpath is not None:
            (root / relpath).write_bytes(b"a smaller re-encode of " + relpath.encode())
    local = root / str(state.local_relpath)
    with cw.writer("compress") as deps:
        asset = deps.ledger.get_asset(asset_id(record_name))
        asset.record(ev.Compressed, deps.run_id, tier="heavy", codec="jpeg",
                     params_hash="0" * 64, size_bytes_before=state.downloaded_size_bytes or 0,
                     size_bytes_after=local.stat().st_size, sha256_after=sha256_of(local),
                     source="local", local_relpath_after=None, live_video_sha256_after=None)
        deps.ledger.save(asset)


def refetch_facts(cw: CleanupWorld, record_name: str) -> list[Any]:
    ledger = cw.library.open_ledger()
    try:
        return [e for e in ledger.events_of(asset_id(record_name))
                if isinstance(e, ev.RefetchRequested)]
    finally:
        ledger.close()


def assert_nas_holds_the_downloads(cw: CleanupWorld, record_name: str) -> None:
    state = cw.state(record_name)
    assert state.nas_status == "verified", state.last_error
    for resource in state.resources_downloaded:
        assert sha256_of(cw.nas_root / resource.relpath) == resource.sha256, resource.key


def test_backup_nas_asks_icloud_once_and_download_then_backup_nas_repair(
    tmp_path: Path,
) -> None:
    with open_cleanup_world(tmp_path, assets=6) as cw:
        target = backed_up(cw)[-1]
        state = cw.state(target)
        library_copy = cw.library.config.library_root / str(state.local_relpath)
        library_copy.unlink()  # the library disk lost it
        flip_byte_keep_stat(cw.nas_root / str(state.local_relpath))
        assert cli(cw, "verify", "nas").returncode == ExitCode.NAS_MISMATCHED

        first = cli(cw, "backup-nas")
        again = cli(cw, "backup-nas")

        assert first.returncode == ExitCode.NAS_MISMATCHED, first.stdout + first.stderr
        assert "1 asset still in iCloud will be downloaded again" in first.stdout
        assert again.returncode == ExitCode.NAS_MISMATCHED
        facts = refetch_facts(cw, target)
        assert [f.resources for f in facts] == [("original",)]  # once, not per run
        assert cw.state(target).missing_resources == ("original",)

        downloaded = cli(cw, "download")
        assert downloaded.returncode == 0, downloaded.stdout + downloaded.stderr
        assert sha256_of(library_copy) == state.sha256
        repaired = cli(cw, "backup-nas")

        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        assert "copied 1 " in repaired.stdout
        assert_nas_holds_the_downloads(cw, target)
        assert cli(cw, "verify", "nas").returncode == 0


def test_run_repairs_a_compressed_live_photos_damaged_video_from_icloud_at_once(
    tmp_path: Path,
) -> None:
    with open_cleanup_world(tmp_path, assets=8) as cw:
        target = backed_up(cw)[0]
        state = cw.state(target)
        assert state.live_video_relpath is not None, "the generated library has a live photo"
        compress_by_hand(cw, target)
        flip_byte_keep_stat(cw.nas_root / state.live_video_relpath)
        assert cli(cw, "verify", "nas").returncode == ExitCode.NAS_MISMATCHED

        result = cli(cw, "run")

        assert result.returncode == 0, result.stdout + result.stderr
        # compression re-encodes both: both come back, so the local copy is the download again
        assert [f.resources for f in refetch_facts(cw, target)] == [("original", "live_video")]
        assert_nas_holds_the_downloads(cw, target)
        after = cw.state(target)
        assert after.refetch_resources == () and after.missing_resources == ()
        root = cw.library.config.library_root
        assert sha256_of(root / state.live_video_relpath) == state.live_video_sha256
        assert cli(cw, "verify", "nas").returncode == 0


def damage_a_compressed_asset(cw: CleanupWorld) -> tuple[str, Path, bytes]:
    """A backed-up asset compressed locally with a byte of its NAS copy flipped (found by
    `verify nas`): no local source holds its downloaded bytes. (record name, NAS copy, bytes)"""
    target = backed_up(cw)[-1]
    compress_by_hand(cw, target)
    nas_copy = cw.nas_root / str(cw.state(target).local_relpath)
    flip_byte_keep_stat(nas_copy)
    assert cli(cw, "verify", "nas").returncode == ExitCode.NAS_MISMATCHED
    return target, nas_copy, nas_copy.read_bytes()


def test_a_refused_redownload_repairs_nothing_and_the_next_run_does(tmp_path: Path) -> None:
    with open_cleanup_world(tmp_path, assets=6) as cw:
        target, nas_copy, damaged = damage_a_compressed_asset(cw)
        cw.world.server.refuse_content(target, ORIGINAL, status=404)

        refused = cli(cw, "run")

        assert refused.returncode == ExitCode.NAS_MISMATCHED, refused.stdout + refused.stderr
        assert nas_copy.read_bytes() == damaged  # never overwritten by a wrong copy
        assert cw.state(target).nas_status == "mismatched"
        cw.world.server.faults.clear()
        healed = cli(cw, "run")
        assert healed.returncode == 0, healed.stdout + healed.stderr
        assert_nas_holds_the_downloads(cw, target)
        assert len(refetch_facts(cw, target)) == 1  # asked once; the retry needed no new fact


def test_other_bytes_from_icloud_are_refused_and_never_reach_the_nas(tmp_path: Path) -> None:
    with open_cleanup_world(tmp_path, assets=6) as cw:
        target, nas_copy, damaged = damage_a_compressed_asset(cw)
        other = tmp_path / "other-bytes"  # same size, same listed checksum, other bytes
        other.write_bytes(damaged[:-1] + bytes([damaged[-1] ^ 0x55]))
        master_name = cw.world.state.asset(target).master_name
        cw.world.state.real_files[(master_name, ORIGINAL)] = other

        result = cli(cw, "run")

        assert result.returncode != 0, result.stdout + result.stderr
        after = cw.state(target)
        assert after.quarantine_reason == "recovered_bytes_differ"
        assert nas_copy.read_bytes() == damaged
        assert after.nas_status == "mismatched"
