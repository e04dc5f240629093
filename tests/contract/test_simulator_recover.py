"""Recently Deleted in the simulator, driven by the real pyicloud over HTTP: the un-delete
(isDeleted=0 with the current change tag), the purge after 30 simulated days, and the control
route that moves the simulated clock.

What these tests pin down: an un-delete puts the asset back in the Library and out of Recently
Deleted with a new change tag and a change in changes/zone, and a stale tag is CONFLICT; a purge
comes only after more than 30 simulated days, after which lookup says NOT_FOUND, changes/zone
has a tombstone and an un-delete is NOT_FOUND; a second delete does not restart the 30 days;
generated Recently Deleted items (dated 2025) wait for the clock like any other.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from simulator.icloud.cloudkit import CloudKitPhotoDatabase
from simulator.icloud.control import SimControlClient
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.retention import DAY_MS
from simulator.icloud.server import SimulatorServer
from tests.sim import USERNAME, connect_pyicloud, start_simulator

SPEC = GeneratorSpec(assets=40, seed=5, include_malformed=False, size_scale=0.02)
DAY_S = DAY_MS / 1000
ZONE = {"zoneName": "PrimarySync"}


@pytest.fixture()
def database() -> CloudKitPhotoDatabase:
    return generate_library(SPEC)


@pytest.fixture()
def server(database: CloudKitPhotoDatabase) -> Iterator[SimulatorServer]:
    with start_simulator(database) as running:
        yield running


@pytest.fixture()
def photos(server: SimulatorServer, tmp_path: Path) -> Any:
    return connect_pyicloud(server, cookie_dir=tmp_path).photos


def _post(photos: Any, op: str, body: dict[str, Any]) -> dict[str, Any]:
    response = photos.session.post(
        f"{photos.service_endpoint}/{op}", params=photos.params, json=body
    )
    answer: dict[str, Any] = response.json()
    return answer


def _only_record(answer: dict[str, Any]) -> dict[str, Any]:
    [record] = answer["records"]
    assert isinstance(record, dict)
    return record


def _lookup(photos: Any, name: str) -> dict[str, Any]:
    body = {"records": [{"recordName": name}], "zoneID": ZONE}
    return _only_record(_post(photos, "records/lookup", body))


def _set_deleted(photos: Any, name: str, tag: str, value: int) -> dict[str, Any]:
    operation = {
        "operationType": "update",
        "record": {
            "recordName": name,
            "recordType": "CPLAsset",
            "recordChangeTag": tag,
            "fields": {"isDeleted": {"type": "INT64", "value": value}},
        },
    }
    body = {"atomic": True, "zoneID": ZONE, "operations": [operation]}
    return _only_record(_post(photos, "records/modify", body))


def _stable_fields(record: dict[str, Any]) -> dict[str, Any]:
    """Every field but isDeleted, with download URLs (signed per answer) left out."""
    stable: dict[str, Any] = {}
    for name, entry in record["fields"].items():
        value = entry["value"]
        if isinstance(value, dict) and "downloadURL" in value:
            value = {k: v for k, v in value.items() if k != "downloadURL"}
        if name != "isDeleted":
            stable[name] = value
    return stable


def _ids(album: Any) -> set[str]:
    return {photo.id for photo in album}


def test_undelete_puts_the_asset_back_with_a_new_tag_and_a_change(photos: Any) -> None:
    library = photos._root_library
    photo = next(iter(photos.all))
    assert photo.delete()
    deleted = _lookup(photos, photo.id)
    assert deleted["fields"]["isDeleted"]["value"] == 1
    token = library.sync_cursor()

    restored = _set_deleted(photos, photo.id, deleted["recordChangeTag"], 0)

    assert "serverErrorCode" not in restored
    assert restored["fields"]["isDeleted"]["value"] == 0
    assert restored["recordChangeTag"] != deleted["recordChangeTag"]
    assert photo.id in _ids(photos.all)
    assert photo.id not in _ids(photos.albums["Recently Deleted"])
    changes = list(library.iter_changes(since=token))
    assert [(e.kind, e.record_type) for e in changes if e.record_name == photo.id] == [
        ("updated", "CPLAsset")
    ]
    assert _stable_fields(_lookup(photos, photo.id)) == _stable_fields(deleted)


def test_undelete_with_a_stale_tag_is_conflict_and_changes_nothing(photos: Any) -> None:
    photo = next(iter(photos.all))
    stale_tag = _lookup(photos, photo.id)["recordChangeTag"]
    assert photo.delete()
    refused = _set_deleted(photos, photo.id, stale_tag, 0)
    assert refused["serverErrorCode"] == "CONFLICT"
    assert photo.id in _ids(photos.albums["Recently Deleted"])
    assert photo.id not in _ids(photos.all)


def test_purge_after_more_than_30_simulated_days(
    database: CloudKitPhotoDatabase, photos: Any
) -> None:
    state = database.state
    library = photos._root_library
    photo = next(iter(photos.all))
    assert photo.delete()
    tag = _lookup(photos, photo.id)["recordChangeTag"]
    token = library.sync_cursor()

    assert state.advance_clock(29 * DAY_S) == []
    assert photo.id in _ids(photos.albums["Recently Deleted"])
    purged = state.advance_clock(2 * DAY_S)

    assert photo.id in purged
    assert photo.id not in _ids(photos.albums["Recently Deleted"])
    assert photo.id not in _ids(photos.all)
    missing = _lookup(photos, photo.id)
    assert (missing["recordName"], missing["serverErrorCode"]) == (photo.id, "NOT_FOUND")
    assert _set_deleted(photos, photo.id, tag, 0)["serverErrorCode"] == "NOT_FOUND"
    gone = {e.record_name for e in library.iter_changes(since=token) if e.kind == "deleted"}
    assert photo.id in gone


def test_generated_recently_deleted_waits_for_the_simulated_clock(
    database: CloudKitPhotoDatabase, photos: Any
) -> None:
    generated = _ids(photos.albums["Recently Deleted"])
    assert generated  # the generator puts some assets there, deleted in 2025
    assert database.state.advance_clock(30 * DAY_S - 60) == []
    assert set(database.state.advance_clock(120)) == generated
    assert _ids(photos.albums["Recently Deleted"]) == set()


def test_deleting_again_does_not_restart_the_30_days(database: CloudKitPhotoDatabase) -> None:
    state = database.state
    name = next(a.record_name for a in state.primary().assets.values() if not a.is_deleted)
    state.delete_asset(name)
    state.advance_clock(20 * DAY_S)
    state.delete_asset(name)
    assert name in state.advance_clock(11 * DAY_S)  # 31 days after the first delete


def test_clock_control_route_for_another_process(
    database: CloudKitPhotoDatabase, server: SimulatorServer
) -> None:
    state = database.state
    name = next(a.record_name for a in state.primary().assets.values() if not a.is_deleted)
    state.delete_asset(name)
    control = SimControlClient(server.base_url)
    try:
        before = control.clock()["accounts"][USERNAME]
        assert before["offset_s"] == 0 and before["purged"] == []
        moved = control.advance_clock(days=31)["accounts"][USERNAME]
        assert moved["offset_s"] == 31 * DAY_S
        assert name in moved["purged"]
        assert moved["now_ms"] >= before["now_ms"] + 31 * DAY_MS
        assert control.clock()["accounts"][USERNAME]["offset_s"] == 31 * DAY_S
    finally:
        control.close()
    url = f"{server.base_url}/_sim/clock"
    for bad in ({"advance_days": -1}, {"advance_s": "soon"}, {"advance_days": True}):
        assert requests.post(url, json=bad, timeout=5).status_code == 400
    assert server.requests.count(path_prefix="/_sim") == 0
