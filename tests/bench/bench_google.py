"""Google-route benchmark: staging to GoogleVerified for N files on a loopback Syncthing pair.

Standalone script (pytest does not collect it):

    .venv/bin/python tests/bench/bench_google.py [--files 100] [--size-kib 2048] [--repeat 3]

Each repeat starts a fresh pair of real `syncthing` processes and a fresh library with `files`
downloaded assets (real files with their recorded sha256; starting these is not timed). It then
times `run_backup_google` from the first outbox placement to the last GoogleVerified saved.
In the same repeat, a baseline copies the same number of same-sized files straight into the
outbox of a second fresh pair, asks for a scan and waits until the Pixel's folder holds them
all: Syncthing's own transfer time, which the stage cannot beat. Medians over repeats.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from commands.context import Settings  # noqa: E402
from engine.crashpoints import CrashPoints  # noqa: E402
from engine.google.route import google_route  # noqa: E402
from engine.google.run import GoogleOptions, run_backup_google  # noqa: E402
from engine.services import open_writer, utc_now  # noqa: E402
from simulator.syncthing_pair import SyncthingPair, running_syncthing_pair  # noqa: E402
from tests.factories import make_library  # noqa: E402
from tests.syncthing_pair import add_downloaded_assets, wire_library  # noqa: E402


def time_stage_to_verified(base: Path, files: int, size_bytes: int) -> float:
    (base / "lib").mkdir(parents=True)
    library = make_library(base / "lib")
    with running_syncthing_pair(base / "st") as pair:
        library = wire_library(library, pair)
        add_downloaded_assets(library, files, size_bytes=size_bytes)
        settings = Settings(library.config_path, CrashPoints(), utc_now, False, lambda _m: None)
        route = google_route(library.config, os.environ)
        with open_writer(library.config, settings, "backup-google") as deps:
            started = time.perf_counter()
            summary = run_backup_google(deps, route, GoogleOptions(wait_s=600, poll_s=1))
            elapsed_s = time.perf_counter() - started
    if summary.verified != files:
        raise SystemExit(f"only {summary.verified} of {files} verified: {summary}")
    return elapsed_s


def time_raw_syncthing(base: Path, files: int, size_bytes: int) -> float:
    sources = base / "src"
    sources.mkdir(parents=True)
    for index in range(files):
        (sources / f"IMG_{index:04d}.HEIC").write_bytes(os.urandom(size_bytes))
    with running_syncthing_pair(base / "st") as pair:
        started = time.perf_counter()
        for source in sources.iterdir():
            shutil.copyfile(source, pair.outbox / source.name)
        pair.server.rest(f"/rest/db/scan?folder={pair.folder_id}", "POST")
        pair.server.wait_until(lambda: _pixel_has(pair, files, size_bytes), "sync", 600)
        return time.perf_counter() - started


def _pixel_has(pair: SyncthingPair, files: int, size_bytes: int) -> bool:
    done = [p for p in pair.pixel_folder.iterdir()
            if p.name.startswith("IMG_") and p.stat().st_size == size_bytes]
    return len(done) == files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--size-kib", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size_bytes = args.size_kib * 1024
    stage_s, raw_s = [], []
    for repeat in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            stage_s.append(time_stage_to_verified(Path(tmp) / "a", args.files, size_bytes))
            raw_s.append(time_raw_syncthing(Path(tmp) / "b", args.files, size_bytes))
        print(f"repeat {repeat + 1}: staging -> GoogleVerified {stage_s[-1]:.2f} s, "
              f"raw Syncthing transfer {raw_s[-1]:.2f} s", flush=True)
    stage, raw = statistics.median(stage_s), statistics.median(raw_s)
    mib = args.files * size_bytes / 2**20
    print(f"median of {args.repeat}: {args.files} files x {args.size_kib} KiB ({mib:.0f} MiB): "
          f"staging -> GoogleVerified {stage:.2f} s ({args.files / stage:.0f} files/s, "
          f"{mib / stage:.0f} MiB/s); raw Syncthing transfer {raw:.2f} s; ratio {stage / raw:.2f}")


if __name__ == "__main__":
    main()
