"""The demo: the main job end to end against the iCloud simulator and real backups.

Invariants:
- Nothing outside the demo folder is written (the simulator's encoded media are cached inside
  it), and no real Apple host is contacted: every stage runs as the real `photoledger` CLI in a
  subprocess whose PHOTOLEDGER_ICLOUD_ENDPOINT points at the simulator served by this process.
- The two backups are real too: `nas/` is the NAS folder (with its marker), and two real
  Syncthing processes on loopback stand for this machine's Syncthing and the Pixel's, sharing
  the outbox (`syncthing/`). Both are stopped, by pid, when the demo ends.
- Running it again reuses the folder: the second discover reads deltas, download and the
  backups find nothing left to do, so the demo shows idempotence too. The config is rewritten
  each run because the Syncthing ports are chosen afresh.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.crashpoints import CrashPoints
from engine.library_init import GoogleWiring, run_init
from simulator.serve import SimulatorOptions, build_server, generate_database
from simulator.syncthing_pair import SyncthingPair, running_syncthing_pair

STAGES: tuple[tuple[str, ...], ...] = (
    ("discover",),
    ("download",),
    ("backup-nas",),
    ("doctor",),
    ("backup-google", "--wait-s", "60"),
    ("compress",),
    ("album-move",),
)
PLAN_ID = re.compile(r"photoledger delete execute (\S+)`")


@dataclass(frozen=True)
class DemoOptions:
    folder: Path
    assets: int = 30
    seed: int = 1


def run_demo(options: DemoOptions, crash: CrashPoints, emit: Callable[[str], None]) -> int:
    """Start the simulator, run each stage as a subprocess, return the first failing exit code."""
    folder = options.folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    sim = SimulatorOptions(
        assets=options.assets, seed=options.seed, content="real", cache_dir=folder / ".media-cache"
    )
    emit(f"generating {options.assets} real photos and videos (cached in {sim.cache_dir}) ...")
    server = build_server(sim, generate_database(sim))
    config_path = folder / "photoledger.yaml"
    (folder / "nas").mkdir(exist_ok=True)
    emit("starting two Syncthing instances on loopback: this machine's and the Pixel's")
    with server, running_syncthing_pair(folder / "syncthing") as pair:
        run_init(
            config_path, crash, library_root=str(folder / "library"),
            username=sim.username, session_dir=str(folder / "session"),
            nas_root=str(folder / "nas"), google=_wiring(pair), is_forced=True,
        )
        env = {
            **os.environ,
            "PHOTOLEDGER_ICLOUD_ENDPOINT": server.base_url,
            "PHOTOLEDGER_ICLOUD_PASSWORD": sim.password,
        }
        emit(f"iCloud simulator serving {sim.username} on {server.base_url}")
        stage_run = _stage_runner(config_path, env, emit)
        for stage in STAGES:
            code, _ = stage_run(stage)
            if code != 0:
                return code
        code = _delete_step(stage_run)
        if code != 0:
            return code
    emit(f"the library is in {folder / 'library'}; the ledger in {folder / 'library/.photoledger'}")
    emit(f"the NAS copy is in {folder / 'nas'}; the Pixel's copy in {pair.pixel_folder}")
    return 0


StageRun = Callable[[tuple[str, ...]], tuple[int, str]]


def _stage_runner(config_path: Path, env: dict[str, str], emit: Callable[[str], None]) -> StageRun:
    """Runs one `photoledger` command as a subprocess, echoing and returning its output."""

    def run(stage: tuple[str, ...]) -> tuple[int, str]:
        emit(f"$ photoledger {' '.join(stage)}")
        done = subprocess.run(
            [sys.executable, "-c", "from commands import main; main()",
             "--config", str(config_path), *stage],
            env=env, stdout=subprocess.PIPE, text=True, check=False,
        )
        sys.stdout.write(done.stdout)
        sys.stdout.flush()
        return done.returncode, done.stdout

    return run


def _delete_step(stage_run: StageRun) -> int:
    """Plan the deletion, execute the plan, show status.

    The demo library is tiny, so a plan for most of it trips the mass-delete guard (a fraction
    of the library); the demo passes --force knowingly, as a user who has looked at the plan
    would. A rerun finds nothing left to delete and executes nothing.
    """
    code, out = stage_run(("delete", "plan"))
    if code != 0:
        return code
    plan = PLAN_ID.search(out)
    if plan is not None and not re.search(r"^0 assets would be deleted", out, re.M):
        code, _ = stage_run(("delete", "execute", plan[1], "--force"))
        if code != 0:
            return code
    code, _ = stage_run(("status",))
    return code


def _wiring(pair: SyncthingPair) -> GoogleWiring:
    """The config's google section for the demo's Syncthing pair."""
    return GoogleWiring(
        outbox=str(pair.outbox),
        syncthing_url=pair.server.url,
        syncthing_config=str(pair.server.config_xml),
        folder_id=pair.folder_id,
        pixel_device_id=pair.pixel.device_id,
    )
