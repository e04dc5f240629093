"""A seeded, realistic Photos library for the simulator.

Invariants:
- The same GeneratorSpec always yields the same library: record names, dates, sizes, tags,
  albums and (fast) bytes depend only on the spec. Nothing reads the clock.
- Fast content is never materialised (blobs.py); rows are compact, so 100,000 assets generate
  in a few seconds. Real content is written once per (seed, asset) into `cache_dir` and reused.
- The mix holds JPEG, HEIC, HEIC live photos (MOV as resOriginalVidCompl), MOV and MP4 videos,
  RAW+JPEG pairs in both orientations (the other file as resOriginalAlt), PNG screenshots,
  edited photos (resJPEGFull on the asset), edited live photos and videos (resJPEGFull and
  resVidFull on the asset), byte-identical duplicates sharing one master, the same filename on
  different assets, hostile and unicode filenames, one asset without filenameEnc, one whose
  filenameEnc is not UTF-8, favorites, hidden and deleted assets, captions, GPS, time zones and
  a 1965 scan. From 16 assets on, every library holds one of each special (generator_specials).
- The Shared Library (`SharedSync-<UUID>`, `shared_assets` assets, the first a favourite)
  belongs to this account ("owner"), is joined ("participant": the shared database), or is
  absent ("none"); the role changes nothing else in the library.
- Albums: "Family", a folder "Trips" holding "Paris", "Rome" and a folder "2021" holding
  "Lisbon", and "Best of 2019"; the asset at DESCRIBED_INDEX (3) is in all five and has a
  caption, a description, keywords, a place and the favourite flag. Some assets have
  keywords, descriptions or a rotation by index, so the random stream is as before.
- `include_malformed=True` adds one master whose filenameEnc is not base64 at all: pyicloud's
  typed parser then rejects the whole page that holds it (a real failure mode the product must
  survive). Specs for clean pyicloud listings set it to False.
- `include_malformed_fields=True` adds assets whose fields have no readable value (a flag and
  a date; a RAW pair's alternative; a live photo's edited video size), for the product's own
  tolerant parser; pyicloud's typed parser refuses those pages too. Off by default.
- `include_content_twin=True` adds an asset whose URLs serve another asset's content while its
  master declares a bigger original (realities.add_content_twin). Off by default.
- Master record names are content-derived, like Apple's: base64 of a version byte and a digest.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from simulator.icloud.cloudkit import CloudKitPhotoDatabase
from simulator.icloud.generator_rows import (
    DESCRIBED_INDEX,
    AssetPlan,
    plan_assets,
    plan_shared_assets,
)
from simulator.icloud.generator_specials import (
    add_generated_twin,
    apply_damage,
    apply_specials,
)
from simulator.icloud.library import PhotoLibraryState, Zone
from simulator.icloud.rows import AlbumRow, RelationRow, relation_name

GENERATED_AT_MS = 1_751_328_000_000  # 2025-07-01T00:00:00Z: "now" for generated dates
ALBUM, FOLDER = 0, 3  # CPLAlbum albumType


@dataclass(frozen=True)
class GeneratorSpec:
    assets: int
    seed: int = 0
    content: Literal["fast", "real"] = "fast"
    include_malformed: bool = True
    include_malformed_fields: bool = False
    include_content_twin: bool = False
    shared_assets: int = 3
    # The Shared Library as this account sees it: "owner" (a SharedSync zone in the private
    # database), "participant" (in the shared database, owned by another user), or "none".
    shared_library: Literal["owner", "participant", "none"] = "owner"
    cache_dir: Path | None = None  # required for content="real"
    size_scale: float = 1.0  # multiplies fast-content sizes (tests may want small files)
    pixel_scale: float = 1.0  # multiplies real-content width and height (small, fast media)
    empty_change_page_every: int = 0  # see CloudKitPhotoDatabase._is_empty_page_due


def master_name_for(seed: int, content_key: str) -> str:
    digest = hashlib.blake2b(f"master|{seed}|{content_key}".encode(), digest_size=20).digest()
    return base64.b64encode(b"\x01" + digest).decode("ascii")


def generate_library(spec: GeneratorSpec) -> CloudKitPhotoDatabase:
    rng = random.Random(f"library|{spec.seed}")
    owner = "_" + hashlib.blake2b(f"owner|{spec.seed}".encode(), digest_size=16).hexdigest()
    state = PhotoLibraryState(
        seed=spec.seed, owner_record_name=owner, epoch=f"{rng.getrandbits(48):012x}"
    )
    state.empty_change_page_every = spec.empty_change_page_every
    plans = plan_assets(spec, rng, state)
    damage = apply_specials(spec, plans)
    shared_plans = _add_shared_library(spec, rng, state)
    if spec.content == "real":
        from simulator.icloud.generator_real import materialise_real_content

        if spec.cache_dir is None:
            raise ValueError("GeneratorSpec(content='real') needs cache_dir")
        materialise_real_content(
            state, [*plans, *shared_plans], spec.cache_dir, pixel_scale=spec.pixel_scale
        )
    for plan in [*plans, *shared_plans]:
        if plan.master is not None:
            state.put_master(plan.master)
        state.put_asset(plan.asset)
    apply_damage(state, damage)
    _add_albums(state, state.primary(), rng, plans)
    if spec.include_content_twin:
        add_generated_twin(state, plans, GENERATED_AT_MS)
    return CloudKitPhotoDatabase(state)


def _add_shared_library(
    spec: GeneratorSpec, rng: random.Random, state: PhotoLibraryState
) -> list[AssetPlan]:
    """The iOS 16+ Shared Library zone and its assets, as the spec's role sees it."""
    name = f"SharedSync-{_uuid(rng)}"  # drawn for every role: the rest of the library stays
    if spec.shared_library == "none":
        return []
    if spec.shared_library == "participant":
        sharer = "_" + hashlib.blake2b(f"sharer|{spec.seed}".encode(), digest_size=16).hexdigest()
        zone = state.add_zone(name, database="shared", owner=sharer)
    else:
        zone = state.add_zone(name)
    return plan_shared_assets(spec, rng, state, zone.name)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()


def _add_albums(
    state: PhotoLibraryState, zone: Zone, rng: random.Random, plans: list[AssetPlan]
) -> None:
    stamp = GENERATED_AT_MS - 86_400_000

    def album(name: str, kind: int, position: int, **extra: Any) -> AlbumRow:
        # The uuid is drawn before the tag, as always: the same spec gives the same albums.
        return AlbumRow(_uuid(rng), zone.name, name, kind, position, state.next_tag(), stamp,
                        stamp, **extra)

    folder = album("Trips", FOLDER, 1000)
    albums = [
        (album("Family", ALBUM, 2000), 17),
        (album("Paris", ALBUM, 3000, parent_id=folder.record_name), 29),
        (album("Rome", ALBUM, 4000, parent_id=folder.record_name), 31),
        (album("Best of 2019", ALBUM, 5000, sort_ascending=0), 41),
    ]
    state.put_album(folder)
    for row, every in albums:
        _put_members(state, zone, row, every, plans, stamp)
    # Drawn after every other album, so the albums above keep their names and tags.
    nested = album("2021", FOLDER, 3500, parent_id=folder.record_name)
    state.put_album(nested)
    _put_members(state, zone, album("Lisbon", ALBUM, 3600, parent_id=nested.record_name), 37,
                 plans, stamp)


def _put_members(  # noqa: PLR0917
    state: PhotoLibraryState, zone: Zone, album: AlbumRow, every: int, plans: list[AssetPlan],
    stamp: int,
) -> None:
    """The album and its members: every `every`-th asset from index 3 (DESCRIBED_INDEX)."""
    state.put_album(album)
    members = [p.asset for index, p in enumerate(plans) if index % every == DESCRIBED_INDEX]
    for position, asset in enumerate(members):
        name = relation_name(asset.record_name, album.record_name)
        state.put_relation(
            RelationRow(
                name,
                zone.name,
                asset.record_name,
                album.record_name,
                (position + 1) * 1024,
                state.next_tag(),
                stamp,
                stamp,
            )
        )
