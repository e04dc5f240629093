"""kill -9 inside backup-google, then rerun: each asset staged and verified exactly once.

`photoledger backup-google` runs as a real subprocess against a real Syncthing pair; the crash
point kills it with SIGKILL. The rerun must adopt what the killed run left in the outbox (no
second PixelStaged, no temp file left), and end with every asset verified on the Pixel.
"""

from __future__ import annotations

import hashlib
import signal
from pathlib import Path

import pytest

from engine.crashpoints import CRASH_ENV
from tests.factories import Library, make_library
from tests.reliability.invariants import (
    assert_invariants,
    assert_no_stray_files,
    assert_projection_matches_replay,
    assert_versions_contiguous,
    events_by_type,
)
from tests.syncthing_pair import (
    add_downloaded_assets,
    run_photoledger,
    syncthing_pair_in,
    wire_library,
)

GOOGLE_CRASH_TESTS: dict[str, str] = {
    "backup_google.after_stage_before_save": "files placed in the outbox, killed before "
    "PixelStaged is saved",
    "backup_google.before_verified_save": "the Pixel holds the files, killed before "
    "GoogleVerified is saved",
}
ASSETS = 8


def backup(library: Library, crash_at: str = "") -> tuple[int, str]:
    result = run_photoledger(
        ["--no-progress", "backup-google", "--wait-s", "20"], library.config_path,
        env={CRASH_ENV: crash_at},
    )
    return result.returncode, result.stderr


@pytest.mark.parametrize("point", sorted(GOOGLE_CRASH_TESTS))
def test_kill_during_backup_google_then_rerun_stages_and_verifies_each_asset_once(
    tmp_path: Path, point: str
) -> None:
    with syncthing_pair_in(tmp_path) as pair:
        library = wire_library(make_library(tmp_path), pair)
        assets = add_downloaded_assets(library, ASSETS, live_every=4)
        ids = {a.id.hex for a in assets}

        code, stderr = backup(library, crash_at=point)
        assert code == -signal.SIGKILL, stderr
        ledger = library.open_ledger()
        try:
            killed = events_by_type(ledger)
        finally:
            ledger.close()
        assert "GoogleVerified" not in killed
        if point == "backup_google.after_stage_before_save":
            assert "PixelStaged" not in killed
        else:
            assert set(killed["PixelStaged"]) == ids

        code, stderr = backup(library)
        assert code == 0, stderr

        ledger = library.open_ledger()
        try:
            counts = events_by_type(ledger)
            assert set(counts["PixelStaged"]) == ids and set(counts["PixelStaged"].values()) == {1}
            assert set(counts["GoogleVerified"]) == ids
            assert set(counts["GoogleVerified"].values()) == {1}
            assert_versions_contiguous(ledger)
            (tmp_path / "scratch").mkdir()
            assert_projection_matches_replay(library, ledger, tmp_path / "scratch")
        finally:
            ledger.close()
        assert_no_stray_files(library)
        assert_invariants(library, tmp_path / "all", other_roots=(pair.outbox,))
        leftovers = [p for p in pair.outbox.rglob("*") if ".syncthing." in p.name]
        assert leftovers == []
        root = library.config.library_root
        for asset in assets:
            for relpath, sha256 in ((asset.state.local_relpath, asset.state.sha256),
                                    (asset.state.live_video_relpath,
                                     asset.state.live_video_sha256)):
                if relpath is None:
                    continue
                pixel_copy = (pair.pixel_folder / relpath).read_bytes()
                assert hashlib.sha256(pixel_copy).hexdigest() == sha256
                assert (pair.outbox / relpath).samefile(root / relpath)
