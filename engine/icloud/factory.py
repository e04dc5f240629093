"""Building a PyicloudPort from the configuration: the one place the pieces are wired together.

Invariants:
- Inputs come from the caller (config, the endpoint read once from the environment by the
  command layer, prompt and code callables, the environment mapping): nothing is read from
  globals here.
- The password is looked up without prompting; `password_prompt` is only called when Apple
  does not accept the stored session and no other source has a password.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from engine.config import Config
from engine.icloud.adapter import PyicloudPort
from engine.icloud.ckclient import CloudKitClient
from engine.icloud.content import ContentClient
from engine.icloud.credentials import (
    PASSWORD_ENV,
    CodeSource,
    KeyringLookup,
    PasswordPrompt,
    find_password,
    keyring_password,
)
from engine.icloud.login import IcloudLogin, LoginOptions
from engine.icloud.port import CallCounts
from engine.icloud.redirect import CallCounter
from engine.icloud.retry import RetryPolicy

ENDPOINT_ENV = "PHOTOLEDGER_ICLOUD_ENDPOINT"


def build_port(
    config: Config,
    endpoint: str | None,
    password_prompt: PasswordPrompt | None,
    code_source: CodeSource | None,
    *,
    environ: Mapping[str, str] | None = None,
    policy: RetryPolicy | None = None,
    keyring_lookup: KeyringLookup | None = keyring_password,
) -> PyicloudPort:
    """A port for the configured account; nothing is sent until it is first used."""
    icloud = config.settings.icloud
    return build_port_for(
        username=icloud.username,
        session_dir=config.resolve(icloud.session_dir),
        dotenv_path=config.path.parent / ".env",
        endpoint=endpoint,
        password_prompt=password_prompt,
        code_source=code_source,
        environ=os.environ if environ is None else environ,
        policy=policy or retry_policy(config),
        keyring_lookup=keyring_lookup,
        password_variables=config.password_variables,
        china_mainland=icloud.domain == "cn",
    )


def retry_policy(config: Config) -> RetryPolicy:
    """icloud.max_retries and icloud.retry_delay_s as the retry policy of every iCloud call."""
    icloud = config.settings.icloud
    return RetryPolicy(max_attempts=icloud.max_retries + 1, base_delay_s=icloud.retry_delay_s)


def build_port_for(
    *,
    username: str,
    session_dir: Path,
    dotenv_path: Path | None,
    endpoint: str | None,
    password_prompt: PasswordPrompt | None,
    code_source: CodeSource | None,
    environ: Mapping[str, str],
    policy: RetryPolicy,
    keyring_lookup: KeyringLookup | None,
    china_mainland: bool = False,
    password_variables: tuple[str, ...] = (PASSWORD_ENV,),
) -> PyicloudPort:
    """The same, from plain values (tests and the demo use this directly)."""
    calls = CallCounts()
    counter = CallCounter(calls)
    password = find_password(
        username, environ=environ, dotenv_path=dotenv_path, keyring_lookup=keyring_lookup,
        variables=password_variables,
    )
    login = IcloudLogin(
        LoginOptions(
            username=username,
            session_dir=session_dir,
            password=password,
            password_prompt=password_prompt,
            code_source=code_source,
            endpoint=endpoint,
            policy=policy,
            counter=counter,
            password_variable=password_variables[0],
            china_mainland=china_mainland,
        )
    )
    content = ContentClient(endpoint=endpoint, counter=counter, policy=policy)
    return PyicloudPort(
        login, CloudKitClient(login), content, calls,
        shared=CloudKitClient(login, database="shared"),
    )
