"""compress with `raw: jpeg` / `raw: heic`: a real DNG developed by LibRaw into a still.

The DNG is generated (tests.compress_media.write_raw_dng): a detailed image mosaicked into a
12-bit Bayer array with camera EXIF and Orientation 6. Everything runs for real: the backup
stage, rawpy/LibRaw, the encoders, exiftool.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from engine import events as ev
from tests.compress_library import (
    COMPRESSION_HEAD,
    NOW,
    TEST_COMPRESSION,
    CompressLibrary,
    Item,
    compress_temps,
    generate_media,
    make_compress_library,
    tree_digests,
)
from tests.compress_media import RAW_MAKE, RAW_MODEL, TAKEN, exiftool, sha256_of
from tests.factories import run_cli

RAW_TIERS = """  tiers:
    light:
      min_age_days: 0
      jpeg: {{quality: 85, progressive: true, optimize: true, subsampling: keep}}
      heic: {{quality: 60, preset: ultrafast}}
    heavy:
      min_age_days: 1095
      jpeg: {{quality: 60, progressive: true, optimize: true, subsampling: keep}}
      heic: {{quality: 40, preset: ultrafast}}
"""
SUFFIX = {"jpeg": ".JPG", "heic": ".HEIC"}
PIL_FORMAT = {"jpeg": "JPEG", "heic": "HEIF"}


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_media(tmp_path_factory.getbasetemp() / "compress-media")


def raw_library(tmp_path: Path, media: Path, items: list[Item], raw: str) -> CompressLibrary:
    compression = COMPRESSION_HEAD + f"  raw: {raw}\n" + RAW_TIERS
    cl = make_compress_library(tmp_path, media, items, compression=compression)
    cl.backup_nas()
    return cl


@pytest.mark.parametrize("fmt", ["jpeg", "heic"])
def test_raw_is_developed_into_a_smaller_still_next_to_it(
    tmp_path: Path, media: Path, fmt: str
) -> None:
    cl = raw_library(tmp_path, media, [Item("IMG_0001", "camera.DNG", 100)], fmt)
    dng = cl.root / cl.relpaths["IMG_0001"]
    still = dng.with_suffix(SUFFIX[fmt])
    nas_before = tree_digests(cl.nas_root)

    summary = cl.compress()

    assert (summary.compressed, summary.failed) == (1, 0), summary.problems
    (fact,) = cl.facts("IMG_0001", ev.Compressed)
    assert fact.local_relpath_after == still.relative_to(cl.root).as_posix()
    assert (fact.codec, fact.source) == (fmt, "nas")
    assert not dng.exists() and fact.sha256_after == sha256_of(still)
    assert fact.size_bytes_after == still.stat().st_size
    assert fact.size_bytes_after < fact.size_bytes_before * 0.95
    with Image.open(still) as im:  # 2400x1600 sensor, Orientation 6: LibRaw turned the pixels
        assert im.format == PIL_FORMAT[fmt] and im.size == (1600, 2400)
        im.load()
    tags = exiftool(still, "DateTimeOriginal", "Make", "Model", "GPSLatitude", "Orientation")
    assert (tags["DateTimeOriginal"], tags["Make"], tags["Model"]) == (TAKEN, RAW_MAKE, RAW_MODEL)
    assert tags["GPSLatitude"].startswith("48.858") and tags["Orientation"] == "1"
    assert tree_digests(cl.nas_root) == nas_before and compress_temps(cl.root) == []
    assert cl.compress().compressed == 0  # the developed still is known: nothing left to do
    found = run_cli(["history", str(still)], cl.library.config_path)
    assert found.returncode == 0 and cl.ids["IMG_0001"] in found.stdout, found.stderr


def test_heavier_tier_develops_the_nas_raw_again(tmp_path: Path, media: Path) -> None:
    cl = raw_library(tmp_path, media, [Item("IMG_0002", "camera.DNG", 300)], "jpeg")
    cl.compress()
    cl.verify_nas(NOW + timedelta(days=900))

    summary = cl.compress(NOW + timedelta(days=900))  # now 1200 days old: heavy

    assert summary.failed == 0, summary.problems
    first, second = cl.facts("IMG_0002", ev.Compressed)
    still = (cl.root / cl.relpaths["IMG_0002"]).with_suffix(".JPG")
    assert (first.tier, second.tier) == ("light", "heavy")
    assert second.source == "nas" and second.local_relpath_after is None
    assert second.size_bytes_before == first.size_bytes_after > second.size_bytes_after
    assert second.sha256_after == sha256_of(still)
    with Image.open(still) as im:
        assert im.size == (1600, 2400)


def test_raw_keep_leaves_a_real_raw_alone(tmp_path: Path, media: Path) -> None:
    cl = make_compress_library(tmp_path, media, [Item("IMG_0003", "camera.DNG", 100)],
                               compression=TEST_COMPRESSION)
    cl.backup_nas()
    dng = cl.root / cl.relpaths["IMG_0003"]
    before = sha256_of(dng)

    summary = cl.compress()

    assert summary.counts() == {"compressed": 0, "skipped": 0, "failed": 0}
    assert sha256_of(dng) == before and not cl.facts("IMG_0003", ev.Compressed)
    assert [p.name for p in dng.parent.iterdir()] == [dng.name]


def test_raw_libraw_cannot_decode_fails_cleanly(tmp_path: Path, media: Path) -> None:
    cl = raw_library(tmp_path, media, [Item("IMG_0004", "raw.DNG", 100)], "jpeg")  # a TIFF
    local = cl.root / cl.relpaths["IMG_0004"]
    before = sha256_of(local)

    summary = cl.compress()

    assert (summary.compressed, summary.failed) == (0, 1)
    (skipped,) = cl.facts("IMG_0004", ev.CompressionSkipped)
    assert skipped.is_failure and "RAW cannot be developed" in skipped.reason
    assert sha256_of(local) == before and not local.with_suffix(".JPG").exists()
    assert compress_temps(cl.root) == []


def test_raw_is_left_alone_when_another_asset_holds_the_still_name(
    tmp_path: Path, media: Path
) -> None:
    cl = raw_library(tmp_path, media, [
        Item("IMG_0005", "camera.DNG", 100, folder="2024/03/01", key="RAW"),
        Item("IMG_0005", "small.JPG", 100, folder="2024/03/01", key="JPEG"),  # RAW+JPEG pair
    ], "jpeg")
    raw_before = sha256_of(cl.root / cl.relpaths["RAW"])

    summary = cl.compress()

    assert summary.failed == 0, summary.problems
    assert not cl.facts("RAW", ev.Compressed)
    assert sha256_of(cl.root / cl.relpaths["RAW"]) == raw_before
    (jpeg,) = cl.facts("JPEG", ev.Compressed)  # the JPEG is compressed in place as usual
    assert jpeg.local_relpath_after is None
    assert sha256_of(cl.root / cl.relpaths["JPEG"]) == jpeg.sha256_after
