"""A world for cleanup tests: the iCloud simulator over HTTP, a real library, a real NAS folder.

Invariants:
- discover, download, backup-nas, album-move, delete plan and delete execute run through the
  run functions the CLI calls (album-move and delete: their engine entries) with ports built by
  the real factory, against the simulator that the real pyicloud session talks to over HTTP.
- The Google route needs two syncthing processes (tests/commands/test_backup_google.py tests
  it); here `GoogleVerified` is appended as the ledger fact backup-google would record, for the
  assets a test chooses. Everything else is produced by the real stages.
- Each world owns its simulator, folders and ledger; nothing leaks between tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from engine import events as ev
from engine.cleanup.album import AlbumMoveSummary, run_album_move
from engine.cleanup.plan import DeletionPlan
from engine.cleanup.run import DeleteSummary, run_delete_execute, run_delete_plan
from engine.config import load_config
from engine.nas.run import NasOptions
from engine.nas.stage import run_backup_nas
from engine.reporting import NullReporter
from engine.services import Services, open_reader, open_writer
from tests.commands.test_backup_nas import with_nas
from tests.factories import Library
from tests.scenarios.fault_world import TINY_SCALE, World, asset_id, open_world

PIXEL = "PIXEL-TEST-DEVICE"


@dataclass
class CleanupWorld:
    world: World
    nas_root: Path

    @property
    def library(self) -> Library:
        return self.world.library

    @property
    def config_path(self) -> Path:
        return self.world.library.config_path

    @contextmanager
    def writer(self, command: str) -> Iterator[Services]:
        with open_writer(self.library.config, self.world.settings(), command) as deps:
            yield deps

    @contextmanager
    def reader(self) -> Iterator[Services]:
        with open_reader(self.library.config, self.world.settings()) as deps:
            yield deps

    def backup_nas(self) -> None:
        with self.writer("backup-nas") as deps:
            run_backup_nas(deps, NasOptions(workers=2), NullReporter())

    def google_verify(self, record_names: Iterable[str]) -> None:
        """Append GoogleVerified (as backup-google would) for downloaded assets."""
        with self.writer("backup-google") as deps:
            assets = []
            for name in record_names:
                asset = deps.ledger.get_asset(asset_id(name))
                if asset.state.sha256 is None:
                    continue
                asset.record(ev.GoogleVerified, deps.run_id, device_id=PIXEL,
                             size_bytes=asset.state.downloaded_size_bytes or 0)
                assets.append(asset)
            deps.ledger.save(*assets)

    def album_move(self) -> AlbumMoveSummary:
        port = self.world.new_port()
        try:
            with self.writer("album-move") as deps:
                return run_album_move(deps, port, NullReporter())
        finally:
            port.close()

    def plan(self) -> DeletionPlan:
        port = self.world.new_port()
        try:
            with self.writer("delete") as deps:
                return run_delete_plan(deps, port)
        finally:
            port.close()

    def execute(self, plan_id: str, *, force: bool = False, dry_run: bool = False) -> DeleteSummary:
        port = self.world.new_port()
        try:
            if dry_run:
                with self.reader() as deps:
                    return run_delete_execute(deps, port, plan_id, force=force, dry_run=True)
            with self.writer("delete") as deps:
                return run_delete_execute(deps, port, plan_id, force=force)
        finally:
            port.close()

    def state(self, record_name: str) -> Any:
        ledger = self.library.open_ledger()
        try:
            return ledger.get_asset(asset_id(record_name)).state
        finally:
            ledger.close()

    def topics_of(self, record_name: str) -> list[str]:
        ledger = self.library.open_ledger()
        try:
            return [type(e).__name__ for e in ledger.events_of(asset_id(record_name))]
        finally:
            ledger.close()

    def downloaded(self) -> list[str]:
        """Record names of downloaded assets, in a stable order."""
        ledger = self.library.open_ledger()
        try:
            names = []
            for raw in ledger.iter_all():
                if raw.topic == "Downloaded":
                    names.append(ledger.get_asset(UUID(raw.originator_id)).state.record_name)
            return sorted(set(names))
        finally:
            ledger.close()

    def icloud_deleted(self) -> set[str]:
        """Record names in the simulator's Recently Deleted."""
        return {a.record_name for a in self.world.state.primary().assets.values() if a.is_deleted}

    def album_members(self) -> set[str]:
        zone = self.world.state.primary()
        album = next(a for a in zone.albums.values() if a.name == "DeletePending")
        return {r.item_id for r in zone.relations.values() if r.container_id == album.record_name}

    def remove_from_album(self, record_name: str) -> None:
        """What the user does on the phone: take the asset out of DeletePending."""
        zone = self.world.state.primary()
        relation = next(r for r in zone.relations.values() if r.item_id == record_name)
        self.world.state.remove_relation(zone, relation.record_name)

    def modify_requests(self) -> int:
        return sum(1 for e in self.world.server.requests.entries() if "records/modify" in e.path)


def configure_cleanup(library: Library, **cleanup: Any) -> Library:
    """Replace keys of the config's `cleanup:` section (JSON values are valid YAML)."""
    lines = library.config_path.read_text().splitlines()
    start = lines.index("cleanup:")
    for key, value in cleanup.items():
        for i in range(start + 1, len(lines)):
            if lines[i].startswith(f"  {key}:"):
                lines[i] = f"  {key}: {json.dumps(value)}"
                break
        else:
            raise KeyError(key)
    library.config_path.write_text("\n".join(lines) + "\n")
    return Library(library.config_path, load_config(library.config_path))


@contextmanager
def open_cleanup_world(
    tmp_path: Path, *, assets: int = 10, seed: int = 5, size_scale: float = TINY_SCALE,
    shared_assets: int = 0, shared_library: Literal["owner", "participant", "none"] = "owner",
    **cleanup: Any,
) -> Iterator[CleanupWorld]:
    """A world with the NAS configured and its marker written; nothing discovered yet
    (`size_scale` 1.0: photo-sized files, for benchmarks; `shared_assets`: a Shared Library,
    see open_world)."""
    settings = {"keep_recent_days": 0, "max_delete": 1000, "max_delete_fraction": 1.0, **cleanup}
    with open_world(tmp_path, assets=assets, seed=seed, size_scale=size_scale,
                    shared_assets=shared_assets, shared_library=shared_library) as world:
        nas_root = tmp_path / "nas"
        nas_root.mkdir()
        library = configure_cleanup(with_nas(world.library, nas_root), **settings)
        world.library = library
        yield CleanupWorld(world, nas_root)


def prepare(cw: CleanupWorld, *, google: Iterable[str] | None = None) -> list[str]:
    """discover, download, backup-nas, Google facts (all downloaded, or `google`), album-move."""
    cw.world.discover()
    cw.world.download()
    cw.backup_nas()
    downloaded = cw.downloaded()
    cw.google_verify(downloaded if google is None else google)
    cw.album_move()
    return downloaded
