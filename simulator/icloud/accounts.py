"""Simulated Apple accounts and the server-side state of their logins.

Invariants:
- The password never leaves `SimAccount`; the login check is a real SRP-6a verifier derived from
  it exactly as Apple's `s2k` / `s2k_fo` protocols do (PBKDF2-SHA256 over sha256(password)).
- Salts never start with a zero byte: the `srp` package drops a leading 0x00 when it hands the salt
  back, which would make about one login in 256 fail.
- Three kinds of token, each random and unguessable: an auth session (idmsa, identified by the
  `X-Apple-ID-Session-Id` header), its session tokens (`dsWebAuthToken` for accountLogin), and web
  tokens (the `X-APPLE-WEBAUTH-TOKEN` cookie that CloudKit and `validate` check). A web token is
  trusted only if its auth session passed 2FA (or needed none).
- All state is guarded by one lock: the server serves requests on many threads.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from typing import Literal

import srp  # type: ignore[import-untyped]
from srp import _pysrp

from simulator.icloud.contract import PhotoDatabase

TwoFactorMode = Literal["none", "device", "sms"]
SRP_ITERATIONS = 20309
SALT_BYTES = 16


@dataclass
class SimAccount:
    """One Apple ID the simulator knows, with its Photos database."""

    username: str
    password: str
    database: PhotoDatabase
    protocol: Literal["s2k", "s2k_fo"] = "s2k"
    two_factor: TwoFactorMode = "none"
    web_access_denied: bool = False  # Advanced Data Protection on: web access to Photos refused
    dsid: str = ""
    phone_number: str = "+1 (•••) •••-••42"
    trust_tokens: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.dsid:
            digest = hashlib.sha256(self.username.encode()).digest()
            self.dsid = str(10_000_000_000 + int.from_bytes(digest[:4], "big"))


def make_salt() -> bytes:
    """A random salt whose first byte is non-zero (see the module invariants)."""
    return bytes([secrets.randbelow(255) + 1]) + secrets.token_bytes(SALT_BYTES - 1)


def derive_srp_verifier(password: str, protocol: str, salt: bytes, iterations: int) -> bytes:
    """The SRP verifier v = g^x mod N for Apple's password derivation, as big-endian bytes."""
    digest = hashlib.sha256(password.encode()).digest()
    if protocol == "s2k_fo":
        digest = digest.hex().encode()
    key = hashlib.pbkdf2_hmac("sha256", digest, salt, iterations, 32)
    # Apple's x leaves the username out: x = H(salt | H(":" | key)).
    inner = hashlib.sha256(b":" + key).digest()
    x = int.from_bytes(hashlib.sha256(salt + inner).digest(), "big")
    n, g = _pysrp.get_ng(_pysrp.NG_2048, None, None)
    v = pow(int(g), x, int(n))
    return v.to_bytes((v.bit_length() + 7) // 8, "big")


def new_srp_verifier(username: str, salt: bytes, verifier: bytes, a_bytes: bytes) -> object:
    srp.rfc5054_enable()
    srp.no_username_in_x()
    return srp.Verifier(username, salt, verifier, a_bytes, hash_alg=srp.SHA256, ng_type=srp.NG_2048)


@dataclass
class AuthSession:
    """One sign-in at idmsa: created by signin/complete, trusted once 2FA passed."""

    session_id: str
    username: str
    is_verified: bool
    scnt: str = field(default_factory=lambda: secrets.token_hex(16))


@dataclass
class WebSession:
    username: str
    auth_session_id: str
    expired_status: int | None = None  # set by expire_sessions: answer this until re-login


class SessionRegistry:
    """Every token the simulator handed out, and what each one is worth."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._auth: dict[str, AuthSession] = {}
        self._session_tokens: dict[str, str] = {}  # session token -> auth session id
        self._web: dict[str, WebSession] = {}
        self._codes: dict[str, str] = {}  # username -> pending 2FA code

    def start_auth_session(self, username: str, is_verified: bool) -> AuthSession:
        with self._lock:
            session = AuthSession(secrets.token_hex(24), username, is_verified)
            self._auth[session.session_id] = session
            return session

    def auth_session(self, session_id: str | None) -> AuthSession | None:
        with self._lock:
            return self._auth.get(session_id or "")

    def mark_verified(self, session_id: str) -> None:
        with self._lock:
            self._auth[session_id].is_verified = True

    def issue_session_token(self, session: AuthSession) -> str:
        token = "sess-" + secrets.token_urlsafe(32)
        with self._lock:
            self._session_tokens[token] = session.session_id
        return token

    def session_for_token(self, token: str | None) -> AuthSession | None:
        with self._lock:
            return self._auth.get(self._session_tokens.get(token or "", ""))

    def issue_web_token(self, session: AuthSession) -> str:
        token = "v=2:t=" + secrets.token_urlsafe(32)
        with self._lock:
            self._web[token] = WebSession(session.username, session.session_id)
        return token

    def web_session(self, token: str | None) -> tuple[WebSession, AuthSession] | None:
        with self._lock:
            web = self._web.get(token or "")
            if web is None:
                return None
            return web, self._auth[web.auth_session_id]

    def expire_web_sessions(self, status: int, include_session_tokens: bool) -> int:
        """Make every current web token answer `status`; returns how many were expired."""
        with self._lock:
            for web in self._web.values():
                web.expired_status = status
            if include_session_tokens:
                self._session_tokens.clear()
            return len(self._web)

    def new_code(self, username: str) -> str:
        code = f"{secrets.randbelow(1_000_000):06d}"
        with self._lock:
            self._codes[username] = code
        return code

    def pending_code(self, username: str) -> str | None:
        with self._lock:
            return self._codes.get(username)

    def consume_code(self, username: str, code: str) -> bool:
        with self._lock:
            expected = self._codes.get(username)
            if expected is None or not secrets.compare_digest(expected, code):
                return False
            del self._codes[username]
            return True
