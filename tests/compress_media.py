"""Generated media with real detail and real metadata, for compression tests and benchmarks.

Photos are multi-octave noise (a 1/f spectrum like natural scenes, so encoders work as hard
as on camera output, unlike flat colour) with hard-edged shapes, saved the way a camera
would: JPEG q92 4:2:0 with EXIF (date, orientation, GPS, make/model), an ICC profile and
XMP. Videos are ffmpeg's testsrc2 with per-frame grain, H.264 or HEVC at camera bitrates,
with a rotation matrix, creation time and Apple's ISO6709 location and make/model keys.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageCms, ImageDraw

pillow_heif.register_heif_opener()

MAKE, MODEL = "Apple", "iPhone 13 Pro"
TAKEN = "2021:06:05 14:03:02"
GPS_LAT = (48.0, 51.0, 29.5)
ISO6709 = "+48.8584+002.2945+035.000/"
CONTENT_ID = "8F1B2C3D-0000-4000-8000-LIVEPHOTO001"
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"/></rdf:RDF></x:xmpmeta>'
)
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def gaussian_noise(size: tuple[int, int], sigma: float, noise: np.random.Generator) -> Image.Image:
    """What `Image.effect_noise(size, sigma)` draws (L, 128 + sigma * N(0, 1), clipped), but
    from `noise`: effect_noise draws from the C library's rand(), one sequence per process
    that every earlier call in it advances, so the same seed gave a different image
    depending on which tests ran before in that pytest worker."""
    values = 128 + sigma * noise.standard_normal((size[1], size[0]))
    return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))


def detailed_image(width: int, height: int, seed: int) -> Image.Image:
    """A photo-like RGB image: noise summed over octaves, plus sharp shapes; the same for
    the same arguments in any process."""
    rng, noise = random.Random(seed), np.random.default_rng(seed)
    result = Image.new("RGB", (width, height), (118, 124, 110))
    size, weight = 8, 0.55
    while size <= max(width, height) // 4:
        small = (max(2, size * width // max(width, height)),
                 max(2, size * height // max(width, height)))
        channels = []
        for _ in range(3):
            shift = rng.randint(-30, 30)  # a colour cast per octave
            channels.append(gaussian_noise(small, 70, noise).point(lambda v, s=shift: v + s))
        octave = Image.merge("RGB", channels).resize((width, height), Image.Resampling.BICUBIC)
        result = Image.blend(result, octave, weight)
        size, weight = size * 2, weight * 0.62
    draw = ImageDraw.Draw(result)
    for _ in range(40):
        x, y = rng.randrange(width), rng.randrange(height)
        w, h = rng.randrange(width // 20, width // 5), rng.randrange(height // 20, height // 5)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x, y, x + w, y + h), outline=colour, width=max(2, width // 500))
    grain = gaussian_noise((width, height), 24, noise)  # sensor-like grain, same in R, G, B
    return Image.blend(result, Image.merge("RGB", (grain, grain, grain)), 0.1)


def camera_exif(orientation: int = 6) -> Image.Exif:
    """EXIF as an iPhone writes the parts we check: camera, date, orientation, GPS."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = MAKE, MODEL, orientation
    exif.get_ifd(0x8769)[0x9003] = TAKEN
    exif.get_ifd(0x8769)[0x9011] = "+02:00"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", GPS_LAT, "E", (2.0, 17.0, 40.2)
    return exif


def write_jpeg(path: Path, width: int, height: int, seed: int, quality: int = 92) -> str:
    """A camera-like JPEG with full metadata; returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    detailed_image(width, height, seed).save(
        path, "JPEG", quality=quality, subsampling="4:2:0", exif=camera_exif(),
        icc_profile=SRGB_ICC, xmp=XMP,
    )
    return sha256_of(path)


def write_heic(path: Path, width: int, height: int, seed: int) -> str:
    """An iPhone-like HEIC (quality 70) with EXIF, ICC and XMP; returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    detailed_image(width, height, seed).save(
        path, "HEIF", quality=70, enc_params={"preset": "ultrafast"},
        exif=camera_exif(orientation=1), icc_profile=SRGB_ICC, xmp=XMP,
    )
    return sha256_of(path)


def write_screenshot(path: Path, width: int = 1170, height: int = 2532, seed: int = 7) -> str:
    """A phone-screenshot-like PNG: flat panels, text-like strokes, one photo thumbnail."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    im = Image.new("RGB", (width, height), (245, 245, 247))
    draw = ImageDraw.Draw(im)
    for row in range(0, height, 140):
        draw.rectangle((30, row + 10, width - 30, row + 120), fill=(255, 255, 255))
        for col in range(60, width - 200, 24):
            if rng.random() < 0.8:
                draw.text((col, row + 40), rng.choice("abcdefghijklmnop"), fill=(20, 20, 20))
    im.paste(detailed_image(width // 2, width // 3, seed), (width // 4, height // 3))
    im.save(path, "PNG", icc_profile=SRGB_ICC)
    return sha256_of(path)


def write_dng(path: Path, seed: int = 3) -> str:
    """A TIFF named like a RAW file: LibRaw cannot develop it (an undecodable RAW)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    detailed_image(600, 400, seed).save(path, "TIFF")
    return sha256_of(path)


RAW_MAKE, RAW_MODEL = "Canon", "EOS R6"


def write_raw_dng(path: Path, width: int, height: int, seed: int) -> str:
    """A real DNG LibRaw develops: the detailed image mosaicked into a 12-bit RGGB Bayer array
    (uncompressed, as many cameras write it), with camera EXIF (make/model, date, GPS, and
    Orientation 6: shown turned). Returns its sha256."""
    import numpy as np
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion, PhotometricInterpretation

    rgb = np.asarray(detailed_image(width, height, seed), dtype=np.uint16) * 16  # 12-bit
    bayer = np.empty((height, width), dtype=np.uint16)
    bayer[0::2, 0::2], bayer[0::2, 1::2] = rgb[0::2, 0::2, 0], rgb[0::2, 1::2, 1]
    bayer[1::2, 0::2], bayer[1::2, 1::2] = rgb[1::2, 0::2, 1], rgb[1::2, 1::2, 2]
    tags = DNGTags()
    for tag, value in (
        (Tag.ImageWidth, width), (Tag.ImageLength, height), (Tag.TileWidth, width),
        (Tag.TileLength, height), (Tag.SamplesPerPixel, 1), (Tag.BitsPerSample, 12),
        (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
        (Tag.CFARepeatPatternDim, [2, 2]), (Tag.CFAPattern, CFAPattern.RGGB),
        (Tag.BlackLevel, 0), (Tag.WhiteLevel, 4095),
        (Tag.ColorMatrix1, [[1, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1], [1, 1]]),
        (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
        (Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]), (Tag.Make, RAW_MAKE),
        (Tag.Model, RAW_MODEL), (Tag.DNGVersion, DNGVersion.V1_4),
    ):
        tags.set(tag, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = RAW2DNG()
    writer.options(tags, path="", compress=False)
    writer.convert(bayer, filename=str(path.with_suffix("")))
    path.with_suffix(".dng").rename(path)
    subprocess.run(
        ["exiftool", "-q", "-q", "-overwrite_original", f"-DateTimeOriginal={TAKEN}",
         "-OffsetTimeOriginal=+02:00", "-GPSLatitudeRef=N", "-GPSLatitude=48.8584",
         "-GPSLongitudeRef=E", "-GPSLongitude=2.2945", "-Orientation#=6", str(path)],
        check=True, capture_output=True, timeout=60,
    )
    return sha256_of(path)


@dataclass(frozen=True)
class VideoSpec:
    """A generated camera-like video."""

    codec: str = "libx264"  # or libx265
    seconds: float = 2.0
    width: int = 1920
    height: int = 1080
    rotation: int = 90
    bitrate: str = "12M"
    grain: int = 18
    creation_time: str = "2021-06-05T12:03:02.000000Z"


def write_video(path: Path, spec: VideoSpec, content_id: str | None = None) -> str:
    """Encode a grainy test pattern with camera metadata; returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tags = {
        "creation_time": spec.creation_time,
        "com.apple.quicktime.location.ISO6709": ISO6709,
        "com.apple.quicktime.make": MAKE,
        "com.apple.quicktime.model": MODEL,
    }
    if content_id:
        tags["com.apple.quicktime.content.identifier"] = content_id
    argv = [
        "ffmpeg", "-nostdin", "-y", "-v", "error",
        "-f", "lavfi", "-i", f"testsrc2=size={spec.width}x{spec.height}:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", str(spec.seconds), "-vf", f"noise=alls={spec.grain}:allf=t", "-c:v", spec.codec,
        "-preset", "ultrafast", "-b:v", spec.bitrate, "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "96k",
        "-movflags", "use_metadata_tags",
    ]
    if spec.codec == "libx265":
        argv += ["-tag:v", "hvc1", "-x265-params", "log-level=error"]
    for key, value in tags.items():
        argv += ["-metadata", f"{key}={value}"]
    subprocess.run([*argv, str(path)], check=True, capture_output=True, timeout=300)
    if spec.rotation:  # ffmpeg 5.1 cannot set an output display matrix; exiftool can
        subprocess.run(
            ["exiftool", "-q", "-overwrite_original", f"-Rotation={spec.rotation}", str(path)],
            check=True, capture_output=True, timeout=60,
        )
    return sha256_of(path)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def exiftool(path: Path, *tags: str) -> dict[str, str]:
    """Tag values exiftool reads from a file (-n: numbers as stored)."""
    out = subprocess.run(
        ["exiftool", "-s", "-s", "-n", *(f"-{t}" for t in tags), str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    pairs = (line.split(": ", 1) for line in out.splitlines() if ": " in line)
    return {k.strip(): v.strip() for k, v in pairs}


def psnr_db(a: Image.Image, b: Image.Image) -> float:
    """Peak signal-to-noise ratio of two same-size RGB images, without numpy."""
    from math import log10

    from PIL import ImageChops, ImageStat

    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    mse = sum(v * v for v in ImageStat.Stat(diff).rms) / 3
    return 99.0 if mse == 0 else 10 * log10(255 * 255 / mse)


def utc_taken() -> datetime:
    """The capture time written into the generated media."""
    return datetime.fromisoformat("2021-06-05T12:03:02+00:00")
