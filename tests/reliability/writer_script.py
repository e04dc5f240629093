"""A small ledger writer that the kill -9 tests run in a subprocess.

usage: python -m tests.reliability.writer_script CONFIG [--assets N] [--batch B] [--arm-before-save K]

It wires its dependencies the way `commands.context` does (config, `CrashPoints.from_env`,
`WriterLock`, `open_ledger`, `MediaProjection`), then appends a fixed, deterministic set of assets
(indices 0..N-1, each Discovered + Downloaded, built with tests/factories.py) in batches of B,
one `ledger.save(...)` per batch, and catches the projection up after every save.

Saves are numbered: save 0 is the run's RunStarted, saves 1..n are the asset batches, the last
one is RunFinished. Crash points are armed (from PHOTOLEDGER_CRASH_AT) just before save K, so a
test can kill the writer in the middle of the job, not only at its first save; K=0 (default)
arms them from the start, exactly as the CLI does.

Invariant: idempotent. It first catches the projection up with whatever a killed run committed,
then skips every asset the ledger already holds (and only records the download of an asset that
was discovered but not downloaded), so a rerun after a crash finishes the job without duplicates.

Output (stdout, one line per fact, flushed so a killed run still shows what it did):
  stale-lock <pid> <host>              the lock was taken over from a dead holder
  saved <k> <new-assets> <position>    save k committed (and the projection caught up)
  done <new> <skipped>                 the job is complete
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from uuid import UUID

from engine import events as ev
from engine.asset import Asset, SyncRun
from engine.config import load_config
from engine.crashpoints import CrashPoints
from engine.errors import NotFoundError, PhotoledgerError
from engine.ids import IcloudIdentity, asset_id_for
from engine.ledger import Ledger, open_ledger
from engine.lock import WriterLock
from projections.media import MediaProjection
from tests.factories import discover, download, new_run

ACCOUNT, ZONE = "jdoe@example.com", "PrimarySync"


def record_name(index: int) -> str:
    """The iCloud record name tests/factories.discover gives asset `index`."""
    return f"REC-{index:08d}"


def say(line: str) -> None:
    print(line, flush=True)


def asset_id(index: int) -> UUID:
    """The aggregate id of asset `index` (a pure function of its iCloud identity)."""
    return asset_id_for(IcloudIdentity(ACCOUNT, ZONE, record_name(index)))


def _existing(ledger: Ledger, index: int) -> Asset | None:
    try:
        return ledger.get_asset(asset_id(index))
    except NotFoundError:
        return None


def write_assets(config_path: Path, count: int, batch: int, arm_before_save: int) -> None:
    """Append assets 0..count-1 that the ledger does not hold yet, `batch` per save."""
    config = load_config(config_path)
    armed = CrashPoints.from_env(os.environ)  # an unknown point name is a ConfigError
    disarmed = CrashPoints()
    state_dir = config.state_dir
    with WriterLock(state_dir / "writer.lock", "writer_script") as lock:
        if lock.stale is not None:
            say(f"stale-lock {lock.stale.pid} {lock.stale.host}")
        first = armed if arm_before_save == 0 else disarmed
        ledger = open_ledger(state_dir, config.settings.ledger.url, first)
        projection = MediaProjection(state_dir / "media.db", first)
        try:
            projection.catch_up(ledger)  # apply what a killed run committed but did not project

            def save(number: int, *aggregates: Asset | SyncRun, new: int = 0) -> None:
                if number == arm_before_save:
                    ledger.crash = projection.crash = armed
                position = ledger.save(*aggregates)
                projection.catch_up(ledger)
                say(f"saved {number} {new} {position}")

            run = new_run("writer_script")
            save(0, run)
            new = skipped = 0
            batches = [range(start, min(start + batch, count)) for start in range(0, count, batch)]
            for number, indices in enumerate(batches, start=1):
                pending: list[Asset] = []
                created = 0
                for index in indices:
                    asset = _existing(ledger, index)
                    if asset is None:
                        asset = discover(run, index)
                        download(asset, run)
                        pending.append(asset)
                        created += 1
                    elif asset.state.sha256 is None:
                        download(asset, run)
                        pending.append(asset)
                    else:
                        skipped += 1
                save(number, *pending, new=created)
                new += created
            run.record(ev.RunFinished, exit_code=0, outcome="ok")
            save(len(batches) + 1, run)
            say(f"done {new} {skipped}")
        finally:
            projection.close()
            ledger.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--assets", type=int, default=40)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--arm-before-save", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        write_assets(args.config, args.assets, args.batch, args.arm_before_save)
    except PhotoledgerError as exc:
        print(f"writer_script: error: {exc}", file=sys.stderr, flush=True)
        return int(exc.exit_code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
