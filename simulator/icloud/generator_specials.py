"""The special assets of a generated library, placed at fixed positions among its first masters.

Every library with enough assets holds, in this order: eight hostile or colliding filenames
(one master without filenameEnc), then a filenameEnc that is not UTF-8, a 1965 scan, an edited
photo, (with `include_malformed`) a filenameEnc that is not base64 at all, a RAW+JPEG pair with
the RAW as original, one with the JPEG as original, an edited live photo (resJPEGFull and
resVidFull) and an edited video (both too). With `include_malformed_fields`, three more:
an asset whose isFavorite and assetDate have no readable value, a RAW+JPEG pair whose
alternative's Res has no readable value, and an edited live photo whose edited video declares
a size that is not a number. With `include_content_twin`, one more asset serves the content of
a plain photo while declaring its original 4096 bytes bigger (realities.add_content_twin).

Invariants:
- Specials take nothing from the library's random stream: a recast draws its sizes from a
  Random seeded by (seed, zone, index), so every other row is the same with or without them.
- A recast special is visible (neither hidden nor deleted) and keeps its record names.
- Damage is planned here but applied by `apply_damage` after the rows are in the library
  (real content renames masters first); it takes no new change tags and reads no clock.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator.icloud.generator_rows import AssetPlan, name_for, sizes_for
from simulator.icloud.library import PhotoLibraryState
from simulator.icloud.malformed import Malformed, MalformHow
from simulator.icloud.realities import add_content_twin
from simulator.icloud.rows import MEDIA_KINDS, MediaKind, Subtype

if TYPE_CHECKING:
    from simulator.icloud.generator import GeneratorSpec

HOSTILE_NAMES: tuple[str | None, ...] = (
    "../x.jpg",
    "a\x00b.jpg",
    'bad<>:"|?*.jpg',
    "é" * 148 + ".jpg",  # 300 bytes of UTF-8
    "Été à Paris 🌞.jpg",
    None,  # no filenameEnc at all
    "IMG_0001.JPG",
    "IMG_0001.JPG",  # the same name on a different asset
)
NON_UTF8_WIRE = base64.b64encode(b"\xff\xfeIMG_\x80.JPG").decode("ascii")
MALFORMED_WIRE = "abc"  # not base64: pyicloud's typed parser rejects the page
SCAN_1965_MS = -141_609_600_000  # 1965-07-06
TWIN_DECLARED_DELTA_BYTES = 4096
PLAIN_STILLS = (MediaKind.JPEG_PHOTO, MediaKind.HEIC_PHOTO)


@dataclass(frozen=True)
class Damage:
    """A field of a planned asset (or of its master) to serve damaged."""

    plan: AssetPlan
    on_master: bool
    field: str
    how: MalformHow


def apply_specials(spec: GeneratorSpec, plans: list[AssetPlan]) -> list[Damage]:
    """Turn the first masters into the special cases; returns the damage to apply later."""
    masters = [p for p in plans if p.master is not None]
    for plan, name in zip(masters, HOSTILE_NAMES, strict=False):
        assert plan.master is not None
        plan.master.filename = name
    extra = masters[len(HOSTILE_NAMES) :]
    steps: list[Callable[[AssetPlan], object]] = [
        lambda p: _set_wire(p, NON_UTF8_WIRE),
        _scan_1965,
        lambda p: _edited_still(spec, p),
        lambda p: _set_wire(p, MALFORMED_WIRE) if spec.include_malformed else None,
        lambda p: recast(spec, p, MediaKind.RAW_ORIGINAL_PAIR),
        lambda p: recast(spec, p, MediaKind.RAW_JPEG_PAIR),
        lambda p: _edited(spec, recast(spec, p, MediaKind.HEIC_LIVE)),
        lambda p: _edited(spec, recast(spec, p, MediaKind.MOV_VIDEO)),
    ]
    for plan, step in zip(extra, steps, strict=False):
        step(plan)
    rest = extra[len(steps) :]
    return _damaged_specials(spec, rest) if spec.include_malformed_fields else []


def recast(spec: GeneratorSpec, plan: AssetPlan, kind: MediaKind) -> AssetPlan:
    """Make a planned master and asset of another kind, with sizes of that kind."""
    master, asset = plan.master, plan.asset
    assert master is not None
    rng = random.Random(f"recast|{spec.seed}|{master.zone}|{plan.index}")
    is_movie = MEDIA_KINDS[kind].is_movie
    duration = rng.randint(2, 12) if is_movie else 0
    master.kind = kind
    master.sizes_bytes = sizes_for(kind, rng, spec.size_scale, duration)
    master.width, master.height = (1920, 1080) if is_movie else (4032, 3024)
    if master.filename is not None and master.filename_wire is None:
        master.filename = name_for(plan.index, kind)
    asset.duration_s = duration
    asset.subtype = Subtype.LIVE if kind is MediaKind.HEIC_LIVE else Subtype.NONE
    asset.is_hidden = asset.is_deleted = False
    asset.deleted_at_ms = 0
    return plan


def _set_wire(plan: AssetPlan, wire: str) -> None:
    assert plan.master is not None
    plan.master.filename_wire = wire


def _scan_1965(plan: AssetPlan) -> None:
    plan.asset.asset_date_ms = SCAN_1965_MS
    plan.asset.tz_offset_s = 0


def _edited_still(spec: GeneratorSpec, plan: AssetPlan) -> None:
    assert plan.master is not None
    if plan.master.kind not in PLAIN_STILLS:
        recast(spec, plan, MediaKind.HEIC_PHOTO)
    plan.asset.edit_rev = 1
    plan.asset.adjusted_size_bytes = 2_100_000


def _edited(spec: GeneratorSpec, plan: AssetPlan) -> AssetPlan:
    """An edit of a live photo or video: the still render and the edited video."""
    plan.asset.edit_rev = 1
    plan.asset.adjusted_size_bytes = max(64, int(1_900_000 * spec.size_scale))
    plan.asset.adjusted_video_size_bytes = max(64, int(3_300_000 * spec.size_scale))
    return plan


def _damaged_specials(spec: GeneratorSpec, rest: list[AssetPlan]) -> list[Damage]:
    damage: list[Damage] = []
    if rest:
        damage += [
            Damage(rest[0], False, "isFavorite", "bad_value_key"),
            Damage(rest[0], False, "assetDate", "bad_value_key"),
        ]
    if len(rest) > 1:
        pair = recast(spec, rest[1], MediaKind.RAW_JPEG_PAIR)
        damage.append(Damage(pair, True, "resOriginalAltRes", "bad_value_key"))
    if len(rest) > 2:
        live = _edited(spec, recast(spec, rest[2], MediaKind.HEIC_LIVE))
        damage.append(Damage(live, False, "resVidFullRes", "size_not_int"))
    return damage


def apply_damage(state: PhotoLibraryState, damage: list[Damage]) -> None:
    """Serve the planned damage (rows must be in the library, under their final names)."""
    for item in damage:
        name = item.plan.asset.master_name if item.on_master else item.plan.asset.record_name
        state.override_fields(name, {item.field: Malformed(item.how)})


def add_generated_twin(state: PhotoLibraryState, plans: list[AssetPlan], at_ms: int) -> str | None:
    """A content twin of the last plain, unedited, visible photo of the primary zone."""
    candidates = [
        p
        for p in plans
        if p.master is not None
        and p.master.kind in PLAIN_STILLS
        and p.master.filename_wire is None
        and p.asset.edit_rev == 0
        and not (p.asset.is_hidden or p.asset.is_deleted)
        and p.asset.zone == state.primary().name
    ]
    if not candidates:
        return None
    source = candidates[-1].asset.record_name
    return add_content_twin(
        state, source, declared_delta_bytes=TWIN_DECLARED_DELTA_BYTES, at_ms=at_ms
    )
