"""Descriptive metadata read tolerantly from records, and what discover records of it.

Keywords, places and rotations are parsed from Apple's encodings (binary plists, raw-deflated
JSON); any damage reads as "absent" and never costs the asset. Albums and memberships are
sorted out of a change page, a relation's tombstone included.
"""

from __future__ import annotations

import base64
import json
import plistlib
import zlib
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from engine import events as ev
from engine.asset import Asset
from engine.discover import decide_for_remote, discovered_facts
from engine.icloud.changes import album_changes, build_change_page, relation_changes
from engine.icloud.record_metadata import (
    MAX_ADJUSTMENT_BYTES,
    decode_keywords,
    decode_location,
    decode_orientation,
    is_screenshot,
)
from engine.icloud.records import build_assets, sort_records
from engine.ids import IcloudIdentity

T = datetime(2023, 7, 1, 12, tzinfo=UTC)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def field(value: Any, kind: str = "ENCRYPTED_BYTES") -> dict[str, Any]:
    return {"type": kind, "value": value}


def record(**fields: Any) -> dict[str, Any]:
    return {"recordName": "A1", "recordType": "CPLAsset", "fields": fields}


def deflated_json(data: Any) -> str:
    squeeze = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return b64(squeeze.compress(json.dumps(data).encode()) + squeeze.flush())


@pytest.mark.parametrize(("value", "expected"), [
    (b64(plistlib.dumps(["a", "été", "👨‍👩‍👧"], fmt=plistlib.FMT_BINARY)), ("a", "été", "👨‍👩‍👧")),
    (b64(plistlib.dumps(["x", 3, "", "y"])), ("x", "y")),  # an XML plist, non-texts dropped
    (b64(plistlib.dumps({"not": "a list"})), ()),
    (b64(b"bplist00 garbage"), ()),
    ("not base64 !", ()),
    (42, ()),
    (None, ()),
])
def test_keywords(value: Any, expected: tuple[str, ...]) -> None:
    assert decode_keywords(record(keywordsEnc=field(value))) == expected


def place(**values: Any) -> dict[str, Any]:
    return record(locationEnc=field(b64(plistlib.dumps(values, fmt=plistlib.FMT_BINARY))))


def test_a_place_with_altitude_and_one_without() -> None:
    assert decode_location(place(lat=48.85837, lon=2.294481, alt=35.5)) == (
        48.85837, 2.294481, 35.5)
    assert decode_location(place(lat=-33, lon=-70)) == (-33.0, -70.0, None)


@pytest.mark.parametrize("values", [
    {"lat": 91.0, "lon": 2.0}, {"lat": 1.0, "lon": -180.5}, {"lat": float("nan"), "lon": 1.0},
    {"lat": 1.0}, {"lat": "48", "lon": "2"}, {"lat": True, "lon": 2.0},
])
def test_an_impossible_place_is_no_place(values: dict[str, Any]) -> None:
    assert decode_location(place(**values)) is None


def test_an_unreadable_place_is_no_place() -> None:
    assert decode_location(record(locationEnc=field("%%%"))) is None
    assert decode_location(record(locationEnc=field(b64(b"\x00\x01")))) is None
    assert decode_location(place(lat=1.0, lon=2.0, alt=float("inf"))) == (1.0, 2.0, None)


def test_orientation_from_the_rotation_edit_then_the_masters_own() -> None:
    rotated = record(adjustmentSimpleDataEnc=field(deflated_json({"metadata": {"orientation": 6}})))
    upright = record(adjustmentSimpleDataEnc=field(deflated_json({"metadata": {"orientation": 1}})))
    master_8 = {"fields": {"originalOrientation": field(8, "INT64")}}
    master_1 = {"fields": {"originalOrientation": field(1, "INT64")}}
    assert decode_orientation(rotated, master_1) == 6
    assert decode_orientation(upright, master_8) == 1  # the user turned it back: say so
    assert decode_orientation(record(), master_8) == 8
    assert decode_orientation(record(), master_1) is None  # "as stored": nothing to say
    assert decode_orientation(record(), {}) is None


@pytest.mark.parametrize("value", [
    b64(b"crdt" + b"\x00" * 20),  # a drawing
    b64(plistlib.dumps({"metadata": {"orientation": 6}}, fmt=plistlib.FMT_BINARY)),  # a video's
    deflated_json({"metadata": {"orientation": 9}}),
    deflated_json({"metadata": {"orientation": "6"}}),
    deflated_json([1, 2]),
    b64(zlib.compress(b"not json")),  # zlib header: not raw deflate
    "!!!",
])
def test_an_adjustment_that_is_not_a_rotation_falls_back_to_the_master(value: str) -> None:
    master = {"fields": {"originalOrientation": field(3, "INT64")}}
    assert decode_orientation(record(adjustmentSimpleDataEnc=field(value)), master) == 3


def test_a_deflate_bomb_is_cut_short() -> None:
    squeeze = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    bomb = squeeze.compress(b"[" + b" " * (MAX_ADJUSTMENT_BYTES * 4)) + squeeze.flush()
    assert len(bomb) < MAX_ADJUSTMENT_BYTES // 100
    assert decode_orientation(record(adjustmentSimpleDataEnc=field(b64(bomb))), {}) is None


def test_screenshots_by_subtype() -> None:
    assert is_screenshot(record(assetSubtypeV2=field(3, "INT64")))
    assert not is_screenshot(record(assetSubtypeV2=field(2, "INT64")))
    assert not is_screenshot(record(assetSubtypeV2=field("three", "INT64")))


def asset_and_master(**asset_fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    master = {
        "recordName": "M1", "recordType": "CPLMaster",
        "fields": {
            "filenameEnc": field(b64(b"IMG_0001.JPG")), "itemType": field("public.jpeg", "STRING"),
            "resOriginalRes": field({"size": 10, "fileChecksum": "c1", "downloadURL": "https://x"},
                                    "ASSETID"),
        },
    }
    asset = {
        "recordName": "A1", "recordType": "CPLAsset", "recordChangeTag": "t1",
        "fields": {"masterRef": field({"recordName": "M1"}, "REFERENCE"),
                   "assetDate": field(1_600_000_000_000, "TIMESTAMP"), **asset_fields},
    }
    return asset, master


def test_every_metadata_field_damaged_still_gives_the_asset() -> None:
    asset, master = asset_and_master(
        captionEnc=field("%%"), extendedDescEnc={"type": "ENCRYPTED_BYTES"},
        keywordsEnc=field(7), locationEnc=field(b64(b"junk")),
        adjustmentSimpleDataEnc=field(b64(b"\xff" * 9)), assetSubtypeV2=field([], "INT64"),
    )
    [parsed], problems = build_assets("PrimarySync", [asset], {"M1": master})
    assert problems == []
    assert (parsed.caption, parsed.description, parsed.keywords) == (None, None, ())
    assert (parsed.latitude_deg, parsed.orientation, parsed.is_screenshot) == (None, None, False)


def test_every_metadata_field_read() -> None:
    asset, master = asset_and_master(
        captionEnc=field(b64(b"Tom & Jerry")),
        extendedDescEnc=field(b64(b"line 1\nline 2")),
        keywordsEnc=field(b64(plistlib.dumps(["k1", "k2"], fmt=plistlib.FMT_BINARY))),
        locationEnc=field(b64(plistlib.dumps({"lat": 1.5, "lon": -2.25, "alt": -3.0}))),
        adjustmentSimpleDataEnc=field(deflated_json({"metadata": {"orientation": 8}})),
        assetSubtypeV2=field(3, "INT64"),
    )
    [parsed], _ = build_assets("PrimarySync", [asset], {"M1": master})
    assert (parsed.caption, parsed.description) == ("Tom & Jerry", "line 1\nline 2")
    assert parsed.keywords == ("k1", "k2")
    assert (parsed.latitude_deg, parsed.longitude_deg, parsed.altitude_m) == (1.5, -2.25, -3.0)
    assert (parsed.orientation, parsed.is_screenshot) == (8, True)


def known_state(remote: Any) -> Any:
    identity = IcloudIdentity("jdoe@example.com", remote.zone, remote.record_name)
    return Asset.discover(identity, "run", **discovered_facts(remote, ())).state


def parsed(**asset_fields: Any) -> Any:
    asset, master = asset_and_master(**asset_fields)
    return build_assets("PrimarySync", [asset], {"M1": master})[0][0]


def test_discover_records_metadata_once_and_only_when_there_is_some() -> None:
    bare = parsed(timeZoneOffset=field(7200, "INT64"))
    assert [f.event_class for f in decide_for_remote(None, bare, ())] == [ev.Discovered]
    described = parsed(captionEnc=field(b64(b"Sunset")),
                       locationEnc=field(b64(plistlib.dumps({"lat": 1.0, "lon": 2.0}))))
    plan = decide_for_remote(None, described, ())
    assert [f.event_class for f in plan] == [ev.Discovered, ev.MetadataChanged]
    assert plan[1].facts["title"] == "Sunset"
    assert (plan[1].facts["latitude_microdeg"], plan[1].facts["longitude_microdeg"]) == (
        1_000_000, 2_000_000)
    state = known_state(described)
    asset = Asset.discover(IcloudIdentity("jdoe@example.com", "PrimarySync", "A1"), "run",
                           **discovered_facts(described, ()))
    asset.record(ev.MetadataChanged, "run", **plan[1].facts)
    assert decide_for_remote(asset.state, described, ()) == []  # a rerun adds nothing
    edited = msgspec.structs.replace(described, caption="Sunrise", change_tag="t2")
    changed = decide_for_remote(asset.state, edited, ())
    assert [f.event_class for f in changed] == [ev.RemoteChanged, ev.MetadataChanged]
    assert changed[1].facts["title"] == "Sunrise"
    assert state.title is None  # Discovered alone says nothing of the caption


def relation(name: str, **fields: Any) -> dict[str, Any]:
    return {"recordName": name, "recordType": "CPLContainerRelation", "fields": fields}


def test_memberships_from_relation_records_and_tombstones() -> None:
    records = [
        relation("A1-IN-AL1", itemId=field("A1", "STRING"), containerId=field("AL1", "STRING")),
        relation("A2-IN-AL1", isDeleted=field(1, "INT64")),
        relation("junk"),
    ]
    found = relation_changes(records, ["A3-IN-AL2", "A4", "-IN-X"])
    assert [(r.asset_record_name, r.album_id, r.is_member) for r in found] == [
        ("A1", "AL1", True), ("A2", "AL1", False), ("A3", "AL2", False),
    ]


def test_albums_in_a_change_page() -> None:
    records = [
        {"recordName": "AL1", "recordType": "CPLAlbum",
         "fields": {"albumNameEnc": field(b64(b"Paris")), "albumType": field(0, "INT64"),
                    "parentId": field("F1", "STRING")}},
        {"recordName": "AL2", "recordType": "CPLAlbum",
         "fields": {"albumNameEnc": field(b64(b"Old")), "isDeleted": field(1, "INT64")}},
        {"recordName": "AL3", "recordType": "CPLAlbum", "fields": {"albumNameEnc": field("%")}},
        {"recordName": "AL9", "recordType": None, "deleted": True},
    ]
    live, removed = album_changes(sort_records("PrimarySync", records))
    assert [(a.record_name, a.name, a.parent_id) for a in live] == [("AL1", "Paris", "F1")]
    assert removed == ("AL2",)
    page = build_change_page("PrimarySync", records, "tok", False, lambda _z, _n: [])
    assert page.albums == live and page.removed_album_ids == ("AL2",)
    assert page.deleted_record_names == ("AL9",)  # a tombstone: the caller knows albums
