"""The Google route's pure decisions: when the Pixel holds a file, what is staged, clean-up,
and where a resend reads its bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.asset import MediaState
from engine.errors import ConfigError
from engine.google.plan import (
    RESEND_MTIME_STEP_NS,
    OutboxFile,
    OutboxStat,
    PixelCopy,
    SourceSeen,
    decide_asset_copy,
    decide_pixel_copy,
    decide_resend_mtime_ns,
    decide_resend_refusal,
    decide_resend_source,
    is_outbox_copy_due_for_removal,
    plan_outbox_files,
)
from engine.google.syncthing import (
    API_KEY_ENV,
    FileView,
    parse_syncthing_time_ns,
    resolve_api_key,
)
from engine.resources import DownloadedResource

PIXEL = "PIXEL01-AAAAAAA"
MTIME_NS = 1_715_938_200_500_000_000
OURS = OutboxStat(size_bytes=1000, mtime_ns=MTIME_NS)


def view(availability: list[tuple[str, bool]] | None, size: int = 1000,
         modified: str = "2024-05-17T09:30:00.5Z", deleted: bool = False) -> FileView:
    answer = {
        "availability": None if availability is None else [
            {"id": device, "fromTemporary": temp} for device, temp in availability
        ],
        "global": {"size": size, "modified": modified, "deleted": deleted},
    }
    return FileView.from_rest(answer)


@pytest.mark.parametrize(
    ("file_view", "connected", "expected"),
    [
        (view([(PIXEL, False)]), True, PixelCopy.HELD),
        (view([(PIXEL, False)]), False, PixelCopy.HELD),  # recorded index: it was there
        (view([(PIXEL, True)]), True, PixelCopy.WAITING),  # only a temporary copy so far
        (view([("OTHER", False)]), True, PixelCopy.WAITING),
        (view([]), True, PixelCopy.WAITING),
        (view(None), True, PixelCopy.WAITING),  # nobody else has it
        (view(None), False, PixelCopy.UNKNOWN),  # disconnected: cannot say, never "absent"
        (view([(PIXEL, False)], size=999), True, PixelCopy.NOT_INDEXED),
        (view([(PIXEL, False)], modified="2024-05-17T09:30:00Z"), True, PixelCopy.NOT_INDEXED),
        (view([(PIXEL, False)], deleted=True), True, PixelCopy.NOT_INDEXED),
        (None, True, PixelCopy.NOT_INDEXED),
    ],
)
def test_decide_pixel_copy(file_view: FileView | None, connected: bool, expected: PixelCopy) -> None:
    assert decide_pixel_copy(file_view, PIXEL, OURS, is_connected=connected) is expected


def test_an_asset_is_held_only_when_every_file_is() -> None:
    assert decide_asset_copy([PixelCopy.HELD, PixelCopy.HELD]) is PixelCopy.HELD
    assert decide_asset_copy([PixelCopy.HELD, PixelCopy.WAITING]) is PixelCopy.WAITING
    assert decide_asset_copy([PixelCopy.UNKNOWN, PixelCopy.WAITING]) is PixelCopy.UNKNOWN
    assert decide_asset_copy([PixelCopy.HELD, PixelCopy.NOT_INDEXED]) is PixelCopy.NOT_INDEXED
    assert decide_asset_copy([]) is PixelCopy.WAITING


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-17T09:30:00.5Z", MTIME_NS),
        ("2024-05-17T11:30:00.500000000+02:00", MTIME_NS),
        ("2024-05-17T09:30:00.000000001Z", MTIME_NS - 499_999_999),
        ("2024-05-17T09:30:00Z", MTIME_NS - 500_000_000),
        ("not a time", None),
    ],
)
def test_parse_syncthing_time_keeps_nanoseconds(text: str, expected: int | None) -> None:
    assert parse_syncthing_time_ns(text) == expected


def test_plan_stages_the_original_and_its_live_video_at_the_library_paths() -> None:
    state = MediaState(local_relpath="2024/05/17/IMG_1.HEIC", sha256="a" * 64,
                       live_video_relpath="2024/05/17/IMG_1_HEVC.MOV", live_video_sha256="b" * 64)
    files = plan_outbox_files(state)
    assert [(f.key, f.relpath, f.sha256) for f in files] == [
        ("original", "2024/05/17/IMG_1.HEIC", "a" * 64),
        ("live_video", "2024/05/17/IMG_1_HEVC.MOV", "b" * 64),
    ]
    assert plan_outbox_files(MediaState()) == []


def test_the_edit_goes_to_the_pixel_only_when_asked_and_the_raw_twin_never() -> None:
    edit = DownloadedResource(key="adjusted", relpath="2024/IMG_1-adjusted.JPG", size_bytes=9,
                              sha256="c" * 64, checksum="k")
    raw = DownloadedResource(key="alternative", relpath="2024/IMG_1.DNG", size_bytes=9,
                             sha256="d" * 64, checksum="k")
    state = MediaState(local_relpath="2024/IMG_1.JPG", sha256="a" * 64,
                       resources_downloaded=(edit, raw))
    assert [f.key for f in plan_outbox_files(state)] == ["original"]
    files = plan_outbox_files(state, include_edits=True)
    assert [(f.key, f.relpath) for f in files] == [
        ("original", "2024/IMG_1.JPG"), ("adjusted", "2024/IMG_1-adjusted.JPG"),
    ]


def test_outbox_copy_removal_waits_for_the_grace_period() -> None:
    verified = datetime(2024, 6, 1, tzinfo=UTC)
    assert not is_outbox_copy_due_for_removal(verified, None, verified + timedelta(days=999))
    assert not is_outbox_copy_due_for_removal(None, 3, verified)
    assert not is_outbox_copy_due_for_removal(verified, 3, verified + timedelta(days=2, hours=23))
    assert is_outbox_copy_due_for_removal(verified, 3, verified + timedelta(days=3))


def test_api_key_from_config_xml_first_then_environment(tmp_path: Path) -> None:
    config_xml = tmp_path / "config.xml"
    config_xml.write_text("<configuration><gui><apikey> K1 </apikey></gui></configuration>")
    assert resolve_api_key(config_xml, {API_KEY_ENV: "K2"}) == "K1"
    assert resolve_api_key(None, {API_KEY_ENV: "K2"}) == "K2"
    with pytest.raises(ConfigError, match=API_KEY_ENV):
        resolve_api_key(None, {})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_api_key(tmp_path / "missing.xml", {})
    config_xml.write_text("<configuration><gui></gui></configuration>")
    with pytest.raises(ConfigError, match="no <gui><apikey>"):
        resolve_api_key(config_xml, {})


PHOTO = OutboxFile("original", "2024/05/17/IMG_1.HEIC", "a" * 64)


def test_resend_prefers_the_library_copy_while_it_is_the_downloaded_file() -> None:
    library = SourceSeen("library", "/lib/IMG_1.HEIC", "a" * 64)
    nas = SourceSeen("nas", "/nas/IMG_1.HEIC", "a" * 64)
    assert decide_resend_source(PHOTO, [library, nas]) == library
    compressed = SourceSeen("library", "/lib/IMG_1.HEIC", "c" * 64)
    assert decide_resend_source(PHOTO, [compressed, nas]) == nas


def test_resend_without_the_bytes_anywhere_says_why_for_each_copy() -> None:
    compressed = SourceSeen("library", "/lib/IMG_1.HEIC", "c" * 64)
    assert decide_resend_source(PHOTO, [compressed]) == (
        "the library copy is not the downloaded file (sha256 cccccccccccc...), no NAS is "
        "configured (no copy has the downloaded bytes)"
    )
    video = OutboxFile("live_video", "2024/05/17/IMG_1_HEVC.MOV", "b" * 64)
    unmounted = SourceSeen("nas", "/nas/x", None, "cannot be read (/nas is not mounted)")
    reason = decide_resend_source(video, [SourceSeen("library", "/lib/x", None), unmounted])
    assert reason == (
        "its live-photo video 2024/05/17/IMG_1_HEVC.MOV: the library copy is missing, the NAS "
        "copy cannot be read (/nas is not mounted) (no copy has the downloaded bytes)"
    )


def test_only_a_staged_or_verified_download_can_be_resent() -> None:
    downloaded = {"local_relpath": "a/IMG.HEIC", "sha256": "a" * 64}
    assert decide_resend_refusal(MediaState()) == "it has not been downloaded"
    assert "never staged" in (decide_resend_refusal(MediaState(**downloaded)) or "")
    for status in ("staged", "verified"):
        assert decide_resend_refusal(MediaState(**downloaded, google_status=status)) is None


def test_a_resent_copy_is_clearly_later_than_the_one_it_replaces() -> None:
    now_ns = MTIME_NS + 10 * RESEND_MTIME_STEP_NS
    assert decide_resend_mtime_ns(now_ns, None) == now_ns
    assert decide_resend_mtime_ns(now_ns, OURS) == now_ns
    # A copy resent twice within Syncthing's time window still moves on by a whole window.
    just_resent = OutboxStat(size_bytes=1000, mtime_ns=now_ns)
    assert decide_resend_mtime_ns(now_ns, just_resent) == now_ns + RESEND_MTIME_STEP_NS
