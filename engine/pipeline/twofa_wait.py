"""The pipeline's side of 2FA: one code request per wait, and the warning before trust ends.

Invariants:
- Read before the stages: while a code requested less than `icloud.twofa_retry_after_hours`
  ago is awaited (engine.icloud.twofa_state), the stages needing iCloud are skipped with the
  reason and the pass exits AUTH_FAILED (only the last-copy alarm outranks it). Nothing signs
  in, so Apple sends no new code and no new `2fa-needed` goes out.
- While waiting, the stages get a WaitingPort: a stage that still reaches for iCloud (a NAS
  repair asking for a re-download) fails with WaitingForCodeError instead of signing in.
- A stage that fails with TwoFactorCodeRequestedError records the request: that sign-in made
  the one request of the wait, and its notification is the one `2fa-needed`.
- `trust-expiring` goes out at most once a day while the estimated end of Apple's trust is
  within `icloud.trust_warning_days`; it is a warning and never changes an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn, cast

from engine.config import Config
from engine.errors import ExitCode, PhotoledgerError
from engine.icloud.port import AuthenticationError, IcloudPort
from engine.icloud.twofa_state import (
    TwoFactorCodeRequestedError,
    read_state,
    record_request,
    record_trust_warning,
    state_path,
    trust_expires_at,
    trust_warning,
    waiting_reason,
    waiting_since,
)
from engine.notify import Notification
from engine.pipeline.summary import RunSummary

TRUST_WARNING_EVERY = timedelta(days=1)


@dataclass
class WaitingRunSummary(RunSummary):
    """A pass whose iCloud stages were skipped while a 2FA code is awaited."""

    waiting_reason: str = ""

    @property
    def exit_code(self) -> ExitCode:
        if self.damage_code == ExitCode.LAST_COPY_DAMAGED:
            return self.damage_code
        return ExitCode.AUTH_FAILED

    @property
    def headline(self) -> str:
        if self.damage_code == ExitCode.LAST_COPY_DAMAGED:
            return self.damage[0]
        return self.waiting_reason


class WaitingForCodeError(AuthenticationError):
    """iCloud is not asked while a 2FA code is awaited (no sign-in, so no new code)."""


class WaitingPort:
    """Stands for the iCloud port while a 2FA code is awaited: every use fails, nothing signs
    in."""

    def __init__(self, reason: str) -> None:
        self._reason = reason

    def __getattr__(self, name: str) -> NoReturn:
        raise WaitingForCodeError(self._reason)

    def close(self) -> None:
        """Nothing was opened."""


def waiting_port(reason: str) -> IcloudPort:
    return cast(IcloudPort, WaitingPort(reason))


def decide_wait(config: Config, now: datetime) -> str | None:
    """Why the iCloud stages must wait for a 2FA code now (None: they may sign in)."""
    icloud = config.settings.icloud
    state = read_state(state_path(config.state_dir), icloud.username)
    since = waiting_since(state, now, icloud.twofa_retry_after_hours)
    return None if since is None else waiting_reason(since)


def note_stage_error(config: Config, exc: PhotoledgerError, now: datetime) -> None:
    """Record the code request a failed sign-in made (other errors: nothing)."""
    if isinstance(exc, TwoFactorCodeRequestedError) and config.state_dir.is_dir():
        record_request(state_path(config.state_dir), exc, config.settings.icloud.username, now)


def due_trust_notification(config: Config, now: datetime) -> Notification | None:
    """The `trust-expiring` notification when one is due now (and record that it went out)."""
    icloud = config.settings.icloud
    path = state_path(config.state_dir)
    state = read_state(path, icloud.username)
    warning = trust_warning(state, now, icloud.trust_warning_days)
    if warning is None or not config.state_dir.is_dir():
        return None
    if state.trust_warned_at is not None and now - state.trust_warned_at < TRUST_WARNING_EVERY:
        return None
    record_trust_warning(path, icloud.username, now)
    expires = trust_expires_at(state)
    return Notification("trust-expiring", warning,
                        {"expires": f"{expires:%Y-%m-%d}", "username": icloud.username})
