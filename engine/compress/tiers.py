"""Pure tier decisions: which tier an asset is due for, and exactly what its re-encode will do.

Invariants:
- The tier comes from the capture date (iCloud's, else the date it was added, else the
  download date) and the `now` passed in: the heaviest tier whose `min_age_days` the asset
  has reached. Nothing here reads a clock, a file or the ledger.
- An asset is compressed only when every backup named in `compression.require` is verified
  for its downloaded sha256 (the NAS one re-read within `nas.max_verify_age_days`).
- Tiers only get heavier: an asset already at (or past) its due tier is left alone, and a
  tier whose result was not smaller by the margin is not tried again.
- Every file of a job names the sha256 its source must hash to: the downloaded original's.
  A re-encode never starts from an already compressed copy.
- Kinds a tier has no setting for are left alone, and so are RAW files unless `raw` names a
  still format: then a RAW is developed into that format (with the tier's settings for it)
  under the new suffix, like a format change. A file whose original is RAW is always
  re-encoded from that RAW (`raw_source`), never from a developed copy.
- A format change never takes a name the ledger gives another asset (compared case-folded, as
  download reserves names): such a still keeps its format, so no other asset's file is ever
  replaced and a live photo's still and video keep their shared stem.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any, Literal

import msgspec

from engine.asset import MediaState
from engine.compress.settings import CompressionSettings, RawFormat, TierSettings
from engine.nas.plan import is_nas_copy_current

MediaKind = Literal["jpeg", "heic", "avif", "png", "raw", "video", "other"]
Action = Literal["compress", "waiting-backups", "not-due", "left-alone", "no-date"]

_KIND_BY_SUFFIX: dict[str, MediaKind] = {
    ".jpg": "jpeg", ".jpeg": "jpeg", ".heic": "heic", ".heif": "heic", ".hif": "heic",
    ".avif": "avif",  # a still an earlier tier converted: a heavier tier must still see it
    ".png": "png", ".mov": "video", ".mp4": "video", ".m4v": "video",
    **dict.fromkeys(
        (".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2", ".pef", ".srw"), "raw"
    ),
}
_SUFFIX_OF_FORMAT = {"jpeg": ".JPG", "heic": ".HEIC", "avif": ".AVIF"}
_ENCODED_KINDS = frozenset({"jpeg", "heic", "avif", "png", "video"})
PHOTO_TIMEOUT_KEY = "photo"


@dataclass(frozen=True)
class CompressionPolicy:
    """The settings a decision needs, with the moment it is made."""

    settings: CompressionSettings
    max_nas_verify_age: timedelta
    now: datetime
    mounted_nas_id: str | None  # the id in the NAS marker now; None: no NAS mounted


@dataclass(frozen=True)
class FileJob:
    """One file of an asset to re-encode: where it is, what it must be, how to encode it."""

    key: str  # "original" or "live_video"
    relpath: str  # the local file now
    relpath_after: str  # the local file after (differs only for a format change)
    nas_relpath: str  # the NAS original
    original_sha256: str
    local_sha256: str | None  # what the ledger says the local file hashes to (None: unknown)
    kind: MediaKind
    target_format: str  # "jpeg", "heic", "avif", "png" or "video"
    settings_json: str  # the encoder settings (a struct as JSON: picklable, hashable)
    raw_source: bool = False  # the original is a camera RAW: develop it, then encode


@dataclass(frozen=True)
class CompressJob:
    """Everything a worker needs to re-encode one asset for one tier."""

    asset_id: str
    tier: str
    files: tuple[FileJob, ...]
    codec: str
    params_hash: str
    size_bytes: int  # the local bytes now (estimate from the ledger)
    label: str


@dataclass(frozen=True)
class CompressDecision:
    """What to do with one asset now, and why."""

    action: Action
    reason: str
    tier: str | None = None
    job: CompressJob | None = None


def kind_of(relpath: str) -> MediaKind:
    """The media kind a file name says (by its suffix)."""
    return _KIND_BY_SUFFIX.get(PurePosixPath(relpath).suffix.lower(), "other")


def tiers_by_weight(settings: CompressionSettings) -> list[tuple[str, TierSettings]]:
    """Tiers from lightest to heaviest."""
    return sorted(settings.tiers.items(), key=lambda item: item[1].min_age_days)


def decide_tier(age: timedelta, settings: CompressionSettings) -> str | None:
    """The heaviest tier whose min_age_days the age has reached (None: no tier yet)."""
    due = None
    for name, tier in tiers_by_weight(settings):
        if age >= timedelta(days=tier.min_age_days):
            due = name
    return due


def tier_rank(name: str | None, settings: CompressionSettings) -> int:
    """0 for the lightest tier; -1 for none (or a tier no longer configured)."""
    names = [n for n, _t in tiers_by_weight(settings)]
    return names.index(name) if name in names else -1


def capture_time(state: MediaState) -> datetime | None:
    """When the asset was taken, as well as the ledger knows."""
    return state.captured_at_utc or state.added_at_utc or state.downloaded_at_utc


def has_required_backups(state: MediaState, policy: CompressionPolicy) -> list[str]:
    """The required backups that are NOT verified for this asset's bytes (empty: all are)."""
    missing = []
    for need in policy.settings.require:
        if need == "nas" and not is_nas_copy_current(
            state, policy.now, policy.max_nas_verify_age, policy.mounted_nas_id
        ):
            missing.append("NAS copy not verified recently")
        if need == "google" and state.google_status != "verified":
            missing.append("Google (Pixel) copy not verified")
    return missing


def decide_compression(
    asset_id: str, state: MediaState, policy: CompressionPolicy,
    held_relpaths: Mapping[str, str] | None = None,
) -> CompressDecision:
    """Compress now, wait for backups, or leave alone (see module invariants).

    `held_relpaths` maps each case-folded library path the ledger gives an asset to that
    asset's id; a format change to a path held by another asset is not made.
    """
    if state.local_relpath is None or state.sha256 is None or state.local_removed_at_utc:
        return CompressDecision("left-alone", "no local copy")
    taken = capture_time(state)
    if taken is None:
        return CompressDecision("no-date", "no capture date")
    due = decide_tier(policy.now - taken, policy.settings)
    not_due = _why_not_due(state, due, policy.settings)
    if due is None or not_due:
        return CompressDecision("not-due", not_due or "no tier yet", due)
    files = plan_files(
        state, policy.settings.tiers[due], _held_by_other(held_relpaths, asset_id),
        raw=policy.settings.raw,
    )
    if not files:
        return CompressDecision("left-alone", f"{kind_of(state.local_relpath)} kept", due)
    missing = has_required_backups(state, policy)
    if missing:
        return CompressDecision("waiting-backups", "; ".join(missing), due)
    return CompressDecision("compress", "", due, build_job(asset_id, state, due, files))


def _why_not_due(state: MediaState, due: str | None, settings: CompressionSettings) -> str:
    """Why the due tier is not to be applied now ("" when it is)."""
    if due is not None and tier_rank(due, settings) <= tier_rank(state.compression_tier, settings):
        return f"already {state.compression_tier}"
    if due is not None and state.compression_skipped_tier == due:
        return f"{due} was not smaller"
    return ""


def _held_by_other(held: Mapping[str, str] | None, asset_id: str) -> Callable[[str], bool]:
    def is_held(relpath: str) -> bool:
        holder = held.get(relpath.casefold()) if held else None
        return holder is not None and holder != asset_id

    return is_held


def _never_held(_relpath: str) -> bool:
    return False


def plan_files(
    state: MediaState, tier: TierSettings, is_held_by_other: Callable[[str], bool] = _never_held,
    *, raw: RawFormat = "keep",
) -> list[FileJob]:
    """The files of an asset this tier re-encodes (still first)."""
    assert state.local_relpath is not None and state.sha256 is not None
    files = []
    still = _file_job(
        "original", state.compressed_relpath or state.local_relpath,
        state.nas_relpath or state.local_relpath, state.sha256, tier,
        local_sha256=state.compressed_sha256 or state.sha256, is_held_by_other=is_held_by_other,
        raw=raw, raw_source=kind_of(state.local_relpath) == "raw",
    )
    if still is not None:
        files.append(still)
    if state.live_video_relpath and state.live_video_sha256 and tier.video is not None:
        local_sha256 = state.live_video_sha256 if state.compression_tier is None else None
        files.append(FileJob(
            "live_video", state.live_video_relpath, state.live_video_relpath,
            state.live_video_relpath, state.live_video_sha256, local_sha256, "video", "video",
            _json(tier.video),
        ))
    return files


def _file_job(
    key: str, relpath: str, nas_relpath: str, sha256: str, tier: TierSettings, *,
    local_sha256: str | None, is_held_by_other: Callable[[str], bool], raw: RawFormat,
    raw_source: bool,
) -> FileJob | None:
    kind = kind_of(relpath)
    target: str | None = None
    if kind in ("jpeg", "heic", "avif"):
        target = kind if tier.photo_format == "keep" else tier.photo_format
    elif kind in ("png", "video"):
        target = kind
    elif kind == "raw" and raw != "keep":
        target = raw
    after = relpath
    if target in _SUFFIX_OF_FORMAT and kind != target:
        after = _renamed(relpath, _SUFFIX_OF_FORMAT[target])
        if is_held_by_other(after):
            # Another asset's file has that name: keep the format (a RAW is then left alone).
            target, after = kind, relpath
    settings = getattr(tier, target, None) if target in _ENCODED_KINDS else None
    if target is None or settings is None:
        return None
    return FileJob(
        key, relpath, after, nas_relpath, sha256, local_sha256, kind, target, _json(settings),
        raw_source=raw_source,
    )


def _renamed(relpath: str, suffix: str) -> str:
    """`relpath` with the new format's suffix, in the case the old suffix was written in."""
    is_lower = PurePosixPath(relpath).suffix.islower()
    return str(PurePosixPath(relpath).with_suffix(suffix.lower() if is_lower else suffix))


def build_job(asset_id: str, state: MediaState, tier: str, files: list[FileJob]) -> CompressJob:
    """The job for these files, with its codec label and settings hash."""
    codec = "+".join(_codec_name(f) for f in files)
    blob = json.dumps([(f.key, f.target_format, f.settings_json) for f in files], sort_keys=True)
    current = state.size_bytes_after_compression
    if current is None:
        current = (state.downloaded_size_bytes or 0) + (state.live_video_declared_size_bytes or 0)
    return CompressJob(
        asset_id=asset_id, tier=tier, files=tuple(files), codec=codec,
        params_hash=hashlib.sha256(blob.encode()).hexdigest()[:16], size_bytes=current,
        label=files[0].relpath,
    )


def _codec_name(f: FileJob) -> str:
    if f.target_format == "video":
        return str(json.loads(f.settings_json)["codec"])
    return f.target_format


def _json(struct: msgspec.Struct) -> str:
    return msgspec.json.encode(struct).decode()


def video_timeout_s(duration_s: float, settings: CompressionSettings) -> float:
    """Wall time allowed for one video encode."""
    return 5.0 + settings.video_timeout_s_per_s * max(duration_s, 0.0)


# Ratios of output to source bytes, from targets-compression.md §4 (12 MP photos from a q92
# JPEG; 1080p video). Only used for `--plan` until the ledger holds measured ratios.
_JPEG_RATIO_BY_QUALITY = ((95, 1.0), (90, 0.93), (85, 0.75), (80, 0.6), (65, 0.45), (40, 0.3))
_HEIC_RATIO_BY_QUALITY = ((90, 1.5), (65, 0.85), (50, 0.47), (40, 0.28), (30, 0.17))
_VIDEO_RATIO_BY_CRF = ((18, 0.7), (23, 0.35), (28, 0.15), (35, 0.08))
_RAW_RATIO = 0.25  # a RAW holds about 4x the bytes of a q92 JPEG of the same photo (rough)


def estimate_ratio(job_file: FileJob) -> float:
    """A rough expected output/source size ratio for one file (see the table's source)."""
    settings = json.loads(job_file.settings_json)
    factor = _RAW_RATIO if job_file.kind == "raw" else 1.0
    return factor * _still_or_video_ratio(job_file.target_format, settings)


def _still_or_video_ratio(target_format: str, settings: dict[str, Any]) -> float:
    if target_format == "jpeg":
        return _interpolate(_JPEG_RATIO_BY_QUALITY, settings["quality"])
    if target_format == "heic":
        return min(1.0, _interpolate(_HEIC_RATIO_BY_QUALITY, settings["quality"]))
    if target_format == "avif":
        return 0.3
    if target_format == "png":
        return 0.95
    ratio = _interpolate(_VIDEO_RATIO_BY_CRF, settings["crf"])
    return ratio * (0.8 if settings["codec"] == "libx265" else 1.0)


def _interpolate(table: tuple[tuple[int, float], ...], x: float) -> float:
    points = sorted(table)
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]
