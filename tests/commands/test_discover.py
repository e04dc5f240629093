"""`photoledger discover` end to end: the real pyicloud against the simulator over HTTP.

First a full scan, then deltas from the stored sync token: adds, edits, soft and hard deletes,
a run with no change (at most 2 CloudKit calls after login), a rejected token falling back to a
full scan reconciled against the ledger, and one malformed record quarantined without costing
its page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from commands import cli
from engine.config import load_config
from simulator.icloud.cloudkit import CloudKitPhotoDatabase
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.server import SimulatorServer
from tests.contract.test_icloud_adapter import add_photo
from tests.factories import Library, make_library
from tests.sim import PASSWORD, USERNAME, start_simulator


@pytest.fixture
def database() -> CloudKitPhotoDatabase:
    return generate_library(
        GeneratorSpec(assets=230, seed=11, include_malformed=False, size_scale=0.001)
    )


@pytest.fixture
def server(database: CloudKitPhotoDatabase) -> Iterator[SimulatorServer]:
    with start_simulator(database) as running:
        yield running


@pytest.fixture
def icloud_library(tmp_path: Path) -> Library:
    library = make_library(tmp_path)
    text = library.config_path.read_text().replace("jdoe@example.com", USERNAME)
    library.config_path.write_text(text)
    return Library(library.config_path, load_config(library.config_path))


def discover(library: Library, server: SimulatorServer, *args: str) -> dict[str, Any]:
    env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": server.base_url, "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
    result = CliRunner().invoke(
        cli, ["--config", str(library.config_path), "--no-progress", "discover", "--json", *args],
        env=env, catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.output)
    return summary


def media(library: Library, where: str = "1") -> list[Any]:
    projection = library.open_projection()
    try:
        return projection._query(f"SELECT * FROM media WHERE {where}")
    finally:
        projection.close()


def test_first_run_scans_everything_then_no_change_costs_at_most_two_calls(
    icloud_library: Library, server: SimulatorServer, database: CloudKitPhotoDatabase
) -> None:
    first = discover(icloud_library, server)
    assert first["mode"] == "full" and first["sync_token"]
    rows = media(icloud_library)
    visible = visible_primary_assets(database)
    assert len(rows) == first["counts"]["Discovered"] == len(visible)
    assert len({r["record_name"] for r in rows}) == len(rows)
    assert any(json.loads(r["album_ids"]) for r in rows), "album membership was not recorded"
    assert all(json.loads(r["versions"]) for r in rows if r["filename_status"] == "ok")

    second = discover(icloud_library, server)
    assert second["mode"] == "incremental"
    assert second["cloudkit_calls"] <= 2, second
    assert second["login_calls"] >= 1  # counted apart: the saved session is validated
    assert second["counts"] == {}
    assert len(media(icloud_library)) == len(rows)


def test_deltas_record_adds_edits_and_deletes_once(
    icloud_library: Library, server: SimulatorServer, database: CloudKitPhotoDatabase
) -> None:
    discover(icloud_library, server)
    state = database.state
    names = sorted(state.primary().assets)
    added = [add_photo(state, 90_000 + i) for i in range(3)]
    state.edit_asset(names[0])
    state.delete_asset(names[1])
    state.expunge_asset(names[2])

    delta = discover(icloud_library, server)
    assert delta["mode"] == "incremental"
    assert delta["counts"]["Discovered"] == 3
    assert delta["counts"]["RemoteChanged"] == 1
    assert delta["counts"]["RemoteDeleted"] == 2
    gone = {r["record_name"] for r in media(icloud_library, "is_remote_deleted")}
    assert gone == {names[1], names[2]}
    assert set(added) <= {r["record_name"] for r in media(icloud_library)}
    [edited] = media(icloud_library, f"record_name = '{names[0]}'")
    assert "adjusted" in {v["key"] for v in json.loads(edited["versions"])}

    again = discover(icloud_library, server)
    assert again["counts"] == {}  # nothing is recorded twice


def test_a_rejected_token_falls_back_to_a_full_scan_reconciled_with_the_ledger(
    icloud_library: Library, server: SimulatorServer, database: CloudKitPhotoDatabase
) -> None:
    discover(icloud_library, server)
    state = database.state
    names = sorted(state.primary().assets)
    state.expunge_asset(names[5])
    add_photo(state, 95_000)
    state.compact_change_history()  # the stored token is now older than iCloud's history

    fallback = discover(icloud_library, server)
    assert fallback["mode"] == "full (token rejected)"
    assert fallback["counts"] == {"Discovered": 1, "RemoteDeleted": 1}
    [row] = media(icloud_library, f"record_name = '{names[5]}'")
    assert row["is_remote_deleted"] == 1
    assert discover(icloud_library, server)["mode"] == "incremental"


def test_a_record_that_breaks_pyicloud_pages_is_named_by_fallback_and_kept(tmp_path: Path) -> None:
    """The generator's malformed filenameEnc makes pyicloud's typed parser reject its whole
    page; discover records every asset, that one under icloudpd's fallback name (status
    "undecodable", shown as a warning), none quarantined for its name."""
    fallback: dict[bool, set[str]] = {}
    for include_malformed in (False, True):
        (tmp_path / str(include_malformed)).mkdir()
        library = make_library(tmp_path / str(include_malformed))
        text = library.config_path.read_text().replace("jdoe@example.com", USERNAME)
        library.config_path.write_text(text)
        spec = GeneratorSpec(assets=150, seed=3, include_malformed=include_malformed,
                             size_scale=0.001)
        database = generate_library(spec)
        with start_simulator(database) as server:
            summary = discover(library, server)
        assert summary["counts"]["Discovered"] == len(visible_primary_assets(database))
        assert media(library, "quarantine_reason = 'undecodable_filename'") == []
        names = media(library, "filename_status = 'undecodable'")
        fallback[include_malformed] = {r["record_name"] for r in names}
    assert len(fallback[True] - fallback[False]) == 1
    assert fallback[False] <= fallback[True]


def visible_primary_assets(database: CloudKitPhotoDatabase) -> list[Any]:
    return [a for a in database.state.primary().assets.values() if not a.is_deleted]
