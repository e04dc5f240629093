"""A small world for fault scenarios: a generated iCloud library served over HTTP, a real library.

Invariants:
- Each world owns its simulator, its library folder and its session folder; nothing is shared
  between tests, so a fault armed in one test never leaks into another.
- Stages run through the engine's `run_discover` / `run_download` (the entries the CLI
  calls) with a port built by the real factory; only the retry policy differs from the CLI's, so
  retries cost milliseconds (a server's Retry-After is still honoured).
- Every port a stage uses is closed when the stage ends, like one CLI invocation.
- Expected bytes are computed from the simulator's own content rules, never read back from the
  files under test.
- The session-expiry watcher is a bounded thread: it stops at its first expiry or when its
  `with` block ends, whichever comes first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from commands.context import Settings
from engine.asset import MediaState
from engine.config import load_config
from engine.crashpoints import CrashPoints
from engine.discover.stage import DiscoverOptions, DiscoverResult, run_discover
from engine.download.options import DownloadSummary, download_options
from engine.download.stage import run_download
from engine.icloud.adapter import PyicloudPort
from engine.icloud.factory import build_port_for
from engine.icloud.retry import RetryPolicy
from engine.ids import IcloudIdentity, asset_id_for
from engine.reporting import NullReporter
from engine.services import open_writer, utc_now
from projections.worklists import STAGE_WORKLISTS
from simulator.icloud.blobs import content_token, fast_blob
from simulator.icloud.cloudkit import CloudKitPhotoDatabase
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.library import PhotoLibraryState
from simulator.icloud.rows import MEDIA_KINDS, ORIGINAL, MasterRow
from simulator.icloud.server import SimulatorServer
from tests.factories import Library, make_library
from tests.sim import PASSWORD, USERNAME, start_simulator

ZONE = "PrimarySync"
ASSETS = 40  # a few dozen: every media kind, the special names, one discovery page
TINY_SCALE = 0.002  # originals of 1-90 KB: every body fits in one 64 KiB read or two
FAST_RETRIES = RetryPolicy(max_attempts=3, max_total_s=30.0, base_delay_s=0.01, max_delay_s=0.05)
STAGE_TOPICS = frozenset({"Downloaded", "DownloadFailed", "Quarantined", "RemoteChanged"})


@dataclass
class World:
    library: Library
    server: SimulatorServer
    database: CloudKitPhotoDatabase
    session_dir: Path

    @property
    def state(self) -> PhotoLibraryState:
        return self.database.state

    @property
    def root(self) -> Path:
        return self.library.config.library_root

    def new_port(self) -> PyicloudPort:
        return build_port_for(
            username=USERNAME,
            session_dir=self.session_dir,
            dotenv_path=None,
            endpoint=self.server.base_url,
            password_prompt=None,
            code_source=None,
            environ={"PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD},
            policy=FAST_RETRIES,
            keyring_lookup=None,
        )

    def settings(self) -> Settings:
        return Settings(self.library.config_path, CrashPoints(), utc_now, False, lambda _m: None)

    def discover(self, *, full: bool = False) -> DiscoverResult:
        port = self.new_port()
        options = DiscoverOptions(zone=ZONE, force_full=full)
        try:
            with open_writer(self.library.config, self.settings(), "discover") as deps:
                return run_discover(deps, port, options, NullReporter())
        finally:
            port.close()

    def download(self, workers: int = 4, limit: int | None = None) -> DownloadSummary:
        port = self.new_port()
        try:
            with open_writer(self.library.config, self.settings(), "download") as deps:
                config = load_config(self.library.config_path)  # a test may have edited it
                options = download_options(config, workers=workers, limit=limit)
                options = dataclasses.replace(options, local_tz=UTC)
                return run_download(deps, port, options, NullReporter())
        finally:
            port.close()


@contextmanager
def open_world(
    tmp_path: Path, *, assets: int = ASSETS, size_scale: float = TINY_SCALE, seed: int = 5,
    shared_assets: int = 0, shared_library: Literal["owner", "participant", "none"] = "owner",
) -> Iterator[World]:
    """`shared_assets` > 0: a Shared Library with that many assets, owned by the account or
    (`shared_library="participant"`) joined, in the shared database."""
    spec = GeneratorSpec(
        assets=assets, seed=seed, include_malformed=False, shared_assets=shared_assets,
        size_scale=size_scale, shared_library=shared_library,
    )
    database = generate_library(spec)
    library = make_library(tmp_path)
    text = library.config_path.read_text().replace("jdoe@example.com", USERNAME)
    library.config_path.write_text(text)
    library = Library(library.config_path, load_config(library.config_path))
    with start_simulator(database) as server:
        yield World(library, server, database, tmp_path / "session")


def asset_id(record_name: str) -> UUID:
    return asset_id_for(IcloudIdentity(USERNAME, ZONE, record_name))


def stage_events(world: World, record_name: str) -> list[Any]:
    """The download-stage facts of one asset, in order."""
    ledger = world.library.open_ledger()
    try:
        return [
            e for e in ledger.events_of(asset_id(record_name)) if type(e).__name__ in STAGE_TOPICS
        ]
    finally:
        ledger.close()


def topics(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def download_counts(world: World) -> Counter[str]:
    """Record name -> how many Downloaded facts its most downloaded resource has (1: each
    resource of the asset was downloaded exactly once)."""
    ledger = world.library.open_ledger()
    try:
        ids = {raw.originator_id for raw in ledger.iter_all() if raw.topic == "Downloaded"}
        counts: Counter[str] = Counter()
        for i in ids:
            events = ledger.events_of(UUID(str(i)))
            per_resource = Counter(e.resource for e in events if type(e).__name__ == "Downloaded")
            name = ledger.get_asset(UUID(str(i))).state.record_name
            counts[name] = max(per_resource.values())
        return counts
    finally:
        ledger.close()


def media_states(world: World) -> dict[str, MediaState]:
    """Record name -> the asset's folded state, for every asset in the ledger."""
    ledger = world.library.open_ledger()
    projection = world.library.open_projection()
    try:
        projection.catch_up(ledger)
        ids = [row[0] for row in projection._query("SELECT asset_id FROM media")]
        states = [ledger.get_asset(UUID(i)).state for i in ids]
        return {s.record_name: s for s in states}
    finally:
        projection.close()
        ledger.close()


def waiting_for_download(world: World) -> set[str]:
    """Record names on the download work list."""
    ledger = world.library.open_ledger()
    projection = world.library.open_projection()
    try:
        projection.catch_up(ledger)
        where = STAGE_WORKLISTS["download"]
        return {r[0] for r in projection._query(f"SELECT record_name FROM media WHERE {where}")}
    finally:
        projection.close()
        ledger.close()


def master_of(world: World, record_name: str) -> MasterRow:
    master = world.state.master(world.state.asset(record_name).master_name)
    assert master is not None
    return master


def pick_target(world: World) -> str:
    """The waiting asset with the largest original whose master no other asset shares."""
    shared = Counter(a.master_name for a in world.state.primary().assets.values())
    candidates = [
        name
        for name in waiting_for_download(world)
        if shared[master_of(world, name).record_name] == 1
    ]
    return max(candidates, key=lambda n: (master_of(world, n).size_of(ORIGINAL) or 0, n))


def original_token(world: World, record_name: str) -> str:
    """The content token the simulator puts in the original's download URL."""
    master = master_of(world, record_name)
    return content_token(master.record_name, ORIGINAL, master.content_rev)


def served_sha256(world: World, record_name: str) -> str:
    """sha256 of the original's bytes as the simulator serves them now."""
    master = master_of(world, record_name)
    size = master.size_of(ORIGINAL) or 0
    spec = next(s for s in MEDIA_KINDS[master.kind].resources if s.prefix == ORIGINAL)
    blob = fast_blob(
        world.state.seed, master.record_name, ORIGINAL, master.content_rev, size, spec.file_type
    )
    return hashlib.sha256(blob.read_range(0, size)).hexdigest()


def content_statuses(world: World, token: str) -> list[int]:
    """Statuses the simulator answered to downloads of one content token, in order."""
    return [
        e.status
        for e in world.server.requests.entries()
        if e.kind == "content" and f"/B/{token}/" in e.path
    ]


def content_histories(world: World, since: int = 0) -> dict[str, list[int]]:
    """Content token -> the statuses answered to its downloads, from log entry `since` on."""
    found: dict[str, list[int]] = {}
    for entry in world.server.requests.entries()[since:]:
        if entry.kind == "content":
            found.setdefault(entry.path.split("/")[2], []).append(entry.status)
    return found


def files_on_disk(world: World) -> set[str]:
    return {
        p.relative_to(world.root).as_posix()
        for p in world.root.rglob("*")
        if p.is_file() and ".photoledger" not in p.parts
    }


def part_files(world: World) -> list[Path]:
    return sorted(p for p in world.root.rglob("*.part") if p.is_file())


def parts_of(world: World, record_name: str) -> list[Path]:
    """Part files of one asset (their names carry the first 8 hex digits of its id)."""
    marker = f".{asset_id(record_name).hex[:8]}."
    return [p for p in part_files(world) if marker in p.name]


def recorded_files(state: MediaState) -> list[tuple[str, str]]:
    """(relpath, sha256) of every file a Downloaded fact put in the library for this asset,
    and of its XMP sidecar (SidecarWritten)."""
    if state.sha256 is None or state.local_relpath is None:
        return []
    found = [(state.local_relpath, state.sha256)]
    if state.live_video_relpath and state.live_video_sha256:
        found.append((state.live_video_relpath, state.live_video_sha256))
    found += [(extra.relpath, extra.sha256) for extra in state.extra_files]
    if state.sidecar_relpath and state.sidecar_sha256:
        found.append((state.sidecar_relpath, state.sidecar_sha256))
    return found


def assert_files_match_the_ledger(world: World) -> None:
    """Every final file is named by a Downloaded fact and holds exactly the recorded bytes."""
    recorded = [f for s in media_states(world).values() for f in recorded_files(s)]
    for relpath, sha256 in recorded:
        path = world.root / relpath
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256, relpath
    finals = {name for name in files_on_disk(world) if not name.endswith(".part")}
    assert finals == {relpath for relpath, _ in recorded}


def assert_converged(
    world: World, expected_downloads: dict[str, int] | None = None, *, full_scan: bool = False
) -> None:
    """Rerun both stages without faults: nothing waits, no part, each asset Downloaded once."""
    world.server.faults.clear()
    world.discover(full=full_scan)
    world.download()
    assert waiting_for_download(world) == set()
    assert part_files(world) == []
    assert_files_match_the_ledger(world)
    states = media_states(world)
    downloadable = {n for n, s in states.items() if s.quarantine_reason is None}
    expected = dict.fromkeys(downloadable, 1) | (expected_downloads or {})
    assert dict(download_counts(world)) == expected
    for name in downloadable:
        assert states[name].sha256 == served_sha256(world, name), name


def assert_all_downloaded_once(world: World) -> None:
    """Every waiting asset got one Downloaded, with the simulator's bytes, and nothing else."""
    assert waiting_for_download(world) == set()
    states = media_states(world)
    downloadable = {n for n, s in states.items() if s.quarantine_reason is None}
    assert dict(download_counts(world)) == dict.fromkeys(downloadable, 1)
    for name in downloadable:
        assert set(topics(stage_events(world, name))) == {"Downloaded"}, name
        assert states[name].sha256 == served_sha256(world, name), name
    assert part_files(world) == []
    assert_files_match_the_ledger(world)


@contextmanager
def sessions_expire_after_first(
    world: World, kind: str, *, status: int, include_session_tokens: bool = False
) -> Iterator[list[int]]:
    """Expire every web session once the simulator has answered a `kind` request (polled every
    2 ms from a thread; yields the list the number of expired sessions is appended to)."""
    mark = len(world.server.requests.entries())
    expired: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.002):
            answered = world.server.requests.entries()[mark:]
            if any(e.kind == kind and e.status in (200, 206) for e in answered):
                expired.append(world.server.expire_sessions(status, include_session_tokens))
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield expired
    finally:
        stop.set()
        watcher.join(timeout=5)
