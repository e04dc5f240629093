"""Decode-back checks: an encoder's output replaces a local copy only if it passes these.

Invariants:
- A still is opened, `verify()`-ed, reopened and decoded (a truncated file, or one the
  decoder rejects, fails the decode), and must be the expected format with the source's
  displayed dimensions, taken from its header at full size. A JPEG is decoded by libjpeg-turbo
  through simplejpeg with strict=True, so the warnings libjpeg gives for damage inside scan
  data ("Corrupt JPEG data: premature end of data segment", "N extraneous bytes before
  marker"), where it fills in zeros, skips ahead and finishes (and Pillow drops the warning),
  fail the check: zeroed or altered scan bytes, a stray marker, a cut file. It is decoded at
  1/8 scale and to grey: libjpeg still reads every scan and every Huffman code of every block
  of every component, as in a full decode, and only skips the inverse DCT of the AC
  coefficients (and of the chroma), upsampling and colour conversion, arithmetic that cannot
  fail. That halves the check's cost for a progressive JPEG. Not caught, by this or any
  decoder: damage after which the Huffman stream is still valid and the scan still ends
  where it should. Huffman codes fall back into step within a few codes, so that is often
  the case for a few damaged bytes (one flipped byte, or up to some dozens of bytes zeroed
  or altered: about half of 16-byte damages and a tenth of 64-byte ones went unseen in a
  probe of progressive and baseline outputs, none of 4096); the image decodes, only
  different. Only a hash of the output would catch those.
- A JPEG's layout is also walked, byte for byte as Pillow's libjpeg writes it: SOI, whole
  marker segments, scan data in which a 0xFF is only ever a stuffed 0xFF 0x00 or the restart
  marker due next, and EOI as the last two bytes. libjpeg stops reading at EOI, so only the
  walk sees bytes after it (an encoder that wrote on, or a file glued to another); it also
  names the first byte out of place, and costs about 1 ms for 12 MP.
- The metadata that must survive is compared with the source's, not just looked for: EXIF
  date, camera make/model and the GPS block, the ICC profile byte for byte, XMP present.
- A video is probed with packets counted (ffprobe reads every packet, so a cut file shows
  fewer): same frame count, duration within a quarter second, same coded size and rotation,
  as many audio streams, the expected codec, and every kept container tag equal. The probe
  is the command `ffmpeg.probe` starts (engine.compress.ffmpeg_cli), run by run_tool with the
  caller's timeout (ffmpeg-python's own probe has none).
- Checks raise VerifyError with the reason; they never change a file.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import simplejpeg
from PIL import Image

from engine.compress.encoders import EncodeError, run_tool
from engine.compress.ffmpeg_cli import probe_argv

FORMAT_NAMES = {"jpeg": "JPEG", "heic": "HEIF", "avif": "AVIF", "png": "PNG"}
VIDEO_CODEC_NAMES = {"libx264": "h264", "libx265": "hevc"}
# EXIF tags compared between source and output: date taken, camera, and the GPS block.
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_TOP_TAGS = {0x010F: "Make", 0x0110: "Model"}
_EXIF_TAGS = {0x9003: "DateTimeOriginal", 0x9011: "OffsetTimeOriginal"}
_ROTATED_ORIENTATIONS = frozenset({5, 6, 7, 8})
_DURATION_TOLERANCE_S = 0.25
# Errors only; read every packet (nb_read_packets) and show the streams and the container.
_PROBE_OPTIONS = {"v": "error", "count_packets": None}
_JPEG_CHECK_SCALE = 8  # libjpeg's smallest DCT scale; see the module invariants
_SOI, _EOI, _SOS, _DRI, _RST0, _RST7 = 0xD8, 0xD9, 0xDA, 0xDD, 0xD0, 0xD7
# Markers that have no length field, so cannot start a segment after SOI (TEM, SOI, RSTn) or
# are not markers at all (0x00 stuffing, 0xFF fill).
_NOT_A_SEGMENT = frozenset({0x00, 0x01, _SOI, 0xFF, *range(_RST0, _RST7 + 1)})
# In scan data a 0xFF followed by anything but 0x00 starts a marker (or is a fill byte).
_MARKER_IN_SCAN = re.compile(rb"\xff[^\x00]")


class VerifyError(Exception):
    """The output did not decode back as a faithful copy; it must not replace anything."""


@dataclass(frozen=True)
class PhotoFacts:
    """What must be equal between a still and its re-encode."""

    displayed_size: tuple[int, int]
    exif_tags: dict[str, str]
    icc_profile: bytes | None
    has_xmp: bool


def photo_facts(im: Image.Image, size: tuple[int, int] | None = None) -> PhotoFacts:
    """The comparable facts of a decoded still (`size`: its full size, if decoded scaled)."""
    exif = im.getexif()
    width, height = size or im.size
    if exif.get(0x0112) in _ROTATED_ORIENTATIONS:
        width, height = height, width  # shown turned: compare what a viewer displays
    tags = {name: str(exif[tag]) for tag, name in _TOP_TAGS.items() if tag in exif}
    sub = exif.get_ifd(_EXIF_IFD)
    tags.update({name: str(sub[tag]) for tag, name in _EXIF_TAGS.items() if tag in sub})
    gps = exif.get_ifd(_GPS_IFD)
    if gps:
        tags["GPS"] = repr(sorted((k, str(v)) for k, v in gps.items()))
    return PhotoFacts(
        displayed_size=(width, height), exif_tags=tags,
        icc_profile=im.info.get("icc_profile") or None,
        has_xmp=bool(im.info.get("xmp") or "XML:com.adobe.xmp" in getattr(im, "text", {})),
    )


def verify_photo(output: Path | bytes, target_format: str, source: PhotoFacts) -> None:
    """Decode `output` (a file, or the exact bytes to be written) back and compare it with the
    source (see module invariants)."""
    data = output if isinstance(output, bytes) else output.read_bytes()
    found, out = _decoded_facts(data)
    if found != FORMAT_NAMES[target_format]:
        raise VerifyError(f"output is {found}, expected {FORMAT_NAMES[target_format]}")
    if out.displayed_size != source.displayed_size:
        raise VerifyError(f"output shows {out.displayed_size}, source {source.displayed_size}")
    lost = {k: v for k, v in source.exif_tags.items() if out.exif_tags.get(k) != v}
    if lost:
        raise VerifyError(f"EXIF not kept: {', '.join(sorted(lost))}")
    if source.icc_profile and out.icc_profile != source.icc_profile:
        raise VerifyError("ICC profile not kept")
    if source.has_xmp and not out.has_xmp:
        raise VerifyError("XMP not kept")


def _decoded_facts(data: bytes) -> tuple[str | None, PhotoFacts]:
    """The format Pillow finds and the facts of the decoded still (a JPEG decoded strictly at
    1/8 scale by simplejpeg; Pillow reads only its headers and metadata)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            found = im.format
            im.verify()
        with Image.open(io.BytesIO(data)) as im:
            if found == "JPEG":
                check_jpeg_layout(data)  # first: it names the byte out of place
                decode_jpeg_strictly(data)
            else:
                im.load()
            return found, photo_facts(im)
    except VerifyError:
        raise
    except Exception as exc:  # any decoder complaint means the file is not usable
        raise VerifyError(f"output does not decode: {type(exc).__name__}: {exc}") from None


def check_jpeg_layout(data: bytes) -> None:
    """Walk a JPEG's marker segments and scan data (see module invariants); VerifyError at
    the first byte out of place. Costs a few regex searches per scan, not a decode."""
    if not data.startswith(b"\xff\xd8"):
        raise _corrupt("no SOI marker at the start")
    pos, scans, restart_interval = 2, 0, 0
    while (code := _marker_at(data, pos)) != _EOI:
        end = _segment_end(data, pos)
        if code == _DRI:
            restart_interval = int.from_bytes(data[pos + 4 : pos + 6], "big")
        if code == _SOS:
            scans += 1
            end = _scan_end(data, end, restart_interval)
        pos = end
    if not scans:
        raise _corrupt("EOI before any scan")
    if pos + 2 != len(data):
        raise _corrupt(f"{len(data) - pos - 2} bytes after the EOI marker at byte {pos}")


def _corrupt(what: str) -> VerifyError:
    # Worded as libjpeg words these faults, which it only warns about (see module invariants).
    return VerifyError(f"output does not decode: corrupt JPEG data: {what}")


def _marker_at(data: bytes, pos: int) -> int:
    """The code of the marker that must start at `pos` (one that may follow a segment)."""
    if pos + 2 > len(data):
        raise _corrupt("the file ends without an EOI marker")
    if data[pos] != 0xFF:
        raise _corrupt(f"byte {pos} is 0x{data[pos]:02X} where a marker must start")
    code = data[pos + 1]
    if code == 0xFF:
        raise _corrupt(f"a run of 0xFF (fill bytes) at byte {pos}")
    if code in _NOT_A_SEGMENT:
        raise _corrupt(f"marker 0xFF{code:02X} out of place at byte {pos}")
    return code


def _segment_end(data: bytes, pos: int) -> int:
    """Where the marker segment at `pos` ends (EOI has no segment and is never passed in)."""
    length = int.from_bytes(data[pos + 2 : pos + 4], "big")
    if length < 2 or pos + 2 + length > len(data):
        raise _corrupt(f"marker 0xFF{data[pos + 1]:02X} at byte {pos} has length {length}")
    return pos + 2 + length


def _scan_end(data: bytes, pos: int, restart_interval: int) -> int:
    """Where the scan data starting at `pos` ends: at the first marker that is not the restart
    marker due next (RST0..RST7 in turn, and only with a restart interval)."""
    due = _RST0
    while found := _MARKER_IN_SCAN.search(data, pos):
        code = data[found.start() + 1]
        if not _RST0 <= code <= _RST7:
            return found.start()
        if not restart_interval or code != due:
            raise _corrupt(f"restart marker 0xFF{code:02X} out of place at byte {found.start()}")
        due = _RST0 + (code - _RST0 + 1) % 8
        pos = found.end()
    raise _corrupt("scan data runs to the end of the file")


def decode_jpeg_strictly(data: bytes) -> None:
    """Decode a JPEG at 1/8 scale (at least one pixel each way) to grey, with every libjpeg
    warning raised as an error (ValueError); see module invariants."""
    simplejpeg.decode_jpeg(
        data, colorspace="GRAY", strict=True, min_height=1, min_width=1,
        min_factor=_JPEG_CHECK_SCALE,
    )


@dataclass(frozen=True)
class VideoFacts:
    """What ffprobe says about a video file (packets counted)."""

    codec: str
    width: int
    height: int
    pix_fmt: str
    rotation: int
    frames: int
    duration_s: float
    audio_streams: int
    tags: dict[str, str] = field(default_factory=dict)


def probe_video(path: Path, ffprobe: str, timeout_s: float) -> VideoFacts:
    """Probe a video, counting every packet; VerifyError if it cannot be read."""
    try:
        out = run_tool(probe_argv(ffprobe, path, _PROBE_OPTIONS), timeout_s)
        data: dict[str, Any] = json.loads(out)
    except (EncodeError, ValueError) as exc:
        raise VerifyError(f"ffprobe cannot read {path.name}: {exc}") from None
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is None:
        raise VerifyError(f"{path.name} has no video stream")
    return VideoFacts(
        codec=str(video.get("codec_name", "")),
        width=int(video.get("width", 0)), height=int(video.get("height", 0)),
        pix_fmt=str(video.get("pix_fmt", "")), rotation=_rotation(video),
        frames=int(video.get("nb_read_packets", 0)),
        duration_s=float(data.get("format", {}).get("duration", 0.0)),
        audio_streams=sum(1 for s in streams if s.get("codec_type") == "audio"),
        tags={str(k): str(v) for k, v in data.get("format", {}).get("tags", {}).items()},
    )


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return int(side["rotation"]) % 360
    return int(stream.get("tags", {}).get("rotate", 0)) % 360


def is_kept_tag(key: str) -> bool:
    """Container tags a re-encode must carry over (date, place, camera, Live Photo id)."""
    lowered = key.lower()
    return lowered.startswith("com.apple.quicktime.") or lowered in (
        "creation_time", "location", "location-eng", "make", "model",
    )


def verify_video(out: VideoFacts, source: VideoFacts, codec: str) -> None:
    """Compare a re-encoded video's probe with its source's (see module invariants)."""
    problems = []
    if out.codec != VIDEO_CODEC_NAMES[codec]:
        problems.append(f"codec {out.codec}, expected {VIDEO_CODEC_NAMES[codec]}")
    if out.frames != source.frames:
        problems.append(f"{out.frames} frames, source {source.frames}")
    if abs(out.duration_s - source.duration_s) > _DURATION_TOLERANCE_S:
        problems.append(f"duration {out.duration_s:.2f} s, source {source.duration_s:.2f} s")
    if (out.width, out.height, out.rotation) != (source.width, source.height, source.rotation):
        problems.append(
            f"{out.width}x{out.height} rotated {out.rotation}, source "
            f"{source.width}x{source.height} rotated {source.rotation}"
        )
    if out.audio_streams != source.audio_streams:
        problems.append(f"{out.audio_streams} audio streams, source {source.audio_streams}")
    lost = sorted(k for k, v in source.tags.items() if is_kept_tag(k) and out.tags.get(k) != v)
    if lost:
        problems.append(f"tags not kept: {', '.join(lost)}")
    if problems:
        raise VerifyError("; ".join(problems))
