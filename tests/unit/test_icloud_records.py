"""The tolerant record parser on hand-written CloudKit records shaped like Apple's, good and bad."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.icloud.changes import build_change_page
from engine.icloud.model import (
    ADJUSTED,
    ADJUSTED_VIDEO,
    ALTERNATIVE,
    LIVE_VIDEO,
    MEDIUM,
    ORIGINAL,
    RESOURCE_KEYS,
    THUMB,
)
from engine.icloud.records import (
    build_assets,
    fallback_filename,
    missing_master_names,
    parse_album,
    sort_records,
)

ZONE = "PrimarySync"


def enc(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def typed(kind: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "value": value}


def resource(prefix: str, size: int, file_type: str, *, checksum: str = "ck") -> dict[str, Any]:
    return {
        f"{prefix}Res": typed(
            "ASSETID",
            {
                "downloadURL": f"https://cvws.icloud-content.com/B/{prefix}{checksum}/${{f}}?e=9",
                "size": size,
                "fileChecksum": f"{checksum}-{prefix}",
                "referenceChecksum": "ref",
                "wrappingKey": "key",
            },
        ),
        f"{prefix}FileType": typed("STRING", file_type),
        f"{prefix}Width": typed("INT64", 4032),
        f"{prefix}Height": typed("INT64", 3024),
        f"{prefix}Fingerprint": typed("STRING", f"fp-{checksum}"),
    }


def make_master(
    name: str,
    *,
    filename: str | None = "IMG_0001.HEIC",
    item_type: str = "public.heic",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {"itemType": typed("STRING", item_type)}
    if filename is not None:
        fields["filenameEnc"] = typed("ENCRYPTED_BYTES", enc(filename))
    fields |= resource("resOriginal", 2_000_000, item_type, checksum=name)
    fields |= resource("resJPEGMed", 300_000, "public.jpeg", checksum=name)
    fields |= resource("resJPEGThumb", 30_000, "public.jpeg", checksum=name)
    fields |= extra or {}
    return {
        "recordName": name,
        "recordType": "CPLMaster",
        "recordChangeTag": f"m-{name}",
        "fields": fields,
        "zoneID": {"zoneName": ZONE},
    }


def make_asset(
    name: str, master: str, *, asset_date_ms: int = 1_700_000_000_000, **extra: Any
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "masterRef": typed("REFERENCE", {"recordName": master, "zoneID": {"zoneName": ZONE}}),
        "assetDate": typed("TIMESTAMP", asset_date_ms),
        "addedDate": typed("TIMESTAMP", asset_date_ms + 1000),
        "isFavorite": typed("INT64", 0),
        "isHidden": typed("INT64", 0),
        "isDeleted": typed("INT64", 0),
    }
    fields |= extra
    return {
        "recordName": name,
        "recordType": "CPLAsset",
        "recordChangeTag": f"a-{name}",
        "fields": fields,
        "zoneID": {"zoneName": ZONE},
    }


def parse(records: list[Any]) -> tuple[list[Any], list[Any]]:
    sorted_records = sort_records(ZONE, records)
    return build_assets(ZONE, sorted_records.assets, sorted_records.masters)


def test_a_plain_photo_has_its_fields_and_versions() -> None:
    assets, problems = parse([make_master("M1"), make_asset("A1", "M1")])
    assert problems == []
    [asset] = assets
    assert (asset.record_name, asset.master_record_name) == ("A1", "M1")
    assert (asset.change_tag, asset.master_change_tag) == ("a-A1", "m-M1")
    assert asset.filename == "IMG_0001.HEIC"
    assert asset.filename_status == "ok"
    assert asset.item_type == "public.heic"
    assert asset.captured_at_utc == datetime.fromtimestamp(1_700_000_000, UTC)
    assert asset.kind == "photo"
    assert [v.key for v in asset.versions] == [ORIGINAL, MEDIUM, THUMB]
    original = asset.original
    assert original is not None
    assert original.size_bytes == 2_000_000
    assert original.checksum == "M1-resOriginal"
    assert original.download_url is not None
    assert original.download_url.startswith("https://cvws.icloud-content.com/B/")
    assert (original.width, original.height) == (4032, 3024)
    assert not (asset.is_favorite or asset.is_hidden or asset.is_deleted or asset.has_location)


def test_pre_1970_dates_and_flags_and_caption_and_location() -> None:
    asset_record = make_asset(
        "A1",
        "M1",
        asset_date_ms=-2_208_988_800_000,  # 1900-01-01
        isFavorite=typed("INT64", 1),
        isHidden=typed("INT64", 1),
        locationEnc=typed("ENCRYPTED_BYTES", enc("plist")),
        captionEnc=typed("ENCRYPTED_BYTES", enc("Grandma's 90th")),
        timeZoneOffset=typed("INT64", 3600),
    )
    [asset], _ = parse([make_master("M1"), asset_record])
    assert asset.captured_at_utc == datetime(1900, 1, 1, tzinfo=UTC)
    assert asset.is_favorite
    assert asset.is_hidden
    assert asset.has_location
    assert asset.caption == "Grandma's 90th"
    assert asset.timezone_offset_s == 3600


def test_live_photo_raw_pair_and_adjusted_from_the_asset_record_first() -> None:
    master = make_master(
        "M1",
        extra={
            **resource("resOriginalVidCompl", 3_000_000, "com.apple.quicktime-movie"),
            **resource("resOriginalAlt", 25_000_000, "com.adobe.raw-image"),
            **resource("resJPEGFull", 1_000, "public.jpeg", checksum="stale-master"),
        },
    )
    asset_record = make_asset("A1", "M1", **resource("resJPEGFull", 1_800_000, "public.jpeg"))
    [asset], _ = parse([master, asset_record])
    assert asset.kind == "live"
    assert {v.key for v in asset.versions} >= {LIVE_VIDEO, ALTERNATIVE, ADJUSTED}
    adjusted = asset.version(ADJUSTED)
    assert adjusted is not None
    assert adjusted.size_bytes == 1_800_000


def test_a_video_uses_video_renditions_for_medium_and_thumb() -> None:
    master = make_master(
        "M1",
        filename="clip.mov",
        item_type="com.apple.quicktime-movie",
        extra={**resource("resVidMed", 5_000, "public.mpeg-4")},
    )
    [asset], _ = parse([master, make_asset("A1", "M1")])
    assert asset.kind == "video"
    medium = asset.version(MEDIUM)
    assert medium is not None
    assert medium.file_type == "public.mpeg-4"


def test_plain_string_filename_is_accepted() -> None:
    master = make_master("M1", filename=None, extra={"filenameEnc": typed("STRING", "a b.jpg")})
    [asset], _ = parse([master, make_asset("A1", "M1")])
    assert (asset.filename, asset.filename_status) == ("a b.jpg", "ok")


def test_missing_filename_uses_icloudpd_fallback() -> None:
    master = make_master("AaBb+/Cc-Dd12345xyz", filename=None)
    [asset], _ = parse([master, make_asset("A1", "AaBb+/Cc-Dd12345xyz")])
    assert asset.filename == "AaBb__Cc_Dd1.HEIC"
    assert asset.filename_status == "missing"
    assert fallback_filename("x", "no.such.type") == "x.unknown"


@pytest.mark.parametrize(
    "bad_value",
    ["%%%not base64%%%", base64.b64encode(b"\xff\xfe\xfa").decode(), 12345],
)
def test_undecodable_filename_keeps_the_asset_with_status_undecodable(bad_value: Any) -> None:
    master = make_master(
        "M1", filename=None, extra={"filenameEnc": typed("ENCRYPTED_BYTES", bad_value)}
    )
    [asset], problems = parse([master, make_asset("A1", "M1")])
    assert problems == []
    assert asset.filename_status == "undecodable"
    assert asset.filename == "M1.HEIC"


def test_a_filename_with_nul_is_kept_for_the_namer_to_clean() -> None:
    name = typed("ENCRYPTED_BYTES", enc("a\x00b.jpg"))
    master = make_master("M1", filename=None, extra={"filenameEnc": name})
    [asset], problems = parse([master, make_asset("A1", "M1")])
    assert problems == []
    assert (asset.filename, asset.filename_status) == ("a\x00b.jpg", "ok")


def test_one_malformed_record_costs_only_itself() -> None:
    broken_master = make_master("M2")
    broken_master["fields"]["resOriginalRes"] = typed("ASSETID", {"size": "huge"})
    records: list[Any] = [
        make_master("M1"),
        make_asset("A1", "M1"),
        broken_master,
        make_asset("A2", "M2"),
        make_asset("A3", "M3"),  # master nowhere
        {"recordType": "CPLAsset", "fields": {}},  # no name
        "not even a dict",
        make_asset("A4", "M1", assetDate=typed("TIMESTAMP", "yesterday"), isFavorite="x"),
        {"recordName": "A5", "recordType": "CPLAsset", "fields": {"masterRef": typed("STRING", 5)}},
    ]
    assets, problems = parse(records)
    assert sorted(a.record_name for a in assets) == ["A1", "A4"]
    a4 = next(a for a in assets if a.record_name == "A4")
    assert a4.captured_at_utc is None
    assert not a4.is_favorite
    reasons = {(p.record_name, p.reason) for p in problems}
    assert ("A2", "malformed_record") in reasons
    assert ("A3", "missing_master") in reasons
    assert ("A5", "malformed_record") in reasons
    assert sort_records(ZONE, records).problems[0].reason == "malformed_record"


def test_two_assets_sharing_one_master_are_two_assets() -> None:
    assets, _ = parse([make_master("M1"), make_asset("A1", "M1"), make_asset("A2", "M1")])
    assert sorted(a.record_name for a in assets) == ["A1", "A2"]
    assert {a.master_record_name for a in assets} == {"M1"}


def test_missing_masters_are_listed_once_for_lookup() -> None:
    records = [
        make_asset("A1", "M9"),
        make_asset("A2", "M9"),
        make_master("M1"),
        make_asset("A3", "M1"),
    ]
    assert missing_master_names(sort_records(ZONE, records)) == ["M9"]


def test_error_entries_and_tombstones() -> None:
    records = [
        {"recordName": "A7", "serverErrorCode": "NOT_FOUND", "reason": "gone"},
        {"recordName": "A8", "deleted": True},
    ]
    sorted_records = sort_records(ZONE, records)
    assert sorted_records.deleted_names == ["A8"]
    assert [(p.record_name, p.reason) for p in sorted_records.problems] == [("A7", "not_found")]


def test_change_page_pairs_assets_looks_up_masters_and_reports_deletions() -> None:
    looked_up: list[list[str]] = []

    def lookup(zone: str, names: list[str]) -> list[Any]:
        looked_up.append(names)
        return [make_master(name) for name in names]

    records = [
        make_asset("A1", "M1"),  # edited: master not in the page
        make_asset("A2", "M2", isDeleted=typed("INT64", 1)),
        {"recordName": "A3", "deleted": True},
        make_master("M4"),  # changed alone: not reported
        {"recordName": "R1", "recordType": "CPLContainerRelation", "fields": {}},
    ]
    page = build_change_page(ZONE, records, "T2", False, lookup)
    assert [a.record_name for a in page.changed] == ["A1"]
    assert page.deleted_record_names == ("A3", "A2")
    assert looked_up == [["M1"]]
    assert page.sync_token == "T2"


def test_albums_skip_deleted_and_nameless_and_know_folders() -> None:
    def album(name: str, title: str | None, **fields: Any) -> dict[str, Any]:
        record_fields = {k: typed("INT64", v) for k, v in fields.items()}
        if title is not None:
            record_fields["albumNameEnc"] = typed("ENCRYPTED_BYTES", enc(title))
        return {
            "recordName": name,
            "recordType": "CPLAlbum",
            "recordChangeTag": "t",
            "fields": record_fields,
        }

    trips = parse_album(album("F1", "Trips", albumType=3))
    assert trips is not None
    assert trips.is_folder
    assert trips.name == "Trips"
    assert parse_album(album("X", "Old", isDeleted=1)) is None
    assert parse_album(album("Y", None)) is None
    paris = parse_album(
        {
            **album("A1", "Paris"),
            "fields": {**album("A1", "Paris")["fields"], "parentId": typed("STRING", "F1")},
        }
    )
    assert paris is not None
    assert paris.parent_id == "F1"
    assert not paris.is_folder


def bad_value(field: dict[str, Any]) -> dict[str, Any]:
    """The field with its `value` key misspelt, as a damaged record might carry it."""
    return {"type": field["type"], "BADvalue": field["value"]}


def test_edited_live_photo_has_the_edited_still_and_the_edited_video() -> None:
    master = make_master(
        "M1", extra=resource("resOriginalVidCompl", 3_000_000, "com.apple.quicktime-movie")
    )
    asset_record = make_asset(
        "A1",
        "M1",
        **resource("resJPEGFull", 1_800_000, "public.jpeg"),
        **resource("resVidFull", 2_500_000, "com.apple.quicktime-movie"),
    )
    [asset], problems = parse([master, asset_record])
    assert problems == []
    assert asset.kind == "live"
    assert [v.key for v in asset.versions] == [
        ORIGINAL, LIVE_VIDEO, ADJUSTED, ADJUSTED_VIDEO, MEDIUM, THUMB
    ]  # fmt: skip
    edited_video = asset.version(ADJUSTED_VIDEO)
    assert edited_video is not None
    assert (edited_video.size_bytes, edited_video.file_type) == (
        2_500_000,
        "com.apple.quicktime-movie",
    )
    assert asset.unreadable_resources == ()


def test_edited_video_has_its_edited_render_and_video_renditions() -> None:
    movie = "com.apple.quicktime-movie"
    master = make_master(
        "M1", filename="clip.MOV", item_type=movie, extra=resource("resVidMed", 5_000, movie)
    )
    asset_record = make_asset("A1", "M1", **resource("resVidFull", 9_000_000, movie))
    [asset], _ = parse([master, asset_record])
    assert asset.kind == "video"
    assert {v.key for v in asset.versions} == {ORIGINAL, ADJUSTED_VIDEO, MEDIUM}
    adjusted_video = asset.version(ADJUSTED_VIDEO)
    assert adjusted_video is not None and adjusted_video.size_bytes == 9_000_000
    assert RESOURCE_KEYS == (ORIGINAL, LIVE_VIDEO, ALTERNATIVE, ADJUSTED, ADJUSTED_VIDEO)


def without(field: dict[str, Any], key: str) -> dict[str, Any]:
    """An ASSETID field whose value lacks `key`."""
    return typed("ASSETID", {k: v for k, v in field["value"].items() if k != key})


def with_size(field: dict[str, Any], size: Any) -> dict[str, Any]:
    return typed("ASSETID", {**field["value"], "size": size})


@pytest.mark.parametrize(
    ("damage", "how"),
    [
        ("bad_value_key", bad_value),
        ("size_not_int", lambda f: with_size(f, "25 MB")),
        ("no_size", lambda f: without(f, "size")),
        ("no_download_url", lambda f: without(f, "downloadURL")),
        ("not_a_mapping", lambda _f: typed("ASSETID", "nope")),
    ],
)
def test_a_malformed_alternative_keeps_the_asset_and_names_the_resource(
    damage: str, how: Any
) -> None:
    alt = resource("resOriginalAlt", 25_000_000, "com.canon.cr2-raw-image")
    alt["resOriginalAltRes"] = how(alt["resOriginalAltRes"])
    [asset], problems = parse([make_master("M1", extra=alt), make_asset("A1", "M1")])
    assert problems == [], damage
    assert asset.version(ALTERNATIVE) is None
    assert asset.unreadable_resources == (ALTERNATIVE,)
    assert asset.original is not None


def test_a_malformed_live_video_keeps_the_asset_live_and_unreadable() -> None:
    live = resource("resOriginalVidCompl", 3_000_000, "com.apple.quicktime-movie")
    live["resOriginalVidComplRes"] = bad_value(live["resOriginalVidComplRes"])
    [asset], _ = parse([make_master("M1", extra=live), make_asset("A1", "M1")])
    assert asset.kind == "live"
    assert asset.version(LIVE_VIDEO) is None
    assert asset.unreadable_resources == (LIVE_VIDEO,)


def test_a_malformed_edit_on_the_asset_never_falls_back_to_the_master() -> None:
    master = make_master(
        "M1", extra=resource("resJPEGFull", 1_000, "public.jpeg", checksum="stale-master")
    )
    edit = resource("resJPEGFull", 1_800_000, "public.jpeg")
    edit["resJPEGFullRes"] = bad_value(edit["resJPEGFullRes"])
    video = resource("resVidFull", 2_000_000, "com.apple.quicktime-movie")
    del video["resVidFullRes"]  # the other fields say there is an edited video
    [asset], problems = parse([master, make_asset("A1", "M1", **edit, **video)])
    assert problems == []
    assert asset.version(ADJUSTED) is None
    assert asset.unreadable_resources == (ADJUSTED, ADJUSTED_VIDEO)


def test_a_malformed_medium_is_only_left_out() -> None:
    master = make_master("M1")
    master["fields"]["resJPEGMedRes"] = bad_value(master["fields"]["resJPEGMedRes"])
    [asset], _ = parse([master, make_asset("A1", "M1")])
    assert asset.version(MEDIUM) is None
    assert asset.unreadable_resources == ()


@pytest.mark.parametrize(
    "damage",
    [
        bad_value,
        lambda f: with_size(f, 1.5),
        lambda f: without(f, "fileChecksum"),
        lambda _f: None,  # Res gone while FileType, Width, ... remain
    ],
)
def test_a_malformed_original_is_a_problem(damage: Any) -> None:
    master = make_master("M1")
    changed = damage(master["fields"]["resOriginalRes"])
    if changed is None:
        del master["fields"]["resOriginalRes"]
    else:
        master["fields"]["resOriginalRes"] = changed
    assets, problems = parse([master, make_asset("A1", "M1")])
    assert assets == []
    assert [(p.record_name, p.reason) for p in problems] == [("A1", "malformed_record")]


def test_an_original_without_a_download_url_is_kept_for_a_fresh_lookup() -> None:
    master = make_master("M1")
    del master["fields"]["resOriginalRes"]["value"]["downloadURL"]
    [asset], problems = parse([master, make_asset("A1", "M1")])
    assert problems == []
    assert asset.original is not None and asset.original.download_url is None


def test_malformed_plain_fields_default_safely() -> None:
    asset_record = make_asset("A1", "M1")
    fields = asset_record["fields"]
    fields["isFavorite"] = {"type": "INT64", "BADvalue": 1}
    fields["isHidden"] = typed("INT64", "yes")
    fields["assetDate"] = bad_value(fields["assetDate"])
    fields["timeZoneOffset"] = {"type": "INT64", "BADvalue": 3600}
    fields["captionEnc"] = {"type": "ENCRYPTED_BYTES", "BADvalue": enc("hi")}
    master = make_master("M1", filename=None)
    master["fields"]["filenameEnc"] = {"type": "ENCRYPTED_BYTES", "BADvalue": enc("a.HEIC")}
    [asset], problems = parse([master, asset_record])
    assert problems == []
    assert not asset.is_favorite and not asset.is_hidden
    assert asset.captured_at_utc is None
    assert asset.added_at_utc is not None
    assert asset.timezone_offset_s is None
    assert asset.caption is None
    assert (asset.filename, asset.filename_status) == ("M1.HEIC", "undecodable")
    assert asset.unreadable_resources == ()
