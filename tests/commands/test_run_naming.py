"""`run` and `watch` take icloudpd's naming flags as `download` does, and `run` honours them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from commands import cli
from engine.errors import ExitCode
from tests.factories import run_cli
from tests.scenarios.fault_world import media_states, open_world
from tests.sim import PASSWORD

FLAGS = ("--folder-structure", "--file-match-policy", "--keep-unicode-in-filenames",
         "--live-photo-mov-filename-policy")


def test_run_and_watch_name_files_as_the_flags_say(tmp_path: Path) -> None:
    for command in ("run", "watch"):
        text = CliRunner().invoke(cli, [command, "--help"], terminal_width=200).output
        assert all(flag in text for flag in FLAGS), (command, text)
    with open_world(tmp_path, assets=4, seed=3) as world:
        env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": world.server.base_url,
               "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
        bad = run_cli(["run", "--folder-structure", "{:%Q"], world.library.config_path, env=env)
        assert bad.returncode == ExitCode.CONFIG and "library.folder_structure" in bad.stderr
        ran = run_cli(["--no-progress", "run", "--folder-structure", "none"],
                      world.library.config_path, env=env, timeout=300)
        assert ran.returncode in (ExitCode.OK, ExitCode.NEEDS_ATTENTION), ran.stderr
        relpaths = [s.local_relpath for s in media_states(world).values() if s.local_relpath]
        assert relpaths and all("/" not in r for r in relpaths), relpaths  # one flat folder
        assert "folder_structure: none" not in world.library.config_path.read_text()
