"""Realities aimed at one record of a generated library, seen through the product's own port
over real HTTP: downloads refused with 404/403/400 (by record and resource, or by token),
fields damaged in place (Python and `/_sim/corrupt_field`), and what the parser makes of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from engine.icloud.adapter import PyicloudPort
from engine.icloud.model import ADJUSTED_VIDEO, ALTERNATIVE, LIVE_VIDEO, RemoteAsset
from engine.icloud.port import ResourceUnavailableError
from simulator.icloud.cloudkit import CloudKitPhotoDatabase
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.library import PRIMARY_ZONE
from simulator.icloud.realities import corrupt_field
from simulator.icloud.server import SimulatorServer
from tests.sim import product_port, read_content, start_simulator

SPEC = GeneratorSpec(assets=30, seed=1, include_malformed=False, size_scale=0.002, shared_assets=0)


@pytest.fixture
def database() -> CloudKitPhotoDatabase:
    return generate_library(SPEC)


@pytest.fixture
def server(database: CloudKitPhotoDatabase) -> Iterator[SimulatorServer]:
    with start_simulator(database) as running:
        yield running


@pytest.fixture
def port(server: SimulatorServer, tmp_path: Path) -> PyicloudPort:
    return product_port(server, tmp_path / "session")


def listed(port: PyicloudPort) -> dict[str, RemoteAsset]:
    pages = list(port.scan_pages(PRIMARY_ZONE, workers=1))
    assert [p for page in pages for p in page.problems] == []
    return {a.record_name: a for page in pages for a in page.assets}


def fresh(port: PyicloudPort, name: str) -> RemoteAsset:
    [asset] = port.lookup_assets(PRIMARY_ZONE, [name]).assets
    return asset


def url_of(asset: RemoteAsset, key: str) -> str:
    version = asset.version(key)
    assert version is not None and version.download_url is not None
    return version.download_url


def token_of(url: str) -> str:
    return url.split("/B/")[1].split("/", maxsplit=1)[0]


def first_live(assets: dict[str, RemoteAsset]) -> RemoteAsset:
    return next(a for a in assets.values() if a.kind == "live" and a.version(LIVE_VIDEO))


def refused_status(port: PyicloudPort, url: str) -> int:
    with pytest.raises(ResourceUnavailableError) as refused:
        read_content(port, url)
    return refused.value.status


def test_a_live_video_404s_every_time_while_its_still_serves(
    server: SimulatorServer, port: PyicloudPort
) -> None:
    live = first_live(listed(port))
    rule = server.refuse_content(live.record_name, "live_video", status=404)
    assert rule.times is None and rule.prefix == "resOriginalVidCompl"
    original = live.original
    assert original is not None and original.download_url is not None
    assert len(read_content(port, original.download_url)) == original.size_bytes
    for _ in range(3):  # fresh URLs from a new lookup are refused too
        assert refused_status(port, url_of(fresh(port, live.record_name), LIVE_VIDEO)) == 404
    server.faults.clear()
    video = live.version(LIVE_VIDEO)
    assert video is not None
    assert len(read_content(port, url_of(live, LIVE_VIDEO))) == video.size_bytes


def test_a_refusal_by_token_over_http_for_a_counted_number_of_times(
    server: SimulatorServer, port: PyicloudPort
) -> None:
    asset = next(iter(listed(port).values()))
    url = url_of(asset, "original")
    control = f"{server.base_url}/_sim/content_status"
    answer = requests.post(control, json={"token": token_of(url), "status": 403, "times": 2})
    assert answer.status_code == 200 and answer.json()["rule"]["times"] == 2
    assert [refused_status(port, url), refused_status(port, url)] == [403, 403]
    assert read_content(port, url)  # the third download is served
    assert server.requests.count(kind="content", status=403) == 2
    by_name: dict[str, Any] = {
        "record_name": asset.record_name,
        "resource": "original",
        "status": 400,
    }
    assert requests.post(control, json=by_name).json()["rule"]["status"] == 400
    assert refused_status(port, url) == 400
    unknown = {"record_name": "NOPE", "resource": "original"}
    assert requests.post(control, json=unknown).status_code == 404
    not_an_error: dict[str, Any] = {"token": "x", "status": 200}
    assert requests.post(control, json=not_an_error).status_code == 400
    assert requests.get(f"{server.base_url}/_sim/faults").json()["statuses"]


def test_an_edit_can_be_refused_apart_from_the_original(
    database: CloudKitPhotoDatabase, server: SimulatorServer, port: PyicloudPort
) -> None:
    edited = next(a for a in listed(port).values() if a.version(ADJUSTED_VIDEO) is not None)
    server.refuse_content(edited.record_name, "adjusted_video", status=404, times=1)
    assert refused_status(port, url_of(edited, ADJUSTED_VIDEO)) == 404
    assert read_content(port, url_of(edited, "adjusted"))
    assert read_content(port, url_of(edited, "original"))
    assert read_content(port, url_of(edited, ADJUSTED_VIDEO))  # once only


def test_a_damaged_resource_field_keeps_the_asset_and_names_the_resource(
    database: CloudKitPhotoDatabase, port: PyicloudPort
) -> None:
    assets = listed(port)
    live = first_live(assets)
    pair = next(a for a in assets.values() if a.version(ALTERNATIVE) is not None)
    state = database.state
    carrier = corrupt_field(state, live.record_name, "resOriginalVidComplRes", "bad_value_key")
    assert carrier == live.master_record_name  # the live video lives on the master
    corrupt_field(state, pair.record_name, "resOriginalAltRes", "no_download_url")
    assert corrupt_field(state, pair.record_name, "isFavorite", "wrong_value_type") == (
        pair.record_name
    )
    again = listed(port)
    assert set(again) == set(assets)  # nothing dropped
    assert again[live.record_name].unreadable_resources == (LIVE_VIDEO,)
    assert again[live.record_name].kind == "live"
    assert again[live.record_name].master_change_tag != live.master_change_tag
    assert again[pair.record_name].unreadable_resources == (ALTERNATIVE,)
    assert not again[pair.record_name].is_favorite
    assert again[pair.record_name].change_tag != pair.change_tag


def test_a_damaged_original_is_a_problem_for_that_asset_only(
    database: CloudKitPhotoDatabase, port: PyicloudPort
) -> None:
    assets = listed(port)
    victim = next(iter(assets))
    corrupt_field(database.state, victim, "resOriginalRes", "size_not_int")
    pages = list(port.scan_pages(PRIMARY_ZONE, workers=1))
    problems = [(p.record_name, p.reason) for page in pages for p in page.problems]
    assert problems == [(victim, "malformed_record")]
    assert sum(len(page.assets) for page in pages) == len(assets) - 1


def test_corrupt_field_over_http(server: SimulatorServer, port: PyicloudPort) -> None:
    asset = next(iter(listed(port).values()))
    control = f"{server.base_url}/_sim/corrupt_field"
    damage = {"record_name": asset.record_name, "field": "assetDate", "how": "bad_value_key"}
    assert requests.post(control, json=damage).json() == {"record_name": asset.record_name}
    assert fresh(port, asset.record_name).captured_at_utc is None
    unknown_field = {**damage, "field": "noSuchField"}
    assert requests.post(control, json=unknown_field).status_code == 400
    unknown_kind = {**damage, "how": "melt"}
    assert requests.post(control, json=unknown_kind).status_code == 400
    unknown_record = {**damage, "record_name": "NOPE"}
    assert requests.post(control, json=unknown_record).status_code == 404
