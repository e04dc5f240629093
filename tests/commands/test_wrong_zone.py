"""A wrong Shared Library id (`icloud.library`) is a configuration error: exit 3 with the
account's libraries, names and ids, never exit 11 ("try again later").

The simulator answers an unknown zone as Apple does: zones/list lists only the account's zones
(`PrimarySync` and its `SharedSync-<UUID>`), and a query naming another zone gets
ZONE_NOT_FOUND.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from engine.errors import ExitCode
from tests.factories import run_cli
from tests.scenarios.fault_world import World, open_world
from tests.sim import PASSWORD

WRONG = "SharedSync-00000000-0000-0000-0000-000000000000"


def with_library(world: World, zone: str) -> None:
    path = world.library.config_path
    path.write_text(re.sub(r"(?m)^  library: .*$", f"  library: {zone}", path.read_text()))


def photoledger(world: World, *args: str) -> tuple[int, str, str]:
    env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": world.server.base_url,
           "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
    result = run_cli(["--no-progress", *args], world.library.config_path, env=env, timeout=300)
    return result.returncode, result.stdout, result.stderr


def test_a_wrong_shared_library_id_is_a_config_error_listing_the_zones(tmp_path: Path) -> None:
    with open_world(tmp_path, assets=3) as world:
        shared = [name for name in world.state.zones if name.startswith("SharedSync-")]
        assert shared and WRONG not in shared
        with_library(world, WRONG)
        code, _, stderr = photoledger(world, "discover")
        assert code == ExitCode.CONFIG, stderr
        [line] = stderr.splitlines()[-1:]
        assert line.startswith("photoledger: error: ") and "icloud.library" in line
        assert WRONG in line and "Personal Library (PrimarySync)" in line
        assert f"Shared Library ({shared[0]})" in line

        code, stdout, _ = photoledger(world, "run", "--json")  # the run says the same
        stages = {s["stage"]: s for s in json.loads(stdout)["stages"]}
        assert code == ExitCode.CONFIG == stages["discover"]["exit_code"]
        assert shared[0] in stages["discover"]["detail"]

        with_library(world, shared[0])  # the right id: discover reads the Shared Library
        code, _, stderr = photoledger(world, "discover")
        assert code == 0, stderr


def test_the_simulator_refuses_a_query_in_an_unknown_zone(tmp_path: Path) -> None:
    with open_world(tmp_path, assets=1) as world:
        status, body = world.database.handle(
            "private", "records/query", {"zoneID": {"zoneName": WRONG}, "query": {}}, None  # type: ignore[arg-type]
        )
        assert status == 404 and body["serverErrorCode"] == "ZONE_NOT_FOUND"
        listed = world.database.handle("private", "zones/list", {}, None)  # type: ignore[arg-type]
        assert WRONG not in {z["zoneID"]["zoneName"] for z in listed[1]["zones"]}
