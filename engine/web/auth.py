"""The web UI's access token and sessions.

Invariants:
- The access token is random (secrets, 32 bytes), created at first start and shown once; only
  its scrypt hash (with a random salt) is kept, in a 0600 file beside the config, written whole
  through engine.placement. A token is checked by hashing it again and comparing in constant
  time (hmac.compare_digest); the token itself is never written anywhere.
- A session exists only after the right token: a random id kept server-side (in memory, so a
  restart signs everyone out) with its own random CSRF token; ids and CSRF tokens are compared
  in constant time. A session ends on logout or after SESSION_HOURS.
- A session remembers the stored hash of the token it was made under, and is refused (and
  forgotten) once the token file holds another one (`serve --new-token`, even run while this
  server is running) or cannot be read: a cookie made under an old token is worth nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from engine.errors import ConfigError
from engine.placement import place_bytes

TOKEN_FILE_NAME = "photoledger-web.token"
TOKEN_MODE = 0o600
SESSION_HOURS = 12
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def _hash(token: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(token.encode(), salt=salt, n=n, r=r, p=p, dklen=32)


class TokenStore:
    """The hashed access token in its file (`<config folder>/photoledger-web.token`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def beside(cls, config_path: Path) -> TokenStore:
        return cls(config_path.absolute().parent / TOKEN_FILE_NAME)

    def ensure(self, *, renew: bool = False) -> str | None:
        """A new token when there is none (or `renew`): returned once, only its hash kept.
        None when a token already exists."""
        if self.path.exists() and not renew:
            self._read()  # a damaged file is an error now, not a refused login later
            return None
        token = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        record = {"scheme": "scrypt", **_SCRYPT, "salt": salt.hex(),
                  "hash": _hash(token, salt, **_SCRYPT).hex()}
        place_bytes(self.path, json.dumps(record).encode(), tag="token", mode=TOKEN_MODE)
        return token

    def fingerprint(self) -> str | None:
        """The stored hash (hex) identifying the current token; None when unreadable."""
        try:
            return str(self._read()["hash"])
        except ConfigError:
            return None

    def verify(self, token: str) -> bool:
        """The token given matches the stored hash (constant-time comparison)."""
        record = self._read()
        given = _hash(token, bytes.fromhex(str(record["salt"])),
                      int(record["n"]), int(record["r"]), int(record["p"]))
        return hmac.compare_digest(given, bytes.fromhex(str(record["hash"])))

    def _read(self) -> dict[str, str | int]:
        try:
            record = json.loads(self.path.read_text())
            if record.get("scheme") != "scrypt" or not {"salt", "hash", "n", "r", "p"} <= set(
                    record):
                raise ValueError("not a photoledger token record")
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{self.path}: unreadable web token ({exc}); `photoledger serve --new-token` "
                "makes a new one") from exc
        return dict(record)


@dataclass(frozen=True)
class Session:
    csrf: str
    expires: datetime
    token_fingerprint: str | None = None  # the token hash it was made under (None: any)


class Sessions:
    """Server-side sessions: id -> CSRF token, expiry and token fingerprint (thread-safe).

    With a token store, each session is tied to the token current when it started."""

    def __init__(self, tokens: TokenStore | None = None) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._tokens = tokens

    def _fingerprint(self) -> str | None:
        return self._tokens.fingerprint() if self._tokens is not None else None

    def start(self, now: datetime) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        session = Session(secrets.token_urlsafe(32), now + timedelta(hours=SESSION_HOURS),
                          self._fingerprint())
        with self._lock:
            self._sessions[session_id] = session
        return session_id, session

    def find(self, session_id: str | None, now: datetime) -> Session | None:
        """The live session with this id (compared in constant time), or None; sessions of
        another token than the stored one end here."""
        if not session_id:
            return None
        current = self._fingerprint()
        with self._lock:
            for known, session in list(self._sessions.items()):
                if session.expires <= now or (self._tokens is not None and (
                        current is None or session.token_fingerprint != current)):
                    del self._sessions[known]
                elif hmac.compare_digest(known.encode(), session_id.encode()):
                    return session
        return None

    def end(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)


def same_secret(expected: str, given: str | None) -> bool:
    """`given` equals `expected` (constant time); a missing value never matches."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def bind_refusal(host: str, tls: bool, insecure_lan: bool) -> str | None:
    """Why binding `host` is refused (None: allowed): a non-loopback address needs TLS or an
    explicit `--insecure-lan`, so the token and cookie never cross a network in clear unasked."""
    if tls or insecure_lan or host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name other than localhost: it may resolve to any address
    return (f"--host {host} is not a loopback address: give --tls-cert and --tls-key, "
            "or --insecure-lan to serve it without TLS")
