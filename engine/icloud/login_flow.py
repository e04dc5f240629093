"""The login use case: sign in once (2FA included) and keep the session for later runs.

Invariants:
- Authentication only: no ledger, no lock, no events; only the session folder
  (`icloud.session_dir`, 0700, files 0600) is written.
- The 2FA code comes from the given code, from a code file (a file or FIFO, read once and only
  if Apple asks for a code), or from the caller's prompt; with none of them the login fails
  (TwoFactorRequiredError, exit 10) instead of waiting for input that will never come.
- The engine never prompts and never prints: prompts are callables passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.config import Config
from engine.errors import ExitCode, PhotoledgerError
from engine.icloud.credentials import CodeSource, PasswordPrompt


class CodeFileUnreadableError(PhotoledgerError):
    """The file named for the 2FA code cannot be read (a usage error: the wrong path)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class LoginReport:
    username: str
    session_dir: Path
    login_calls: int


def run_login(
    config: Config,
    *,
    password_prompt: PasswordPrompt | None,
    code_source: CodeSource | None,
    environ: Mapping[str, str],
) -> LoginReport:
    """Log in (reusing a stored session when Apple still accepts it) and report what happened.

    PHOTOLEDGER_ICLOUD_ENDPOINT in `environ` sends every Apple request to that endpoint."""
    from engine.icloud.factory import ENDPOINT_ENV, build_port  # pyicloud is slow to import

    endpoint = environ.get(ENDPOINT_ENV) or None
    port = build_port(config, endpoint, password_prompt, code_source, environ=environ)
    try:
        port.login()
    finally:
        port.close()
    icloud = config.settings.icloud
    return LoginReport(icloud.username, config.resolve(icloud.session_dir), port.calls.login)


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
