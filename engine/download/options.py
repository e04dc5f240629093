"""The download stage's options and summary, and how they are built from the config.

Invariants:
- Options and summary are plain values; nothing here writes anything.
- The naming policy is the config's library.* naming settings with the zone folder dates are
  computed in: the one asked for in the options, else the machine's (as icloudpd does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from engine.config import Config
from engine.crashpoints import CrashPoints
from engine.naming import NamingPolicy
from engine.resources import ARCHIVE_KEYS


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
    local_tz: tzinfo | None = None  # folder dates' zone; None: the machine's
    # Which adopted files this pass compares with iCloud's bytes (engine.download.adoption):
    # None, none (a plain `download` fetches nothing adopted); else those of the assets taken
    # before this time (`run`: the ones old enough to leave iCloud; COMPARE_ALL: every one).
    compare_adopted_before_utc: datetime | None = None


COMPARE_ALL = datetime.max.replace(tzinfo=UTC)  # compare_adopted_before_utc: every adopted file


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
    not_selected: int = 0  # assets waiting for a download that the selection left out
    found_in_place: int = 0  # files downloaded whose very bytes were already at their name
    # Adopted files compared with iCloud's bytes after the downloads (engine.download.adoption)
    adopted_confirmed: int = 0  # files whose bytes iCloud's hashed to
    adopted_disproved: int = 0  # files that are not iCloud's bytes: moved aside, fetched again
    adopted_failed: int = 0  # assets whose comparison failed (retried next run)
    bytes_compared: int = 0
    planned_confirmations: list[str] = field(default_factory=list)  # dry run: files to compare
    adoption_problems: list[str] = field(default_factory=list)  # "relpath: what happened"

    def counts(self) -> dict[str, int]:
        adopted = {"adopted_confirmed": self.adopted_confirmed,
                   "adopted_disproved": self.adopted_disproved,
                   "adopted_failed": self.adopted_failed}
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
        } | (adopted if any(adopted.values()) else {})  # only where adopted files were compared

    @property
    def has_failures(self) -> bool:
        """Some asset of the work list was not fully downloaded (recorded with its reason),
        some sidecar could not be written, or some adopted file could not be compared with
        iCloud's bytes (each retried next run)."""
        return bool(self.partial or self.failed or self.quarantined or self.sidecars_failed
                    or self.adopted_failed)

    def failure_message(self) -> str:
        """The one line of a download that finished with failures (recorded, retried next
        run): the command's error line."""
        parts = []
        if self.partial or self.failed or self.quarantined:
            parts.append(f"{self.partial + self.failed} assets failed and "
                         f"{self.quarantined} were quarantined")
        if self.adopted_failed:
            parts.append(f"the adopted files of {self.adopted_failed} assets could not be "
                         "compared with iCloud's bytes (until they are, those assets are not "
                         "deleted from iCloud)")
        if self.sidecars_failed:
            parts.append(f"{self.sidecars_failed} sidecars could not be written")
        return (", and ".join(parts) + ", each recorded with its reason (`photoledger report "
                "failures`); the next run retries the failures")


def local_timezone() -> tzinfo:
    """The machine's zone for folder dates (icloudpd uses the host's zone too)."""
    try:
        import tzlocal

        zone: tzinfo = tzlocal.get_localzone()
        return zone
    except Exception:  # no zone database or an odd TZ: UTC is a stable fallback
        return UTC


def naming_policy(config: Config, local_tz: tzinfo | None = None) -> NamingPolicy:
    """The naming settings of the config, with the zone folder dates are computed in."""
    library = config.settings.library
    return NamingPolicy(
        local_tz=local_tz or local_timezone(),
        folder_structure=library.folder_structure,
        file_match_policy=library.file_match_policy,
        keep_unicode=library.keep_unicode_in_filenames,
        live_photo_mov_filename_policy=library.live_photo_mov_filename_policy,
    )


def download_options(
    config: Config, *, workers: int | None = None, limit: int | None = None
) -> DownloadOptions:
    """The run's options from the config (download.*) and what the command line asked."""
    settings = config.settings.download
    skipped = ("live_video",) if config.settings.selection.skip_live_photos else ()
    return DownloadOptions(
        workers=DownloadOptions.workers if workers is None else workers,
        limit=limit,
        resources=tuple(r for r in settings.resources if r not in skipped),
        max_consecutive_failures=settings.max_consecutive_failures,
    )


def reach(crash: CrashPoints, name: str) -> None:
    """Pass a crash point (see engine.crashpoints)."""
    crash.reach(name)
