"""The download stage's pure decisions: file verdicts, remote checks, plans and facts."""

from __future__ import annotations

from datetime import UTC, datetime

from engine import events as ev
from engine import resources as res
from engine.asset import MediaState
from engine.download.plan import (
    OK,
    FileVerdict,
    StreamResult,
    decide_asset_verdict,
    decide_changed_keys,
    decide_file_verdict,
    decide_remote_check,
    downloaded_facts,
    part_name,
    plan_files,
    remote_changed_facts,
)
from engine.icloud.model import RemoteAsset, RemoteVersion
from engine.naming import NamingPolicy

CAPTURED = datetime(2024, 5, 17, 9, 30, tzinfo=UTC)
POLICY = NamingPolicy(local_tz=UTC)
KEY = "0123456789abcdef0123456789abcdef"


def state(**overrides: object) -> MediaState:
    values: dict[str, object] = {
        "zone": "PrimarySync",
        "record_name": "REC-1",
        "master_record_name": "MASTER1",
        "filename": "IMG_0001.HEIC",
        "filename_status": "ok",
        "kind": "live",
        "item_type": "public.heic",
        "declared_size_bytes": 1000,
        "remote_checksum": "chk-orig",
        "live_video_declared_size_bytes": 500,
        "live_video_checksum": "chk-live",
        "versions": (
            ev.VersionFact(
                key="original", size_bytes=1000, checksum="chk-orig", file_type="public.heic"
            ),
            ev.VersionFact(
                key="live_video",
                size_bytes=500,
                checksum="chk-live",
                file_type="com.apple.quicktime-movie",
            ),
            ev.VersionFact(
                key="medium", size_bytes=100, checksum="chk-med", file_type="public.jpeg"
            ),
        ),
        "captured_at_utc": CAPTURED,
        "remote_change_tag": "tag1",
    }
    values.update(overrides)
    built = MediaState(**values)  # type: ignore[arg-type]
    built.missing_resources = res.decide_missing(built)  # as the fold keeps it
    return built


def fresh(
    change_tag: str = "tag1", original_size: int = 1000, original_checksum: str = "chk-orig"
) -> RemoteAsset:
    return RemoteAsset(
        zone="PrimarySync",
        record_name="REC-1",
        master_record_name="MASTER1",
        change_tag=change_tag,
        master_change_tag="m1",
        filename="IMG_0001.HEIC",
        filename_status="ok",
        item_type="public.heic",
        captured_at_utc=CAPTURED,
        added_at_utc=CAPTURED,
        versions=(
            RemoteVersion(
                key="original",
                size_bytes=original_size,
                checksum=original_checksum,
                file_type="public.heic",
                download_url="http://x/o",
            ),
            RemoteVersion(
                key="live_video",
                size_bytes=500,
                checksum="chk-live",
                file_type="com.apple.quicktime-movie",
                download_url="http://x/l",
            ),
            RemoteVersion(
                key="medium",
                size_bytes=100,
                checksum="chk-med",
                file_type="public.jpeg",
                download_url="http://x/m",
            ),
        ),
    )


def complete(
    size: int, *, body: int | None = None, length: int | None = None, total: int | None = None
) -> StreamResult:
    return StreamResult(
        status="complete",
        size_bytes=size,
        sha256="ab" * 32,
        body_bytes=size if body is None else body,
        content_length=size if length is None else length,
        total_size_bytes=size if total is None else total,
    )


def test_a_complete_body_of_the_declared_size_is_good() -> None:
    assert decide_file_verdict(complete(1000), 1000) == OK


def test_a_resumed_body_counts_its_total() -> None:
    resumed = complete(1000, body=400, length=400, total=1000)
    assert decide_file_verdict(resumed, 1000) == OK


def test_served_size_differing_from_declared_is_quarantined() -> None:
    verdict = decide_file_verdict(complete(900), 1000)
    assert verdict.outcome == "quarantined"
    assert verdict.reason == "served_size_mismatch"
    assert "900" in verdict.detail


def test_a_range_total_that_disagrees_is_quarantined_even_if_bytes_match() -> None:
    verdict = decide_file_verdict(complete(1000, body=400, length=400, total=1200), 1000)
    assert verdict.outcome == "quarantined"


def test_transient_trouble_is_a_retriable_failure() -> None:
    for status, reason in (
        ("cut", "cut_body"),
        ("http_error", "http_error"),
        ("expired", "url_expired"),
    ):
        verdict = decide_file_verdict(StreamResult.failed(status, 10, "boom"), 1000)  # type: ignore[arg-type]
        assert verdict.outcome == "failed"
        assert verdict.reason == reason
        assert verdict.is_retriable


def test_asset_verdict_prefers_quarantine_over_failure() -> None:
    failed = FileVerdict("failed", "cut_body")
    quarantined = FileVerdict("quarantined", "served_size_mismatch")
    assert decide_asset_verdict([OK, failed, quarantined]) == quarantined
    assert decide_asset_verdict([OK, failed]) == failed
    assert decide_asset_verdict([OK, OK]) == OK


def test_remote_check_same_changed_mismatch_missing() -> None:
    assert decide_remote_check(state(), fresh()).kind == "same"
    assert decide_remote_check(state(), fresh(change_tag="tag2")).kind == "changed"
    size_lie = decide_remote_check(state(), fresh(original_size=999))
    assert size_lie.kind == "mismatch"
    assert "original" in size_lie.detail
    assert decide_remote_check(state(), fresh(original_checksum="other")).kind == "mismatch"
    assert decide_remote_check(state(), None).kind == "missing"


def test_remote_changed_facts_carry_the_new_remote_facts() -> None:
    facts = remote_changed_facts(
        fresh(change_tag="tag2", original_size=1200, original_checksum="new")
    )
    assert facts["remote_change_tag"] == "tag2"
    assert facts["declared_size_bytes"] == 1200
    assert facts["remote_checksum"] == "new"
    assert facts["live_video_declared_size_bytes"] == 500
    assert [v.key for v in facts["versions"]] == ["original", "live_video", "medium"]
    assert set(facts) == set(ev.RemoteChanged.__annotations__) - {"class_version"}


def test_only_the_resources_still_missing_are_planned() -> None:
    landed = res.DownloadedResource(
        key="original", relpath="2024/05/17/IMG_0001.HEIC", size_bytes=1000, sha256="s",
        checksum="chk-orig",
    )
    partial = state(resources_downloaded=(landed,))
    plans = plan_files(partial, fresh(), asset_key=KEY, sizes=("original",), policy=POLICY)
    assert [(p.key, p.first_relpath) for p in plans] == [
        ("live_video", "2024/05/17/IMG_0001_HEVC.MOV")
    ]


def test_resources_left_out_by_the_config_are_not_planned() -> None:
    plans = plan_files(
        state(), fresh(), asset_key=KEY, sizes=("original",), policy=POLICY,
        resources=("original",),
    )
    assert [p.key for p in plans] == ["original"]


def test_an_edit_of_a_jpeg_is_suffixed_only_because_it_would_take_the_original_name() -> None:
    jpeg = ev.VersionFact(key="original", size_bytes=1000, checksum="chk-orig",
                          file_type="public.jpeg")
    adjusted = ev.VersionFact(key="adjusted", size_bytes=300, checksum="chk-adj",
                              file_type="public.jpeg")
    raw = ev.VersionFact(key="alternative", size_bytes=9000, checksum="chk-raw",
                         file_type="com.adobe.raw-image")
    edited = state(kind="photo", item_type="public.jpeg", filename="IMG_0001.JPG",
                   live_video_declared_size_bytes=None, live_video_checksum=None,
                   versions=(jpeg, adjusted, raw))
    plans = plan_files(edited, None, asset_key=KEY, sizes=("original",), policy=POLICY)
    assert [(p.key, p.first_relpath) for p in plans] == [
        ("original", "2024/05/17/IMG_0001.JPG"),
        ("alternative", "2024/05/17/IMG_0001.DNG"),
        ("adjusted", "2024/05/17/IMG_0001-adjusted.JPG"),
    ]


def test_plan_live_photo_with_medium() -> None:
    plans = plan_files(state(), fresh(), asset_key=KEY, sizes=("original", "medium"), policy=POLICY)
    assert [(p.key, p.first_relpath, p.declared_size_bytes) for p in plans] == [
        ("original", "2024/05/17/IMG_0001.HEIC", 1000),
        ("live_video", "2024/05/17/IMG_0001_HEVC.MOV", 500),
        ("medium", "2024/05/17/IMG_0001-medium.JPG", 100),
    ]
    assert [p.url for p in plans] == ["http://x/o", "http://x/l", "http://x/m"]
    assert plans[0].candidates[1] == "IMG_0001-1000.HEIC"


def test_plan_skips_sizes_the_asset_does_not_have_and_photos_get_no_video() -> None:
    plans = plan_files(
        state(kind="photo", live_video_declared_size_bytes=None, live_video_checksum=None,
              versions=state().versions[::2]),
        fresh(), asset_key=KEY, sizes=("original", "thumb"), policy=POLICY,
    )
    assert [p.key for p in plans] == ["original"]


def test_dry_run_plan_comes_from_the_ledger_without_urls() -> None:
    plans = plan_files(state(), None, asset_key=KEY, sizes=("original",), policy=POLICY)
    assert [p.key for p in plans] == ["original", "live_video"]
    assert all(p.url is None for p in plans)


def test_part_names_are_hidden_per_asset_and_content_and_fit() -> None:
    name = part_name("IMG_1.HEIC", KEY, "chk")
    assert name.startswith(".IMG_1.HEIC.01234567.")
    assert name.endswith(".part")
    assert part_name("IMG_1.HEIC", KEY, "other") != name
    assert len(part_name("x" * 300, KEY, "chk").encode()) <= 255


def test_downloaded_facts_are_one_resource_each() -> None:
    facts = downloaded_facts("live_video", "a/IMG_HEVC.MOV", 500, "s2", "chk-live")
    assert facts == {"resource": "live_video", "local_relpath": "a/IMG_HEVC.MOV",
                     "size_bytes": 500, "sha256": "s2", "checksum": "chk-live",
                     "provenance": "downloaded"}
    adopted = downloaded_facts("original", "a/IMG.HEIC", 5, "s", "c", provenance="adopted")
    assert adopted["provenance"] == "adopted"


def test_a_download_is_still_listed_when_every_checksum_it_came_with_is_current() -> None:
    listed = {"original": "chk-orig"}
    assert decide_changed_keys(listed, fresh()) == set()
    assert decide_changed_keys(listed, None) == set()  # gone since: keep the bytes we have


def test_a_checksum_that_moved_while_downloading_is_a_difference() -> None:
    changed = decide_changed_keys({"original": "chk-orig"}, fresh(original_checksum="chk-new"))
    assert changed == {"original"}


def test_a_rendition_that_vanished_while_downloading_is_a_difference() -> None:
    changed = decide_changed_keys({"original": "chk-orig", "alternative": "chk-raw"}, fresh())
    assert changed == {"alternative"}
