"""`photoledger login`: sign in to iCloud once (2FA included) and keep the session for later runs.

Invariants:
- The use case is engine.icloud.login_flow (no ledger, no lock, no events); this module only
  supplies the terminal prompts, and only when stdin is a terminal.
- The password comes from the environment, the .env file beside the config or the keyring;
  the terminal prompt is only a last resort.
- --request-code / --submit-code are the two-step headless login: the first signs in and
  leaves the sign-in waiting for Apple's code, the second (another process, no password)
  gives the code; a wrong one keeps it waiting.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

import click

from commands.context import Settings
from commands.output import console
from engine.config import Config
from engine.icloud.credentials import PASSWORD_ENV, find_password, store_password
from engine.icloud.login_flow import (
    INTERACTIVE_ATTEMPTS,
    CodeFileUnreadableError,
    LoginReport,
    decide_code_source,
    request_code,
    run_login,
    submit_code,
)

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
@click.option("--request-code", "wants_code", is_flag=True,
              help="Sign in and ask Apple for a 2FA code, then stop: give the code later with "
              "--submit-code (headless, two steps).")
@click.option("--submit-code", "submitted", metavar="CODE",
              help="Give the 2FA code to the sign-in waiting for it (no password needed).")
@click.option("--save-password", is_flag=True,
              help="Sign in with the password (asked for on a terminal, else from "
              "PHOTOLEDGER_ICLOUD_PASSWORD[_FILE]) and keep it in the OS keyring.")
@click.option("--import-icloudpd-session", "icloudpd_dir", metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="First take over icloudpd's session for this Apple ID from DIR (its "
              "--cookie-directory, default ~/.pyicloud), so its 2FA trust is kept.")
@click.pass_obj
def command(settings: Settings, code: str | None, code_file: Path | None, wants_code: bool,
            submitted: str | None, save_password: bool, icloudpd_dir: Path | None) -> None:
    """Sign in to iCloud and keep the session, so later runs need no password or 2FA code.

    Reuses the stored session when Apple still accepts it. When Apple asks for a two-factor
    code it is read from --code, from --code-file, or asked for on the terminal. Headless in
    two steps: --request-code, then --submit-code CODE (also answers the code a `run` or
    `watch` asked for).
    """
    given = [name for name, value in (("--code", code), ("--code-file", code_file),
                                      ("--request-code", wants_code or None),
                                      ("--submit-code", submitted)) if value is not None]
    if save_password and (wants_code or submitted is not None):
        raise click.UsageError("--save-password signs in itself: not with --request-code or "
                               "--submit-code")
    if len(given) > 1:
        raise click.UsageError(f"give only one of {', '.join(given)}")
    config = settings.load_config()
    now = settings.clock()
    if icloudpd_dir is not None:
        _take_over_icloudpd(config, icloudpd_dir)
    if wants_code:
        report = request_code(config, environ=os.environ, now=now)
    elif submitted is not None:
        report = submit_code(config, submitted, environ=os.environ, now=now)
    elif save_password:
        report = _login_saving_password(config, code, code_file, now)
    else:
        report = _login(config, code, code_file, now, os.environ)
    if report.code_requested:
        console.print(f"iCloud asked {report.username} for a 2FA code: run `photoledger login "
                      "--submit-code CODE` with it", markup=False)
        return
    console.print(
        f"logged in to iCloud as {report.username}; session kept in {report.session_dir}",
        markup=False,
    )


def _take_over_icloudpd(config: Config, folder: Path) -> None:
    from engine.icloud.icloudpd_session import import_icloudpd_session

    icloud = config.settings.icloud
    taken = import_icloudpd_session(folder, icloud.username, config.resolve(icloud.session_dir))
    trust = "with" if taken.has_trust_token else "without"
    console.print(f"took over icloudpd's session ({taken.source_session}, {taken.cookie_count} "
                  f"cookies, {trust} a 2FA trust token)", markup=False)
    for kept in taken.kept_previous:
        console.print(f"the session photoledger had is kept as {kept}", markup=False)


def _login_saving_password(config: Config, code: str | None, code_file: Path | None,
                           now: datetime) -> LoginReport:
    """Sign in with the password given now, then keep it in the keyring."""
    username = config.settings.icloud.username
    password = find_password(username, environ=os.environ, dotenv_path=None,
                             keyring_lookup=None, variables=config.password_variables)
    if not password and sys.stdin.isatty():
        password = _password_prompt(username)()
    if not password:
        raise click.UsageError("--save-password needs the password: it is asked for on a "
                               "terminal, else give it in PHOTOLEDGER_ICLOUD_PASSWORD(_FILE)")
    report = _login(config, code, code_file, now, {**os.environ, PASSWORD_ENV: password})
    store_password(username, password)
    console.print(f"password of {username} kept in the OS keyring", markup=False)
    return report


def _login(config: Config, code: str | None, code_file: Path | None,
           now: datetime, environ: Mapping[str, str]) -> LoginReport:
    is_interactive = sys.stdin.isatty()
    source = decide_code_source(code, code_file, _prompt_code if is_interactive else None)
    try:
        return run_login(
            config,
            password_prompt=(
                _password_prompt(config.settings.icloud.username) if is_interactive else None
            ),
            code_source=source,
            environ=environ,
            now=now,
            code_attempts=INTERACTIVE_ATTEMPTS if source is _prompt_code else 1,
        )
    except CodeFileUnreadableError as exc:
        raise click.UsageError(str(exc)) from None


login_command = command
