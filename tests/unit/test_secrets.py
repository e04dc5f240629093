"""Secrets from variables and from `_FILE`s (Docker secrets): each source works, both at once
or an unreadable file is a one-line config error that never shows the value; the ledger's
password joins a URL without one; and a bad secret file stops a command with exit 3."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import ConfigError, ExitCode
from engine.google.syncthing import resolve_api_key
from engine.icloud.credentials import find_password
from engine.ledger import postgres_settings
from engine.notify import Notification, Notifier, NotifySettings
from engine.secrets import (
    ICLOUD_PASSWORD,
    LEDGER_PASSWORD,
    SMTP_PASSWORD,
    SYNCTHING_API_KEY,
    check_secrets,
    known_values,
    mask,
    read_secret,
)
from tests.factories import run_cli
from tests.unit.test_config import GOOD, write


def secret_file(tmp_path: Path, text: str, name: str = "secret") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def error(name: str, environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        read_secret(name, environ)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_secret_comes_from_its_variable_or_its_file(tmp_path: Path) -> None:
    assert read_secret(SMTP_PASSWORD, {SMTP_PASSWORD: "direct-1"}) == "direct-1"
    path = secret_file(tmp_path, "from file 2\n")  # Docker secrets end with a newline
    assert read_secret(SMTP_PASSWORD, {f"{SMTP_PASSWORD}_FILE": path}) == "from file 2"
    assert read_secret(SMTP_PASSWORD, {SMTP_PASSWORD: ""}) is None
    assert {"direct-1", "from file 2"} <= known_values()
    assert mask("pw=from file 2.") == "pw=***."


def test_both_sources_or_a_bad_file_is_a_config_error(tmp_path: Path) -> None:
    both = {ICLOUD_PASSWORD: "s3cret-value", f"{ICLOUD_PASSWORD}_FILE": str(tmp_path)}
    message = error(ICLOUD_PASSWORD, both)
    assert ICLOUD_PASSWORD in message and f"{ICLOUD_PASSWORD}_FILE" in message
    assert "s3cret-value" not in message
    missing = error(SMTP_PASSWORD, {f"{SMTP_PASSWORD}_FILE": str(tmp_path / "nope")})
    assert missing.startswith(f"{SMTP_PASSWORD}_FILE: cannot read ") and "No such file" in missing
    assert "cannot read" in error(SMTP_PASSWORD, {f"{SMTP_PASSWORD}_FILE": str(tmp_path)})
    empty = secret_file(tmp_path, "\n", "empty")
    assert error(SMTP_PASSWORD, {f"{SMTP_PASSWORD}_FILE": empty}).endswith("is empty")


def test_icloud_password_and_syncthing_key_read_their_files(tmp_path: Path) -> None:
    pw = secret_file(tmp_path, "apple-pw\n", "pw")
    assert find_password("a@b.c", environ={f"{ICLOUD_PASSWORD}_FILE": pw}, dotenv_path=None,
                         keyring_lookup=None) == "apple-pw"
    key = secret_file(tmp_path, "KEY123\n", "key")
    assert resolve_api_key(None, {f"{SYNCTHING_API_KEY}_FILE": key}) == "KEY123"
    with pytest.raises(ConfigError, match="both"):
        resolve_api_key(None, {SYNCTHING_API_KEY: "x", f"{SYNCTHING_API_KEY}_FILE": key})


def test_ledger_password_joins_a_url_without_one(tmp_path: Path) -> None:
    url = "postgresql://photoledger@db.lan:5433/photos"
    pw = secret_file(tmp_path, "pg-secret\n", "pg")
    env = postgres_settings(url, {f"{LEDGER_PASSWORD}_FILE": pw})
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("photoledger", "pg-secret")
    assert postgres_settings(url, {})["POSTGRES_PASSWORD"] == ""
    with_password = "postgresql://photoledger:in-url@db.lan/photos"
    assert postgres_settings(with_password, {})["POSTGRES_PASSWORD"] == "in-url"


def test_load_refuses_two_ledger_passwords_and_a_bad_secret(tmp_path: Path) -> None:
    text = GOOD + "ledger:\n  url: postgresql://u:in-url-pw@db.lan/p\n"
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), {LEDGER_PASSWORD: "other"})
    assert "line 7: ledger.url" in str(caught.value) and LEDGER_PASSWORD in str(caught.value)
    assert "in-url-pw" not in str(caught.value)
    assert load_config(write(tmp_path, text), {}).settings.ledger.url
    with pytest.raises(ConfigError, match=f"{SMTP_PASSWORD}_FILE: cannot read"):
        load_config(write(tmp_path, GOOD), {f"{SMTP_PASSWORD}_FILE": str(tmp_path / "gone")})


def test_an_unreadable_secret_file_stops_a_command_with_exit_3(tmp_path: Path) -> None:
    config = write(tmp_path, GOOD)
    result = run_cli(["check"], config, env={f"{ICLOUD_PASSWORD}_FILE": str(tmp_path / "no")})
    assert result.returncode == ExitCode.CONFIG
    assert result.stderr.strip() == (
        f"photoledger: error: {ICLOUD_PASSWORD}_FILE: cannot read {tmp_path / 'no'}: "
        "No such file or directory"
    )


def test_a_notify_problem_line_never_shows_a_secret(tmp_path: Path) -> None:
    script = tmp_path / "echo.sh"
    script.write_text("#!/bin/sh\necho 'login refused for smtp-Secret-31' >&2\nexit 1\n")
    script.chmod(0o755)
    environ = {SMTP_PASSWORD: "smtp-Secret-31"}
    check_secrets(environ)
    [problem] = Notifier(NotifySettings(script=str(script)), environ).send(
        Notification("run-failed", "x"))
    assert problem.endswith("exited 1: login refused for ***")
