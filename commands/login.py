"""`photoledger login`: sign in to iCloud once (2FA included) and keep the session for later runs.

Invariants:
- Authentication only: no ledger, no lock, no events; it only writes the session folder
  (`icloud.session_dir`, 0700, files 0600).
- The 2FA code comes from `--code`, from `--code-file` (a file or FIFO, read once and only if
  Apple asks for a code), or from a terminal prompt; with none of them and no terminal, the
  login fails with exit code 10 instead of waiting for input that will never come.
- The password comes from the environment, the .env file beside the config or the keyring;
  the terminal prompt is only a last resort.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import click

from commands.context import Settings
from commands.output import console
from engine.config import Config, load_config
from engine.icloud.credentials import CodeSource, PasswordPrompt

_DELIVERY_TEXT = {
    "sms": "the code sent by SMS to your trusted phone",
    "trusted_device": "the code shown on your trusted Apple device",
}


@dataclass(frozen=True)
class LoginReport:
    username: str
    session_dir: Path
    login_calls: int


def run_login(
    config: Config,
    *,
    endpoint: str | None,
    password_prompt: PasswordPrompt | None,
    code_source: CodeSource | None,
    environ: Mapping[str, str],
) -> LoginReport:
    """Log in (reusing a stored session when Apple still accepts it) and report what happened."""
    from engine.icloud.factory import build_port  # pyicloud is slow to import: only when used

    port = build_port(config, endpoint, password_prompt, code_source, environ=environ)
    try:
        port.login()
    finally:
        port.close()
    icloud = config.settings.icloud
    return LoginReport(icloud.username, config.resolve(icloud.session_dir), port.calls.login)


def decide_code_source(
    code: str | None, code_file: Path | None, is_interactive: bool
) -> CodeSource | None:
    """Where the 2FA code comes from: the option, the file, the terminal, or nowhere."""
    if code is not None:
        return lambda _method: code
    if code_file is not None:
        return lambda _method: _read_code_file(code_file)
    if is_interactive:
        return _prompt_code
    return None


def _read_code_file(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as handle:  # a FIFO blocks here until a writer comes
            return handle.readline().strip()
    except OSError as exc:
        raise click.UsageError(f"cannot read the 2FA code from {path}: {exc.strerror}") from None


def _prompt_code(method: str) -> str:
    where = _DELIVERY_TEXT.get(method, "the two-factor code")
    return str(click.prompt(f"Enter {where}", type=str, err=True))


def _password_prompt(username: str) -> Callable[[], str]:
    def prompt() -> str:
        return str(click.prompt(f"iCloud password for {username}", hide_input=True, err=True))

    return prompt


@click.command("login")
@click.option("--code", help="The 2FA code, for runs without a terminal.")
@click.option(
    "--code-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the 2FA code from this file or FIFO (once, only if Apple asks for one).",
)
@click.pass_obj
def command(settings: Settings, code: str | None, code_file: Path | None) -> None:
    """Sign in to iCloud and keep the session, so later runs need no password or 2FA code.

    Reuses the stored session when Apple still accepts it. When Apple asks for a two-factor
    code it is read from --code, from --code-file, or asked for on the terminal.
    """
    if code is not None and code_file is not None:
        raise click.UsageError("give either --code or --code-file, not both")
    from engine.icloud.factory import ENDPOINT_ENV

    config = load_config(settings.config_path)
    is_interactive = sys.stdin.isatty()
    report = run_login(
        config,
        endpoint=os.environ.get(ENDPOINT_ENV) or None,
        password_prompt=(
            _password_prompt(config.settings.icloud.username) if is_interactive else None
        ),
        code_source=decide_code_source(code, code_file, is_interactive),
        environ=os.environ,
    )
    console.print(
        f"logged in to iCloud as {report.username}; session kept in {report.session_dir}",
        markup=False,
    )


login_command = command
