"""Where a `compress` run reads originals from, and what its workers are told.

Invariants:
- With `compression.require` listing nas, the NAS must be configured and mounted (its marker
  present) or NasUnavailableError (exit 12) stops the command before the writer lock is
  taken; an optional NAS that is not mounted is simply not read (encodes then start from
  local copies that still hash to the original).
- The NAS is only ever read by compress.
"""

from __future__ import annotations

from pathlib import Path

from engine.compress.work import WorkerSettings
from engine.config import Config
from engine.nas.access import NasUnavailableError, require_nas_available


def nas_source_root(config: Config) -> Path | None:
    """The NAS root to read originals from; NasUnavailableError if required and not mounted."""
    root = config.settings.nas.root
    required = "nas" in config.settings.compression.require
    if not root:
        if required:
            raise NasUnavailableError(
                f"{config.where('compression.require')}: lists nas, but nas.root is not set"
            )
        return None
    path = config.resolve(root)
    try:
        require_nas_available(path)
    except NasUnavailableError:
        if required:
            raise
        return None  # optional: encode from local originals only
    return path


def worker_settings(config: Config, nas_root: Path | None) -> WorkerSettings:
    """The part of the config a worker process needs (picklable)."""
    compression = config.settings.compression
    return WorkerSettings(
        library_root=config.library_root, nas_root=nas_root,
        ffmpeg=compression.ffmpeg, ffprobe=compression.ffprobe, exiftool=compression.exiftool,
        video_timeout_s_per_s=compression.video_timeout_s_per_s,
        min_saving_fraction=compression.min_saving_fraction,
    )
