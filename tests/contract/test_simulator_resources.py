"""Every resource of an asset, as a generated library serves it: RAW+JPEG pairs in both
orientations, edited photos, live photos and videos (resJPEGFull and resVidFull on the asset),
two records serving one content under different declared sizes, damaged fields from the spec,
and missing or undecodable filenames; listed by the product's own port over real HTTP.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from engine.icloud.adapter import PyicloudPort
from engine.icloud.model import (
    ADJUSTED,
    ADJUSTED_VIDEO,
    ALTERNATIVE,
    LIVE_VIDEO,
    RemoteAsset,
    RemoteVersion,
)
from simulator.icloud.blobs import MAGIC_BY_TYPE
from simulator.icloud.contract import RequestContext
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.generator_specials import TWIN_DECLARED_DELTA_BYTES
from simulator.icloud.library import PRIMARY_ZONE
from simulator.icloud.rows import CANON_RAW, JPEG, QUICKTIME
from tests.sim import product_port, read_content, start_simulator

CLEAN = GeneratorSpec(assets=30, seed=1, include_malformed=False, size_scale=0.002, shared_assets=0)
MOVIE = "com.apple.quicktime-movie"


def list_library(spec: GeneratorSpec, tmp_path: Path) -> tuple[dict[str, RemoteAsset], list[str]]:
    """Every listed asset by name, and the problems as 'name: reason'."""
    with start_simulator(generate_library(spec)) as server:
        port = product_port(server, tmp_path / "session")
        pages = list(port.scan_pages(PRIMARY_ZONE, workers=1))
    assets = {a.record_name: a for page in pages for a in page.assets}
    problems = [f"{p.record_name}: {p.reason}" for page in pages for p in page.problems]
    return assets, problems


def download(port: PyicloudPort, asset: RemoteAsset, key: str) -> bytes:
    version = asset.version(key)
    assert version is not None and version.download_url is not None
    return read_content(port, version.download_url)


def test_raw_jpeg_pairs_come_in_both_orientations(tmp_path: Path) -> None:
    with start_simulator(generate_library(CLEAN)) as server:
        port = product_port(server, tmp_path / "session")
        pairs = [
            a
            for page in port.scan_pages(PRIMARY_ZONE, workers=1)
            for a in page.assets
            if a.version(ALTERNATIVE) is not None
        ]
        by_original = {a.item_type: a for a in pairs}
        assert set(by_original) == {CANON_RAW, JPEG}
        raw_first, jpeg_first = by_original[CANON_RAW], by_original[JPEG]
        assert raw_first.filename.upper().endswith(".CR2")
        assert jpeg_first.filename.upper().endswith(".JPG")
        for asset, alternative_type in ((raw_first, JPEG), (jpeg_first, CANON_RAW)):
            alternative = asset.version(ALTERNATIVE)
            assert alternative is not None and alternative.file_type == alternative_type
            body = download(port, asset, ALTERNATIVE)
            assert len(body) == alternative.size_bytes
            assert body.startswith(MAGIC_BY_TYPE[alternative_type])
            assert download(port, asset, "original").startswith(MAGIC_BY_TYPE[asset.item_type])


def test_edited_photo_live_photo_and_video_carry_every_render(tmp_path: Path) -> None:
    with start_simulator(generate_library(CLEAN)) as server:
        port = product_port(server, tmp_path / "session")
        assets = [a for page in port.scan_pages(PRIMARY_ZONE, workers=1) for a in page.assets]
        edited = [a for a in assets if a.version(ADJUSTED) is not None]
        kinds = {(a.kind, a.version(ADJUSTED_VIDEO) is not None) for a in edited}
        assert {("photo", False), ("live", True), ("video", True)} <= kinds
        for asset in (a for a in edited if a.version(ADJUSTED_VIDEO) is not None):
            video = asset.version(ADJUSTED_VIDEO)
            assert video is not None and video.file_type == MOVIE
            body = download(port, asset, ADJUSTED_VIDEO)
            assert len(body) == video.size_bytes and body.startswith(MAGIC_BY_TYPE[QUICKTIME])
            assert download(port, asset, ADJUSTED).startswith(MAGIC_BY_TYPE[JPEG])
            still = asset.version(ADJUSTED)
            assert still is not None and video.checksum != still.checksum


def test_editing_a_live_photo_later_adds_an_edited_video(tmp_path: Path) -> None:
    database = generate_library(CLEAN)
    with start_simulator(database) as server:
        port = product_port(server, tmp_path / "session")
        token = port.zone_sync_token(PRIMARY_ZONE)
        live = next(
            a
            for page in port.scan_pages(PRIMARY_ZONE, workers=1)
            for a in page.assets
            if a.kind == "live" and a.version(ADJUSTED) is None
        )
        database.state.edit_asset(live.record_name, adjusted_video_size_bytes=12_345)
        changed = [a for page in port.changes_since(PRIMARY_ZONE, token) for a in page.changed]
        [after] = [a for a in changed if a.record_name == live.record_name]
        video = after.version(ADJUSTED_VIDEO)
        assert video is not None and video.size_bytes == 12_345
        assert len(download(port, after, ADJUSTED_VIDEO)) == 12_345
        assert after.version(LIVE_VIDEO) is not None  # the unedited video half stays


def test_two_records_serve_one_content_and_one_declares_another_size(tmp_path: Path) -> None:
    spec = GeneratorSpec(
        assets=30, seed=1, include_malformed=False, size_scale=0.002, shared_assets=0,
        include_content_twin=True,
    )  # fmt: skip
    with start_simulator(generate_library(spec)) as server:
        port = product_port(server, tmp_path / "session")
        assets = [a for page in port.scan_pages(PRIMARY_ZONE, workers=1) for a in page.assets]
        assert len(assets) == len(list_library(CLEAN, tmp_path / "clean")[0]) + 1
        by_checksum: dict[str, list[RemoteAsset]] = {}
        for asset in assets:
            by_checksum.setdefault(original_of(asset).checksum, []).append(asset)
        [twins] = [
            group for group in by_checksum.values() if len(group) == 2 and _two_masters(group)
        ]
        source, twin = sorted(twins, key=lambda a: original_of(a).size_bytes)
        declared = original_of(twin).size_bytes
        assert declared - original_of(source).size_bytes == TWIN_DECLARED_DELTA_BYTES
        bodies = [download(port, a, "original") for a in (source, twin)]
        assert bodies[0] == bodies[1]
        assert len(bodies[1]) == declared - TWIN_DECLARED_DELTA_BYTES


def original_of(asset: RemoteAsset) -> RemoteVersion:
    assert asset.original is not None
    return asset.original


def _two_masters(group: list[RemoteAsset]) -> bool:
    return len({a.master_record_name for a in group}) == 2


def test_a_content_twin_over_http_shows_in_the_change_feed(tmp_path: Path) -> None:
    import requests

    with start_simulator(generate_library(CLEAN)) as server:
        port = product_port(server, tmp_path / "session")
        token = port.zone_sync_token(PRIMARY_ZONE)
        source = next(a for page in port.scan_pages(PRIMARY_ZONE, workers=1) for a in page.assets)
        body: dict[str, Any] = {"record_name": source.record_name, "declared_delta_bytes": -100}
        answer = requests.post(f"{server.base_url}/_sim/content_twin", json=body).json()
        changed = {
            a.record_name: a
            for page in port.changes_since(PRIMARY_ZONE, token)
            for a in page.changed
        }
        twin = changed[answer["record_name"]]
        assert twin.original is not None and source.original is not None
        assert twin.original.size_bytes == source.original.size_bytes - 100
        assert twin.original.checksum == source.original.checksum
        assert len(download(port, twin, "original")) == source.original.size_bytes
        missing = {"record_name": "NOPE"}
        assert (
            requests.post(f"{server.base_url}/_sim/content_twin", json=missing).status_code == 404
        )


def test_damaged_fields_from_the_spec_cost_no_asset(tmp_path: Path) -> None:
    clean, _ = list_library(CLEAN, tmp_path / "clean")
    spec = GeneratorSpec(
        assets=30, seed=1, include_malformed=False, size_scale=0.002, shared_assets=0,
        include_malformed_fields=True,
    )  # fmt: skip
    damaged, problems = list_library(spec, tmp_path / "damaged")
    assert problems == []
    assert set(damaged) == set(clean)
    unreadable = sorted(a.unreadable_resources for a in damaged.values() if a.unreadable_resources)
    assert unreadable == [(ADJUSTED_VIDEO,), (ALTERNATIVE,)]
    [live] = [a for a in damaged.values() if a.unreadable_resources == (ADJUSTED_VIDEO,)]
    assert live.kind == "live" and live.version(ADJUSTED) is not None
    undated = [a for a in damaged.values() if a.captured_at_utc is None]
    assert len(undated) == 1 and not undated[0].is_favorite
    assert undated[0].added_at_utc is not None


def test_missing_and_undecodable_filenames_get_the_fallback_name(tmp_path: Path) -> None:
    assets, _ = list_library(CLEAN, tmp_path)
    statuses = sorted(
        (a.filename_status, a.filename) for a in assets.values() if a.filename_status != "ok"
    )
    assert [status for status, _ in statuses] == ["missing", "undecodable"]
    for asset in (a for a in assets.values() if a.filename_status != "ok"):
        stem, extension = asset.filename.rsplit(".", 1)
        assert len(stem) == 12 and stem.replace("_", "").isalnum()
        assert asset.master_record_name.startswith(stem.replace("_", "")[:1])
        assert extension in {"HEIC", "JPG", "MOV", "MP4", "PNG", "CR2"}


def test_the_same_spec_serves_the_same_records() -> None:
    spec = GeneratorSpec(
        assets=120, seed=5, size_scale=0.01, include_malformed_fields=True,
        include_content_twin=True,
    )  # fmt: skip
    ctx = RequestContext(now_s=1_700_000_000.0, url_ttl_s=60.0, dsid="1")
    pages = []
    for _ in range(2):
        database = generate_library(spec)
        names = sorted(database.state.primary().assets)
        body: dict[str, Any] = {
            "records": [{"recordName": n} for n in names],
            "zoneID": {"zoneName": PRIMARY_ZONE},
        }
        pages.append(
            json.dumps(database.handle("private", "records/lookup", body, ctx), sort_keys=True)
        )
    assert pages[0] == pages[1]


@pytest.mark.slow
def test_real_edit_renders_decode_as_their_types(tmp_path: Path) -> None:
    from PIL import Image

    spec = GeneratorSpec(
        assets=16, seed=1, content="real", cache_dir=tmp_path, pixel_scale=0.1,
        include_malformed=False, shared_assets=0,
    )  # fmt: skip
    started = time.monotonic()
    state = generate_library(spec).state
    edits = {
        key: path
        for key, path in state.real_files.items()
        if key[1] in ("resJPEGFull", "resVidFull")
    }
    assert {prefix for _, prefix in edits} == {"resJPEGFull", "resVidFull"}
    for (owner, prefix), path in edits.items():
        asset = state.asset(owner)
        declared = (
            asset.adjusted_size_bytes
            if prefix == "resJPEGFull"
            else asset.adjusted_video_size_bytes
        )
        assert path.stat().st_size == declared
        if prefix == "resJPEGFull":
            with Image.open(path) as image:
                assert image.format == "JPEG"
                image.load()
        else:
            probe = subprocess.run(
                ["/usr/bin/ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", str(path)],
                capture_output=True, text=True, check=True, timeout=60,
            )  # fmt: skip
            assert "video" in probe.stdout.split()
    assert time.monotonic() - started < 120
