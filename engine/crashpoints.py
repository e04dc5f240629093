"""Named crash points for kill -9 tests.

Invariant: every point the code can reach is listed in CRASH_POINTS, and a meta-test fails if a
listed point has no test that kills the process there and reruns. A point is armed only by the
process environment (`PHOTOLEDGER_CRASH_AT=stage.point`), read once at start-up into a
CrashPoints value that is passed down like any other dependency.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass

from engine.errors import ConfigError

CRASH_ENV = "PHOTOLEDGER_CRASH_AT"

CRASH_POINTS: frozenset[str] = frozenset(
    {
        "ledger.before_save",  # events built, nothing written
        "ledger.after_save",  # events committed, projection not yet updated
        "projection.before_commit",  # projection rows written in an open transaction
        "download.mid_write",  # a chunk of a body written to the part file, more to come
        "download.before_rename",  # every file of an asset verified and synced as a part
        "download.after_rename_before_save",  # files in place, Downloaded not yet saved
        "adoption.mid_stream",  # iCloud's bytes of an adopted file being hashed, more to come
        "adoption.after_quarantine_before_save",  # adopted file moved aside, not yet recorded
        "sidecars.before_rename",  # an XMP sidecar written and synced as a temp file
        "sidecars.after_write_before_save",  # sidecar in place, SidecarWritten not yet saved
        "discover.after_page_save",  # one page of discovery saved, later pages not read
        "backup_nas.before_rename",  # NAS copy written and synced as a temp file, not renamed
        "backup_nas.after_rename_before_verify",  # NAS copy in place, not yet re-read
        "backup_nas.after_verify_before_save",  # NAS copy re-read and matched, not yet recorded
        "backup_google.after_stage_before_save",  # files in the outbox, PixelStaged not saved
        "backup_google.before_verified_save",  # the Pixel holds them, GoogleVerified not saved
        "compress.before_replace",  # re-encode written and checked as a temp file, not renamed
        "compress.after_replace_before_save",  # local copy replaced, Compressed not yet saved
        "album_move.before_icloud_call",  # a batch chosen, iCloud not yet asked to add it
        "album_move.after_icloud_call_before_save",  # iCloud added the batch, AlbumMoved not saved
        "delete.before_nas_reread",  # the gate and iCloud re-checked, NAS copies not re-read
        "delete.before_request_saved",  # NAS re-read (if required), DeletionRequested not saved
        "delete.after_request_saved",  # DeletionRequested durable, iCloud not yet asked
        "delete.after_icloud_call",  # iCloud deleted the asset, Deleted not yet saved
        "recover.after_icloud_call",  # iCloud recovered the asset, Recovered not yet saved
        "recover.after_redownload",  # Recovered and the re-download saved, NAS not repaired
    }
)


@dataclass(frozen=True)
class CrashPoints:
    """Which crash point (if any) kills this process."""

    armed: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CrashPoints:
        """Read the armed point from the environment; an unknown name is a config error."""
        name = env.get(CRASH_ENV) or None
        if name is not None and name not in CRASH_POINTS:
            raise ConfigError(f"{CRASH_ENV}={name}: no such crash point")
        return cls(armed=name)

    def reach(self, name: str) -> None:
        """SIGKILL this process if `name` is the armed point."""
        if name not in CRASH_POINTS:
            raise ValueError(f"unregistered crash point {name!r}")
        if self.armed == name:
            os.kill(os.getpid(), signal.SIGKILL)
