"""Libraries through the CLI against the simulator: `list libraries`/`list albums` (live),
a Shared Library joined as a participant (the shared database) downloaded alone, `--library all`
with `{library}` folders, and a wrong library as a config error listing the real ones.

Expected values come from the simulator's own rows, never from the product's answers.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from engine.errors import ExitCode
from simulator.icloud.library import Zone
from simulator.icloud.rows import is_live_asset
from tests.factories import run_cli
from tests.scenarios.fault_world import World, open_world
from tests.sim import PASSWORD

SHARED_ASSETS = 4


def cli(world: World, *args: str) -> tuple[int, str, str]:
    env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": world.server.base_url,
           "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD, "TZ": "UTC"}
    result = run_cli(["--no-progress", *args], world.library.config_path, env=env, timeout=300)
    return result.returncode, result.stdout, result.stderr


def set_config(world: World, key: str, value: str) -> None:
    """Replace `  key: ...` (the first one) in the world's config."""
    path = world.library.config_path
    text, count = re.subn(rf"(?m)^  {key}: .*$", f"  {key}: {value}", path.read_text(), count=1)
    assert count == 1, key
    path.write_text(text)


def shared_zone(world: World) -> Zone:
    [zone] = [z for z in world.state.zones.values() if z.name.startswith("SharedSync-")]
    return zone


def visible(zone: Zone) -> list[str]:
    return [a.record_name for a in zone.assets.values() if not a.is_hidden and not a.is_deleted]


def expected_files(world: World, zone: Zone, prefix: str = "") -> set[str]:
    """icloudpd's default names for the zone's visible assets (ordinary names only here)."""
    files = set()
    for asset in zone.assets.values():
        if asset.is_hidden or asset.is_deleted:
            continue
        master = zone.masters[asset.master_name]
        assert master.filename and master.filename.isascii()
        day = datetime.fromtimestamp(asset.asset_date_ms / 1000, UTC).strftime("%Y/%m/%d")
        files.add(f"{prefix}{day}/{master.filename}")
        if is_live_asset(asset, master):
            files.add(f"{prefix}{day}/{master.filename.rsplit('.', 1)[0]}_HEVC.MOV")
    return files


def library_files(world: World) -> set[str]:
    root = world.root
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and ".photoledger" not in p.parts and not p.name.endswith(".xmp")}


def test_list_libraries_and_albums_ask_icloud_and_a_wrong_library_lists_the_real_ones(
    tmp_path: Path,
) -> None:
    with open_world(tmp_path, assets=20, shared_assets=SHARED_ASSETS,
                    shared_library="participant") as world:
        shared, primary = shared_zone(world), world.state.primary()
        assert shared.database == "shared" and shared.owner_record_name != primary.owner_record_name

        code, out, err = cli(world, "list", "libraries", "--json")
        assert code == 0, err
        rows = json.loads(out)["libraries"]
        assert [(r["name"], r["zone"], r["database"], r["assets"]) for r in rows] == [
            ("Personal Library", "PrimarySync", "private", len(visible(primary))),
            ("Shared Library", shared.name, "shared", SHARED_ASSETS),
        ]
        code, table, _ = cli(world, "list", "libraries")
        assert code == 0 and shared.name in table and "joined" in table

        code, out, err = cli(world, "list", "albums", "--json")
        assert code == 0, err
        albums = {r["path"]: r for r in json.loads(out)["albums"]}
        assert albums["Library"]["assets"] == len(visible(primary))
        favorites = [a for a in primary.assets.values()
                     if a.is_favorite and not a.is_hidden and not a.is_deleted]
        assert albums["Favorites"]["assets"] == len(favorites)
        for album in primary.albums.values():
            path = ("Trips/" if album.parent_id else "") + album.name
            if album.name == "Lisbon":
                path = "Trips/2021/Lisbon"
            row = albums[path]
            members = [r for r in primary.relations.values()
                       if r.container_id == album.record_name]
            assert row["assets"] == (None if album.album_type == 3 else len(members)), path
        assert len([r for r in albums.values() if r["kind"] == "smart folder"]) == 11

        code, out, err = cli(world, "list", "albums", "--library", "shared", "--json")
        assert code == 0, err
        shared_rows = json.loads(out)["albums"]
        assert [(r["path"], r["kind"], r["assets"]) for r in shared_rows] == [
            ("Library", "smart folder", SHARED_ASSETS), ("Favorites", "smart folder", 1)]

        for args in (("list", "albums", "--library", "Holidays"),
                     ("discover", "--library", "SharedSync-0000")):
            code, out, err = cli(world, *args)
            assert code == ExitCode.CONFIG, err
            [line] = err.strip().splitlines()
            assert line.startswith("photoledger: error: ") and "--library" in line
            assert "Personal Library (PrimarySync)" in line
            assert f"Shared Library ({shared.name})" in line


def test_a_joined_shared_library_downloads_alone_with_exactly_its_files(tmp_path: Path) -> None:
    with open_world(tmp_path, assets=20, shared_assets=SHARED_ASSETS,
                    shared_library="participant") as world:
        shared = shared_zone(world)
        set_config(world, "library", '"Shared Library"')
        code, out, err = cli(world, "discover", "--json")
        assert code == 0, err
        assert json.loads(out)["zone"] == shared.name
        assert json.loads(out)["counts"]["Discovered"] == SHARED_ASSETS

        code, out, err = cli(world, "download", "--dry-run", "--json")
        assert code == 0, err
        assert set(json.loads(out)["would_download"]) == expected_files(world, shared)
        code, _, err = cli(world, "download")
        assert code == 0, err
        assert library_files(world) == expected_files(world, shared)

        code, out, err = cli(world, "download", "--library", "personal", "--json")
        assert code == ExitCode.CONFIG  # the personal library was never discovered
        assert "among the libraries discovered so far" in err and shared.name in err


def test_library_all_puts_each_library_under_its_own_folder(tmp_path: Path) -> None:
    with open_world(tmp_path, assets=12, shared_assets=3) as world:  # the owner's view
        shared, primary = shared_zone(world), world.state.primary()
        assert shared.database == "private"
        set_config(world, "folder_structure", '"{library}/{:%Y/%m/%d}"')
        code, out, err = cli(world, "discover", "--library", "all", "--json")
        assert code == 0, err
        per_zone = {r["zone"]: r["counts"]["Discovered"] for r in json.loads(out)["libraries"]}
        assert per_zone[shared.name] == 3 and set(per_zone) == {"PrimarySync", shared.name}

        code, out, err = cli(world, "download", "--library", "all", "--json")
        assert code in (0, ExitCode.ASSETS_FAILED), err
        files = library_files(world)
        folder = "SharedSync-" + shared.name.removeprefix("SharedSync-")[:8]
        assert {f.split("/")[0] for f in files} == {"PrimarySync", folder}
        assert {f for f in files if f.startswith(folder)} == expected_files(
            world, shared, folder + "/")
        names = {primary.masters[a.master_name].filename for a in primary.assets.values()}
        assert all(f.startswith("PrimarySync/") for f in files
                   if f.rsplit("/", 1)[-1] in names)

        code, out, err = cli(world, "run", "--library", "all", "--json")
        stages = {s["stage"]: s for s in json.loads(out)["stages"]}
        assert "PrimarySync:" in stages["discover"]["detail"]
        assert f"{shared.name}:" in stages["discover"]["detail"], stages["discover"]
