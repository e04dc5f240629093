"""A selection never widens what album-move and deletion touch: against the simulator, an
asset outside the configured selection is not moved to DeletePending, is listed as blocked
(`not-selected`) by a deletion plan, and is skipped by the execution of a plan made before
the selection narrowed. Hidden assets (selection.hidden: skip, the default) are never deleted.
"""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

from engine.config import load_config
from engine.reports import run_named_report
from simulator.icloud.rows import is_video_master
from tests.cleanup_world import CleanupWorld, open_cleanup_world
from tests.factories import Library
from tests.scenarios.fault_world import World


def with_selection(world: World, text: str) -> None:
    """Replace (or add) the config's `selection:` section."""
    path = world.library.config_path
    body = path.read_text()
    if "\nselection:\n" in body:
        head, _sep, rest = body.partition("\nselection:\n")
        tail = rest[rest.index("\n\n"):] if "\n\n" in rest else "\n"
        body = head + tail
    path.write_text(body.rstrip("\n") + "\n\nselection:\n" + text)
    world.library = Library(path, load_config(path))


def name_of(cw: CleanupWorld, asset_id_hex: str) -> str:
    ledger = cw.library.open_ledger()
    try:
        return str(ledger.get_asset(UUID(asset_id_hex)).state.record_name)
    finally:
        ledger.close()


def videos(cw: CleanupWorld, names: list[str]) -> set[str]:
    found = set()
    for name in names:
        master = cw.world.state.master(cw.world.state.asset(name).master_name)
        if master is not None and is_video_master(master):
            found.add(name)
    return found


def test_selection_narrows_album_move_plan_and_execute(tmp_path: Path) -> None:
    with open_cleanup_world(tmp_path, assets=12) as cw:
        cw.world.discover()
        cw.world.download()
        cw.backup_nas()
        everything = cw.downloaded()
        cw.google_verify(everything)
        movies = videos(cw, everything)
        assert movies and set(everything) - movies

        # album-move under skip_videos: every downloaded photo moves, no video does.
        with_selection(cw.world, "  skip_videos: true\n")
        moved = cw.album_move()
        assert cw.album_members() == set(everything) - movies
        assert len(moved.moved) == len(everything) - len(movies)

        # Without it the videos move too; a plan made then holds them.
        with_selection(cw.world, "  skip_videos: false\n")
        cw.album_move()
        assert cw.album_members() == set(everything)
        wide = cw.plan()
        planned = {name_of(cw, e.asset_id) for e in wide.entries}
        assert planned == set(everything)

        # The selection narrows again: a new plan lists the videos as not selected, and the
        # execution of the wide plan deletes only what is still selected.
        with_selection(cw.world, "  exclude_albums: [Videos]\n")
        narrow = cw.plan()
        blocked = {name_of(cw, b.asset_id): [x.code for x in b.blocks] for b in narrow.blocked}
        assert {n for n, codes in blocked.items() if codes == ["not-selected"]} == movies
        assert {name_of(cw, e.asset_id) for e in narrow.entries} == set(everything) - movies
        with cw.reader() as deps:  # `report backlog` gives the same reason
            backlog = json.dumps(run_named_report(deps, "backlog").as_json(), default=str)
        assert backlog.count("not-selected") >= len(movies)
        already = cw.icloud_deleted()  # the generated library's own Recently Deleted
        done = cw.execute(wide.plan_id)
        assert cw.icloud_deleted() - already == set(everything) - movies
        assert len(done.skipped) == len(movies)
        assert all("not-selected" in line for line in done.skipped), done.skipped
        for name in movies:
            assert "DeletionRequested" not in cw.topics_of(name)


def test_hidden_assets_are_never_moved_under_the_default(tmp_path: Path) -> None:
    with open_cleanup_world(tmp_path, assets=6) as cw:
        cw.world.discover()
        cw.world.download()
        cw.backup_nas()
        everything = cw.downloaded()
        cw.google_verify(everything)
        hidden = everything[0]
        cw.world.state.set_hidden(hidden, True)  # hidden on the phone after the download
        cw.world.discover()
        assert cw.state(hidden).is_hidden
        cw.album_move()
        assert cw.album_members() == set(everything) - {hidden}
        blocked = {name_of(cw, b.asset_id): b.blocks for b in cw.plan().blocked}
        assert hidden not in cw.album_members() and hidden not in blocked  # not a candidate
        with_selection(cw.world, "  hidden: include\n")  # asked for: it is treated as any other
        cw.world.download()  # its sidecar says hidden now: rewritten, then copied to the NAS
        cw.backup_nas()
        cw.album_move()
        assert hidden in cw.album_members()
