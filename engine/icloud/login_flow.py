"""The login use case: sign in once (2FA included) and keep the session for later runs.

Invariants:
- Authentication only: no ledger, no lock, no events; only the session folder
  (`icloud.session_dir`, 0700, files 0600) and the 2FA state file (engine.icloud.twofa_state,
  in the library's state folder when it exists) are written.
- The 2FA code comes from the given code, from a code file (a file or FIFO, read once and only
  if Apple asks for a code), or from the caller's prompt; with none of them the login fails
  (TwoFactorCodeRequestedError, exit 10) instead of waiting for input that will never come,
  and the request is recorded so `submit_code` can finish it in another process.
- Two-step headless login: `request_code` signs in with the password and asks Apple for a code
  once; `submit_code` gives the code to that pending sign-in without the password. A wrong
  code keeps the sign-in waiting (exit 10 with how to try again).
- A login that passed 2FA records the time, from which the end of Apple's trust is estimated.
- The engine never prompts and never prints: prompts are callables passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from engine.config import Config
from engine.errors import ExitCode, PhotoledgerError
from engine.icloud.credentials import CodeSource, PasswordPrompt
from engine.icloud.port import AuthenticationError
from engine.icloud.twofa_state import (
    TwoFactorCodeRequestedError,
    read_state,
    record_request,
    record_trusted,
    state_path,
)

if TYPE_CHECKING:
    from engine.icloud.login import LoginOptions

INTERACTIVE_ATTEMPTS = 3  # a person at a terminal may mistype the code this often


class CodeFileUnreadableError(PhotoledgerError):
    """The file named for the 2FA code cannot be read (a usage error: the wrong path)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class LoginReport:
    username: str
    session_dir: Path
    login_calls: int
    code_requested: bool = False  # `request_code`: Apple now waits for a code
    two_factor_passed: bool = False


def run_login(
    config: Config,
    *,
    password_prompt: PasswordPrompt | None,
    code_source: CodeSource | None,
    environ: Mapping[str, str],
    now: datetime,
    code_attempts: int = 1,
) -> LoginReport:
    """Log in (reusing a stored session when Apple still accepts it) and report what happened.

    `code_attempts` > 1 (a person at a terminal): a rejected code is asked for again, for the
    same waiting sign-in. PHOTOLEDGER_ICLOUD_ENDPOINT in `environ` sends every Apple request
    to that endpoint."""
    asked: list[str] = []

    def counted(method: str) -> str:
        asked.append(method)
        assert code_source is not None
        return code_source(method)

    try:
        calls = _login(config, password_prompt, counted if code_source else None, environ)
    except TwoFactorCodeRequestedError as exc:
        _record_request(config, exc, now)
        if code_source is None or not asked or code_attempts < 2:
            raise
        calls = _ask_again(config, exc, code_source, code_attempts, environ)
    if asked:
        _record_trusted(config, now)
    icloud = config.settings.icloud
    return LoginReport(icloud.username, config.resolve(icloud.session_dir), calls,
                       two_factor_passed=bool(asked))


def request_code(config: Config, *, environ: Mapping[str, str], now: datetime) -> LoginReport:
    """Sign in with the password and, when Apple asks for a code, leave the sign-in waiting."""
    _require_state_dir(config)
    icloud = config.settings.icloud
    session_dir = config.resolve(icloud.session_dir)
    try:
        calls = _login(config, None, None, environ)
    except TwoFactorCodeRequestedError as exc:
        _record_request(config, exc, now)
        return LoginReport(icloud.username, session_dir, 1, code_requested=True)
    return LoginReport(icloud.username, session_dir, calls)


def submit_code(config: Config, code: str, *, environ: Mapping[str, str],
                now: datetime) -> LoginReport:
    """Give the code to the waiting sign-in; a wrong one keeps it waiting."""
    from engine.icloud.login import submit_pending_code  # pyicloud is slow to import

    _require_state_dir(config)
    icloud = config.settings.icloud
    state = read_state(state_path(config.state_dir), icloud.username)
    if state.requested_at is None:
        raise AuthenticationError(
            f"no sign-in of {icloud.username} waits for a 2FA code: run "
            "`photoledger login --request-code` first"
        )
    submit_pending_code(_login_options(config, environ), code.strip(), state.method,
                        dict(state.auth_options))
    _record_trusted(config, now)
    return LoginReport(icloud.username, config.resolve(icloud.session_dir), 1,
                       two_factor_passed=True)


def decide_code_source(
    code: str | None, code_file: Path | None, prompt: CodeSource | None
) -> CodeSource | None:
    """Where the 2FA code comes from: the code, the file, the prompt (None: no terminal), or
    nowhere."""
    if code is not None:
        return lambda _method: code
    if code_file is not None:
        return lambda _method: read_code_file(code_file)
    return prompt


def read_code_file(path: Path) -> str:
    """The first line of the file, stripped."""
    try:
        with path.open(encoding="utf-8") as handle:  # a FIFO blocks here until a writer comes
            return handle.readline().strip()
    except OSError as exc:
        raise CodeFileUnreadableError(
            f"cannot read the 2FA code from {path}: {exc.strerror}"
        ) from None


def _login(config: Config, password_prompt: PasswordPrompt | None,
           code_source: CodeSource | None, environ: Mapping[str, str]) -> int:
    from engine.icloud.factory import ENDPOINT_ENV, build_port  # pyicloud is slow to import

    endpoint = environ.get(ENDPOINT_ENV) or None
    port = build_port(config, endpoint, password_prompt, code_source, environ=environ)
    try:
        port.login()
    finally:
        port.close()
    return port.calls.login


def _ask_again(config: Config, exc: TwoFactorCodeRequestedError, prompt: CodeSource,
               attempts: int, environ: Mapping[str, str]) -> int:
    """A mistyped code at a terminal: ask again for the same waiting sign-in."""
    from engine.icloud.login import WrongTwoFactorCodeError, submit_pending_code

    if not isinstance(exc, WrongTwoFactorCodeError):
        raise exc
    for attempt in range(2, attempts + 1):
        try:
            submit_pending_code(_login_options(config, environ), prompt(exc.method).strip(),
                                exc.method, exc.auth_options)
        except WrongTwoFactorCodeError:
            if attempt == attempts:
                raise
            continue
        return 1
    raise exc


def _login_options(config: Config, environ: Mapping[str, str]) -> LoginOptions:
    from engine.icloud.factory import ENDPOINT_ENV
    from engine.icloud.login import LoginOptions
    from engine.icloud.port import CallCounts
    from engine.icloud.redirect import CallCounter
    from engine.icloud.retry import RetryPolicy

    icloud = config.settings.icloud
    return LoginOptions(
        username=icloud.username, session_dir=config.resolve(icloud.session_dir),
        password=None, password_prompt=None, code_source=None,
        endpoint=environ.get(ENDPOINT_ENV) or None, policy=RetryPolicy(),
        counter=CallCounter(CallCounts()), china_mainland=icloud.domain == "cn",
    )


def _require_state_dir(config: Config) -> None:
    from engine.services import check_library

    check_library(config)


def _record_request(config: Config, exc: TwoFactorCodeRequestedError, now: datetime) -> None:
    if config.state_dir.is_dir():
        record_request(state_path(config.state_dir), exc, config.settings.icloud.username, now)


def _record_trusted(config: Config, now: datetime) -> None:
    if config.state_dir.is_dir():
        record_trusted(state_path(config.state_dir), config.settings.icloud.username, now)
