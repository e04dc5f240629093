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
    INTERRUPTED = 130


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.INTERNAL: "unexpected internal error (a bug: report it with the --debug traceback)",
    ExitCode.USAGE: "bad command line (unknown option, missing argument)",
    ExitCode.CONFIG: "bad configuration: unknown key, wrong type, missing value, missing folder",
    ExitCode.LOCKED: "another photoledger process holds the library's writer lock",
    ExitCode.LEDGER_DAMAGED: "the ledger is missing, corrupt or truncated; nothing was written",
    ExitCode.STORAGE: "the library's state folder cannot be written (read-only, permissions)",
    ExitCode.NOT_FOUND: "the asset named on the command line is not in the ledger",
    ExitCode.CHECK_FAILED: "`check` found damage, or a projection that differs from a replay",
    ExitCode.LEDGER_UNAVAILABLE: "the configured PostgreSQL ledger cannot be reached or refused us",
    ExitCode.AUTH_FAILED: "iCloud login failed: wrong password, 2FA code needed "
    "(`photoledger login`), or web access off / Advanced Data Protection on",
    ExitCode.ICLOUD_UNAVAILABLE: "iCloud kept refusing after retries (throttled, unreachable, "
    "library still indexing); run again later",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); everything recorded so far is kept",
}


class PhotoledgerError(Exception):
    """Base of every expected error; `str(err)` is the one-line message shown to the user."""

    exit_code: ExitCode = ExitCode.INTERNAL


class ConfigError(PhotoledgerError):
    """The configuration file is missing, unparsable or invalid."""

    exit_code = ExitCode.CONFIG


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
