"""Planning the rows of a generated library: kinds, names, dates, sizes, flags and specials.

Invariants:
- Only the seeded `random.Random` passed in is used, consumed in asset order, so plans are
  deterministic per spec.
- Plans follow the weighted mix; generator_specials.py then turns the first ones into the
  special cases. Every 53rd asset is a byte-identical duplicate of the one before it.
- RAW+JPEG pairs come in both orientations: a pair drawn at an odd index keeps its RAW as the
  original (RAW_ORIGINAL_PAIR), at an even index its JPEG. Sizes are drawn the same way for
  both, so the orientation changes no other row of the library.
- Every 61st asset (index 11 mod 61) is edited: a resJPEGFull render, plus a resVidFull for
  a live photo or a video.
- A plan with `master=None` reuses the master of an earlier plan.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator.icloud.library import PRIMARY_ZONE, PhotoLibraryState
from simulator.icloud.rows import MEDIA_KINDS, AssetRow, MasterRow, MediaKind, Subtype

if TYPE_CHECKING:
    from simulator.icloud.generator import GeneratorSpec

DAY_MS = 86_400_000
FIRST_DATE_MS = 1_199_145_600_000  # 2008-01-01
LAST_DATE_MS = 1_748_736_000_000  # 2025-06-01
KIND_WEIGHTS = (
    (MediaKind.HEIC_PHOTO, 33),
    (MediaKind.HEIC_LIVE, 20),
    (MediaKind.JPEG_PHOTO, 20),
    (MediaKind.MOV_VIDEO, 10),
    (MediaKind.MP4_VIDEO, 4),
    (MediaKind.RAW_JPEG_PAIR, 4),
    (MediaKind.PNG_SCREENSHOT, 9),
)
MOVING_KINDS = (MediaKind.HEIC_LIVE, MediaKind.MOV_VIDEO, MediaKind.MP4_VIDEO)
TZ_OFFSETS_S = (0, 3600, 7200, -18000, -25200, 32400, 19800)


@dataclass
class AssetPlan:
    asset: AssetRow
    master: MasterRow | None
    index: int


def _pick_kind(rng: random.Random) -> MediaKind:
    roll = rng.randrange(100)
    for kind, weight in KIND_WEIGHTS:
        if roll < weight:
            return kind
        roll -= weight
    return MediaKind.JPEG_PHOTO


def sizes_for(
    kind: MediaKind, rng: random.Random, scale: float, duration_s: int
) -> tuple[int, ...]:
    """Sizes aligned with MEDIA_KINDS[kind].resources; the same draws for every kind."""
    bases = {
        MediaKind.JPEG_PHOTO: rng.randint(1_500_000, 4_500_000),
        MediaKind.HEIC_PHOTO: rng.randint(900_000, 3_200_000),
        MediaKind.HEIC_LIVE: rng.randint(1_200_000, 3_400_000),
        MediaKind.MOV_VIDEO: duration_s * rng.randint(900_000, 1_600_000),
        MediaKind.MP4_VIDEO: duration_s * rng.randint(500_000, 1_000_000),
        MediaKind.RAW_JPEG_PAIR: rng.randint(2_000_000, 5_000_000),
        MediaKind.PNG_SCREENSHOT: rng.randint(200_000, 2_000_000),
    }
    base = bases.get(kind, 0)
    by_prefix = {
        "resOriginal": base,
        "resOriginalAlt": rng.randint(20_000_000, 30_000_000),
        "resOriginalVidCompl": rng.randint(1_800_000, 4_000_000),
        "resJPEGMed": rng.randint(150_000, 450_000),
        "resJPEGThumb": rng.randint(15_000, 60_000),
        "resVidMed": max(base // 6, 100_000),
        "resVidSmall": max(base // 20, 50_000),
    }
    if kind is MediaKind.RAW_ORIGINAL_PAIR:  # the RAW is the original, the JPEG its twin
        by_prefix["resOriginal"] = by_prefix["resOriginalAlt"]
        by_prefix["resOriginalAlt"] = bases[MediaKind.RAW_JPEG_PAIR]
    return tuple(max(64, int(by_prefix[s.prefix] * scale)) for s in MEDIA_KINDS[kind].resources)


def name_for(index: int, kind: MediaKind) -> str:
    extension = MEDIA_KINDS[kind].extension
    stem = "VID" if kind is MediaKind.MP4_VIDEO else "IMG"
    return f"{stem}_{index % 9999 + 1:04d}{extension}"


def _make_plan(
    spec: GeneratorSpec, rng: random.Random, state: PhotoLibraryState, zone: str, index: int
) -> AssetPlan:
    from simulator.icloud.generator import master_name_for

    kind = _pick_kind(rng)
    if kind is MediaKind.RAW_JPEG_PAIR and index % 2 == 1:
        kind = MediaKind.RAW_ORIGINAL_PAIR
    asset_date = rng.randint(FIRST_DATE_MS, LAST_DATE_MS)
    added = min(
        asset_date + rng.randint(0, 30) * DAY_MS + rng.randint(0, DAY_MS),
        LAST_DATE_MS + 20 * DAY_MS,
    )
    duration = rng.randint(2, 45) if MEDIA_KINDS[kind].is_movie else 0
    sizes = sizes_for(kind, rng, spec.size_scale, duration)
    width, height = (4032, 3024) if not MEDIA_KINDS[kind].is_movie else (1920, 1080)
    if kind is MediaKind.PNG_SCREENSHOT:
        width, height = 1179, 2556
    master = MasterRow(
        master_name_for(spec.seed, f"{zone}|{index}"),
        zone,
        kind,
        name_for(index, kind),
        sizes,
        width,
        height,
        state.next_tag(),
        added,
        added,
    )
    asset = AssetRow(
        str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper(),
        master.record_name,
        zone,
        asset_date,
        added,
        TZ_OFFSETS_S[rng.randrange(len(TZ_OFFSETS_S))],
        state.next_tag(),
        added,
        added,
        duration_s=duration,
        is_favorite=rng.random() < 0.08,
    )
    _decorate(asset, kind, rng, index)
    return AssetPlan(asset, master, index)


DESCRIBED_INDEX = 3  # every library's asset with all metadata, in five albums (generator.py)


def _decorate(asset: AssetRow, kind: MediaKind, rng: random.Random, index: int) -> None:
    if rng.random() < 0.6:
        asset.location = (round(rng.uniform(-60, 70), 6), round(rng.uniform(-170, 170), 6))
    if rng.random() < 0.05:
        asset.caption = f"Caption {index} — été"
    _describe(asset, kind, index)
    if kind is MediaKind.PNG_SCREENSHOT:
        asset.subtype = Subtype.SCREENSHOT
    elif kind is MediaKind.HEIC_LIVE:
        asset.subtype = Subtype.LIVE
    elif kind is MediaKind.HEIC_PHOTO and rng.random() < 0.06:
        asset.subtype = Subtype.PANORAMA
    elif kind is MediaKind.MOV_VIDEO and rng.random() < 0.2:
        asset.subtype = Subtype.SLOMO if rng.random() < 0.5 else Subtype.TIMELAPSE
    if index % 97 == 13:
        asset.is_hidden = True
    if index % 211 == 7:
        asset.is_deleted = True
        asset.deleted_at_ms = asset.added_date_ms + 3 * DAY_MS
    if index % 61 == 11:
        asset.edit_rev = 1
        asset.adjusted_size_bytes = 1_000_000 + index % 1000
        if kind in MOVING_KINDS:
            asset.adjusted_video_size_bytes = 2_000_000 + index % 1000


def _describe(asset: AssetRow, kind: MediaKind, index: int) -> None:
    """Keywords, descriptions and rotations by index: the random stream stays as it was."""
    if index % 11 == 3:
        asset.keywords = ("family", f"set {index % 5}", "été")
    if index % 23 == 3:
        asset.description = f"Description {index}: <b>Tom & Jerry</b>\nsecond line"
    if index % 41 == 9 and not MEDIA_KINDS[kind].is_movie:
        asset.rotation = 6  # rotated 90 degrees clockwise in Photos
    if index == DESCRIBED_INDEX:
        asset.caption = "Sunset at the Tower — été"
        asset.location = asset.location or (48.85837, 2.294481)
        asset.is_favorite = True


def _duplicate_of(previous: AssetPlan, rng: random.Random, state: PhotoLibraryState) -> AssetRow:
    source = previous.asset
    return AssetRow(
        str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper(),
        source.master_name,
        source.zone,
        source.asset_date_ms,
        source.added_date_ms + 1000,
        source.tz_offset_s,
        state.next_tag(),
        source.created_ms,
        source.modified_ms,
        subtype=source.subtype,
        duration_s=source.duration_s,
    )


def plan_assets(
    spec: GeneratorSpec, rng: random.Random, state: PhotoLibraryState
) -> list[AssetPlan]:
    plans: list[AssetPlan] = []
    for index in range(spec.assets):
        if index % 53 == 52 and plans[-1].master is not None:
            plans.append(AssetPlan(_duplicate_of(plans[-1], rng, state), None, index))
            continue
        plans.append(_make_plan(spec, rng, state, PRIMARY_ZONE, index))
    return plans


def plan_shared_assets(
    spec: GeneratorSpec, rng: random.Random, state: PhotoLibraryState, zone: str
) -> list[AssetPlan]:
    plans = [
        _make_plan(spec, rng, state, zone, spec.assets + offset)
        for offset in range(spec.shared_assets)
    ]
    for plan in plans:
        plan.asset.is_hidden = False
        plan.asset.is_deleted = False
    if plans:
        plans[0].asset.is_favorite = True
    return plans
