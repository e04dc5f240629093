"""Secrets: each read from an environment variable or from the file its `_FILE` twin names.

Invariants:
- SECRET_NAMES is the one list of photoledger's secrets (plus FOREIGN_SECRET_NAMES, libpq's
  PGPASSWORD): engine.child_env strips every one of them and its `_FILE` twin from a child
  process's environment, and every account's own iCloud password variable
  (PHOTOLEDGER_ICLOUD_PASSWORD_<NAME>, engine.accounts) with its `_FILE` twin.
- A secret comes from NAME or from the file NAME_FILE names (Docker secrets), never both: both
  set, a file that cannot be read or an empty file is a ConfigError (one line, exit 3) naming
  the variable and the file, never the value. A file's trailing newline is not part of it.
- Every secret value photoledger learns (here, or handed to `remember` by the .env file, the
  keyring, Syncthing's config.xml or the ledger URL) is kept for the process, so child
  environments are scrubbed by value as well as by name, and `mask` can hide them in text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from engine.errors import ConfigError

ICLOUD_PASSWORD = "PHOTOLEDGER_ICLOUD_PASSWORD"
SMTP_PASSWORD = "PHOTOLEDGER_SMTP_PASSWORD"
SYNCTHING_API_KEY = "PHOTOLEDGER_SYNCTHING_API_KEY"
LEDGER_PASSWORD = "PHOTOLEDGER_LEDGER_PASSWORD"
APPRISE_URLS = "PHOTOLEDGER_APPRISE_URLS"
FILE_SUFFIX = "_FILE"
SECRET_NAMES: tuple[str, ...] = (
    ICLOUD_PASSWORD, SMTP_PASSWORD, SYNCTHING_API_KEY, LEDGER_PASSWORD, APPRISE_URLS,
)
FOREIGN_SECRET_NAMES: tuple[str, ...] = ("PGPASSWORD",)
"""Secrets of the libraries photoledger uses, stripped from children too."""

_known: set[str] = set()


def remember(value: str | None) -> None:
    """Record a secret value learnt outside this module (never logged, never shown)."""
    if value:
        _known.add(value)


def known_values() -> frozenset[str]:
    """Every secret value this process has read or been told about."""
    return frozenset(_known)


def is_secret_name(name: str) -> bool:
    """Whether an environment variable holds a secret or names a secret's file."""
    base = name.removesuffix(FILE_SUFFIX)
    return (base in SECRET_NAMES or name in FOREIGN_SECRET_NAMES
            or name.startswith(ICLOUD_PASSWORD + "_"))


def read_secret(name: str, environ: Mapping[str, str]) -> str | None:
    """The secret `name` from the environment or its `_FILE`; None when neither is set."""
    direct = environ.get(name) or None
    file_name = name + FILE_SUFFIX
    path = environ.get(file_name) or None
    if direct is not None and path is not None:
        raise ConfigError(f"both {name} and {file_name} are set: keep one")
    value = direct if path is None else _read_file(file_name, Path(path))
    remember(value)
    return value


def check_secrets(environ: Mapping[str, str], names: Iterable[str] = SECRET_NAMES) -> None:
    """Read every secret once, so a bad source is a config error at start-up, not mid-run."""
    for name in names:
        read_secret(name, environ)


def file_values(environ: Mapping[str, str]) -> set[str]:
    """The contents of every readable secret `_FILE` in `environ` (for scrubbing; no errors)."""
    found: set[str] = set()
    per_account = {n.removesuffix(FILE_SUFFIX) for n in environ
                   if n.startswith(ICLOUD_PASSWORD + "_") and n.endswith(FILE_SUFFIX)}
    for name in (*SECRET_NAMES, *sorted(per_account)):
        path = environ.get(name + FILE_SUFFIX)
        if path:
            try:
                found.add(_strip(Path(path).read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError):
                continue
    return found - {""}


def mask(text: str) -> str:
    """`text` with every known secret value replaced by ***."""
    for value in sorted(_known, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def _read_file(variable: str, path: Path) -> str:
    try:
        value = _strip(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{variable}: {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path}: {exc.strerror or exc}") from None
    if not value:
        raise ConfigError(f"{variable}: {path} is empty")
    return value


def _strip(text: str) -> str:
    return text.rstrip("\r\n")
