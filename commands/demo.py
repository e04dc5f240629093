"""`photoledger demo`: the main job end to end against the built-in iCloud simulator.

Invariants:
- Nothing outside the demo folder is written (the simulator's encoded media are cached inside
  it), and no real Apple host is contacted: every stage runs as the real `photoledger` CLI in a
  subprocess whose PHOTOLEDGER_ICLOUD_ENDPOINT points at the simulator served by this process.
- Running it again reuses the folder: the second discover reads deltas, download finds nothing
  left to do, so the demo shows idempotence too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from commands.context import Settings
from commands.init import run_init
from commands.output import console
from commands.simulator import SimulatorOptions, build_server, generate_database

STAGES: tuple[tuple[str, ...], ...] = (("discover",), ("download",), ("status",))


@dataclass(frozen=True)
class DemoOptions:
    folder: Path
    assets: int = 30
    seed: int = 1


def run_demo(options: DemoOptions, settings: Settings, emit: Callable[[str], None]) -> int:
    """Start the simulator, run each stage as a subprocess, return the first failing exit code."""
    folder = options.folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    sim = SimulatorOptions(
        assets=options.assets, seed=options.seed, content="real", cache_dir=folder / ".media-cache"
    )
    emit(f"generating {options.assets} real photos and videos (cached in {sim.cache_dir}) ...")
    server = build_server(sim, generate_database(sim))
    config_path = folder / "photoledger.yaml"
    if not config_path.exists():
        run_init(
            config_path, settings.crash, library_root=str(folder / "library"),
            username=sim.username, session_dir=str(folder / "session"),
        )
    env = {
        **os.environ,
        "PHOTOLEDGER_ICLOUD_ENDPOINT": server.base_url,
        "PHOTOLEDGER_ICLOUD_PASSWORD": sim.password,
    }
    with server:
        emit(f"iCloud simulator serving {sim.username} on {server.base_url}")
        for stage in STAGES:
            emit(f"$ photoledger {' '.join(stage)}")
            code = subprocess.call(
                [sys.executable, "-c", "from commands import main; main()",
                 "--config", str(config_path), *stage],
                env=env,
            )
            if code != 0:
                return code
    emit(f"the library is in {folder / 'library'}; the ledger in {folder / 'library/.photoledger'}")
    return 0


@click.command("demo")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=Path("demo"), show_default=True, help="Where the demo library goes.")
@click.option("--assets", type=click.IntRange(1, 500), default=30, show_default=True,
              help="How many assets the simulated iCloud holds.")
@click.pass_obj
def command(settings: Settings, folder: Path, assets: int) -> None:
    """Run discover and download against the built-in iCloud simulator, then show status.

    The simulator holds real JPEG, HEIC, live-photo, RAW+JPEG and video files (with hostile
    names, duplicates and an undecodable record among them); nothing real is contacted.
    """
    code = run_demo(DemoOptions(folder=folder, assets=assets), settings,
                    lambda line: console.print(line, markup=False))
    if code != 0:
        raise SystemExit(code)
