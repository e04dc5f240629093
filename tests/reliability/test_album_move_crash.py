"""kill -9 around the iCloud album add, then rerun: each asset moved to DeletePending once.

The simulator runs in this process; `photoledger album-move` runs as a real subprocess reaching
it through PHOTOLEDGER_ICLOUD_ENDPOINT. A kill after iCloud added the batch leaves members the
ledger does not know as moved; the rerun must record them without a second add, and never take
them for photos the user removed from the album.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from engine.crashpoints import CRASH_ENV
from tests.cleanup_world import CleanupWorld, open_cleanup_world
from tests.factories import run_cli
from tests.reliability.invariants import assert_invariants, events_by_type
from tests.sim import PASSWORD

ALBUM_MOVE_CRASH_TESTS: dict[str, str] = {
    "album_move.before_icloud_call": "batch chosen, killed before iCloud was asked to add it",
    "album_move.after_icloud_call_before_save": "iCloud added the batch, killed before "
    "AlbumMoved was saved",
}


def album_move(cw: CleanupWorld, crash_at: str = "") -> tuple[int, str]:
    env = {
        "PHOTOLEDGER_ICLOUD_ENDPOINT": cw.world.server.base_url,
        "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD,
        CRASH_ENV: crash_at,
    }
    result = run_cli(["--no-progress", "album-move"], cw.config_path, env=env)
    return result.returncode, result.stdout + result.stderr


def moved(cw: CleanupWorld) -> dict[str, int]:
    ledger = cw.library.open_ledger()
    try:
        return dict(events_by_type(ledger)["AlbumMoved"])
    finally:
        ledger.close()


@pytest.mark.parametrize("point", sorted(ALBUM_MOVE_CRASH_TESTS))
def test_kill_around_the_album_add_then_rerun_moves_each_asset_once(
    tmp_path: Path, point: str
) -> None:
    with open_cleanup_world(tmp_path, assets=6) as cw:
        cw.world.discover()
        cw.world.download()
        cw.backup_nas()
        downloaded = cw.downloaded()
        cw.google_verify(downloaded)

        code, output = album_move(cw, crash_at=point)

        assert code == -signal.SIGKILL, output
        assert moved(cw) == {}
        is_added = point == "album_move.after_icloud_call_before_save"
        assert cw.album_members() == (set(downloaded) if is_added else set())

        code, output = album_move(cw)

        assert code == 0, output
        assert "taken out by you" in output and "0 taken out by you" in output
        assert len(moved(cw)) == len(downloaded) and set(moved(cw).values()) == {1}
        assert cw.album_members() == set(downloaded)
        assert_invariants(cw.library, tmp_path / "scratch", nas_root=cw.nas_root)
