"""Pure decisions of the NAS repair by re-download: what backup-nas asks of iCloud
(decide_refetch_keys) and how RefetchRequested and the re-downloads fold."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import events as ev
from engine.asset import MediaState
from engine.nas.plan import FileResult, decide_refetch_keys
from tests.unit.test_last_copy import NOW, SHA, _fold

VIDEO_SHA, RAW_SHA = "b" * 64, "d" * 64


def live_raw_state() -> MediaState:
    """A live photo with a RAW twin, every resource downloaded and on the NAS."""
    state = MediaState(
        record_name="R1", zone="PrimarySync", declared_size_bytes=10, remote_checksum="c1",
        item_type="public.heic", remote_change_tag="t1",
        versions=(ev.VersionFact(key="live_video", size_bytes=20, checksum="c2",
                                 file_type="com.apple.quicktime-movie"),
                  ev.VersionFact(key="alternative", size_bytes=30, checksum="c3",
                                 file_type="com.adobe.raw-image")),
    )
    _fold(state, ev.Downloaded, resource="original", local_relpath="x/IMG.HEIC",
          size_bytes=10, sha256=SHA, checksum="c1")
    _fold(state, ev.Downloaded, resource="live_video", local_relpath="x/IMG_HEVC.MOV",
          size_bytes=20, sha256=VIDEO_SHA, checksum="c2")
    _fold(state, ev.Downloaded, resource="alternative", local_relpath="x/IMG.DNG",
          size_bytes=30, sha256=RAW_SHA, checksum="c3")
    assert state.missing_resources == ()
    state.nas_status = "mismatched"
    return state


def bad(key: str, action: str = "unrepairable") -> FileResult:
    return FileResult(key, f"x/{key}", action, SHA)  # type: ignore[arg-type]


def test_only_files_no_local_source_could_repair_are_asked_of_icloud() -> None:
    state = live_raw_state()
    assert decide_refetch_keys(state, [bad("original", "copied"), bad("alternative")]) == (
        "alternative",)
    assert decide_refetch_keys(state, [bad("original", "mismatched")]) == ()
    assert decide_refetch_keys(state, [bad("sidecar")]) == ()  # rewritten, never downloaded


def test_a_compressed_still_or_video_brings_both_back() -> None:
    state = live_raw_state()
    assert decide_refetch_keys(state, [bad("live_video")]) == ("live_video",)
    state.compression_tier = "heavy"
    assert decide_refetch_keys(state, [bad("live_video")]) == ("original", "live_video")
    assert decide_refetch_keys(state, [bad("alternative")]) == ("alternative",)


@pytest.mark.parametrize("where", ["requested", "deleted", "gone"])
def test_nothing_is_asked_of_icloud_once_it_does_not_hold_the_asset(where: str) -> None:
    state = live_raw_state()
    if where == "gone":
        state.is_remote_deleted = True
    else:
        state.deletion_state = where
    assert decide_refetch_keys(state, [bad("original")]) == ()
    _fold(state, ev.RefetchRequested, resources=("original",), reason="r")
    assert state.refetch_resources == () and state.missing_resources == ()


def test_a_pending_request_is_not_asked_again() -> None:
    state = live_raw_state()
    _fold(state, ev.RefetchRequested, resources=("alternative",), reason="r")
    assert state.refetch_resources == ("alternative",) == state.missing_resources
    assert decide_refetch_keys(state, [bad("alternative")]) == ()
    assert decide_refetch_keys(state, [bad("alternative"), bad("original")]) == (
        "original", "alternative")


def test_another_resources_redownload_leaves_the_compressed_still_compressed() -> None:
    state = live_raw_state()
    state.compression_tier, state.compressed_at_utc = "heavy", NOW - timedelta(days=1)
    _fold(state, ev.RefetchRequested, resources=("alternative", "thumb"), reason="r")
    assert state.refetch_resources == ("alternative",)  # only what was downloaded before

    _fold(state, ev.Downloaded, resource="alternative", local_relpath="x/IMG.DNG",
          size_bytes=30, sha256=RAW_SHA, checksum="c3")

    assert state.refetch_resources == () == state.missing_resources
    assert state.compression_tier == "heavy"  # the still was not downloaded again


def test_the_still_and_video_back_make_the_local_copy_the_download_again() -> None:
    state = live_raw_state()
    state.compression_tier = "heavy"
    _fold(state, ev.RefetchRequested, resources=("original", "live_video"), reason="r")
    _fold(state, ev.Downloaded, resource="original", local_relpath="x/IMG.HEIC",
          size_bytes=10, sha256=SHA, checksum="c1")
    assert state.compression_tier == "heavy"  # the video is still the re-encode
    _fold(state, ev.Downloaded, resource="live_video", local_relpath="x/IMG_HEVC.MOV",
          size_bytes=20, sha256=VIDEO_SHA, checksum="c2")
    assert state.compression_tier is None and state.missing_resources == ()
    assert state.nas_status == "mismatched"  # the NAS copy is backup-nas's to repair
