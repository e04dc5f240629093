"""`import-existing` end to end: an icloudpd 1.32 tree of the simulator's library is adopted,
then `download` fetches only what the tree did not hold and nothing adopted (counted at the
simulator)."""

from __future__ import annotations

import dataclasses
import errno
import os
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from commands import cli
from engine.config import load_config
from engine.download.options import DownloadOptions, naming_policy
from engine.download.stage import plan_download
from engine.errors import PhotoledgerError
from engine.import_existing import ImportOptions, ImportSummary, run_import_existing
from engine.reporting import NullReporter
from engine.services import open_reader, open_writer
from simulator.icloud.blobs import content_token
from simulator.icloud.rows import is_video_master
from simulator.icloud.serving import content_address
from tests.commands.test_download import same_name_twice
from tests.factories import Library
from tests.icloudpd_tree import IcloudpdTree, truncate, write_icloudpd_tree
from tests.scenarios.fault_world import (
    World,
    assert_files_match_the_ledger,
    content_histories,
    master_of,
    media_states,
    open_world,
    stage_events,
    waiting_for_download,
)


def run_import(world: World, tree: Path, *, dry_run: bool = False) -> ImportSummary:
    options = ImportOptions(tree=tree, dry_run=dry_run,
                            naming=naming_policy(world.library.config, UTC))
    if dry_run:
        with open_reader(world.library.config, world.settings()) as services:
            return run_import_existing(services, options, NullReporter())
    with open_writer(world.library.config, world.settings(), "import-existing") as services:
        return run_import_existing(services, options, NullReporter())


def token_of(world: World, record_name: str, key: str) -> str:
    owner, prefix = content_address(world.state, record_name, key)
    master = world.state.master(owner)
    rev = master.content_rev if master is not None else world.state.asset(owner).edit_rev
    return content_token(owner, prefix, rev)


def library_and_tree(label: str) -> tuple[str, str]:
    """(library path, tree path) of an `adopt` line's label."""
    relpath, _sep, source = label.partition(" (from ")
    return relpath, source.removesuffix(")") or relpath


def pick_victim(tree: IcloudpdTree) -> tuple[str, str, str]:
    """(record name, resource, relpath) of a live-photo video to cut short."""
    for record_name, files in sorted(tree.files.items()):
        if "live_video" in files:
            return record_name, "live_video", files["live_video"]
    raise AssertionError("no live photo in the library")


def test_an_icloudpd_tree_is_adopted_and_download_fetches_only_the_rest(tmp_path: Path) -> None:
    with open_world(tmp_path, assets=24, seed=7) as world:
        same_name_twice(world.database)
        world.discover()
        tree = write_icloudpd_tree(world.state, tmp_path / "icloudpd")
        assert any("TWIN-" in r for r in tree.relpaths()), "a -<size> dedup twin"
        assert any(r.endswith("_HEVC.MOV") for r in tree.relpaths())
        assert any(r.endswith(".CR2") for r in tree.relpaths()), "a RAW twin"
        victim_name, victim_key, victim = pick_victim(tree)
        truncate(tree, victim, 100)

        dry = run_import(world, tree.root, dry_run=True)
        summary = run_import(world, tree.root)

        assert (summary.adopted, summary.left) == (dry.adopted, dry.left)
        assert summary.counts() == dry.counts()
        places = dict(library_and_tree(label) for label in summary.adopted)
        assert set(places.values()) == tree.relpaths() - {victim}, summary.left
        assert summary.bytes_adopted == sum(s for r, s in tree.sizes.items() if r != victim)
        # icloudpd keeps a leading dot (a hidden file): adopted under photoledger's name
        renamed = {r: t for r, t in places.items() if r != t}
        assert renamed and all(t.rpartition("/")[2].startswith(".") for t in renamed.values())
        assert summary.linked == summary.files_adopted and summary.copied == 0
        reasons = dict(summary.left)
        assert "100 bytes" in reasons[victim]
        root = world.root
        for relpath, source in places.items():  # hard links: the same file, never a copy
            assert os.stat(root / relpath).st_ino == os.stat(tree.root / source).st_ino
        adopted_facts = [e for e in stage_events(world, victim_name) if e.resource == "original"]
        assert [e.provenance for e in adopted_facts] == ["adopted"]

        with open_reader(world.library.config, world.settings()) as services:
            plan = plan_download(services, dataclasses.replace(DownloadOptions(), local_tz=UTC))
        assert not set(plan.planned_relpaths) & set(places)
        assert victim in plan.planned_relpaths  # the library has no file there: the plain name

        mark = len(world.server.requests.entries())
        result = world.download()
        fetched = set(content_histories(world, mark))
        adopted_tokens = {
            token_of(world, name, key)
            for name, files in tree.files.items() for key, relpath in files.items()
            if relpath in set(places.values())
        }
        # download fetches nothing that was adopted (`run` compares those due to leave iCloud)
        assert adopted_tokens and not fetched & adopted_tokens
        assert result.adopted_confirmed == 0 and result.adopted_disproved == 0
        for relpath, source in places.items():
            assert os.stat(root / relpath).st_ino == os.stat(tree.root / source).st_ino
        assert token_of(world, victim_name, victim_key) in fetched
        assert result.files_downloaded == len(fetched - adopted_tokens) and result.failed == 0
        assert sorted(result.planned_relpaths) == []
        assert (root / victim).stat().st_size > 100
        assert waiting_for_download(world) == set()
        assert_files_match_the_ledger(world)
        states = media_states(world)
        assert all(s.sha256 for s in states.values() if s.record_name in tree.files)


@dataclasses.dataclass
class Ran:
    exit_code: int
    output: str


def invoke(world: World, *args: str) -> Ran:
    """The exit code and text the CLI's error mapper (commands.main) would give."""
    result = CliRunner().invoke(cli, ["--config", str(world.library.config_path), *args],
                                env={"TZ": "UTC"})
    if isinstance(result.exception, PhotoledgerError):
        return Ran(int(result.exception.exit_code), str(result.exception))
    return Ran(result.exit_code, result.output)


def test_the_command_adopts_in_place_and_refuses_bad_input(tmp_path: Path) -> None:
    with open_world(tmp_path, assets=8, seed=3) as world:
        missing = invoke(world, "import-existing", str(tmp_path / "nowhere"))
        assert missing.exit_code == 7 and "not a folder" in missing.output
        empty = invoke(world, "import-existing", str(tmp_path))
        assert empty.exit_code == 7 and "photoledger discover" in empty.output
        world.discover()
        tree = write_icloudpd_tree(world.state, world.root)  # the library root IS the tree
        dry = invoke(world, "import-existing", "--dry-run", str(world.root))
        run = invoke(world, "import-existing", str(world.root))
        assert dry.exit_code == run.exit_code == 0, run.output
        said = [line.removeprefix("would ") for line in dry.output.splitlines()]
        done = [line for line in run.output.splitlines() if line.startswith(("adopt", "leave", "compare"))]
        assert said == done and len(done) > 3
        files = len(tree.relpaths())  # a hidden-file name is linked to photoledger's name
        assert f"adopt {files} files" in run.output and "0 copied" in run.output
        assert f"{files} in place" in run.output or " hard-linked, 0 copied" in run.output
        again = invoke(world, "import-existing", str(world.root))
        assert "adopt 0 files" in again.output
        bad = invoke(world, "import-existing", "--folder-structure", "{:%Q", str(world.root))
        assert bad.exit_code == 3 and "library.folder_structure" in bad.output


def test_where_a_hard_link_is_refused_the_file_is_copied_durably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    with open_world(tmp_path, assets=8, seed=3) as world:
        world.discover()
        tree = write_icloudpd_tree(world.state, tmp_path / "icloudpd")
        monkeypatch.setattr(os, "link", no_links)
        summary = run_import(world, tree.root)
        assert summary.copied == summary.files_adopted > 0 and summary.linked == 0
        for label in summary.adopted:
            relpath, source = library_and_tree(label)
            copy, original = world.root / relpath, tree.root / source
            assert copy.read_bytes() == original.read_bytes()
            assert copy.stat().st_nlink == 1 and copy.stat().st_mode & 0o777 == 0o644
            assert int(copy.stat().st_mtime) == int(original.stat().st_mtime)
        assert not list(world.root.rglob("*.photoledger-tmp"))


def test_a_tree_dated_in_another_time_zone_is_found_with_time_zone(tmp_path: Path) -> None:
    with open_world(tmp_path, assets=8, seed=3) as world:
        world.discover()
        tree = write_icloudpd_tree(world.state, tmp_path / "icloudpd",
                                   tz=ZoneInfo("Pacific/Kiritimati"))  # UTC+14
        adoptable = tree.relpaths()
        here = invoke(world, "import-existing", "--dry-run", str(tree.root))  # TZ=UTC
        there = invoke(world, "import-existing", "--dry-run", "--time-zone",
                       "Pacific/Kiritimati", str(tree.root))
        assert here.exit_code == there.exit_code == 0
        assert f"would adopt {len(adoptable)} files" in there.output
        assert f"would adopt {len(adoptable)} files" not in here.output
        bad = invoke(world, "import-existing", "--time-zone", "Mars/Base", str(tree.root))
        assert bad.exit_code == 2 and "unknown time zone" in bad.output


def test_a_missing_file_of_an_asset_outside_the_selection_is_not_left_for_download(
    tmp_path: Path,
) -> None:
    with open_world(tmp_path, assets=24, seed=7) as world:
        text = world.library.config_path.read_text()
        assert text.count("  skip_videos: false\n") == 1
        world.library.config_path.write_text(text.replace("  skip_videos: false\n",
                                                          "  skip_videos: true\n"))
        world.library = Library(world.library.config_path, load_config(world.library.config_path))
        world.discover()
        tree = write_icloudpd_tree(world.state, tmp_path / "icloudpd")
        videos = [files["original"] for name, files in tree.files.items()
                  if is_video_master(master_of(world, name))]
        kept_video, *removed = sorted(videos)
        assert removed, "the library has two videos or more"
        for relpath in removed:
            (tree.root / relpath).unlink()
        summary = run_import(world, tree.root)
        places = dict(library_and_tree(label) for label in summary.adopted)
        assert kept_video in places.values()  # selected or not, icloudpd's file is adopted
        # the removed videos, and hidden assets' files (icloudpd lists no hidden asset)
        assert summary.files_not_selected >= len(removed)
        assert not {r for r, _why in summary.left} & set(removed)
