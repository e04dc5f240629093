"""The account's 2FA state between processes: a code Apple was asked for and not yet given, and
when Apple last trusted this session.

Invariants:
- One small JSON file, `<state>/icloud-2fa.json`, mode 0600, written whole through
  engine.placement (never half-written). Missing, unreadable or for another Apple ID: nothing
  is pending and no trust time is known.
- It holds no secret: when the code was asked for, how Apple delivers it, Apple's non-secret
  2FA options (the masked trusted phone), when Apple last trusted a login and when the
  trust warning was last sent. The pending sign-in itself (session id, scnt, session token,
  cookies) is pyicloud's, in `icloud.session_dir` (0700, files 0600); no password is written.
- A pending request stops `run`/`watch` from signing in again (no new push, no new
  `2fa-needed`) until a code is accepted (the request is cleared) or
  `icloud.twofa_retry_after_hours` have passed since it was made.
- Apple does not say when the trust ends: it is estimated as TRUST_DAYS after the last login
  that passed 2FA.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine.config import Config
from engine.icloud.port import TwoFactorRequiredError
from engine.placement import place_bytes

STATE_NAME = "icloud-2fa.json"
STATE_MODE = 0o600
TRUST_DAYS = 60  # Apple's trusted-browser token lasts about two months
SUBMIT_HINT = "photoledger login --submit-code CODE"


class TwoFactorCodeRequestedError(TwoFactorRequiredError):
    """Apple was asked for a code (shown on the trusted devices or sent by SMS); none given."""

    def __init__(self, message: str, method: str, auth_options: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.method = method
        self.auth_options = dict(auth_options)


@dataclass(frozen=True)
class TwoFactorState:
    username: str
    requested_at: datetime | None = None  # a code was asked for at this time, none given yet
    method: str = ""  # how Apple delivers it: "trusted_device" or "sms"
    auth_options: Mapping[str, Any] = field(default_factory=dict)
    trusted_at: datetime | None = None  # the last login that passed 2FA
    trust_warned_at: datetime | None = None  # the last `trust-expiring` notification


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_NAME


def read_state(path: Path, username: str) -> TwoFactorState:
    """The recorded state for `username` (empty when missing, unreadable or another account)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return TwoFactorState(username)
    if not isinstance(raw, dict) or raw.get("username") != username:
        return TwoFactorState(username)
    options = raw.get("auth_options")
    return TwoFactorState(
        username=username,
        requested_at=_parse_time(raw.get("requested_at")),
        method=str(raw.get("method") or ""),
        auth_options=options if isinstance(options, dict) else {},
        trusted_at=_parse_time(raw.get("trusted_at")),
        trust_warned_at=_parse_time(raw.get("trust_warned_at")),
    )


def write_state(path: Path, state: TwoFactorState) -> None:
    """Place the state file whole, 0600."""
    data = {
        "username": state.username,
        "requested_at": _format_time(state.requested_at),
        "method": state.method,
        "auth_options": dict(state.auth_options),
        "trusted_at": _format_time(state.trusted_at),
        "trust_warned_at": _format_time(state.trust_warned_at),
    }
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    place_bytes(path, text.encode(), tag="twofa", mode=STATE_MODE)


def record_request(path: Path, error: TwoFactorCodeRequestedError, username: str,
                   now: datetime) -> TwoFactorState:
    """Apple was asked for a code now: remember when and how it is delivered."""
    state = replace(read_state(path, username), requested_at=now, method=error.method,
                    auth_options=error.auth_options)
    write_state(path, state)
    return state


def record_trusted(path: Path, username: str, now: datetime) -> None:
    """A code was accepted and Apple trusts the session: nothing is pending any more."""
    state = replace(read_state(path, username), requested_at=None, method="",
                    auth_options={}, trusted_at=now, trust_warned_at=None)
    write_state(path, state)


def record_trust_warning(path: Path, username: str, now: datetime) -> None:
    write_state(path, replace(read_state(path, username), trust_warned_at=now))


def waiting_since(state: TwoFactorState, now: datetime, retry_after_hours: float
                  ) -> datetime | None:
    """When the pending request was made, while it still blocks new sign-ins (else None)."""
    if state.requested_at is None:
        return None
    if now - state.requested_at >= timedelta(hours=retry_after_hours):
        return None
    return state.requested_at


def waiting_reason(since: datetime) -> str:
    return f"waiting for a 2FA code since {_format_time(since)}: {SUBMIT_HINT}"


def trust_expires_at(state: TwoFactorState) -> datetime | None:
    """The estimated end of Apple's trust (None: no trusted login recorded)."""
    if state.trusted_at is None:
        return None
    return state.trusted_at + timedelta(days=TRUST_DAYS)


def trust_warning(state: TwoFactorState, now: datetime, warning_days: int) -> str | None:
    """The warning to show when the trust ends within `warning_days` days (else None)."""
    expires = trust_expires_at(state)
    if expires is None or expires - now > timedelta(days=warning_days):
        return None
    when = expires.strftime("%Y-%m-%d")
    if expires <= now:
        return (f"iCloud's trust in this session probably ended on {when} (estimated): "
                "run `photoledger login` to enter a new 2FA code")
    days = max(0, (expires - now).days)
    return (f"iCloud's trust in this session ends in about {days} days ({when}, estimated): "
            "run `photoledger login` before then to avoid a 2FA wait")


def icloud_login_status(config: Config, now: datetime) -> str | None:
    """The line `status` shows: the 2FA wait, the trust warning, or the estimated end of
    Apple's trust (None: nothing recorded)."""
    icloud = config.settings.icloud
    state = read_state(state_path(config.state_dir), icloud.username)
    since = waiting_since(state, now, icloud.twofa_retry_after_hours)
    if since is not None:
        return waiting_reason(since)
    warning = trust_warning(state, now, icloud.trust_warning_days)
    if warning is not None:
        return warning
    expires = trust_expires_at(state)
    if expires is None:
        return None
    return f"iCloud trusts this session until about {expires:%Y-%m-%d} (estimated)"


def _format_time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
