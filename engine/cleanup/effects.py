"""What cleanup stages change in the world, behind one seam so a dry run follows the same code.

Invariants:
- Every change made by album-move and delete goes through a `CleanupEffects`: appending facts
  (`save`), iCloud writes (`add_to_album`, `soft_delete`) and removing a local file. Reads
  (ledger, projection, iCloud lookups, the NAS marker) happen outside it.
- `DryRunEffects` does nothing and records nothing: `delete execute --dry-run` runs the real
  decision code, and the ledger, the library tree and iCloud stay byte for byte the same.
- A scope is built from the services (`cleanup_scope`), never by a command: dry is decided by
  the caller, the run id by whether the services hold a writer's run.
- `LiveEffects.save` appends synchronously: when it returns, the facts are durable (SQLite
  synchronous=FULL or the PostgreSQL commit), which is what "intent before effect" relies on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from engine.asset import Asset, SyncRun
from engine.config import ConfigFile
from engine.crashpoints import CrashPoints
from engine.icloud.model import RemoteAlbum
from engine.icloud.port import IcloudPort
from engine.ledger import Ledger
from engine.nas.access import read_nas_id
from engine.selection import SelectionCheck
from engine.selection_scope import selection_scope
from engine.services import Services
from projections.media import MediaProjection


class CleanupEffects(Protocol):
    """The changes a cleanup stage may make."""

    def save(self, *aggregates: Asset | SyncRun) -> None: ...
    def add_to_album(
        self, zone: str, album: RemoteAlbum, record_names: list[str]
    ) -> dict[str, str]: ...
    def soft_delete(self, zone: str, record_name: str, change_tag: str) -> None: ...
    def remove_local_file(self, path: Path) -> None: ...


@dataclass(frozen=True)
class LiveEffects:
    """The real thing: the ledger, the iCloud port and the library folder."""

    ledger: Ledger
    port: IcloudPort

    def save(self, *aggregates: Asset | SyncRun) -> None:
        if aggregates:
            self.ledger.save(*aggregates)

    def add_to_album(
        self, zone: str, album: RemoteAlbum, record_names: list[str]
    ) -> dict[str, str]:
        return self.port.add_to_album(zone, album, record_names)

    def soft_delete(self, zone: str, record_name: str, change_tag: str) -> None:
        self.port.soft_delete(zone, record_name, change_tag)

    def remove_local_file(self, path: Path) -> None:
        path.unlink(missing_ok=True)


class DryRunEffects:
    """Nothing changes; `calls` lists what would have been done, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def save(self, *aggregates: Asset | SyncRun) -> None:
        """Drop the facts the run decided: a dry run records nothing."""
        for aggregate in aggregates:
            aggregate.collect_events()

    def add_to_album(
        self, zone: str, album: RemoteAlbum, record_names: list[str]
    ) -> dict[str, str]:
        self.calls += [f"add {zone}/{name} to {album.name}" for name in record_names]
        return {}

    def soft_delete(self, zone: str, record_name: str, change_tag: str) -> None:
        self.calls.append(f"delete {zone}/{record_name} (change tag {change_tag})")

    def remove_local_file(self, path: Path) -> None:
        self.calls.append(f"remove {path}")


@dataclass(frozen=True)
class CleanupScope:
    """What one album-move or delete run works with: the services, the iCloud port, and the
    effects seam every change goes through."""

    services: Services
    port: IcloudPort
    effects: CleanupEffects
    selection: SelectionCheck  # the configured selection: outside it, nothing is touched

    @property
    def ledger(self) -> Ledger:
        return self.services.ledger

    @property
    def projection(self) -> MediaProjection:
        return self.services.projection

    @property
    def crash(self) -> CrashPoints:
        return self.services.crash

    @property
    def settings(self) -> ConfigFile:
        return self.services.config.settings

    @property
    def library_root(self) -> Path:
        return self.services.config.library_root

    @property
    def nas_root(self) -> Path | None:
        return self.services.config.nas_root()

    @property
    def zone(self) -> str:
        return self.settings.icloud.library

    @property
    def run_id(self) -> str:
        """The writer's run; a read-only (dry) run has none, and records nothing anyway."""
        return self.services.run_id if self.services.run is not None else "0" * 32

    @property
    def is_dry_run(self) -> bool:
        return isinstance(self.effects, DryRunEffects)

    def now(self) -> datetime:
        return self.services.clock()


def cleanup_scope(services: Services, port: IcloudPort, *, dry_run: bool) -> CleanupScope:
    """The scope of a cleanup run on `services` (no-op effects when dry)."""
    effects: CleanupEffects = DryRunEffects() if dry_run else LiveEffects(services.ledger, port)
    return CleanupScope(services, port, effects, selection_scope(services))


def mounted_nas_id(nas_root: Path | None) -> str | None:
    """The id in the NAS marker ("" for a marker without one); None when no NAS is configured
    or its marker is not there (a hung mount counts as absent)."""
    return None if nas_root is None else read_nas_id(nas_root)
