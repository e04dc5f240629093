"""Real, decodable media for a generated library, written once into a cache folder.

Invariants:
- Files are named after (zone, asset index, prefix, file type) and reused when present, so a
  second generation with the same spec and cache folder encodes nothing, and a file left by a
  generator that planned another type at that place is never served as this one.
- JPEGs are 12 MP noise over a gradient with EXIF DateTimeOriginal (Pillow), HEICs go through
  pillow-heif, MOV/MP4 through the ffmpeg binary; derived renditions are small JPEGs/MOVs;
  the RAW (original or twin) is a TIFF (CR2 is TIFF-based). Each master's declared sizes
  become the real file sizes, and its record name is derived from the original's sha256, as
  Apple's is from its checksum.
- An edited asset gets real edit renders too: a JPEG for resJPEGFull and, when it has an
  edited video, a QuickTime movie for resVidFull; the asset's declared sizes become theirs.
  (Edits made later through PhotoLibraryState.edit_asset serve fast bytes.)
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from simulator.icloud.generator_rows import AssetPlan
from simulator.icloud.library import PhotoLibraryState
from simulator.icloud.records import video_render_dims
from simulator.icloud.rows import (
    CANON_RAW,
    HEIC,
    JPEG,
    JPEG_FULL,
    MEDIA_KINDS,
    MPEG4,
    PNG,
    QUICKTIME,
    VID_FULL,
    MasterRow,
)

FFMPEG = "/usr/bin/ffmpeg"
EXIF_DATE_TIME_ORIGINAL = 0x9003
EXIF_IFD = 0x8769
SUFFIX_BY_TYPE = {JPEG: "jpg", HEIC: "heic", PNG: "png", CANON_RAW: "tif", QUICKTIME: "mov"}
SUFFIX_BY_TYPE[MPEG4] = "mp4"


def _picture(width: int, height: int, seed: int) -> Image.Image:
    # Low-resolution noise scaled up: photo-like detail that compresses to realistic sizes.
    noise = Image.effect_noise((max(1, width // 3), max(1, height // 3)), 40 + seed % 32)
    noise = noise.convert("L").resize((width, height), Image.Resampling.BILINEAR)
    gradient = Image.linear_gradient("L").resize((width, height))
    return Image.merge("RGB", (noise, gradient, Image.blend(noise, gradient, 0.5)))


def _write_still(
    path: Path, file_type: str, size: tuple[int, int], seed: int, taken_ms: int
) -> None:
    image = _picture(size[0], size[1], seed)
    exif = Image.Exif()
    taken = datetime.fromtimestamp(taken_ms / 1000, tz=UTC)
    exif.get_ifd(EXIF_IFD)[EXIF_DATE_TIME_ORIGINAL] = taken.strftime("%Y:%m:%d %H:%M:%S")
    if file_type == HEIC:
        from pillow_heif import register_heif_opener

        register_heif_opener()
        image.save(path, format="HEIF", quality=60, exif=exif.tobytes())
    elif file_type == PNG:
        image.save(path, format="PNG", compress_level=1)
    elif file_type == CANON_RAW:
        image.save(path, format="TIFF")
    else:
        image.save(path, format="JPEG", quality=92, exif=exif.tobytes())


def _write_movie(path: Path, file_type: str, size: tuple[int, int], seconds: int) -> None:
    container = "mp4" if file_type == MPEG4 else "mov"
    command = [
        FFMPEG, "-loglevel", "error", "-y", "-f", "lavfi",
        "-i", f"testsrc2=size={size[0]}x{size[1]}:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "8M", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-shortest", "-f", container, str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def _render_size(master: MasterRow, scale: float, prefix: str) -> tuple[int, int]:
    if prefix == "resOriginal" and MEDIA_KINDS[master.kind].item_type in (HEIC, PNG):
        scale *= 0.5  # keeps HEIC encoding within the time budget; still megapixels
    return (
        max(16, int(master.width * scale)) // 2 * 2,
        max(16, int(master.height * scale)) // 2 * 2,
    )


def _materialise_master(
    plan: AssetPlan, master: MasterRow, cache_dir: Path, pixel_scale: float
) -> dict[str, Path]:
    files: dict[str, Path] = {}
    scaled = "" if pixel_scale == 1.0 else f"-s{round(pixel_scale * 1000)}"  # never shared
    for spec in MEDIA_KINDS[master.kind].resources:
        size = _render_size(master, spec.scale * pixel_scale, spec.prefix)
        stem = f"{master.zone}-{plan.index}-{spec.prefix}{scaled}"
        files[spec.prefix] = _cached(cache_dir, stem, spec.file_type, size, plan)
    return files


def _cached(
    cache_dir: Path, stem: str, file_type: str, size: tuple[int, int], plan: AssetPlan
) -> Path:
    """The cached file for this stem and type, encoded first when absent."""
    path = cache_dir / f"{stem}.{SUFFIX_BY_TYPE.get(file_type, 'bin')}"
    if path.exists():
        return path
    partial = path.with_suffix(".part")
    if file_type in (QUICKTIME, MPEG4):
        seconds = max(1, min(plan.asset.duration_s or 2, 2))
        _write_movie(partial, file_type, (min(size[0], 1280), min(size[1], 720)), seconds)
    else:
        _write_still(partial, file_type, size, plan.index, plan.asset.asset_date_ms)
    partial.rename(path)
    return path


def _materialise_edits(
    plan: AssetPlan, master: MasterRow, cache_dir: Path, pixel_scale: float
) -> dict[str, Path]:
    """Real edit renders of an edited asset: resJPEGFull, and resVidFull when it has one."""
    asset = plan.asset
    if asset.edit_rev == 0:
        return {}
    scaled = "" if pixel_scale == 1.0 else f"-s{round(pixel_scale * 1000)}"
    stem = f"{asset.zone}-{plan.index}-{asset.record_name[:8]}-e{asset.edit_rev}"
    still = _render_size(master, pixel_scale * 0.5, JPEG_FULL)
    files = {JPEG_FULL: _cached(cache_dir, f"{stem}-{JPEG_FULL}{scaled}", JPEG, still, plan)}
    if asset.adjusted_video_size_bytes > 0:
        width, height = video_render_dims(master)
        movie = (
            max(16, int(width * pixel_scale)) // 2 * 2,
            max(16, int(height * pixel_scale)) // 2 * 2,
        )
        files[VID_FULL] = _cached(cache_dir, f"{stem}-{VID_FULL}{scaled}", QUICKTIME, movie, plan)
    return files


def materialise_real_content(
    state: PhotoLibraryState, plans: list[AssetPlan], cache_dir: Path, *, pixel_scale: float = 1.0
) -> None:
    """Write the media, then rename each master after its original's bytes."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    owners = [p for p in plans if p.master is not None]
    master_of = {p.master.record_name: p.master for p in owners if p.master is not None}
    edited = [p for p in plans if p.asset.edit_rev > 0 and p.asset.master_name in master_of]
    # Encoders run in C or in ffmpeg processes, so threads use every core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        made = list(
            pool.map(lambda p: _materialise_master(p, p.master, cache_dir, pixel_scale), owners)
        )
        edits = list(
            pool.map(
                lambda p: _materialise_edits(
                    p, master_of[p.asset.master_name], cache_dir, pixel_scale
                ),
                edited,
            )
        )
    for plan, edit_files in zip(edited, edits, strict=True):
        _adopt_edits(state, plan, edit_files)
    files_by_index = {p.index: files for p, files in zip(owners, made, strict=True)}
    renamed: dict[str, str] = {}
    for plan in plans:
        master = plan.master
        if master is None:
            plan.asset.master_name = renamed.get(plan.asset.master_name, plan.asset.master_name)
            continue
        files = files_by_index[plan.index]
        digest = hashlib.sha256(files["resOriginal"].read_bytes()).digest()[:20]
        new_name = base64.b64encode(b"\x01" + digest).decode("ascii")
        renamed[master.record_name] = new_name
        master.record_name = new_name
        plan.asset.master_name = new_name
        master.sizes_bytes = tuple(
            files[s.prefix].stat().st_size for s in MEDIA_KINDS[master.kind].resources
        )
        for prefix, path in files.items():
            state.real_files[(new_name, prefix)] = path


def _adopt_edits(state: PhotoLibraryState, plan: AssetPlan, files: dict[str, Path]) -> None:
    """Declare the edit renders at their real sizes and serve them."""
    asset = plan.asset
    for prefix, path in files.items():
        state.real_files[(asset.record_name, prefix)] = path
    if JPEG_FULL in files:
        asset.adjusted_size_bytes = files[JPEG_FULL].stat().st_size
    if VID_FULL in files:
        asset.adjusted_video_size_bytes = files[VID_FULL].stat().st_size
