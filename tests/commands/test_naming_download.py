"""Naming options through a real download from the simulator, and the download dry run on a
library that already holds icloudpd's files (it must name what the run then does)."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC
from pathlib import Path

from engine.config import load_config
from engine.download.options import DownloadOptions
from engine.download.stage import plan_download
from engine.services import open_reader
from tests.factories import Library
from tests.icloudpd_tree import write_icloudpd_tree
from tests.scenarios.fault_world import (
    World,
    content_histories,
    files_on_disk,
    media_states,
    open_world,
)


def set_library_keys(world: World, **keys: str) -> None:
    """Set `library.<key>` in the config (replacing the line when the key is there)."""
    lines = world.library.config_path.read_text().splitlines()
    for key, value in keys.items():
        at = next((i for i, line in enumerate(lines) if line.startswith(f"  {key}:")), None)
        if at is None:
            lines.insert(lines.index("library:") + 1, f"  {key}: {value}")
        else:
            lines[at] = f"  {key}: {value}"
    world.library.config_path.write_text("\n".join(lines) + "\n")
    world.library = Library(world.library.config_path, load_config(world.library.config_path))


def planned(world: World) -> list[str]:
    options = dataclasses.replace(DownloadOptions(), local_tz=UTC)
    with open_reader(world.library.config, world.settings()) as services:
        return plan_download(services, options).planned_relpaths


def test_id7_flat_folder_and_original_mov_names_then_a_change_renames_nothing(
    tmp_path: Path,
) -> None:
    with open_world(tmp_path, assets=12, seed=3) as world:
        set_library_keys(world, folder_structure="none", file_match_policy="name-id7",
                         live_photo_mov_filename_policy="original")
        world.discover()
        expected = planned(world)
        world.download()
        on_disk = files_on_disk(world)
        media = {p for p in on_disk if not p.endswith(".xmp")}
        assert media == set(expected)
        assert all("/" not in p for p in media), "folder_structure none: one flat folder"
        assert [p for p in media if not re.search(r"_[A-Za-z0-9+_]{7}(-\w+)?\.[A-Z0-9]+$", p)] == []
        lives = [s for s in media_states(world).values() if s.live_video_relpath]
        assert lives and all(
            s.live_video_relpath == s.local_relpath.rpartition(".")[0] + ".MOV" for s in lives
            if s.local_relpath)
        set_library_keys(world, live_photo_mov_filename_policy="suffix")
        mark = len(world.server.requests.entries())
        world.discover()
        again = world.download()
        assert again.files_downloaded == 0 and content_histories(world, mark) == {}
        assert files_on_disk(world) == on_disk


def test_download_dry_run_names_the_files_a_run_keeps_beside_icloudpds(tmp_path: Path) -> None:
    with open_world(tmp_path, assets=12, seed=5) as world:
        world.discover()
        tree = write_icloudpd_tree(world.state, world.root)  # icloudpd ran into the library
        said = planned(world)
        summary = world.download()
        assert summary.found_in_place == len(tree.relpaths() & set(said))
        states = media_states(world)
        kept = {f for s in states.values() for f in (s.local_relpath, s.live_video_relpath)
                if f} | {e.relpath for s in states.values() for e in s.extra_files}
        assert set(said) == kept, (sorted(set(said) - kept), sorted(kept - set(said)))
        assert kept & tree.relpaths(), "the run kept icloudpd's files under their names"
