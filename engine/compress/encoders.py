"""Encoder effects: Pillow / pillow-heif for stills, ffmpeg for video, always into a temp file.

Invariants:
- An encoder writes only to memory or to a temp file beside the local copy (the placement
  temp name, engine.placement.temp_path with tag "compress", never read as content); the
  local copy and the source are never opened for writing here. Temp files of older versions
  (suffix LEGACY_TEMP_SUFFIX) are removed like the current ones.
- Photos keep EXIF (date, orientation, GPS, camera), the ICC profile and XMP by passing them
  to the encoder explicitly (Pillow drops all three otherwise). Pixels are not rotated: the
  orientation stays a tag (HEIF writers turn it into an `irot` box).
- Videos keep the rotation matrix (`-noautorotate`: the pixels are not turned), creation time
  (set explicitly), and Apple's `mdta` keys (ISO6709 location, make, model) through
  `-movflags use_metadata_tags`. Audio is copied unless the tier says otherwise.
- Every ffmpeg call has a timeout and dies with its parent (PR_SET_PDEATHSIG), so a killed
  worker leaves no encoder running.
- ffmpeg-python builds the video command line (engine.compress.ffmpeg_cli) and run_tool
  runs it; the encode it asks for is the same as the hand-written command of earlier
  versions, byte for byte (tests/unit/test_encoders_ffmpeg.py).
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any, BinaryIO

import pillow_heif
from PIL import Image, PngImagePlugin

from engine.child_env import child_environment
from engine.compress.ffmpeg_cli import encode_argv
from engine.compress.process import die_with_parent
from engine.fsutil import remove_temps_beside
from engine.placement import temp_path

TEMP_TAG = "compress"
# Older versions named their temp files `.<name[:100]>.<8 hex>.photoledger-compress`
# (engine.tempfiles lists the suffix too).
LEGACY_TEMP_SUFFIX = ".photoledger-compress"
_LEGACY_STEM_CHARS = 100
# No stdin, overwrite the temp file, errors only (the last stderr line is the failure's reason).
_FFMPEG_GLOBAL_OPTIONS = ("-nostdin", "-y", "-v", "error")
_VIDEO_STREAMS = ("v:0", "a?")  # the first video stream, and every audio stream there is
pillow_heif.register_heif_opener()


class EncodeError(Exception):
    """An encoder failed, crashed or timed out; the local copy is untouched."""


def temp_path_for(target: Path) -> Path:
    """The temp file an encode of `target` writes beside it."""
    return temp_path(target, TEMP_TAG)


def remove_stale_temps(target: Path) -> int:
    """Remove temp files a killed encode of `target` left beside it; returns how many."""
    removed = 0
    try:
        temp_path_for(target).unlink()
        removed = 1
    except FileNotFoundError:
        pass
    prefix = f".{target.name[:_LEGACY_STEM_CHARS]}."
    return removed + remove_temps_beside(target, prefix, LEGACY_TEMP_SUFFIX)


def metadata_kwargs(im: Image.Image) -> dict[str, Any]:
    """The save() arguments that carry a still's EXIF, ICC profile and XMP across."""
    kwargs: dict[str, Any] = {}
    for key in ("exif", "icc_profile", "xmp"):
        value = im.info.get(key)
        if value:
            kwargs[key] = value.encode() if isinstance(value, str) else value
    return kwargs


def encode_photo(
    source: bytes | Image.Image, target_format: str, settings: dict[str, Any],
    out: Path | BinaryIO,
) -> Image.Image:
    """Decode `source` (or take it already decoded, e.g. a developed RAW), encode it to `out`
    (a temp file or memory) per settings; returns the decoded source (loaded)."""
    if isinstance(source, Image.Image):
        im = source
    else:
        im = Image.open(io.BytesIO(source))
        im.load()
    meta = metadata_kwargs(im)
    if target_format == "png":
        _save_png(im, settings, out, meta)
        return im
    pixels = im if im.mode in ("RGB", "L") else im.convert("RGB")
    if target_format == "jpeg":
        subsampling = settings["subsampling"]
        if subsampling == "keep" and im.format != "JPEG":
            subsampling = "4:2:0"  # "keep" means the source JPEG's; other sources have none
        pixels.save(
            out, "JPEG", quality=settings["quality"], progressive=settings["progressive"],
            optimize=settings["optimize"], subsampling=subsampling, **meta,
        )
    elif target_format == "heic":
        pixels.save(
            out, "HEIF", quality=settings["quality"],
            enc_params={"preset": settings["preset"]}, **meta,
        )
    elif target_format == "avif":
        pixels.save(out, "AVIF", quality=settings["quality"], speed=settings["speed"], **meta)
    else:
        raise EncodeError(f"no photo encoder for {target_format!r}")
    return im


def _save_png(
    im: Image.Image, settings: dict[str, Any], out: Path | BinaryIO, meta: dict[str, Any]
) -> None:
    text_chunks = PngImagePlugin.PngInfo()
    for key, value in getattr(im, "text", {}).items():
        text_chunks.add_itxt(key, value)  # XMP of a PNG lives in an iTXt chunk
    meta.pop("xmp", None)
    im.save(
        out, "PNG", optimize=True, compress_level=settings["compress_level"],
        pnginfo=text_chunks, **meta,
    )


def run_tool(argv: list[str], timeout_s: float) -> str:
    """Run ffmpeg/ffprobe; stdout on success, EncodeError on failure or timeout."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_s, check=False,
            stdin=subprocess.DEVNULL, preexec_fn=die_with_parent, env=child_environment(),
        )
    except subprocess.TimeoutExpired:
        raise EncodeError(f"{Path(argv[0]).name} timed out after {timeout_s:.0f} s") from None
    except OSError as exc:
        raise EncodeError(f"cannot run {argv[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise EncodeError(f"{Path(argv[0]).name} exited {done.returncode}: {last[:300]}")
    return done.stdout


def video_argv(
    ffmpeg: str, source: Path, out: Path, settings: dict[str, Any], *, pix_fmt: str,
    creation_time: str | None,
) -> list[str]:
    """The ffmpeg command line that re-encodes the video and keeps its metadata, built by
    ffmpeg-python (engine.compress.ffmpeg_cli); the output file is its last argument."""
    codec = settings["codec"]
    ten_bit = "10" in pix_fmt and codec == "libx265"
    options: dict[str, str | None] = {
        "c:v": codec, "preset": settings["preset"], "crf": str(settings["crf"]),
        "pix_fmt": "yuv420p10le" if ten_bit else "yuv420p", "fps_mode": "passthrough",
        "map_metadata": "0", "movflags": "use_metadata_tags",
    }
    if codec == "libx265":
        options |= {"tag:v": "hvc1", "x265-params": "log-level=error"}  # hvc1: Apple plays it
    if settings["copy_audio"]:
        options["c:a"] = "copy"
    else:
        options |= {"c:a": "aac", "b:a": f"{settings['audio_kbps']}k"}
    if creation_time:  # some ffmpeg builds write 0000:00:00 unless it is set explicitly
        options["metadata"] = f"creation_time={creation_time}"
    container = "mp4" if source.suffix.lower() in (".mp4", ".m4v") else "mov"
    return encode_argv(
        ffmpeg, _FFMPEG_GLOBAL_OPTIONS, source, out, input_options={"noautorotate": None},
        streams=_VIDEO_STREAMS, output_format=container, output_options=options,
    )
