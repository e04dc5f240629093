"""XMP sidecars end to end: discover and download through the real pyicloud-based port over HTTP
against the simulator, then read every sidecar back with the real exiftool.

The generator's described asset is in five albums (two of them in folders, one nested two
deep) and has a caption, a description, keywords, a place and the favourite flag; each must
come back from its `IMG_….xmp`. A change in iCloud (caption, keywords, place, favourite, an
album renamed) reaches the sidecar after discover and download, rewriting exactly the sidecars
it touches; hostile captions come back as the renderer promises; photoledger's own
DeletePending album never rewrites a sidecar. backup-nas keeps the current sidecar on the NAS;
`verify nas` re-reads the one the NAS holds and finds a damaged one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from commands import cli
from engine.config import load_config
from engine.errors import ExitCode
from engine.sidecar import EXIFTOOL_CONFIG, clean_album_paths, xml_text, xmp_date
from simulator.icloud import organize
from simulator.icloud.cloudkit import CloudKitPhotoDatabase
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.rows import AssetRow
from simulator.icloud.server import SimulatorServer
from tests.commands.test_backup_nas import nas_cli, with_nas
from tests.factories import Library, make_library
from tests.reliability.invariants import events_by_type
from tests.sim import PASSWORD, USERNAME, start_simulator
from tests.unit.test_xmp_sidecar import HOSTILE, as_list, exiftool_read

CAPTION = "Sunset at the Tower — été"
ALBUMS = ["Best of 2019", "Family", "Trips/2021/Lisbon", "Trips/Paris", "Trips/Rome"]


@pytest.fixture
def database() -> CloudKitPhotoDatabase:
    return generate_library(GeneratorSpec(
        assets=45, seed=5, include_malformed=False, shared_assets=0, size_scale=0.002,
    ))


@pytest.fixture
def server(database: CloudKitPhotoDatabase) -> Iterator[SimulatorServer]:
    with start_simulator(database) as running:
        yield running


@pytest.fixture
def library(tmp_path: Path) -> Library:
    made = make_library(tmp_path)
    text = made.config_path.read_text().replace("jdoe@example.com", USERNAME)
    made.config_path.write_text(text)
    return Library(made.config_path, load_config(made.config_path))


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "exiftool.config"
    path.write_text(EXIFTOOL_CONFIG)
    return path


def run(library: Library, server: SimulatorServer, *args: str) -> dict[str, Any]:
    env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": server.base_url, "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
    result = CliRunner().invoke(
        cli, ["--config", str(library.config_path), "--no-progress", *args, "--json"],
        env=env, catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)  # progress lines go to stderr
    return data


def described(database: CloudKitPhotoDatabase) -> AssetRow:
    return next(a for a in database.state.primary().assets.values() if a.caption == CAPTION)


def media_row(library: Library, record_name: str) -> Any:
    projection = library.open_projection()
    try:
        [row] = projection._query("SELECT * FROM media WHERE record_name = ?", (record_name,))
        return row
    finally:
        projection.close()


def sidecar_of(library: Library, record_name: str) -> Path:
    row = media_row(library, record_name)
    assert row["sidecar_relpath"] == f"{row['local_relpath']}.xmp"
    path: Path = library.config.library_root / str(row["sidecar_relpath"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sidecar_sha256"]
    return path


def read_tags(config_file: Path, path: Path) -> dict[str, Any]:
    return exiftool_read(config_file, [path])[path.name]


def exif_date(asset: AssetRow) -> str:
    taken = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=asset.asset_date_ms)
    return xmp_date(taken, asset.tz_offset_s).replace("-", ":", 2).replace("T", " ")


def sidecar_counts(library: Library) -> dict[str, int]:
    ledger = library.open_ledger()
    try:
        return dict(events_by_type(ledger)["SidecarWritten"])
    finally:
        ledger.close()


def test_a_downloaded_asset_in_nested_albums_reads_back_through_exiftool(
    library: Library, server: SimulatorServer, database: CloudKitPhotoDatabase,
    config_file: Path,
) -> None:
    run(library, server, "discover")
    first = run(library, server, "download")
    asset = described(database)
    assert media_row(library, asset.record_name)["sha256"]
    assert first["sidecars_written"] == first["downloaded"] and first["sidecars_failed"] == 0
    tags = read_tags(config_file, sidecar_of(library, asset.record_name))
    assert tags["XMP-dc:Title"] == CAPTION
    assert tags["XMP-dc:Description"] == "Description 3: <b>Tom & Jerry</b>\nsecond line"
    assert tags["XMP-dc:Subject"] == ["family", "set 3", "été"]
    assert asset.location is not None
    assert float(tags["XMP-exif:GPSLatitude"]) == pytest.approx(asset.location[0], abs=1e-6)
    assert float(tags["XMP-exif:GPSLongitude"]) == pytest.approx(asset.location[1], abs=1e-6)
    assert float(tags["XMP-exif:GPSAltitude"]) == pytest.approx(35.0, abs=1e-3)
    assert tags["XMP-xmp:Rating"] == "5" and tags["XMP-photoledger:IsFavorite"] is True
    assert tags["XMP-photoledger:Albums"] == ALBUMS
    assert tags["XMP-lr:HierarchicalSubject"] == [p.replace("/", "|") for p in ALBUMS]
    assert tags["XMP-exif:DateTimeOriginal"] == exif_date(asset)
    assert tags["XMP-photoledger:RecordName"] == asset.record_name
    assert tags["XMP-photoledger:AssetId"] == media_row(library, asset.record_name)["asset_id"]

    again = run(library, server, "download")  # nothing changed: nothing written, nothing recorded
    assert (again["sidecars_written"], again["sidecars_rewritten"]) == (0, 0)
    assert set(sidecar_counts(library).values()) == {1}


def test_a_change_in_icloud_rewrites_exactly_the_sidecars_it_touches(
    library: Library, server: SimulatorServer, database: CloudKitPhotoDatabase,
    config_file: Path,
) -> None:
    run(library, server, "discover")
    run(library, server, "download")
    state, asset = database.state, described(database)
    before = sidecar_of(library, asset.record_name).read_bytes()
    lisbon = next(a.record_name for a in state.primary().albums.values() if a.name == "Lisbon")
    members = {r.item_id for r in state.primary().relations.values()
               if r.container_id == lisbon and not state.asset(r.item_id).is_deleted}
    organize.describe_asset(state, asset.record_name, caption="Sunrise <again> & co",
                            keywords=("new", "été"), location=(-33.856784, 151.215297))
    state.set_favorite(asset.record_name, False)
    organize.rename_album(state, lisbon, "Lisboa")

    delta = run(library, server, "discover")
    assert delta["counts"] == {"RemoteChanged": 1, "MetadataChanged": 1, "AlbumSeen": 1}
    rewrite = run(library, server, "download")
    assert rewrite["sidecars_rewritten"] == len(members | {asset.record_name})
    written = sidecar_counts(library)
    twice = {media_row(library, name)["asset_id"] for name in members | {asset.record_name}}
    assert {a for a, n in written.items() if n == 2} == twice
    path = sidecar_of(library, asset.record_name)
    assert path.read_bytes() != before
    tags = read_tags(config_file, path)
    assert tags["XMP-dc:Title"] == "Sunrise <again> & co"
    assert tags["XMP-dc:Subject"] == ["new", "été"]
    assert float(tags["XMP-exif:GPSLatitude"]) == pytest.approx(-33.856784, abs=1e-6)
    assert "XMP-xmp:Rating" not in tags and tags["XMP-photoledger:IsFavorite"] is False
    assert "Trips/2021/Lisboa" in tags["XMP-photoledger:Albums"]
    assert run(library, server, "download")["sidecars_rewritten"] == 0


def test_hostile_captions_keywords_and_album_names_come_through(
    library: Library, server: SimulatorServer, database: CloudKitPhotoDatabase,
    config_file: Path,
) -> None:
    run(library, server, "discover")
    run(library, server, "download")
    state, asset = database.state, described(database)
    controls = HOSTILE["controls"].replace("\ud800", "")  # UTF-8 on the wire: no lone surrogate
    title = HOSTILE["xml"] + controls + HOSTILE["lines"]
    organize.describe_asset(state, asset.record_name, caption=title,
                            description=HOSTILE["rtl"] + HOSTILE["combining"],
                            keywords=(HOSTILE["emoji"], HOSTILE["nfd"]))
    family = next(a.record_name for a in state.primary().albums.values() if a.name == "Family")
    organize.rename_album(state, family, HOSTILE["xml"])
    run(library, server, "discover")
    run(library, server, "download")
    tags = read_tags(config_file, sidecar_of(library, asset.record_name))
    assert tags["XMP-dc:Title"] == xml_text(title)
    assert tags["XMP-dc:Description"] == xml_text(HOSTILE["rtl"] + HOSTILE["combining"])
    assert tags["XMP-dc:Subject"] == sorted([HOSTILE["emoji"], HOSTILE["nfd"]])
    hostile_album = clean_album_paths((HOSTILE["xml"].replace("/", "\u2215"),))[0]
    assert hostile_album in as_list(tags["XMP-photoledger:Albums"])


def test_photoledgers_own_album_never_rewrites_a_sidecar(
    library: Library, server: SimulatorServer, database: CloudKitPhotoDatabase,
) -> None:
    run(library, server, "discover")
    run(library, server, "download")
    asset = described(database)
    organize.add_album(database.state, "DP", "DeletePending")
    organize.add_to_album(database.state, asset.record_name, "DP")
    delta = run(library, server, "discover")
    assert delta["counts"] == {"AlbumSeen": 1, "AlbumsChanged": 1}
    after = run(library, server, "download")
    assert (after["sidecars_written"], after["sidecars_rewritten"]) == (0, 0)


def test_the_nas_keeps_the_current_sidecar_and_a_reread_checks_the_one_it_holds(
    library: Library, server: SimulatorServer, database: CloudKitPhotoDatabase, tmp_path: Path,
) -> None:
    """backup-nas copies each sidecar beside the NAS original and lists it in NasVerified;
    a sidecar rewritten since is backup-nas's work, not damage for `verify nas`; a damaged
    NAS sidecar is found by `verify nas` (exit 17, named) and repaired from the library."""
    nas_root = tmp_path / "nas"
    nas_root.mkdir()
    library = with_nas(library, nas_root)
    run(library, server, "discover")
    run(library, server, "download")
    assert nas_cli(["backup-nas"], library.config_path).returncode == 0
    asset = described(database)
    local = sidecar_of(library, asset.record_name)
    on_nas = nas_root / local.relative_to(library.config.library_root)
    assert on_nas.read_bytes() == local.read_bytes()
    assert nas_sidecar(library, asset.record_name) == media_row(
        library, asset.record_name)["sidecar_sha256"]

    organize.describe_asset(database.state, asset.record_name, caption="Changed")
    run(library, server, "discover")
    run(library, server, "download")
    assert on_nas.read_bytes() != sidecar_of(library, asset.record_name).read_bytes()
    verify = nas_cli(["verify", "nas"], library.config_path)
    assert verify.returncode == 0 and "mismatched 0" in verify.stdout, verify.stdout
    assert nas_cli(["backup-nas"], library.config_path).returncode == 0
    current = sidecar_of(library, asset.record_name)
    assert on_nas.read_bytes() == current.read_bytes()
    assert nas_sidecar(library, asset.record_name) == media_row(
        library, asset.record_name)["sidecar_sha256"]

    damaged = bytearray(on_nas.read_bytes())
    damaged[-30] ^= 0x01
    on_nas.write_bytes(bytes(damaged))
    found = nas_cli(["verify", "nas"], library.config_path)
    assert found.returncode == ExitCode.NAS_MISMATCHED, found.stdout + found.stderr
    assert "sidecar" in found.stdout + found.stderr
    nas_cli(["backup-nas"], library.config_path)
    assert on_nas.read_bytes() == current.read_bytes()
    assert media_row(library, asset.record_name)["nas_status"] == "verified"


def nas_sidecar(library: Library, record_name: str) -> str | None:
    """The sidecar sha256 the last NAS verification re-read."""
    files = json.loads(media_row(library, record_name)["nas_files"])
    return next((f["sha256"] for f in files if f["key"] == "sidecar"), None)
