"""Small previews of an asset, made from its local copy and cached in the state folder.

Invariants:
- A thumbnail is a JPEG at most `size_px` on its longer side, turned as its EXIF orientation
  says, made with Pillow (pillow-heif registered here, so HEIC/HEIF decode). It is read from
  the library's local files only (never iCloud, never the NAS): the edited still when there is
  one, else the current local copy (compressed or not), else the RAW/JPEG twin.
- A camera RAW gives its JPEG twin or edited still first, then LibRaw's embedded preview, then
  a half-size development. A video gives its first frame, turned as it plays, decoded by the
  configured ffmpeg (a child process with a timeout, no secret in its environment, killed
  with this one); without ffmpeg, or when it cannot, a placeholder.
- Whatever cannot be read (missing file, damaged bytes, unknown format, a decoder's error)
  gives a placeholder image that says why in a word or two; making a thumbnail never raises
  for a bad file. `Thumbnail.reason` says why in a sentence.
- The cache is keyed by the asset's downloaded sha256 and the size (`<sha>-<size>.jpg` under
  `<state dir>/thumbnails/<sha[:2]>/`), written durably through engine.placement (mode 0600:
  a library's photos are private), each writer through its own temp file, so two requests
  making the same thumbnail at once both place a whole one. Placeholders are never cached: a
  copy that appears later gets its thumbnail.
- No web imports, no clock, no network.
"""

from __future__ import annotations

import io
import secrets
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePath

import pillow_heif
import rawpy
from PIL import Image, ImageDraw, ImageFont, ImageOps

from engine import resources as res
from engine.asset import MediaState
from engine.child_env import child_environment
from engine.compress.process import die_with_parent
from engine.placement import place_bytes

pillow_heif.register_heif_opener()

THUMB_PX = 256
JPEG_QUALITY = 80
CACHE_FOLDER = "thumbnails"
RAW_SUFFIXES = frozenset({".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf",
                          ".sr2", ".raf", ".orf", ".rw2", ".pef", ".srw", ".raw", ".3fr",
                          ".erf", ".kdc", ".mos", ".iiq", ".x3f"})
VIDEO_SUFFIXES = frozenset({".mov", ".mp4", ".m4v", ".avi", ".3gp", ".mkv", ".webm"})
VIDEO_FRAME_TIMEOUT_S = 20.0


class ThumbnailError(Exception):
    """A file could not be turned into a thumbnail (the message says why, in one line)."""


@dataclass(frozen=True)
class Thumbnail:
    """An image to show for an asset: JPEG bytes, or a PNG placeholder saying why not."""

    data: bytes
    media_type: str  # "image/jpeg" or "image/png"
    is_placeholder: bool = False
    reason: str = ""  # why a placeholder ("" for a real thumbnail)


def cache_path(state_dir: Path, sha256: str, size_px: int = THUMB_PX) -> Path:
    """Where the thumbnail of the content `sha256` at `size_px` is cached."""
    return state_dir / CACHE_FOLDER / sha256[:2] / f"{sha256}-{size_px}.jpg"


def thumbnail_for(state: MediaState, library_root: Path, state_dir: Path,
                  size_px: int = THUMB_PX, *, ffmpeg: str | None = None) -> Thumbnail:
    """The asset's thumbnail: from the cache, else made from its local files and cached,
    else a placeholder (see the module invariants); `ffmpeg` decodes a video's frame."""
    if state.sha256 is None:
        return placeholder("not downloaded", "the asset was never downloaded")
    cached = cache_path(state_dir, state.sha256, size_px)
    try:
        return Thumbnail(cached.read_bytes(), "image/jpeg")
    except OSError:
        pass
    sources = thumbnail_sources(state)
    if not sources:
        return placeholder("no local copy", "the local copy was removed")
    reasons = []
    for relpath in sources:
        try:
            data = make_thumbnail(library_root / relpath, size_px, ffmpeg=ffmpeg)
        except ThumbnailError as exc:
            reasons.append(f"{relpath}: {exc}")
            continue
        _store(cached, data)
        return Thumbnail(data, "image/jpeg")
    return placeholder(_short_reason(sources), "; ".join(reasons))


def thumbnail_sources(state: MediaState) -> list[str]:
    """The local files a thumbnail may be made from, best first (relpaths in the library)."""
    by_key = {r.key: r.relpath for r in state.resources_downloaded}
    current = None if state.local_removed_at_utc else (state.compressed_relpath
                                                       or state.local_relpath)
    ordered = [by_key.get(res.ADJUSTED), current, by_key.get(res.ALTERNATIVE)]
    # A RAW original is the last resort (LibRaw); a twin or an edit look as the user saw them.
    ordered.sort(key=lambda p: p is not None and _suffix(p) in RAW_SUFFIXES)
    seen: list[str] = []
    for relpath in ordered:
        if relpath is not None and relpath not in seen:
            seen.append(relpath)
    return seen


def make_thumbnail(path: Path, size_px: int = THUMB_PX, *, ffmpeg: str | None = None) -> bytes:
    """A JPEG thumbnail of the image, RAW or (with `ffmpeg`) video at `path`; ThumbnailError
    when it cannot be made."""
    suffix = _suffix(path.name)
    if suffix in VIDEO_SUFFIXES:
        if ffmpeg is None:
            raise ThumbnailError("a video (no ffmpeg to decode a frame)")
        return _encode(_video_frame(path, ffmpeg, size_px), size_px)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ThumbnailError(f"cannot be read: {exc.strerror or exc}") from None
    image = _raw_preview(data) if suffix in RAW_SUFFIXES else _decode(data)
    return _encode(image, size_px)


def _decode(data: bytes) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.draft("RGB", (THUMB_PX * 2, THUMB_PX * 2))  # JPEG: decode at a reduced scale
            turned = ImageOps.exif_transpose(opened)
            turned.load()
            return turned
    except Exception as exc:  # Pillow raises many types for damaged or unknown bytes
        raise ThumbnailError(f"not a readable image ({type(exc).__name__}: {exc})"[:200]) from None


def _video_frame(path: Path, ffmpeg: str, size_px: int) -> Image.Image:
    """The video's first frame as it plays (ffmpeg applies the rotation), as a PNG from ffmpeg."""
    argv = [ffmpeg, "-nostdin", "-v", "error", "-i", str(path), "-frames:v", "1",
            "-vf", f"scale={size_px * 2}:{size_px * 2}:force_original_aspect_ratio=decrease",
            "-f", "image2pipe", "-c:v", "png", "-"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=VIDEO_FRAME_TIMEOUT_S,
                              check=False, stdin=subprocess.DEVNULL,
                              preexec_fn=die_with_parent, env=child_environment())
    except subprocess.TimeoutExpired:
        raise ThumbnailError(f"a video ffmpeg did not decode in {VIDEO_FRAME_TIMEOUT_S:.0f} s"
                             ) from None
    except OSError as exc:
        raise ThumbnailError(f"a video: cannot run {ffmpeg}: {exc.strerror or exc}") from None
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise ThumbnailError(f"a video ffmpeg cannot decode ({(message or ['no frame'])[-1]})"
                             [:200])
    return _decode(done.stdout)


def _raw_preview(data: bytes) -> Image.Image:
    """The RAW's embedded preview, else a half-size development by LibRaw."""
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            try:
                thumb = raw.extract_thumb()
            except (rawpy.LibRawError, rawpy.NotSupportedError):
                return Image.fromarray(raw.postprocess(half_size=True, use_camera_wb=True,
                                                       output_bps=8))
            if isinstance(thumb.data, bytes):  # ThumbFormat.JPEG
                return _decode(thumb.data)
            return Image.fromarray(thumb.data)
    except ThumbnailError:
        raise
    except Exception as exc:  # LibRaw's errors for damaged or unsupported RAWs
        raise ThumbnailError(f"a RAW LibRaw cannot read ({type(exc).__name__})") from None


def _encode(image: Image.Image, size_px: int) -> bytes:
    try:
        small = image.convert("RGB")
        small.thumbnail((size_px, size_px), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        small.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    except Exception as exc:  # a truncated image fails only when its pixels are read
        raise ThumbnailError(f"not a readable image ({type(exc).__name__}: {exc})"[:200]) from None
    return out.getvalue()


def _store(target: Path, data: bytes) -> None:
    """Cache a thumbnail; a cache that cannot be written costs a remake later, nothing more."""
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # A temp name of its own: two requests may make the same thumbnail at once.
        place_bytes(target, data, tag=f"thumb-{secrets.token_hex(4)}", mode=0o600)
    except OSError:
        pass


def _suffix(name: str) -> str:
    return PurePath(name).suffix.lower()


def _short_reason(sources: list[str]) -> str:
    suffixes = {_suffix(s) for s in sources}
    if suffixes <= VIDEO_SUFFIXES:
        return "video"
    return "unreadable"


def placeholder(label: str, reason: str, size_px: int = THUMB_PX) -> Thumbnail:
    """A grey PNG square naming why there is no thumbnail."""
    return Thumbnail(_placeholder_png(label, size_px), "image/png", True, reason)


@lru_cache(maxsize=16)
def _placeholder_png(label: str, size_px: int) -> bytes:
    image = Image.new("RGB", (size_px, size_px), (225, 225, 225))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(12, size_px // 10))
    box = draw.textbbox((0, 0), label, font=font)
    width, height = box[2] - box[0], box[3] - box[1]
    draw.text(((size_px - width) / 2, (size_px - height) / 2), label, fill=(90, 90, 90),
              font=font)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
