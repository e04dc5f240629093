"""Contract fixtures: one real throwaway PostgreSQL server per session, one database per test.

A test that needs PostgreSQL asks for `pg_url` (or `any_library`, parametrized over both
backends); it is marked `postgres`, so `-m "not postgres"` deselects it. The server is started
only when the first such test runs. The only reason to skip is a machine without PostgreSQL
server binaries; any other failure to start the server is an error, never a skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import Library, make_library
from tests.pg import PostgresNotInstalledError, PostgresServer, start_postgres

_PG_FIXTURES = frozenset({"postgres_server", "pg_url"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that (directly or through a fixture) uses the PostgreSQL server."""
    for item in items:
        if _PG_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except PostgresNotInstalledError as exc:
        pytest.skip(f"no PostgreSQL server binaries: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database (t_<uuid>) on the session's server, dropped afterwards."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_library(request: pytest.FixtureRequest, tmp_path: Path) -> Library:
    """An initialised library whose ledger is embedded SQLite or a fresh PostgreSQL database.

    The media projection, lock and state folder stay in the local tmp dir in both cases.
    """
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    return make_library(tmp_path, ledger_url=url)
