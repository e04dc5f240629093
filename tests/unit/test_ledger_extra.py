"""A PostgreSQL ledger on an install without the `postgres` extra is a config error (exit 3)
that names the extra, never an internal error."""

from __future__ import annotations

import sys

import pytest

from engine.errors import ConfigError, ExitCode
from engine.ledger import _probe_postgres


def test_a_postgres_ledger_without_psycopg_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what a runtime-only install looks like
    env = {"POSTGRES_HOST": "db", "POSTGRES_PORT": "5432", "POSTGRES_USER": "u",
           "POSTGRES_PASSWORD": "p", "POSTGRES_DBNAME": "photos"}
    with pytest.raises(ConfigError, match=r"pip install 'photoledger\[postgres\]'") as raised:
        _probe_postgres(env, "db:5432/photos")
    assert raised.value.exit_code == ExitCode.CONFIG
