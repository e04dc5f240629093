"""Domain errors and the exit codes they map to.

Invariant: every error a user can cause or meet carries one ExitCode, and its message is one
line that names what is wrong and what to do. `commands` turns these into output; nothing in
`engine` prints. The README's exit-code table is checked against `ExitCode` by a test.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit codes (README, "Exit codes")."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    LOCKED = 4
    LEDGER_DAMAGED = 5
    STORAGE = 6
    NOT_FOUND = 7
    CHECK_FAILED = 8
    LEDGER_UNAVAILABLE = 9
    AUTH_FAILED = 10
    ICLOUD_UNAVAILABLE = 11
    NAS_UNAVAILABLE = 12
    SYNCTHING_UNAVAILABLE = 13
    SYNCTHING_UNSAFE = 14
    NEEDS_ATTENTION = 15
    ASSETS_FAILED = 16
    NAS_MISMATCHED = 17
    LAST_COPY_DAMAGED = 18
    GONE_FROM_ICLOUD = 19
    DELETE_REFUSED = 20
    AUDIT_FAILED = 21
    PLAN_INVALID = 22
    INTERRUPTED = 130


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.INTERNAL: "unexpected internal error (a bug: report it with the --debug traceback)",
    ExitCode.USAGE: "bad command line (unknown option, missing argument, bad choice): one "
    "`photoledger: error:` line naming the command's --help; or a config with several accounts "
    "and a command for one account without `--account NAME` (or --account naming none of them)",
    ExitCode.CONFIG: "bad configuration: unknown key, wrong type, missing value, missing folder, "
    "or a configured tool (ffmpeg, ffprobe, exiftool) that cannot be run; or an `icloud.library` "
    "the iCloud account does not have (the message lists its libraries); or a `selection` album "
    "(`--album`, `--exclude-album`) the library does not have (the message lists its albums); "
    "or two `accounts:` sharing a folder, a ledger or a Syncthing folder (naming both), or the "
    "unnamed PHOTOLEDGER_ICLOUD_PASSWORD set while several accounts run",
    ExitCode.LOCKED: "another photoledger process holds the library's writer lock",
    ExitCode.LEDGER_DAMAGED: "the ledger is missing, corrupt or truncated; nothing was written",
    ExitCode.STORAGE: "the library or its state folder cannot be written (read-only, "
    "permissions, disk full); nothing half-written was recorded",
    ExitCode.NOT_FOUND: "the asset named on the command line is not in the ledger (or, for "
    "`backup-google --resend`, no copy of it has the downloaded bytes, or it was never staged "
    "for Google)",
    ExitCode.CHECK_FAILED: "`check` found damage, or a projection that differs from a replay; "
    "or the media projection (`media.db`, derived from the ledger) is damaged: `photoledger "
    "rebuild` recreates it",
    ExitCode.LEDGER_UNAVAILABLE: "the configured PostgreSQL ledger cannot be reached or refused us",
    ExitCode.AUTH_FAILED: "iCloud login failed: wrong password, 2FA code needed "
    "(`photoledger login`), or web access off / Advanced Data Protection on; `run`/`watch` "
    "waiting for a requested 2FA code (`photoledger login --submit-code CODE`); `login "
    "--submit-code` with a wrong code (the sign-in still waits: try again) or none waiting",
    ExitCode.ICLOUD_UNAVAILABLE: "iCloud kept refusing after retries (throttled, unreachable, "
    "library still indexing); run again later",
    ExitCode.NAS_UNAVAILABLE: "the NAS folder is unavailable (not mounted: its marker file "
    "`.photoledger-nas` is missing) or cannot be written (full, read-only); nothing was "
    "recorded for the assets in flight",
    ExitCode.SYNCTHING_UNAVAILABLE: "Syncthing's REST API cannot be reached or refused the API key",
    ExitCode.SYNCTHING_UNSAFE: "`doctor` found a dangerous Syncthing set-up; nothing was staged",
    ExitCode.NEEDS_ATTENTION: "`run`/`watch` finished every stage it could, but something "
    "waits for you: newly quarantined assets, or a deletion plan to execute",
    ExitCode.ASSETS_FAILED: "the stage finished its work list, but some assets failed or were "
    "quarantined (each recorded with its reason, shown by `report failures`; failures are "
    "retried by the next run); the others were done",
    ExitCode.NAS_MISMATCHED: "a NAS copy is missing or does not hold the downloaded bytes "
    "(recorded as NasMismatched; `backup-nas` repairs it from a good copy, or asks iCloud "
    "for the bytes again when no local copy holds them: `run` then repairs it); iCloud still "
    "has the asset",
    ExitCode.LAST_COPY_DAMAGED: "ALARM: the NAS copy of an asset already deleted from iCloud, "
    "the only full-quality copy left, is missing or damaged; the message names the `photoledger "
    "recover` command and the last day iCloud's Recently Deleted can give it back",
    ExitCode.GONE_FROM_ICLOUD: "`recover`: iCloud no longer has the asset (purged from "
    "Recently Deleted after its 30 days, or never there): it cannot come back from iCloud; "
    "its NAS copy (or another backup of it) is all there is",
    ExitCode.DELETE_REFUSED: "`delete execute` refused or stopped: the plan is over the "
    "mass-delete limits (cleanup.max_delete, cleanup.max_delete_fraction) or an I/O error "
    "happened earlier in the run; nothing more was deleted (`--force` overrides)",
    ExitCode.AUDIT_FAILED: "`audit` found a deletion without complete evidence at the time",
    ExitCode.PLAN_INVALID: "the deletion plan named is not in the ledger, or its stored hash does "
    "not match its entries",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C, SIGTERM, or Cancel in the web UI); everything "
    "recorded so far is kept",
}


class PhotoledgerError(Exception):
    """Base of every expected error; `str(err)` is the one-line message shown to the user."""

    exit_code: ExitCode = ExitCode.INTERNAL


class ConfigError(PhotoledgerError):
    """The configuration file is missing, unparsable or invalid."""

    exit_code = ExitCode.CONFIG


class UnknownZoneError(ConfigError):
    """`icloud.library` names a Photos library (zone) the iCloud account does not have."""


class UnknownAlbumError(ConfigError):
    """`selection.albums`/`--album` (or the exclude ones) names an album the library does not
    have; the message lists the albums it has and the smart albums."""


class LockedError(PhotoledgerError):
    """Another process holds the single-writer lock."""

    exit_code = ExitCode.LOCKED


class LedgerDamagedError(PhotoledgerError):
    """The ledger store cannot be read as a valid ledger."""

    exit_code = ExitCode.LEDGER_DAMAGED


class LedgerUnavailableError(PhotoledgerError):
    """The configured ledger server cannot be reached."""

    exit_code = ExitCode.LEDGER_UNAVAILABLE


class StorageError(PhotoledgerError):
    """A folder photoledger must write to is not writable."""

    exit_code = ExitCode.STORAGE


class NotFoundError(PhotoledgerError):
    """A user-named asset or item does not exist in the ledger."""

    exit_code = ExitCode.NOT_FOUND


class CheckFailedError(PhotoledgerError):
    """`check` found at least one problem."""

    exit_code = ExitCode.CHECK_FAILED


class ProjectionDamagedError(PhotoledgerError):
    """The media projection file (`<state>/media.db`, derived) cannot be read: `rebuild`."""

    exit_code = ExitCode.CHECK_FAILED


class AssetsFailedError(PhotoledgerError):
    """A stage finished its work list but some assets failed (each recorded with its reason)."""

    exit_code = ExitCode.ASSETS_FAILED


class DeleteRefusedError(PhotoledgerError):
    """The mass-delete guard refused (or stopped) a deletion run."""

    exit_code = ExitCode.DELETE_REFUSED


class AuditFailedError(PhotoledgerError):
    """A recorded deletion lacks complete evidence."""

    exit_code = ExitCode.AUDIT_FAILED


class PlanInvalidError(PhotoledgerError):
    """A deletion plan is unknown or does not match its hash."""

    exit_code = ExitCode.PLAN_INVALID


class NasMismatchedError(PhotoledgerError):
    """A NAS copy is damaged or missing and not repaired yet; iCloud still has the asset."""

    exit_code = ExitCode.NAS_MISMATCHED


class LastCopyDamagedError(PhotoledgerError):
    """The alarm: the damaged NAS copy is the only full-quality copy of a deleted asset."""

    exit_code = ExitCode.LAST_COPY_DAMAGED


class GoneFromIcloudError(PhotoledgerError):
    """`recover` asked iCloud for an asset it no longer holds (purged after 30 days)."""

    exit_code = ExitCode.GONE_FROM_ICLOUD


class AccountChoiceError(PhotoledgerError):
    """The config has several accounts and none was chosen, or `--account` names none of them."""

    exit_code = ExitCode.USAGE
