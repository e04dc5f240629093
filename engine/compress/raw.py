"""RAW development: a camera RAW (DNG, CR2, NEF ...) decoded by LibRaw into a still to encode.

Invariants:
- Only the source bytes already hashed against the original are read: LibRaw (rawpy) decodes
  them from memory and exiftool reads their tags from its standard input. No file is opened
  or written here.
- LibRaw turns the pixels the way the camera's orientation says, so the developed still
  carries Orientation 1 (a viewer shows it as the RAW is shown, never turned twice), and
  its size must be the one LibRaw reports for the turned image.
- The still's EXIF (date, offset, camera, GPS, exposure) is the RAW's own, copied by
  exiftool without maker notes; the encoder passes it on and the decode-back check compares
  the output's EXIF with it.
- A RAW LibRaw cannot decode, a size mismatch, or an exiftool failure raises EncodeError;
  the caller then leaves the local copy as it was.
"""

from __future__ import annotations

import io
import subprocess

import rawpy
from PIL import Image

from engine.child_env import child_environment
from engine.compress.encoders import EncodeError
from engine.compress.process import die_with_parent

_EXIF_HEADER = b"Exif\x00\x00"
_TURNED_FLIPS = frozenset({5, 6})  # LibRaw's flip codes for a quarter turn
# Copy the EXIF group (GPS included) from the RAW into a bare EXIF block on stdout; maker
# notes stay behind (they can exceed a JPEG's 64 KiB APP1 segment).
_EXIF_ARGV = ("-q", "-q", "-tagsFromFile", "-", "-exif:all", "--makernotes:all",
              "-Orientation#=1", "-o", "-.exif")


def develop_raw(data: bytes, exiftool: str, exif_timeout_s: float = 60.0) -> Image.Image:
    """Develop RAW bytes into an 8-bit RGB still carrying the RAW's EXIF (as `info["exif"]`),
    read by the `exiftool` command."""
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            sizes = raw.sizes
            rgb = raw.postprocess(use_camera_wb=True, output_bps=8)
    except (rawpy.LibRawError, rawpy.NotSupportedError, ValueError) as exc:
        raise EncodeError(f"RAW cannot be developed: {type(exc).__name__}: {exc}") from None
    im = Image.fromarray(rgb)
    expected = (sizes.width, sizes.height)
    if sizes.flip in _TURNED_FLIPS:
        expected = (sizes.height, sizes.width)
    if im.size != expected or im.mode != "RGB":
        raise EncodeError(f"RAW developed to {im.mode} {im.size}, LibRaw reports {expected}")
    exif = raw_exif(data, exiftool, exif_timeout_s)
    if exif:
        im.info["exif"] = exif
    return im


def raw_exif(data: bytes, exiftool: str, timeout_s: float) -> bytes:
    """The RAW's EXIF block (with the JPEG APP1 header), Orientation set to 1; b"" if none."""
    try:
        done = subprocess.run(
            [exiftool, *_EXIF_ARGV], input=data, capture_output=True, timeout=timeout_s,
            check=False, preexec_fn=die_with_parent, env=child_environment(),
        )
    except subprocess.TimeoutExpired:
        raise EncodeError(f"exiftool timed out after {timeout_s:.0f} s") from None
    except OSError as exc:
        raise EncodeError(f"cannot run {exiftool}: {exc.strerror}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or "no message"
        raise EncodeError(f"exiftool exited {done.returncode}: {message[:300]}")
    return _EXIF_HEADER + done.stdout if done.stdout else b""
