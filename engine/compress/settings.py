"""The `compression:` section of the config: age bands, tiers and per-kind encoder settings.

Invariants:
- Every struct is frozen and refuses unknown keys (like the rest of engine.config), so a typo
  in a tier is a ConfigError naming the key and line, never a silently ignored setting.
- A tier leaves a media kind alone when its setting for that kind is null; a format change
  (`photo_format`) is off (`keep`) unless asked for, and so is developing RAW files into
  stills (`raw`), which uses the tier's settings for the chosen format.
- `validate_compression` returns every (dotted key, reason) it refuses; engine.config raises
  the first as a ConfigError. Values are checked for range, not just type.
- Tiers are ordered by `min_age_days`: a larger value is a heavier tier. No two tiers share
  an age, so "heavier" is always defined.
"""

from __future__ import annotations

from typing import Literal

import msgspec

X265_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
    "veryslow", "placebo",
)
X265Preset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
    "veryslow", "placebo",
]
Subsampling = Literal["keep", "4:4:4", "4:2:2", "4:2:0"]
PhotoFormat = Literal["keep", "heic", "avif"]
RawFormat = Literal["keep", "jpeg", "heic", "avif"]
Requirement = Literal["nas", "google"]


class JpegSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Pillow JPEG save options (libjpeg-turbo)."""

    quality: int = 80
    progressive: bool = True
    optimize: bool = True
    subsampling: Subsampling = "keep"  # "keep" = the source JPEG's; 4:2:0 for other sources


class HeicSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """pillow-heif (x265) save options; its quality scale is not JPEG's (see README)."""

    quality: int = 50
    # x265's default preset costs 9-27 s per 12 MP photo on one core; ultrafast 1.5-3 s.
    preset: X265Preset = "ultrafast"


class AvifSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Pillow AVIF save options (used only when a tier converts photos to AVIF)."""

    quality: int = 60
    speed: int = 8  # 0 slowest/best .. 10 fastest


class PngSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Lossless PNG re-save (screenshots keep every pixel)."""

    compress_level: int = 9


class VideoSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """ffmpeg video encode options; the container and every other stream are kept."""

    codec: Literal["libx264", "libx265"] = "libx265"
    crf: int = 28
    preset: X265Preset = "medium"
    copy_audio: bool = True  # False: re-encode audio to AAC at audio_kbps
    audio_kbps: int = 128


class TierSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One tier: from which age it applies, and what it does to each media kind."""

    min_age_days: int
    photo_format: PhotoFormat = "keep"  # convert JPEG/HEIC stills to this format
    jpeg: JpegSettings | None = None
    heic: HeicSettings | None = None
    avif: AvifSettings | None = None
    png: PngSettings | None = None
    video: VideoSettings | None = None


def _default_tiers() -> dict[str, TierSettings]:
    return {
        "light": TierSettings(
            min_age_days=0,
            jpeg=JpegSettings(quality=85),
            heic=HeicSettings(quality=60),
            png=PngSettings(),
            video=VideoSettings(crf=23, preset="fast"),
        ),
        "medium": TierSettings(
            min_age_days=365,
            jpeg=JpegSettings(quality=75),
            heic=HeicSettings(quality=50),
            png=PngSettings(),
            video=VideoSettings(crf=26, preset="fast"),
        ),
        "heavy": TierSettings(
            min_age_days=3 * 365,
            jpeg=JpegSettings(quality=65),
            heic=HeicSettings(quality=40),
            png=PngSettings(),
            video=VideoSettings(crf=28, preset="medium"),
        ),
    }


class CompressionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole `compression:` section."""

    require: tuple[Requirement, ...] = ("nas", "google")
    min_saving_fraction: float = 0.05
    photo_timeout_s: float = 300.0
    video_timeout_s_per_s: float = 20.0  # allowed wall time: 5 s + this x video duration
    # RAW files (DNG, CR2, NEF ...): kept as they are, or developed into this still format
    raw: RawFormat = "keep"
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    exiftool: str = "exiftool"  # copies a RAW's EXIF into its developed still
    tiers: dict[str, TierSettings] = msgspec.field(default_factory=_default_tiers)


def validate_compression(c: CompressionSettings) -> list[tuple[str, str]]:
    """Every refused value as (dotted key under `compression`, why)."""
    problems: list[tuple[str, str]] = []

    def need(key: str, ok: bool, why: str) -> None:
        if not ok:
            problems.append((f"compression.{key}", why))

    need("min_saving_fraction", 0.0 <= c.min_saving_fraction < 1.0, "must be in [0, 1)")
    need("photo_timeout_s", c.photo_timeout_s > 0, "must be positive")
    need("video_timeout_s_per_s", c.video_timeout_s_per_s > 0, "must be positive")
    need("require", len(set(c.require)) == len(c.require), "lists a backup twice")
    need("tiers", bool(c.tiers), "must define at least one tier")
    ages = [t.min_age_days for t in c.tiers.values()]
    need("tiers", len(set(ages)) == len(ages), "two tiers have the same min_age_days")
    need(
        "raw", c.raw == "keep" or any(getattr(t, c.raw) is not None for t in c.tiers.values()),
        f"{c.raw} needs {c.raw} settings in at least one tier (or keep)",
    )
    for name, tier in c.tiers.items():
        problems.extend(_tier_problems(f"compression.tiers.{name}", tier))
    return problems


def _tier_problems(key: str, t: TierSettings) -> list[tuple[str, str]]:
    checks: list[tuple[str, bool, str]] = [("min_age_days", t.min_age_days >= 0, "must be >= 0")]
    if t.jpeg is not None:
        checks.append(("jpeg.quality", 1 <= t.jpeg.quality <= 95, "must be 1-95"))
    if t.heic is not None:
        checks.append(("heic.quality", 1 <= t.heic.quality <= 100, "must be 1-100"))
    if t.avif is not None:
        checks.append(("avif.quality", 1 <= t.avif.quality <= 100, "must be 1-100"))
        checks.append(("avif.speed", 0 <= t.avif.speed <= 10, "must be 0-10"))
    if t.png is not None:
        checks.append(("png.compress_level", 0 <= t.png.compress_level <= 9, "must be 0-9"))
    if t.video is not None:
        checks.append(("video.crf", 0 <= t.video.crf <= 51, "must be 0-51"))
        checks.append(("video.audio_kbps", 16 <= t.video.audio_kbps <= 512, "must be 16-512"))
    if t.photo_format != "keep":
        checks.append((
            t.photo_format, getattr(t, t.photo_format) is not None,
            f"must be set: photo_format {t.photo_format} needs its encoder settings",
        ))
    return [(f"{key}.{sub}", why) for sub, ok, why in checks if not ok]
