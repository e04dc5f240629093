"""The download stage's options, summary, progress interface and run context.

Invariant: these are plain values and one protocol; nothing here performs I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from engine.crashpoints import CrashPoints
from engine.ledger import Ledger
from engine.naming import NamingPolicy
from engine.resources import ARCHIVE_KEYS
from projections.media import MediaProjection


class DownloadProgress(Protocol):
    """Where the run reports progress (a rich bar, log lines, or nothing)."""

    def started(self, assets: int, total_bytes: int) -> None: ...
    def advance_bytes(self, size_bytes: int) -> None: ...
    def asset_done(self, outcome: str, label: str, detail: str) -> None: ...


@dataclass(frozen=True)
class DownloadOptions:
    """What the user asked for."""

    workers: int = 8
    sizes: tuple[str, ...] = ("original",)
    dry_run: bool = False
    limit: int | None = None
    save_every: int = 50
    resources: tuple[str, ...] = ARCHIVE_KEYS  # config download.resources
    max_consecutive_failures: int = 50  # config download.max_consecutive_failures
    asset_ids: frozenset[str] | None = None  # only these (hex ids) of the work list: recover


@dataclass
class DownloadSummary:
    """What a run did."""

    downloaded: int = 0  # assets with every resource asked for now in the library
    partial: int = 0  # assets with some resources filed and some failed
    failed: int = 0  # assets with nothing filed this run and a failure recorded
    quarantined: int = 0
    remote_changed: int = 0
    remote_deleted: int = 0  # assets found gone from iCloud while downloading
    fallback_named: int = 0  # assets named by icloudpd's fallback (filenameEnc unusable)
    files_downloaded: int = 0
    bytes_downloaded: int = 0
    sidecars_written: int = 0  # the sidecars step after the files (engine.sidecar_run)
    sidecars_rewritten: int = 0
    sidecars_failed: int = 0
    sidecar_failures: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    planned_relpaths: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "downloaded": self.downloaded,
            "partial": self.partial,
            "failed": self.failed,
            "quarantined": self.quarantined,
            "remote_changed": self.remote_changed,
            "remote_deleted": self.remote_deleted,
            "files": self.files_downloaded,
            "sidecars_written": self.sidecars_written,
            "sidecars_rewritten": self.sidecars_rewritten,
            "sidecars_failed": self.sidecars_failed,
        }

    @property
    def has_failures(self) -> bool:
        """Some asset of the work list was not fully downloaded (recorded with its reason), or
        some sidecar could not be written (retried next run)."""
        return bool(self.partial or self.failed or self.quarantined or self.sidecars_failed)


@dataclass(frozen=True)
class RunContext:
    """The dependencies of one run (built by the command)."""

    ledger: Ledger
    projection: MediaProjection
    crash: CrashPoints
    run_id: str
    library_root: Path
    naming: NamingPolicy


def reach(crash: CrashPoints, name: str) -> None:
    """Pass a crash point (see engine.crashpoints)."""
    crash.reach(name)
