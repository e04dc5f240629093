"""engine.thumbnails: small JPEGs from real local files (JPEG, HEIC, DNG, a video's first frame),
cached by sha256 and size; a damaged or missing file gives a placeholder, never an exception."""

from __future__ import annotations

import io
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from engine import resources as res
from engine.asset import MediaState
from engine.thumbnails import (
    THUMB_PX,
    ThumbnailError,
    cache_path,
    make_thumbnail,
    thumbnail_for,
    thumbnail_sources,
)
from tests.compress_media import VideoSpec, write_heic, write_jpeg, write_raw_dng, write_video

SHA = "ab" * 32


def state_for(relpath: str | None, *, sha256: str | None = SHA,
              extra: tuple[tuple[str, str], ...] = ()) -> MediaState:
    downloaded = tuple(res.DownloadedResource(key=key, relpath=path, size_bytes=1, sha256=SHA,
                                              checksum="") for key, path in extra)
    return MediaState(sha256=sha256, local_relpath=relpath, resources_downloaded=downloaded)


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_a_jpeg_becomes_a_small_turned_jpeg_cached_privately(tmp_path: Path) -> None:
    library, state_dir = tmp_path / "lib", tmp_path / "state"
    write_jpeg(library / "2021/a.jpg", 1200, 800, seed=1)  # EXIF orientation 6: shown turned
    thumb = thumbnail_for(state_for("2021/a.jpg"), library, state_dir)
    assert not thumb.is_placeholder and thumb.media_type == "image/jpeg"
    image = opened(thumb.data)
    assert image.format == "JPEG" and max(image.size) == THUMB_PX
    assert image.size[0] < image.size[1]  # turned as the orientation says
    cached = cache_path(state_dir, SHA)
    assert cached.name == f"{SHA}-{THUMB_PX}.jpg" and cached.read_bytes() == thumb.data
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert not list(cached.parent.glob("*.photoledger-tmp"))
    (library / "2021/a.jpg").unlink()  # served from the cache from now on
    assert thumbnail_for(state_for("2021/a.jpg"), library, state_dir).data == thumb.data
    small = thumbnail_for(state_for("2021/a.jpg"), library, state_dir, size_px=64)
    assert small.is_placeholder  # another size is another cache entry, made from the file


def test_a_real_heic_decodes_through_pillow_heif(tmp_path: Path) -> None:
    write_heic(tmp_path / "IMG_1.HEIC", 640, 480, seed=2)
    image = opened(make_thumbnail(tmp_path / "IMG_1.HEIC"))
    assert image.size == (THUMB_PX, 192)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_file_is_a_placeholder_that_says_why(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "lib" / "b.jpg"
    write_jpeg(path, 800, 600, seed=3)
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 3], "garbage": b"\xff\xd8\xff" + bytes(
        range(256)) * 40, "empty": b""}[damage])
    with pytest.raises(ThumbnailError, match="not a readable image"):
        make_thumbnail(path)
    thumb = thumbnail_for(state_for("b.jpg"), tmp_path / "lib", tmp_path / "state")
    assert thumb.is_placeholder and thumb.media_type == "image/png"
    assert "b.jpg: not a readable image" in thumb.reason
    assert opened(thumb.data).size == (THUMB_PX, THUMB_PX)
    assert not cache_path(tmp_path / "state", SHA).exists()  # placeholders are not cached


def test_missing_removed_undownloaded_and_video_give_placeholders(tmp_path: Path) -> None:
    library, state_dir = tmp_path / "lib", tmp_path / "state"
    missing = thumbnail_for(state_for("gone.jpg"), library, state_dir)
    assert missing.is_placeholder and "cannot be read" in missing.reason
    assert thumbnail_for(state_for(None, sha256=None), library, state_dir).reason == (
        "the asset was never downloaded")
    removed = state_for("c.jpg")
    removed.local_removed_at_utc = datetime(2026, 1, 2, tzinfo=UTC)
    assert thumbnail_sources(removed) == []
    assert thumbnail_for(removed, library, state_dir).reason == "the local copy was removed"


def test_a_video_gives_its_first_frame_as_it_plays_else_a_placeholder(tmp_path: Path) -> None:
    library, state_dir = tmp_path / "lib", tmp_path / "state"
    write_video(library / "IMG_3.MOV", VideoSpec(seconds=0.5, width=320, height=240,
                                                 bitrate="1M", rotation=90))
    thumb = thumbnail_for(state_for("IMG_3.MOV"), library, state_dir, ffmpeg="ffmpeg")
    assert not thumb.is_placeholder
    assert opened(thumb.data).size == (192, 256)  # shown turned, as the phone plays it
    without = thumbnail_for(state_for("IMG_3.MOV"), library, tmp_path / "other")
    assert without.is_placeholder and "no ffmpeg" in without.reason
    (library / "v.mov").write_bytes(b"\x00\x00\x00\x14ftypqt  " + bytes(500))
    damaged = thumbnail_for(state_for("v.mov", sha256="cd" * 32), library, state_dir,
                            ffmpeg="ffmpeg")
    assert damaged.is_placeholder and "ffmpeg cannot decode" in damaged.reason
    with pytest.raises(ThumbnailError, match="cannot run /nonexistent/ffmpeg"):
        make_thumbnail(library / "IMG_3.MOV", ffmpeg="/nonexistent/ffmpeg")


def test_a_raw_shows_its_jpeg_twin_first_else_a_development(tmp_path: Path) -> None:
    library, state_dir = tmp_path / "lib", tmp_path / "state"
    write_raw_dng(library / "IMG_2.DNG", 320, 240, seed=4)
    Image.new("RGB", (400, 300), (250, 0, 0)).save(library / "IMG_2.JPG")
    paired = state_for("IMG_2.DNG", extra=((res.ALTERNATIVE, "IMG_2.JPG"),))
    assert thumbnail_sources(paired) == ["IMG_2.JPG", "IMG_2.DNG"]
    red = opened(thumbnail_for(paired, library, state_dir).data)
    r, g, b = red.getpixel((10, 10))  # type: ignore[misc]
    assert r > 200 and g < 60 and b < 60
    alone = opened(make_thumbnail(library / "IMG_2.DNG"))  # no preview inside: LibRaw develops
    assert max(alone.size) <= THUMB_PX and alone.size[0] < alone.size[1]  # Orientation 6
    (library / "BAD.DNG").write_bytes(b"II*\x00" + bytes(2000))
    with pytest.raises(ThumbnailError, match="RAW LibRaw cannot read"):
        make_thumbnail(library / "BAD.DNG")


def test_many_requests_making_the_same_thumbnail_at_once_place_a_whole_one(
    tmp_path: Path,
) -> None:
    library, state_dir = tmp_path / "lib", tmp_path / "state"
    write_jpeg(library / "c.jpg", 1600, 1200, seed=5)
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: thumbnail_for(state_for("c.jpg"), library, state_dir),
                             range(16)))
    assert not any(m.is_placeholder for m in made)
    cached = cache_path(state_dir, SHA)
    assert opened(cached.read_bytes()).size == (192, THUMB_PX)  # turned (EXIF orientation 6)
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]  # no temp left
