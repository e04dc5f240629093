"""The chaos loop: SIGKILL `photoledger run --execute-deletes` at random moments, then finish.

Invariants:
- One world per loop: the iCloud simulator in this process (faults switched on before every
  attempt), a real library and a NAS folder with its marker. The NAS-only world requires the
  NAS for cleanup and leaves Google unconfigured, so no compression tier falls due. The full
  world (`full=True`) runs every stage: real decodable media (small), a real Syncthing pair
  standing for the Pixel, compression by the default tiers, and cleanup requiring the NAS,
  Google and compression, so a kill can land in any stage, encoders included.
- Every attempt is a real subprocess in its own session; a kill takes its whole group.
- The loop is seeded: the same seed gives the same kill moments and fault choices.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.config import load_config
from simulator.icloud.cloudkit import CloudKitPhotoDatabase
from simulator.icloud.faults import ContentFault, ThrottleRule
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.server import SimulatorServer
from tests.cleanup_world import configure_cleanup
from tests.commands.test_backup_nas import with_nas
from tests.factories import REPO_ROOT, Library, make_library
from tests.sim import PASSWORD, USERNAME, start_simulator
from tests.syncthing_pair import SyncthingPair, syncthing_pair_in, wire_library


@dataclass
class ChaosWorld:
    library: Library
    server: SimulatorServer
    database: CloudKitPhotoDatabase
    nas_root: Path
    pair: SyncthingPair | None = None  # the full world's Syncthing pair (Google route)
    kills: int = 0
    finished_early: int = 0
    exit_codes: list[int] = field(default_factory=list)
    progress: list[dict[str, int]] = field(default_factory=list)  # topics held after each kill

    def env(self) -> dict[str, str]:
        return {**os.environ, "PHOTOLEDGER_ICLOUD_ENDPOINT": self.server.base_url,
                "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD, "PHOTOLEDGER_CRASH_AT": ""}

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-c", "from commands import main; main()", "--config",
                str(self.library.config_path), "--no-progress", *args]

    def run(self, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        """One attempt to completion."""
        return subprocess.run(self.command(*args), cwd=REPO_ROOT, env=self.env(),
                              capture_output=True, text=True, timeout=timeout_s, check=False)

    def run_killed_after(self, delay_s: float) -> float | None:
        """`run --execute-deletes`, SIGKILLed with its process group after `delay_s`; returns
        how long it took when it finished first, None when it was killed."""
        started = time.monotonic()
        process = subprocess.Popen(
            self.command("run", "--execute-deletes"), cwd=REPO_ROOT, env=self.env(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            self.exit_codes.append(process.wait(timeout=delay_s))
            self.finished_early += 1
            return time.monotonic() - started
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            self.kills += 1
            self.progress.append(self.topics())
            return None

    def topics(self) -> dict[str, int]:
        """How many events of each topic the ledger holds (read-only, no lock)."""
        con = sqlite3.connect(f"file:{self.library.ledger_path}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT topic, COUNT(*) FROM stored_events GROUP BY topic")
            return {topic.rsplit(".", 1)[-1].split(":")[0]: n for topic, n in rows}
        finally:
            con.close()

    def arm_faults(self, rng: random.Random) -> None:
        """A fresh handful of counted faults: throttling, and bodies cut, dropped or overlong."""
        faults = self.server.faults
        faults.clear()
        faults.set_latency(rng.choice([0.0, 0.005, 0.02]))
        faults.add_throttle(ThrottleRule(status=rng.choice([503, 429]), times=rng.randint(1, 2),
                                         kind="cloudkit", retry_after_s=0))
        for mode in ("cut", "drop", "overlong"):
            faults.add_content_fault(ContentFault(mode=mode, times=rng.randint(0, 2),
                                                  fraction=rng.uniform(0.1, 0.9)))

    def status_totals(self) -> dict[str, int]:
        result = self.run("status", "--json", timeout_s=120)
        assert result.returncode == 0, result.stderr
        totals: dict[str, int] = json.loads(result.stdout)["totals"]
        return totals


@contextmanager
def chaos_world(tmp_path: Path, *, assets: int, seed: int,
                full: bool = False) -> Iterator[ChaosWorld]:
    spec = GeneratorSpec(assets=assets, seed=seed, include_malformed=False, shared_assets=0,
                         size_scale=0.002)
    if full:  # decodable media, a tenth of the real pixel size: encoders run in seconds
        spec = replace(spec, content="real", cache_dir=tmp_path / "media", pixel_scale=0.1)
    database = generate_library(spec)
    library = make_library(tmp_path)
    library.config_path.write_text(
        library.config_path.read_text().replace("jdoe@example.com", USERNAME))
    nas_root = tmp_path / "nas"
    nas_root.mkdir()
    library = with_nas(Library(library.config_path, load_config(library.config_path)), nas_root)
    require = ["nas", "google", "compress"] if full else ["nas"]
    library = configure_cleanup(library, require=require, keep_recent_days=0,
                                max_delete=10_000, max_delete_fraction=1.0)
    with start_simulator(database) as server, ExitStack() as stack:
        pair = stack.enter_context(syncthing_pair_in(tmp_path)) if full else None
        if pair is not None:
            library = wire_library(library, pair)
        yield ChaosWorld(library, server, database, nas_root, pair)


def run_chaos(world: ChaosWorld, *, kills: int, seed: int, min_s: float, max_s: float) -> None:
    """Kill `kills` attempts at seeded random moments, then run to the end without faults.

    Moments are drawn below a ceiling that follows the machine: it drops under the length of
    an attempt that finished first (less work is left), and rises when a kill came before the
    attempt recorded anything (a slow start), so kills keep landing inside the work.
    """
    rng = random.Random(seed)
    ceiling = max_s
    while world.kills < kills:
        world.arm_faults(rng)
        held = sum(world.progress[-1].values()) if world.progress else 0
        finished_in = world.run_killed_after(rng.uniform(min_s, max(min_s, ceiling)))
        if finished_in is not None:
            ceiling = 0.9 * finished_in
            if world.finished_early > 2 * kills + 10:
                raise AssertionError(f"{world.finished_early} attempts finished before a kill")
        elif sum(world.progress[-1].values()) <= held + 1:  # only its RunStarted
            ceiling = min(1.5 * ceiling, 4 * max_s)
    world.server.faults.clear()
    for _ in range(3):  # a run that meets leftovers of the chaos may need one more pass
        final = world.run("run", "--execute-deletes")
        world.exit_codes.append(final.returncode)
        if final.returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"the runs after the chaos did not finish cleanly: {final.stderr}")
