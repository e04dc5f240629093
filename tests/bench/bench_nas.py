"""NAS copy+verify throughput against `cp` followed by `sha256sum` of the same files.

Usage:
    .venv/bin/python tests/bench/bench_nas.py                  # 1 GiB of files, 3 repeats
    .venv/bin/python tests/bench/bench_nas.py --total-mib 128 --repeat 1   # quick smoke run

Each repeat, on the same disk and with the same source files (in the page cache for both):
- floor: `cp -r SRC DST` then `sha256sum` of every copied file (no fsync, and sha256sum reads
  the copies straight back from the page cache);
- photoledger: `run_backup_nas` on a fresh library whose ledger says those files were
  downloaded: copy, fsync, rename, fsync the folder, drop the page cache of the copy, re-read
  and hash it, record NasCopied + NasVerified in batches.
`sync` runs (untimed) between the two, so neither pays for the other's dirty pages.
Prints each figure, medians over the repeats, and the ratio of photoledger's throughput to
the floor's (target >= 0.7).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from commands.context import Settings  # noqa: E402
from engine import events as ev  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.crashpoints import CrashPoints  # noqa: E402
from engine.nas.run import NasOptions  # noqa: E402
from engine.nas.stage import run_backup_nas  # noqa: E402
from engine.reporting import NullReporter  # noqa: E402
from engine.services import open_writer, utc_now  # noqa: E402
from tests.factories import discover, make_library, new_run  # noqa: E402

MIB = 1 << 20
# A photo library's mix by bytes: many 3-6 MiB photos, a few 20-60 MiB videos.
SIZES_MIB = (3, 4, 5, 6, 4, 3, 5, 40, 4, 6, 3, 20, 5, 4, 60)


def make_sources(folder: Path, total_mib: int) -> list[Path]:
    """Incompressible files whose sizes cycle through SIZES_MIB until `total_mib`."""
    files, written, index = [], 0, 0
    block = hashlib.sha256(b"seed").digest() * (MIB // 32)
    while written < total_mib:
        size = min(SIZES_MIB[index % len(SIZES_MIB)], total_mib - written)
        path = folder / f"2024/{index % 12 + 1:02d}/IMG_{index:04d}.HEIC"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            for chunk in range(size):
                handle.write(hashlib.sha256(f"{index}/{chunk}".encode()).digest() + block[32:])
        files.append(path)
        written, index = written + size, index + 1
    return files


def sync() -> None:
    subprocess.run(["sync"], check=True)


def run_floor(sources: Path, files: list[Path], work: Path) -> float:
    """Seconds for `cp -r` then `sha256sum` of the copies."""
    target = work / "floor"
    sync()
    started = time.perf_counter()
    subprocess.run(["cp", "-r", str(sources), str(target)], check=True)
    copies = [str(target / f.relative_to(sources)) for f in files]
    subprocess.run(["sha256sum", *copies], check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    shutil.rmtree(target)
    return elapsed


def prepare_library(sources: Path, files: list[Path], work: Path) -> Path:
    """A library whose ledger records `files` as downloaded (hard links: same bytes, no copy)."""
    (work / "lib").mkdir()
    library = make_library(work / "lib")
    nas_root = work / "nas"
    nas_root.mkdir()
    text = library.config_path.read_text().replace("  root: null", f"  root: {json.dumps(str(nas_root))}")
    library.config_path.write_text(text)
    from engine.library_init import run_init

    run_init(library.config_path, CrashPoints())
    root = load_config(library.config_path).library_root
    run = new_run("bench")
    assets = []
    for index, path in enumerate(files):
        relpath = str(path.relative_to(sources))
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).hardlink_to(path)
        asset = discover(run, index, declared_size_bytes=path.stat().st_size)
        asset.record(
            ev.Downloaded, run.id.hex, local_relpath=relpath, size_bytes=path.stat().st_size,
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(), live_video_relpath=None,
            live_video_size_bytes=None, live_video_sha256=None, extra_files=(),
        )
        assets.append(asset)
    ledger = library.open_ledger()
    try:
        ledger.save(run, *assets)
    finally:
        ledger.close()
    return library.config_path


def run_photoledger(config_path: Path, workers: int) -> tuple[float, int]:
    """Seconds for backup-nas over the whole library, and how many assets it verified."""
    config = load_config(config_path)
    settings = Settings(config_path, CrashPoints(), utc_now, False, lambda _m: None)
    sync()
    started = time.perf_counter()
    with open_writer(config, settings, "backup-nas") as deps:
        summary = run_backup_nas(deps, NasOptions(workers=workers), NullReporter())
    elapsed = time.perf_counter() - started
    if summary.failed or summary.mismatched:
        raise SystemExit(f"backup-nas did not verify everything: {summary}")
    return elapsed, summary.copied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=None, help="Scratch folder (default: /tmp).")
    args = parser.parse_args()
    floors, ours = [], []
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-nas-") as scratch:
        sources = Path(scratch) / "src"
        files = make_sources(sources, args.total_mib)
        total_bytes = sum(f.stat().st_size for f in files)
        print(f"{len(files)} files, {total_bytes / MIB:.0f} MiB, workers {args.workers}")
        for repeat in range(args.repeat):
            work = Path(scratch) / f"run{repeat}"
            work.mkdir()
            config_path = prepare_library(sources, files, work)
            floor_s = run_floor(sources, files, work)
            ours_s, count = run_photoledger(config_path, args.workers)
            assert count == len(files)
            floors.append(floor_s)
            ours.append(ours_s)
            print(f"repeat {repeat + 1}: cp+sha256sum {total_bytes / MIB / floor_s:7.1f} MiB/s "
                  f"({floor_s:.2f} s), backup-nas {total_bytes / MIB / ours_s:7.1f} MiB/s "
                  f"({ours_s:.2f} s)")
            shutil.rmtree(work)
    floor_rate = total_bytes / MIB / statistics.median(floors)
    ours_rate = total_bytes / MIB / statistics.median(ours)
    print(f"median cp+sha256sum: {floor_rate:.1f} MiB/s")
    print(f"median backup-nas (copy, fsync, drop cache, re-read, hash, record): "
          f"{ours_rate:.1f} MiB/s")
    print(f"ratio: {ours_rate / floor_rate:.2f} (target >= 0.7)")


if __name__ == "__main__":
    main()
