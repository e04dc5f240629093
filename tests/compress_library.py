"""A library seeded with generated media, backed up to a real NAS folder, for compression tests.

Media are generated once per test session (tests.compress_media) and copied into each
library; facts are real ledger events (Discovered, Downloaded), and NAS verification comes
from the real backup-nas stage.
"""

from __future__ import annotations

import json
import shutil
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from commands.context import Settings
from engine import events as ev
from engine.compress.encoders import LEGACY_TEMP_SUFFIX, TEMP_TAG
from engine.compress.run import CompressOptions, CompressSummary, run_compress
from engine.config import load_config
from engine.crashpoints import CrashPoints
from engine.nas.run import NasOptions
from engine.nas.stage import run_backup_nas, run_verify_nas
from engine.placement import TEMP_SUFFIX
from engine.reporting import NullReporter
from engine.services import open_writer
from tests.commands.test_backup_nas import with_nas
from tests.compress_media import (
    CONTENT_ID,
    VideoSpec,
    sha256_of,
    write_dng,
    write_heic,
    write_jpeg,
    write_raw_dng,
    write_screenshot,
    write_video,
)
from tests.factories import Library, discover, make_library, new_run

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
# Generous encoder timeouts in every test config: a loaded shared machine must not turn a
# slow encode into a failure (the timeout path has its own failure tests). Fast presets: the
# tests check behaviour, the benchmark measures the defaults' speed.
COMPRESSION_HEAD = """
compression:
  require: [nas]
  min_saving_fraction: 0.05
  photo_timeout_s: 600.0
  video_timeout_s_per_s: 300.0
  ffmpeg: {ffmpeg}
"""
TEST_COMPRESSION = COMPRESSION_HEAD + """  tiers:
    light:
      min_age_days: 0
      jpeg: {{quality: 85, progressive: true, optimize: true, subsampling: keep}}
      heic: {{quality: 60, preset: ultrafast}}
      png: {{compress_level: 9}}
      video: {{codec: libx264, crf: 28, preset: veryfast}}
    heavy:
      min_age_days: 1095
      jpeg: {{quality: 65, progressive: true, optimize: true, subsampling: keep}}
      heic: {{quality: 40, preset: ultrafast}}
      png: {{compress_level: 9}}
      video: {{codec: libx265, crf: 30, preset: ultrafast}}
"""
# One tier that turns JPEG stills into HEIC (a live photo's video is re-encoded too).
HEIC_COMPRESSION = COMPRESSION_HEAD + """  tiers:
    light:
      min_age_days: 0
      photo_format: heic
      jpeg: {{quality: 85, progressive: true, optimize: true, subsampling: keep}}
      heic: {{quality: 50, preset: ultrafast}}
      video: {{codec: libx264, crf: 28, preset: veryfast}}
"""
# Stills become AVIF from the first tier on; the heavy tier re-encodes them as lighter AVIF.
AVIF_COMPRESSION = COMPRESSION_HEAD + """  tiers:
    light:
      min_age_days: 0
      photo_format: avif
      avif: {{quality: 75, speed: 8}}
    heavy:
      min_age_days: 1095
      photo_format: avif
      avif: {{quality: 40, speed: 8}}
"""


def generate_media(folder: Path) -> Path:
    """Every kind of test media, made once into `folder` (reused when already there)."""
    done = folder / ".complete"
    if done.exists():
        return folder
    write_jpeg(folder / "photo12mp.JPG", 4032, 3024, seed=1)
    write_jpeg(folder / "small.JPG", 1600, 1200, seed=4)
    write_jpeg(folder / "lowq.JPG", 1600, 1200, seed=5, quality=50)
    write_heic(folder / "photo.HEIC", 2016, 1512, seed=2)
    write_heic(folder / "live.HEIC", 1440, 1080, seed=6)
    write_video(folder / "live_HEVC.MOV", VideoSpec(
        codec="libx265", seconds=1.0, width=1440, height=1080, rotation=0, bitrate="6M",
        grain=8,
    ), content_id=CONTENT_ID)
    write_screenshot(folder / "screenshot.PNG")
    write_dng(folder / "raw.DNG")
    write_raw_dng(folder / "camera.DNG", 2400, 1600, seed=8)
    write_video(folder / "h264.MOV", VideoSpec(codec="libx264", seconds=2.0))
    write_video(folder / "hevc.MOV", VideoSpec(codec="libx265", seconds=1.0, grain=8))
    done.write_text("ok")
    return folder


@dataclass(frozen=True)
class Item:
    """One asset to seed: a media file, its age, and an optional live-photo video."""

    name: str
    media: str
    age_days: int
    live_media: str | None = None
    folder: str | None = None  # the library folder (default: one per item)
    key: str | None = None  # how tests name it (default: `name`, which is also the file stem)


@dataclass
class CompressLibrary:
    library: Library
    nas_root: Path
    ids: dict[str, str] = field(default_factory=dict)  # item name -> asset id
    relpaths: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.library.config.library_root

    def settings(self, clock: Callable[[], datetime]) -> Settings:
        return Settings(self.library.config_path, CrashPoints(), clock, False, lambda _m: None)

    def compress(self, now: datetime = NOW, **options: Any) -> CompressSummary:
        with open_writer(self.library.config, self.settings(lambda: now), "compress") as deps:
            return run_compress(deps, CompressOptions(**options))

    def backup_nas(self, now: datetime = NOW) -> None:
        with open_writer(self.library.config, self.settings(lambda: now), "backup-nas") as deps:
            run_backup_nas(deps, NasOptions(), NullReporter())

    def verify_nas(self, now: datetime) -> None:
        """Re-read the NAS copies (their verification then counts as of `now`)."""
        with open_writer(self.library.config, self.settings(lambda: now), "verify nas") as deps:
            run_verify_nas(deps, NasOptions(), NullReporter())

    def events_of(self, name: str) -> list[Any]:
        ledger = self.library.open_ledger()
        try:
            return list(ledger.events_of(UUID(self.ids[name])))
        finally:
            ledger.close()

    def facts(self, name: str, kind: type[Any]) -> list[Any]:
        return [e for e in self.events_of(name) if isinstance(e, kind)]


def make_compress_library(
    tmp_path: Path, media: Path, items: list[Item], *, ffmpeg: str = "ffmpeg",
    now: datetime = NOW, compression: str = TEST_COMPRESSION,
) -> CompressLibrary:
    """A library with NAS, the test tiers, and `items` downloaded (not yet backed up)."""
    (tmp_path / "nas").mkdir()
    library = with_nas(make_library(tmp_path), tmp_path / "nas")
    text = library.config_path.read_text().split("\ncompression:\n")[0]
    library.config_path.write_text(text + compression.format(ffmpeg=json.dumps(ffmpeg)))
    cl = CompressLibrary(Library(library.config_path, load_config(library.config_path)),
                         tmp_path / "nas")
    add_items(cl, media, items, now)
    return cl


def add_items(cl: CompressLibrary, media: Path, items: list[Item], now: datetime = NOW) -> None:
    """Copy each item's media into the library and record it as discovered and downloaded."""
    run = new_run("seed")
    assets = []
    for index, item in enumerate(items, start=len(cl.ids)):
        suffix = Path(item.media).suffix
        folder = item.folder or f"2024/01/{index + 1:02d}"
        relpath = f"{folder}/{item.name}{suffix}"
        shutil.copyfile(media / item.media, _parent(cl.root / relpath))
        live_relpath = live_sha = None
        if item.live_media:
            live_relpath = f"{folder}/{item.name}_HEVC.MOV"
            shutil.copyfile(media / item.live_media, cl.root / live_relpath)
            live_sha = sha256_of(cl.root / live_relpath)
        size = (cl.root / relpath).stat().st_size
        asset = discover(run, 1000 + index, filename=f"{item.name}{suffix}",
                         kind="live" if item.live_media else "photo", declared_size_bytes=size,
                         captured_at_utc=now - timedelta(days=item.age_days))
        asset.record(
            ev.Downloaded, run.id.hex, local_relpath=relpath, size_bytes=size,
            sha256=sha256_of(cl.root / relpath), live_video_relpath=live_relpath,
            live_video_size_bytes=(cl.root / live_relpath).stat().st_size if live_relpath
            else None,
            live_video_sha256=live_sha, extra_files=(),
        )
        assets.append(asset)
        key = item.key or item.name
        cl.ids[key], cl.relpaths[key] = asset.id.hex, relpath
    ledger = cl.library.open_ledger()
    try:
        ledger.save(run, *assets)
    finally:
        ledger.close()


def _parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def tree_digests(root: Path) -> dict[str, str]:
    """sha256 of every regular file under root (relative path -> digest)."""
    return {str(p.relative_to(root)): sha256_of(p) for p in sorted(root.rglob("*"))
            if p.is_file()}


def compress_temps(root: Path) -> list[Path]:
    """Temp files of an encode (and of older versions' encodes) under root."""
    suffixes = (f".{TEMP_TAG}{TEMP_SUFFIX}", LEGACY_TEMP_SUFFIX)
    return [p for p in root.rglob("*") if p.name.endswith(suffixes)]


def fake_encoder(folder: Path, script: str) -> str:
    """An executable stand-in for ffmpeg: `script` with `{python}` as its interpreter."""
    fake = folder / "fake-ffmpeg"
    fake.write_text(script.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return str(fake)
