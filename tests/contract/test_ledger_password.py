"""The PostgreSQL ledger's password kept out of the YAML: a server that checks passwords
(scram-sha-256 for one role), a URL without a password, and the password from
PHOTOLEDGER_LEDGER_PASSWORD_FILE; without it, or wrong, the ledger is unavailable (exit 9)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from engine.config import load_config
from engine.crashpoints import CrashPoints
from engine.errors import ExitCode, LedgerUnavailableError
from engine.ledger import open_ledger
from engine.secrets import LEDGER_PASSWORD
from tests.factories import run_cli
from tests.pg import HOST, PostgresServer
from tests.unit.test_config import GOOD

PASSWORD = "pg-Secret-77"


def password_role(server: PostgresServer) -> str:
    """A role that must give its password, owning a fresh database; returns the URL."""
    name = f"pw_{uuid.uuid4().hex[:12]}"
    with server.connect() as con:
        con.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{PASSWORD}'")
        con.execute(f'CREATE DATABASE "{name}" OWNER {name}')
        hba = server.datadir / "pg_hba.conf"
        rule = f"host all {name} {HOST}/32 scram-sha-256\n"
        hba.write_text(rule + hba.read_text())  # the first matching line wins
        con.execute("SELECT pg_reload_conf()")
    return f"postgresql://{name}@{HOST}:{server.port}/{name}"


def test_password_from_a_file_opens_a_ledger_the_url_has_no_password_for(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = password_role(postgres_server)
    state = tmp_path / "state"
    with pytest.raises(LedgerUnavailableError, match="no password supplied"):
        open_ledger(state, url, CrashPoints(), create=True)
    secret = tmp_path / "pg_password"
    secret.write_text(PASSWORD + "\n")
    monkeypatch.setenv(f"{LEDGER_PASSWORD}_FILE", str(secret))
    ledger = open_ledger(state, url, CrashPoints(), create=True)
    ledger.close()
    monkeypatch.setenv(f"{LEDGER_PASSWORD}_FILE", str(tmp_path / "gone"))
    config = tmp_path / "photoledger.yaml"
    config.write_text(GOOD + f"ledger:\n  url: {url}\n")
    result = run_cli(["check"], config)
    assert result.returncode == ExitCode.CONFIG
    assert f"{LEDGER_PASSWORD}_FILE: cannot read" in result.stderr
    monkeypatch.setenv(LEDGER_PASSWORD, "wrong")
    monkeypatch.delenv(f"{LEDGER_PASSWORD}_FILE")
    assert load_config(config).settings.ledger.url == url
    with pytest.raises(LedgerUnavailableError) as caught:
        open_ledger(state, url, CrashPoints())
    assert "password authentication failed" in str(caught.value)
    assert "wrong" not in str(caught.value)
