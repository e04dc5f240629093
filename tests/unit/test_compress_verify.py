"""The still decode-back check: a cut, damaged or wrong-sized output never passes, including
a JPEG, which is checked at 1/8 scale (every scan and Huffman code still read)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from engine.compress.encoders import encode_photo
from engine.compress.verify import PhotoFacts, VerifyError, photo_facts, verify_photo
from tests.compress_media import camera_exif, write_jpeg

JPEG = {"quality": 80, "progressive": True, "optimize": True, "subsampling": "keep"}


def encoded(source: Path, settings: dict[str, object] = JPEG) -> tuple[bytes, PhotoFacts]:
    out = io.BytesIO()
    im = encode_photo(source.read_bytes(), "jpeg", settings, out)
    return out.getvalue(), photo_facts(im)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verify") / "IMG_0001.JPG"
    write_jpeg(path, 1600, 1200, seed=11)
    return path


@pytest.mark.parametrize("progressive", [True, False], ids=["progressive", "baseline"])
def test_a_faithful_jpeg_passes(source: Path, progressive: bool) -> None:
    data, facts = encoded(source, {**JPEG, "progressive": progressive})
    verify_photo(data, "jpeg", facts)  # raises if anything is off


@pytest.mark.parametrize("kept_fraction", [0.999, 0.9, 0.5, 0.1])
def test_a_cut_jpeg_fails(source: Path, kept_fraction: float) -> None:
    data, facts = encoded(source)
    with pytest.raises(VerifyError, match="does not decode"):
        verify_photo(data[: int(len(data) * kept_fraction)], "jpeg", facts)


def test_a_jpeg_without_its_end_marker_fails(source: Path) -> None:
    data, facts = encoded(source)
    assert data.endswith(b"\xff\xd9")
    with pytest.raises(VerifyError, match="does not decode"):
        verify_photo(data[:-2], "jpeg", facts)


@pytest.mark.parametrize("progressive", [True, False], ids=["progressive", "baseline"])
def test_a_jpeg_with_damaged_scan_data_fails(source: Path, progressive: bool) -> None:
    data, facts = encoded(source, {**JPEG, "progressive": progressive})
    damaged = bytearray(data)
    middle = len(data) // 2
    damaged[middle : middle + 4096] = b"\xff" * 4096
    with pytest.raises(VerifyError, match="does not decode"):
        verify_photo(bytes(damaged), "jpeg", facts)


def test_an_output_an_eighth_the_size_fails_though_the_check_decodes_at_an_eighth(
    source: Path,
) -> None:
    """The size compared is the output's full size, not the scaled decode's."""
    _data, facts = encoded(source)
    with Image.open(source) as im:
        small = io.BytesIO()
        im.resize((im.width // 8, im.height // 8)).save(
            small, "JPEG", exif=im.info["exif"], icc_profile=im.info["icc_profile"],
            xmp=im.info["xmp"],
        )
    with pytest.raises(VerifyError, match="output shows"):
        verify_photo(small.getvalue(), "jpeg", facts)


@pytest.mark.parametrize("size", [(1, 1), (7, 5), (9, 17)])
def test_a_jpeg_smaller_than_the_check_scale_is_checked(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "tiny.JPG"
    Image.effect_noise(size, 60).convert("RGB").save(path, "JPEG", exif=camera_exif(orientation=1))
    data, facts = encoded(path)
    verify_photo(data, "jpeg", facts)
    with pytest.raises(VerifyError):
        verify_photo(data[: len(data) // 2], "jpeg", facts)
