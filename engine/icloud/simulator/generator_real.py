"""Real, decodable media for a generated library, written once into a cache folder.

Invariants:
- Files are named after (zone, asset index, prefix) and reused when present, so a second
  generation with the same spec and cache folder encodes nothing.
- JPEGs are 12 MP noise over a gradient with EXIF DateTimeOriginal (Pillow), HEICs go through
  pillow-heif, MOV/MP4 through the ffmpeg binary; derived renditions are small JPEGs/MOVs;
  the RAW twin is a TIFF (CR2 is TIFF-based). Each master's declared sizes become the real
  file sizes, and its record name is derived from the original's sha256, as Apple's is from
  its checksum.
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

from engine.icloud.simulator.generator_rows import AssetPlan
from engine.icloud.simulator.library import PhotoLibraryState
from engine.icloud.simulator.rows import (
    CANON_RAW,
    HEIC,
    JPEG,
    MEDIA_KINDS,
    MPEG4,
    PNG,
    QUICKTIME,
    MasterRow,
)

FFMPEG = "/usr/bin/ffmpeg"
EXIF_DATE_TIME_ORIGINAL = 0x9003
EXIF_IFD = 0x8769


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
        path = cache_dir / f"{master.zone}-{plan.index}-{spec.prefix}{scaled}"
        if not path.exists():
            partial = path.with_suffix(".part")
            size = _render_size(master, spec.scale * pixel_scale, spec.prefix)
            if spec.file_type in (QUICKTIME, MPEG4):
                seconds = max(1, min(plan.asset.duration_s or 2, 2))
                _write_movie(
                    partial, spec.file_type, (min(size[0], 1280), min(size[1], 720)), seconds
                )
            else:
                _write_still(
                    partial,
                    spec.file_type if spec.file_type != JPEG else JPEG,
                    size,
                    plan.index,
                    plan.asset.asset_date_ms,
                )
            partial.rename(path)
        files[spec.prefix] = path
    return files


def materialise_real_content(
    state: PhotoLibraryState, plans: list[AssetPlan], cache_dir: Path, *, pixel_scale: float = 1.0
) -> None:
    """Write the media, then rename each master after its original's bytes."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    owners = [p for p in plans if p.master is not None]
    # Encoders run in C or in ffmpeg processes, so threads use every core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        made = list(
            pool.map(lambda p: _materialise_master(p, p.master, cache_dir, pixel_scale), owners)
        )
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
