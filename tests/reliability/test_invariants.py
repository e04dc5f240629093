"""The invariants checker itself: a clean library passes, and each kind of damage is caught.

A checker that cannot fail proves nothing, so every invariant of tests/reliability/invariants.py
is broken here once on purpose, on a library of real files recorded as downloaded.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine import events as ev
from engine.nas.access import NAS_MARKER_NAME
from engine.resources import archived_hashes
from tests.factories import Library, make_library, new_run
from tests.reliability.invariants import assert_invariants, asset_ids
from tests.syncthing_pair import add_downloaded_assets

RELPATH = "2024/05/17/IMG_0001.HEIC"


def catch_up(library: Library) -> None:
    ledger, projection = library.open_ledger(), library.open_projection()
    try:
        projection.catch_up(ledger)
    finally:
        projection.close()
        ledger.close()


@pytest.fixture
def library(tmp_path: Path) -> Library:
    library = make_library(tmp_path)
    add_downloaded_assets(library, 4, live_every=2)
    catch_up(library)
    return library


def nas_copy(library: Library, nas: Path) -> None:
    """Copy every file to a NAS folder and record NasCopied/NasVerified for each asset."""
    nas.mkdir()
    (nas / NAS_MARKER_NAME).write_text("")
    root = library.config.library_root
    shutil.copytree(root, nas, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".photoledger"))
    ledger, run = library.open_ledger(), new_run()
    try:
        assets = [ledger.get_asset(a) for a in asset_ids(ledger)]
        for asset in assets:
            state = asset.state
            asset.record(ev.NasCopied, run.id.hex, nas_relpath=state.local_relpath,
                         size_bytes=state.downloaded_size_bytes)
            asset.record(ev.NasVerified, run.id.hex, sha256=state.sha256, method="test",
                         files=archived_hashes(state))
        ledger.save(run, *assets)
    finally:
        ledger.close()
    catch_up(library)


def test_invariants_hold_on_a_clean_library_with_its_nas(library: Library, tmp_path: Path) -> None:
    nas_copy(library, tmp_path / "nas")
    facts = assert_invariants(library, tmp_path / "s", nas_root=tmp_path / "nas")
    assert len(facts.local_now) == 6 and len(facts.nas_now) == 6


def _stray(root: Path) -> None:
    (root / "2024/05/17/IMG_9999.JPG").write_bytes(b"nobody recorded me")


def _flipped(root: Path) -> None:
    path = root / RELPATH
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))


def _missing(root: Path) -> None:
    (root / RELPATH).unlink()


def _temp(root: Path) -> None:
    (root / "2024/05/17/.IMG_0001.HEIC.part").write_bytes(b"half")


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "file-without-event": (_stray, "files without an event"),
    "byte-flipped": (_flipped, "bytes differ from their event"),
    "file-missing": (_missing, "events without a file"),
    "temp-left": (_temp, "temp files left behind"),
}


@pytest.mark.parametrize("on_nas", [False, True], ids=["library", "nas"])
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_invariants_catch_damage(library: Library, tmp_path: Path, damage: str,
                                 on_nas: bool) -> None:
    nas = tmp_path / "nas"
    nas_copy(library, nas)
    damage_fn, says = DAMAGES[damage]
    damage_fn(nas if on_nas else library.config.library_root)
    with pytest.raises(AssertionError, match=says):
        assert_invariants(library, tmp_path / "s", nas_root=nas)


def test_invariants_catch_a_state_folder_leftover(library: Library, tmp_path: Path) -> None:
    (library.config.state_dir / "ledger.db.tmp").write_bytes(b"")
    with pytest.raises(AssertionError, match="left in the state folder"):
        assert_invariants(library, tmp_path / "s")


def test_invariants_catch_a_projection_behind_the_ledger(library: Library, tmp_path: Path) -> None:
    add_downloaded_assets(library, 1, start=10)  # saved, projection not caught up
    with pytest.raises(AssertionError, match="projection lags"):
        assert_invariants(library, tmp_path / "s")


def test_invariants_catch_a_deletion_the_gate_would_refuse(library: Library,
                                                           tmp_path: Path) -> None:
    ledger, run = library.open_ledger(), new_run()
    try:
        asset = ledger.get_asset(asset_ids(ledger)[0])  # no NAS copy, never album-moved
        now = datetime.now(UTC)
        asset.record(ev.DeletionRequested, run.id.hex, plan_id="p1", timestamp=now,
                     sha256=asset.state.sha256, nas_verified_at_utc=None, google_device_id=None,
                     google_verified_at_utc=None, remote_change_tag=asset.state.remote_change_tag)
        asset.record(ev.Deleted, run.id.hex, plan_id="p1", timestamp=now,
                     recoverable_until_utc=now + timedelta(days=30), is_reconciled=False)
        ledger.save(run, asset)
    finally:
        ledger.close()
    catch_up(library)
    with pytest.raises(AssertionError, match="without the gate's consent"):
        assert_invariants(library, tmp_path / "s")
