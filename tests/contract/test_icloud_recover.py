"""PyicloudPort.recover_asset and lookup_assets around Recently Deleted, against the simulator
over real HTTP (the real pyicloud logs in; CloudKit calls go through the redirect adapter).

What these tests pin down: delete then recover gives back the same asset (same fields, same
bytes) under a new change tag, in the Library scan and in changes/zone; recovering an asset in
the Library writes nothing and says "not-deleted"; after more than 30 simulated days the asset
is purged, lookup_assets shows it absent (a not_found problem), changes/zone a tombstone, and
recover says "gone"; a change between the lookup and the write is "conflict" and changes
nothing; a purge in that gap is "gone".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.icloud.adapter import PyicloudPort
from engine.icloud.model import RemoteAsset
from simulator.icloud.cloudkit import CloudKitPhotoDatabase
from simulator.icloud.library import PhotoLibraryState
from simulator.icloud.retention import DAY_MS
from simulator.icloud.server import SimulatorServer
from tests.contract.test_icloud_adapter import (
    ZONE,
    HookedDatabase,
    all_assets,
    make_port,
    make_state,
)
from tests.sim import start_simulator

NAME = "A00004"
DAY_S = DAY_MS / 1000


@pytest.fixture
def state() -> PhotoLibraryState:
    return make_state(8)


@pytest.fixture
def server(state: PhotoLibraryState) -> Iterator[SimulatorServer]:
    with start_simulator(CloudKitPhotoDatabase(state)) as running:
        yield running


@pytest.fixture
def port(server: SimulatorServer, tmp_path: Path) -> PyicloudPort:
    return make_port(server, tmp_path / "s")


def _lookup(port: PyicloudPort, name: str = NAME) -> RemoteAsset:
    [asset] = port.lookup_assets(ZONE, [name]).assets
    return asset


def _original_sha256(port: PyicloudPort, asset: RemoteAsset) -> str:
    assert asset.original is not None and asset.original.download_url is not None
    with port.open_content(asset.original.download_url) as response:
        return hashlib.sha256(b"".join(response.iter_chunks(64 * 1024))).hexdigest()


def _without_tag_and_urls(asset: RemoteAsset) -> dict[str, Any]:
    """The asset's facts, minus its change tag and the download URLs signed per answer."""
    versions = [(v.key, v.size_bytes, v.checksum, v.file_type) for v in asset.versions]
    facts = {f: getattr(asset, f) for f in asset.__struct_fields__}
    return {**facts, "change_tag": None, "versions": versions}


def test_delete_then_recover_gives_back_the_same_asset_under_a_new_tag(
    port: PyicloudPort,
) -> None:
    before = _lookup(port)
    before_sha = _original_sha256(port, before)
    port.soft_delete(ZONE, NAME, before.change_tag)
    deleted = _lookup(port)
    assert deleted.is_deleted  # in Recently Deleted: still looked up, flagged
    assert NAME not in {a.record_name for a in all_assets(port)}
    token = port.zone_sync_token(ZONE)

    outcome = port.recover_asset(ZONE, NAME)

    assert outcome.kind == "recovered"
    assert outcome.change_tag not in (None, before.change_tag, deleted.change_tag)
    after = _lookup(port)
    assert after.change_tag == outcome.change_tag
    assert not after.is_deleted
    assert _without_tag_and_urls(after) == _without_tag_and_urls(before)
    assert _original_sha256(port, after) == before_sha
    assert NAME in {a.record_name for a in all_assets(port)}
    [page] = list(port.changes_since(ZONE, token))
    assert [a.record_name for a in page.changed] == [NAME]
    assert page.deleted_record_names == ()


def test_recover_of_an_asset_in_the_library_writes_nothing(port: PyicloudPort) -> None:
    tag = _lookup(port).change_tag
    before = port.calls.cloudkit
    outcome = port.recover_asset(ZONE, NAME)
    assert (outcome.kind, outcome.change_tag) == ("not-deleted", tag)
    assert port.calls.cloudkit - before == 1  # the lookup only
    assert _lookup(port).change_tag == tag


def test_after_31_simulated_days_the_asset_is_gone(
    state: PhotoLibraryState, port: PyicloudPort
) -> None:
    port.soft_delete(ZONE, NAME, _lookup(port).change_tag)
    token = port.zone_sync_token(ZONE)
    assert state.advance_clock(31 * DAY_S) == [NAME]

    looked_up = port.lookup_assets(ZONE, [NAME])
    assert looked_up.assets == ()
    assert [(p.record_name, p.reason) for p in looked_up.problems] == [(NAME, "not_found")]
    deleted = [n for page in port.changes_since(ZONE, token) for n in page.deleted_record_names]
    assert NAME in deleted
    assert port.recover_asset(ZONE, NAME).kind == "gone"


def test_recover_of_a_name_icloud_never_held_is_gone(port: PyicloudPort) -> None:
    assert port.recover_asset(ZONE, "NO-SUCH-ASSET").kind == "gone"


def _after_lookup(hook: Any) -> Any:
    """A HookedDatabase hook that runs `hook` once, right after the first records/lookup."""
    fired: list[bool] = []

    def on_answer(op: str, _payload: dict[str, Any]) -> None:
        if op == "records/lookup" and not fired:
            fired.append(True)
            hook()

    return on_answer


def test_a_change_between_lookup_and_write_is_conflict(tmp_path: Path) -> None:
    state = make_state(8)
    state.delete_asset(NAME)
    # Another device favorites the photo in Recently Deleted just after our lookup read its tag.
    hooked = HookedDatabase(
        CloudKitPhotoDatabase(state), _after_lookup(lambda: state.set_favorite(NAME, True))
    )
    with start_simulator(hooked) as server:
        port = make_port(server, tmp_path / "s")
        outcome = port.recover_asset(ZONE, NAME)
        assert outcome.kind == "conflict"
        assert "oplock" in outcome.detail
        assert state.asset(NAME).is_deleted
        assert port.recover_asset(ZONE, NAME).kind == "recovered"  # asking again succeeds
        assert not state.asset(NAME).is_deleted


def test_a_purge_between_lookup_and_write_is_gone(tmp_path: Path) -> None:
    state = make_state(8)
    state.delete_asset(NAME)
    hooked = HookedDatabase(
        CloudKitPhotoDatabase(state), _after_lookup(lambda: state.advance_clock(31 * DAY_S))
    )
    with start_simulator(hooked) as server:
        port = make_port(server, tmp_path / "s")
        assert port.recover_asset(ZONE, NAME).kind == "gone"
        assert hooked.ops.count("records/modify") == 1
