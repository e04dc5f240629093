"""Where the iCloud password and the 2FA code come from, and how the session folder is kept private.

Invariants:
- The password is looked up, in order: env PHOTOLEDGER_ICLOUD_PASSWORD or the file
  PHOTOLEDGER_ICLOUD_PASSWORD_FILE names (engine.secrets; both set: ConfigError), a `.env`
  file beside the config file (KEY=VALUE lines), the OS keyring (service `pyicloud://icloud-password`,
  key = Apple ID); an interactive prompt is only ever a callable passed in by the command layer.
  An account of an `accounts:` list is looked up under its own variable first
  (PHOTOLEDGER_ICLOUD_PASSWORD_<NAME>, env then `.env`); the unnamed one only when that
  account is the one acted on (Config.password_variables says which, in order).
- The session folder is 0700 and every file in it 0600; modes are re-asserted after each login
  because pyicloud rewrites its files after every request.
- The engine never prompts and never prints.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from engine.errors import ConfigError
from engine.secrets import ICLOUD_PASSWORD, read_secret, remember

PASSWORD_ENV = ICLOUD_PASSWORD
KEYRING_SERVICE = "pyicloud://icloud-password"
SESSION_DIR_MODE = 0o700
SESSION_FILE_MODE = 0o600

KeyringLookup = Callable[[str], str | None]
PasswordPrompt = Callable[[], str]
CodeSource = Callable[[str], str]
"""Called with how the code was delivered ("sms", "trusted_device", ...); returns the code."""

_LOG = logging.getLogger(__name__)


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments, blank lines and `export ` allowed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return {}
    values: dict[str, str] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def keyring_password(username: str) -> str | None:
    """The password stored in the OS keyring, or None when there is none or no keyring works."""
    try:
        import keyring
        from keyring.errors import KeyringError

        try:
            return keyring.get_password(KEYRING_SERVICE, username)
        except KeyringError:
            return None
    except Exception as exc:  # a broken keyring backend must not stop a login that has a session
        _LOG.debug("keyring lookup failed: %s", exc)
        return None


def store_password(username: str, password: str) -> None:
    """Keep the password in the OS keyring (the entry `keyring_password` and pyicloud read);
    ConfigError naming the other sources when no keyring backend can store it."""
    remember(password)
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:  # pragma: no cover - keyring is a runtime dependency
        raise ConfigError("the keyring package is not installed: use "
                          "PHOTOLEDGER_ICLOUD_PASSWORD_FILE instead") from None
    try:
        keyring.set_password(KEYRING_SERVICE, username, password)
        is_kept = keyring.get_password(KEYRING_SERVICE, username) == password
        why = "it did not keep it"
    except KeyringError as exc:
        is_kept, why = False, type(exc).__name__
    if not is_kept:  # some backends (the null one) accept and drop it
        raise ConfigError(
            f"no OS keyring can keep the password ({why}): give it in "
            "PHOTOLEDGER_ICLOUD_PASSWORD_FILE (a Docker secret) or a .env file instead"
        )


def find_password(
    username: str,
    *,
    environ: Mapping[str, str],
    dotenv_path: Path | None,
    keyring_lookup: KeyringLookup | None,
    variables: tuple[str, ...] = (PASSWORD_ENV,),
) -> str | None:
    """The password from the non-interactive sources, in their documented order."""
    for variable in variables:
        found = read_secret(variable, environ)
        if not found and dotenv_path is not None:  # read only when the environment has none
            found = read_dotenv(dotenv_path).get(variable)
        if found:
            remember(found)
            return found
    if keyring_lookup is not None:
        from_keyring = keyring_lookup(username) or None
        remember(from_keyring)
        return from_keyring
    return None


def prepare_session_dir(session_dir: Path) -> None:
    """Create the session folder 0700 (and tighten an existing one)."""
    session_dir.mkdir(mode=SESSION_DIR_MODE, parents=True, exist_ok=True)
    session_dir.chmod(SESSION_DIR_MODE)


def secure_session_files(session_dir: Path) -> None:
    """Re-assert 0700 on the folder and 0600 on every regular file in it."""
    if not session_dir.is_dir():
        return
    session_dir.chmod(SESSION_DIR_MODE)
    for path in session_dir.iterdir():
        if path.is_file() and stat.S_IMODE(path.stat().st_mode) != SESSION_FILE_MODE:
            path.chmod(SESSION_FILE_MODE)


def precreate_private_file(path: Path, initial_text: str) -> None:
    """Create a missing file 0600, so later rewrites (which keep the mode) stay private."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SESSION_FILE_MODE)
    except FileExistsError:
        path.chmod(SESSION_FILE_MODE)
        return
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(initial_text)
