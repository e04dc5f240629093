"""`photoledger login`: sign in to iCloud once (2FA included) and keep the session for later runs.

Invariants:
- The use case is engine.icloud.login_flow (no ledger, no lock, no events); this module only
  supplies the terminal prompts, and only when stdin is a terminal.
- The password comes from the environment, the .env file beside the config or the keyring;
  the terminal prompt is only a last resort.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from commands.context import Settings
from commands.output import console
from engine.config import load_config
from engine.icloud.login_flow import CodeFileUnreadableError, decide_code_source, run_login

_DELIVERY_TEXT = {
    "sms": "the code sent by SMS to your trusted phone",
    "trusted_device": "the code shown on your trusted Apple device",
}


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
    config = load_config(settings.config_path)
    is_interactive = sys.stdin.isatty()
    try:
        report = run_login(
            config,
            password_prompt=(
                _password_prompt(config.settings.icloud.username) if is_interactive else None
            ),
            code_source=decide_code_source(
                code, code_file, _prompt_code if is_interactive else None
            ),
            environ=os.environ,
        )
    except CodeFileUnreadableError as exc:
        raise click.UsageError(str(exc)) from None
    console.print(
        f"logged in to iCloud as {report.username}; session kept in {report.session_dir}",
        markup=False,
    )


login_command = command
