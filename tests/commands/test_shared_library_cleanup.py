"""A joined Shared Library end to end through the CLI: discover, download, NAS, then the rule
that album-move and delete leave Shared Library assets alone unless
`cleanup.include_shared_library` is true (deleting one deletes it for every participant).

What iCloud did is read from the simulator's shared zone, never from the product.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.errors import ExitCode
from tests.cleanup_world import configure_cleanup, open_cleanup_world
from tests.commands.test_libraries import cli, set_config, shared_zone

SHARED_ASSETS = 3


def test_shared_library_assets_leave_icloud_only_when_the_config_says_so(
    tmp_path: Path,
) -> None:
    with open_cleanup_world(tmp_path, assets=6, shared_assets=SHARED_ASSETS,
                            shared_library="participant", require=["nas"]) as cw:
        world = cw.world
        shared = shared_zone(world)
        set_config(world, "library", "all")
        for step in (("discover",), ("download",), ("backup-nas",)):
            code, _, err = cli(world, *step)
            assert code == 0, (step, err)

        code, _, err = cli(world, "album-move")  # one library at a time
        assert code == ExitCode.CONFIG and "--library" in err and shared.name in err

        code, out, err = cli(world, "album-move", "--library", "shared", "--json")
        assert code == 0, err
        assert json.loads(out)["moved"] == [] and json.loads(out)["not_eligible"] == SHARED_ASSETS
        assert not shared.albums and not shared.relations  # nothing written to the shared zone
        code, out, err = cli(world, "album-move", "--library", "shared", "--dry-run", "--json")
        assert code == 0, err
        waiting = json.loads(out)["waiting"]
        assert len(waiting) == SHARED_ASSETS and all(
            r["reasons"][0].startswith("shared-library: in the Shared Library")
            and "every participant" in r["reasons"][0] for r in waiting)

        code, out, err = cli(world, "album-move", "--library", "personal", "--json")
        assert code == 0, err
        assert len(json.loads(out)["moved"]) > 0
        assert not any(a.is_deleted for a in shared.assets.values())

        world.library = configure_cleanup(world.library, include_shared_library=True)
        code, out, err = cli(world, "album-move", "--library", "shared", "--json")
        assert code == 0, err
        assert len(json.loads(out)["moved"]) == SHARED_ASSETS
        [album] = [a for a in shared.albums.values() if a.name == "DeletePending"]
        assert {r.item_id for r in shared.relations.values()
                if r.container_id == album.record_name} == set(shared.assets)

        code, out, err = cli(world, "delete", "plan", "--library", "shared", "--json")
        assert code == 0, err
        plan = json.loads(out)
        assert sorted(plan["would_delete"]) == sorted(shared.assets)
        primary_before = {n for n, a in world.state.primary().assets.items() if a.is_deleted}
        # icloud.library is "all": execute takes the library of the plan's assets
        code, out, err = cli(world, "delete", "execute", plan["plan_id"])
        assert code == 0, err
        assert all(a.is_deleted for a in shared.assets.values())  # the shared zone shows it
        assert {n for n, a in world.state.primary().assets.items()
                if a.is_deleted} == primary_before
