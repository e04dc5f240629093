"""Taking over an icloudpd session folder (`--cookie-directory`, default ~/.pyicloud), so the
trust Apple gave it is kept and the next sign-in needs no 2FA code.

Invariants:
- icloudpd (pyicloud_ipd) keeps two files named after the Apple ID with non-word characters
  removed (`jdoe@gmail.com` -> `jdoegmailcom`): an LWP cookie jar with no extension and
  `<name>.session` (JSON: client_id, session_token, trust_token, scnt, session_id,
  account_country). icloudpd lower-cases the Apple ID; newer pyicloud versions name the jar
  `<name>.cookiejar`. All these spellings are looked for.
- Both files are read and checked (the JSON is an object with a session or trust token, the
  jar parses as LWP) before anything is written; a bad folder is one NotFoundError or
  ConfigError line naming the files, and the session folder is left as it was.
- They are written into `icloud.session_dir` under the names photoledger's pyicloud reads
  (`<name>.cookiejar`, `<name>.session`), 0600 in a 0700 folder, durably (engine.placement);
  the icloudpd folder is only read. A session photoledger already had is kept beside as
  `<file>.before-icloudpd-import` (0600), never lost.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from http.cookiejar import LoadError, LWPCookieJar
from pathlib import Path

from engine.errors import ConfigError, NotFoundError
from engine.icloud.credentials import prepare_session_dir
from engine.placement import place_bytes

SESSION_FILE_MODE = 0o600
BACKUP_SUFFIX = ".before-icloudpd-import"
_TOKEN_KEYS = ("session_token", "trust_token")


@dataclass(frozen=True)
class ImportedSession:
    source_session: Path
    source_cookies: Path
    session_path: Path
    cookiejar_path: Path
    cookie_count: int
    has_trust_token: bool
    kept_previous: tuple[Path, ...] = ()  # photoledger's own session files, kept beside


def file_stem(apple_id: str) -> str:
    """pyicloud's file name for an Apple ID: its word characters only."""
    return "".join(char for char in apple_id if re.match(r"\w", char))


def _find(folder: Path, apple_id: str) -> tuple[Path, Path]:
    stems = dict.fromkeys((file_stem(apple_id.lower()), file_stem(apple_id)))
    for stem in stems:
        session = folder / f"{stem}.session"
        for jar in (folder / stem, folder / f"{stem}.cookiejar"):
            if session.is_file() and jar.is_file():
                return session, jar
    looked = ", ".join(f"{s}.session + {s}" for s in stems)
    raise NotFoundError(
        f"no icloudpd session for {apple_id} in {folder} (looked for {looked}): give the "
        "folder icloudpd used as --cookie-directory (default ~/.pyicloud)"
    )


def _read_session(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not an icloudpd session file ({exc})") from None
    if not isinstance(data, dict) or not any(data.get(key) for key in _TOKEN_KEYS):
        raise ConfigError(f"{path} holds no session or trust token: sign in with "
                          "`photoledger login` instead")
    return raw


def _read_jar(path: Path) -> tuple[bytes, int]:
    jar = LWPCookieJar()
    try:
        jar.load(str(path), ignore_discard=True, ignore_expires=True)
        raw = path.read_bytes()
    except (OSError, LoadError) as exc:
        raise ConfigError(f"{path} is not an LWP cookie jar ({exc})") from None
    return raw, len(jar)


def import_icloudpd_session(folder: Path, apple_id: str, session_dir: Path) -> ImportedSession:
    """Copy icloudpd's session and cookies for `apple_id` into photoledger's session folder."""
    source_session, source_jar = _find(folder.expanduser(), apple_id)
    session_bytes = _read_session(source_session)
    jar_bytes, cookies = _read_jar(source_jar)
    prepare_session_dir(session_dir)
    stem = file_stem(apple_id)
    session_path = session_dir / f"{stem}.session"
    jar_path = session_dir / f"{stem}.cookiejar"
    kept = tuple(_keep_previous(path) for path in (jar_path, session_path) if path.is_file())
    place_bytes(jar_path, jar_bytes, tag="import", mode=SESSION_FILE_MODE)
    place_bytes(session_path, session_bytes, tag="import", mode=SESSION_FILE_MODE)
    trust = bool(json.loads(session_bytes).get("trust_token"))
    return ImportedSession(source_session, source_jar, session_path, jar_path, cookies, trust,
                           kept)


def _keep_previous(path: Path) -> Path:
    """Keep photoledger's own session file beside it before it is replaced (0600)."""
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    place_bytes(backup, path.read_bytes(), tag="import", mode=SESSION_FILE_MODE)
    return backup
