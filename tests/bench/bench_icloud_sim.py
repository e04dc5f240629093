"""The simulator side of bench_icloud.py: the generated library, its faults, its request counts.

Invariants:
- The library is `generate_library(GeneratorSpec(...))` with fast (seeded pseudo-random) content
  and without the malformed record that makes pyicloud reject a whole page: both tools must be
  able to list everything, so the trees can be compared file by file.
- Sizes are the generator's realistic sizes times `SIZE_SCALE` (see README), so a 2,000-asset
  first sync takes minutes, not hours, at 20 MB/s per connection.
- Latency applies to every login and CloudKit call, bandwidth to every content connection: both
  are the simulator's own fault settings, so they hold for both tools alike.
- icloudpd 1.32.3 dies (unhandled ValueError, no file written after it) on a filenameEnc that
  is not UTF-8, so every such raw wire value is replaced by a plain name before serving; the
  names replaced are reported (`neutralised_wire_names`). Every other hostile name stays.
- `LibraryFacts` is read from the simulator's rows, never from either tool's output.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from simulator.icloud.accounts import SimAccount
from simulator.icloud.blobs import content_token
from simulator.icloud.cloudkit import CloudKitPhotoDatabase
from simulator.icloud.faults import Faults, FaultSettings
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.indexes import is_visible
from simulator.icloud.rows import LIVE_VIDEO, ORIGINAL, AssetRow, MasterRow, is_live_asset
from simulator.icloud.server import SimulatorServer

USERNAME = "bench@example.com"
PASSWORD = "correct horse battery staple"
SIZE_SCALE = 0.05
"""Fast-content sizes are the generator's realistic ones times this (see tests/bench/README.md)."""


class SimCalls:
    """The simulator's request log, as counts per kind (login, cloudkit, content)."""

    def __init__(self, server: SimulatorServer) -> None:
        self._server = server

    def reset(self) -> None:
        self._server.requests.reset()

    def by_kind(self) -> dict[str, int]:
        return dict(Counter(entry.kind for entry in self._server.requests.entries()))

    def by_path(self, kind: str) -> dict[str, int]:
        entries = self._server.requests.entries()
        return dict(
            Counter(e.path.rsplit("/production/", 1)[-1] for e in entries if e.kind == kind)
        )


@dataclass(frozen=True)
class LibraryFacts:
    """What a complete download of the Library must hold, read from the simulator's rows."""

    visible_assets: int
    live_photos: int
    distinct_masters: int
    original_bytes: int

    def expectation(self, files: int, size_bytes: int) -> str:
        return (
            f"simulator: {self.visible_assets} visible assets in the Library "
            f"({self.distinct_masters} distinct masters, {self.live_photos} live photos), "
            f"{self.original_bytes:,} bytes of originals and live videos over distinct masters; "
            f"photoledger holds {files} files, {size_bytes:,} bytes"
        )


def neutralise_raw_filenames(database: CloudKitPhotoDatabase) -> list[str]:
    """Give masters with a raw (non-UTF-8) filenameEnc a plain name; returns the names given."""
    given: list[str] = []
    with database.state.lock:
        for zone in database.state.zones.values():
            for master in zone.masters.values():
                if master.filename_wire is not None:
                    master.filename_wire = None
                    master.filename = f"IMG_RAWNAME{len(given) + 1}.JPG"
                    given.append(master.filename)
    return given


def read_library_facts(database: CloudKitPhotoDatabase) -> LibraryFacts:
    state = database.state
    with state.lock:
        zone = state.primary()
        visible = [a for a in zone.assets.values() if is_visible(a)]
        masters = {a.master_name: zone.masters[a.master_name] for a in visible}
        live = [a for a in visible if is_live_asset(a, zone.masters[a.master_name])]
        live_masters = {a.master_name for a in live}
        total = 0
        for name, master in masters.items():
            total += master.size_of(ORIGINAL) or 0
            if name in live_masters:
                total += master.size_of(LIVE_VIDEO) or 0
    return LibraryFacts(len(visible), len(live), len(masters), total)


class ContentOwners:
    """Which assets a downloaded file's bytes belong to: sha256 of a served body -> its rows.

    Only bodies whose size matches the file are hashed, so naming a handful of differing files
    costs a handful of reads, not a pass over the whole library.
    """

    def __init__(self, database: CloudKitPhotoDatabase) -> None:
        self._database = database
        self._by_size: dict[int, list[tuple[AssetRow, MasterRow, str]]] = {}
        with database.state.lock:
            for zone in database.state.zones.values():
                for asset in zone.assets.values():
                    master = zone.masters[asset.master_name]
                    for prefix in (ORIGINAL, LIVE_VIDEO):
                        size = master.size_of(prefix)
                        if size is not None:
                            self._by_size.setdefault(size, []).append((asset, master, prefix))

    def describe(self, size_bytes: int, sha256: str) -> str:
        """One line naming the asset(s) whose original or live video has exactly these bytes."""
        owners = [_describe_row(*owner) for owner in self._owners(size_bytes, sha256)]
        return "; ".join(owners) if owners else "bytes of no asset in the simulator"

    def cause(self, size_bytes: int, sha256: str) -> str:
        """The kind of asset a differing file belongs to, for a per-cause count."""
        owners = self._owners(size_bytes, sha256)
        if not owners:
            return "bytes of no asset"
        if any(asset.is_hidden or asset.is_deleted for asset, _, _, _ in owners):
            return "hidden or deleted asset"
        if any(sharing > 1 for _, _, _, sharing in owners):
            return "master shared by several assets"
        return "other (file name)"

    def _owners(self, size_bytes: int, sha256: str) -> list[tuple[AssetRow, MasterRow, str, int]]:
        return [
            (asset, master, prefix, self._sharing(master))
            for asset, master, prefix in self._by_size.get(size_bytes, [])
            if self._body_sha256(master, prefix, size_bytes) == sha256
        ]

    def _sharing(self, master: MasterRow) -> int:
        zone = self._database.state.zones[master.zone]
        return sum(1 for a in zone.assets.values() if a.master_name == master.record_name)

    def _body_sha256(self, master: MasterRow, prefix: str, size_bytes: int) -> str:
        token = content_token(master.record_name, prefix, master.content_rev)
        blob = self._database.content(token)
        return hashlib.sha256(blob.read_range(0, size_bytes)).hexdigest() if blob else ""


def _describe_row(asset: AssetRow, master: MasterRow, prefix: str, sharing: int) -> str:
    flags = [
        label
        for label, is_set in (
            ("hidden", asset.is_hidden),
            ("deleted", asset.is_deleted),
            (f"master shared by {sharing} assets", sharing > 1),
            ("live video", prefix == LIVE_VIDEO),
            (f"zone {asset.zone}", asset.zone != "PrimarySync"),
        )
        if is_set
    ]
    return f"asset {asset.record_name} filename {master.filename!r} {master.kind.name}" + (
        f" ({', '.join(flags)})" if flags else ""
    )


@dataclass
class BenchSimulator:
    server: SimulatorServer
    calls: SimCalls
    facts: LibraryFacts
    neutralised_wire_names: list[str]
    owners: ContentOwners

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def port(self) -> int:
        return self.server.port


@contextmanager
def bench_simulator(
    assets: int,
    seed: int,
    *,
    latency_s: float,
    bandwidth_bytes_per_s: float | None,
    size_scale: float = SIZE_SCALE,
) -> Iterator[BenchSimulator]:
    """A running simulator holding one generated library under USERNAME, faults applied."""
    spec = GeneratorSpec(
        assets=assets, seed=seed, content="fast", include_malformed=False, size_scale=size_scale
    )
    database = generate_library(spec)
    neutralised = neutralise_raw_filenames(database)
    faults = Faults(FaultSettings(latency_s=latency_s, bandwidth_bytes_per_s=bandwidth_bytes_per_s))
    account = SimAccount(USERNAME, PASSWORD, database)
    with SimulatorServer([account], faults=faults) as server:
        facts = read_library_facts(database)
        owners = ContentOwners(database)
        yield BenchSimulator(server, SimCalls(server), facts, neutralised, owners)
