"""Albums end to end: the real pyicloud-based port against the simulator over HTTP.

A full scan records every album and folder (nested folders included) and every asset's
albums; incremental discovery keeps them current from CPLAlbum and CPLContainerRelation
changes (renamed, moved, deleted and new albums; assets put in and taken out); `albums` lists
them with paths and counts, `history` names an asset's albums; the albums table rebuilds to
the same rows.
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
from engine.crashpoints import CrashPoints
from projections.media import MediaProjection
from simulator.icloud import organize
from simulator.icloud.cloudkit import CloudKitPhotoDatabase
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.server import SimulatorServer
from tests.factories import Library, make_library
from tests.sim import PASSWORD, USERNAME, start_simulator

PATHS = {
    "Family": "Family", "Trips": "Trips", "Paris": "Trips/Paris", "Rome": "Trips/Rome",
    "2021": "Trips/2021", "Lisbon": "Trips/2021/Lisbon", "Best of 2019": "Best of 2019",
}


@pytest.fixture
def database() -> CloudKitPhotoDatabase:
    return generate_library(
        GeneratorSpec(assets=90, seed=5, include_malformed=False, size_scale=0.001)
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


def cli_json(library: Library, server: SimulatorServer, *args: str) -> dict[str, Any]:
    env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": server.base_url, "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
    result = CliRunner().invoke(
        cli, ["--config", str(library.config_path), "--no-progress", *args, "--json"],
        env=env, catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def album_id(database: CloudKitPhotoDatabase, name: str) -> str:
    return next(a.record_name for a in database.state.primary().albums.values() if a.name == name)


def alive_members(database: CloudKitPhotoDatabase, *album_names: str) -> set[str]:
    """The simulator's truth: assets in these albums and not in Recently Deleted."""
    zone = database.state.primary()
    ids = {album_id(database, name) for name in album_names}
    return {r.item_id for r in zone.relations.values() if r.container_id in ids
            and r.item_id in zone.assets and not zone.assets[r.item_id].is_deleted}


def listing(library: Library, server: SimulatorServer) -> dict[str, tuple[bool, int]]:
    return {a["path"]: (a["is_folder"], a["asset_count"])
            for a in cli_json(library, server, "albums")["albums"]}


def test_a_full_scan_records_albums_folders_and_members(
    icloud_library: Library, server: SimulatorServer, database: CloudKitPhotoDatabase,
) -> None:
    first = cli_json(icloud_library, server, "discover")
    assert first["counts"]["AlbumSeen"] == len(PATHS)
    got = listing(icloud_library, server)
    assert set(got) == set(PATHS.values())
    for name, path in PATHS.items():
        is_folder = name in ("Trips", "2021")
        below = {"Trips": ("Paris", "Rome", "Lisbon"), "2021": ("Lisbon",)}.get(name, (name,))
        assert got[path] == (is_folder, len(alive_members(database, *below))), path
    described = next(a for a in database.state.primary().assets.values()
                     if a.caption == "Sunset at the Tower — été")
    history = cli_json(icloud_library, server, "history", described.record_name)
    paths = [a["path"] for a in history["albums"]]
    assert paths == sorted(["Best of 2019", "Family", "Trips/2021/Lisbon", "Trips/Paris",
                            "Trips/Rome"])


def test_incremental_discovery_keeps_albums_and_members_current(
    icloud_library: Library, server: SimulatorServer, database: CloudKitPhotoDatabase,
    tmp_path: Path,
) -> None:
    cli_json(icloud_library, server, "discover")
    state = database.state
    family = album_id(database, "Family")
    outsider = next(a.record_name for a in state.primary().assets.values() if not a.is_deleted
                    and a.record_name not in alive_members(database, "Family"))
    leaver = sorted(alive_members(database, "Family"))[0]
    best_members = alive_members(database, "Best of 2019")
    organize.rename_album(state, album_id(database, "Paris"), "Paris/Île")
    organize.move_album(state, album_id(database, "Rome"), None)
    organize.delete_album(state, album_id(database, "Best of 2019"))
    organize.add_album(state, "PORTO", "Porto", parent_id=album_id(database, "2021"))
    organize.add_to_album(state, outsider, family)
    organize.add_to_album(state, outsider, "PORTO")
    organize.remove_from_album(state, leaver, family)

    delta = cli_json(icloud_library, server, "discover")
    assert delta["mode"] == "incremental"
    assert delta["counts"] == {"AlbumSeen": 3, "AlbumRemoved": 1, "AlbumsChanged": 2}
    got = listing(icloud_library, server)
    assert set(got) == {"Family", "Trips", "Trips/Paris\u2215Île", "Rome", "Trips/2021",
                        "Trips/2021/Lisbon", "Trips/2021/Porto"}
    assert got["Family"][1] == len(alive_members(database, "Family"))
    assert got["Trips/2021/Porto"] == (False, 1)
    assert got["Trips/2021"] == (True, len(alive_members(database, "Lisbon", "Porto")))
    history = cli_json(icloud_library, server, "history", outsider)
    assert [a["path"] for a in history["albums"]] == ["Family", "Trips/2021/Porto"]
    assert "Family" not in [a["path"] for a in cli_json(
        icloud_library, server, "history", leaver)["albums"]]

    assert cli_json(icloud_library, server, "discover")["counts"] == {}  # nothing twice
    audit = cli_json(icloud_library, server, "discover", "--full")
    # A full scan lists no deleted album: its members' albums lose its id (paths never had it).
    assert audit["counts"] == ({"AlbumsChanged": len(best_members)} if best_members else {})
    assert_albums_rebuild_to_the_same_rows(icloud_library, tmp_path)


def assert_albums_rebuild_to_the_same_rows(library: Library, scratch: Path) -> None:
    projection = library.open_projection()
    ledger = library.open_ledger()
    fresh = MediaProjection(scratch / "fresh.db", CrashPoints())
    try:
        projection.catch_up(ledger)
        fresh.rebuild(ledger)
        query = "SELECT * FROM albums ORDER BY zone, album_id"
        assert projection._con.execute(query).fetchall() == fresh._con.execute(query).fetchall()
        assert projection.rows() == fresh.rows()
    finally:
        fresh.close()
        projection.close()
        ledger.close()


def test_albums_and_history_read_as_text(
    icloud_library: Library, server: SimulatorServer, database: CloudKitPhotoDatabase,
) -> None:
    runner = CliRunner()
    config = ["--config", str(icloud_library.config_path), "--no-progress"]
    empty = runner.invoke(cli, [*config, "albums"], catch_exceptions=False)
    assert empty.exit_code == 0 and "no albums recorded" in empty.output
    cli_json(icloud_library, server, "discover")
    table = runner.invoke(cli, [*config, "albums"], catch_exceptions=False, terminal_width=200)
    assert table.exit_code == 0
    assert "Trips/2021/Lisbon" in table.output and "folder" in table.output
    described = next(a for a in database.state.primary().assets.values()
                     if a.caption == "Sunset at the Tower — été")
    history = runner.invoke(cli, [*config, "history", described.record_name],
                            catch_exceptions=False, terminal_width=200)
    assert ("albums: Best of 2019, Family, Trips/2021/Lisbon, Trips/Paris, Trips/Rome"
            in history.output)
