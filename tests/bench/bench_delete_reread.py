"""What the NAS re-read at deletion costs per deleted asset, against the iCloud delete call.

Usage:
    .venv/bin/python tests/bench/bench_delete_reread.py                    # 40 assets, 3 repeats
    .venv/bin/python tests/bench/bench_delete_reread.py --assets 16 --repeat 1   # quick smoke run

Each repeat builds two fresh worlds from the same generated iCloud library (photo-sized files:
3-6 MB photos, RAW+JPEG pairs, edited photos, live photos and videos; size_scale 1.0) served by
the simulator over HTTP, runs discover, download, backup-nas and album-move with no latency,
records the Google facts, makes a deletion plan, and only then sets the simulator's per-call
latency (default 50 ms, on every CloudKit call). Then, timed:
- re-read: `delete execute` with cleanup.require [nas, google]: per asset the gate, the iCloud
  lookup, the re-read of every NAS copy with the page cache dropped, the request, the delete;
- baseline: `delete execute` of the other world with cleanup.require [google]: the same run
  without the NAS (no re-read), measured in the same process right after.
The delete call alone is the time spent inside the port's soft_delete (timed around it).
Prints bytes re-read per deleted asset, seconds per deleted asset for the re-read, the delete
call and both whole runs, the medians over the repeats, and the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from engine.cleanup.run import run_delete_execute  # noqa: E402
from tests.cleanup_world import CleanupWorld, open_cleanup_world, prepare  # noqa: E402

MB = 1_000_000


class TimedPort:
    """The real port; the seconds spent in soft_delete (the iCloud delete call) are summed."""

    def __init__(self, port: Any) -> None:
        self.port = port
        self.delete_s = 0.0
        self.deletes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.port, name)

    def soft_delete(self, zone: str, record_name: str, change_tag: str) -> None:
        started = time.perf_counter()
        try:
            self.port.soft_delete(zone, record_name, change_tag)
        finally:
            self.delete_s += time.perf_counter() - started
            self.deletes += 1


@dataclass(frozen=True)
class Execution:
    """One timed `delete execute`."""

    deleted: int
    total_s: float
    delete_call_s: float
    reread_s: float
    reread_bytes: int


def execute_timed(cw: CleanupWorld, plan_id: str) -> Execution:
    """Run the plan through the engine entry the CLI calls, timed."""
    port = TimedPort(cw.world.new_port())
    try:
        port.port.list_albums(cw.world.library.config.settings.icloud.library)  # log in, untimed
        with cw.writer("delete") as deps:
            started = time.perf_counter()
            summary = run_delete_execute(deps, port, plan_id)  # type: ignore[arg-type]
            total = time.perf_counter() - started
    finally:
        port.port.close()
    if summary.failed or summary.nas_mismatched or port.deletes != len(summary.deleted):
        raise SystemExit(f"the run did not delete every planned asset cleanly: {summary}")
    return Execution(len(summary.deleted), total, port.delete_s, summary.nas_reread_s,
                     summary.nas_reread_bytes)


def one_world(scratch: Path, assets: int, latency_s: float, require: list[str]) -> Execution:
    """A fresh world prepared up to a plan, then the timed execute."""
    scratch.mkdir()
    with open_cleanup_world(scratch, assets=assets, size_scale=1.0, require=require) as cw:
        prepare(cw)
        plan = cw.plan()
        if not plan.entries:
            raise SystemExit(f"nothing planned: {[str(b.blocks[0]) for b in plan.blocked[:3]]}")
        cw.world.server.faults.set_latency(latency_s)
        return execute_timed(cw, plan.plan_id)


def per_asset(values: list[float], counts: list[int]) -> float:
    return statistics.median(v / n for v, n in zip(values, counts, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--dir", type=Path, default=None, help="Scratch folder (default: /tmp).")
    args = parser.parse_args()
    reread: list[Execution] = []
    baseline: list[Execution] = []
    for repeat in range(args.repeat):
        with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-delete-") as scratch:
            latency = args.latency_ms / 1000
            ours = one_world(Path(scratch) / "reread", args.assets, latency, ["nas", "google"])
            base = one_world(Path(scratch) / "baseline", args.assets, latency, ["google"])
        reread.append(ours)
        baseline.append(base)
        print(f"repeat {repeat + 1}: {ours.deleted} deleted, {ours.reread_bytes / MB:.1f} MB "
              f"re-read; execute {ours.total_s:.2f} s (re-read {ours.reread_s:.2f} s, delete "
              f"calls {ours.delete_call_s:.2f} s); without NAS {base.total_s:.2f} s "
              f"for {base.deleted}")
    counts = [e.deleted for e in reread]
    reread_s = per_asset([e.reread_s for e in reread], counts)
    call_s = per_asset([e.delete_call_s for e in reread], counts)
    total_s = per_asset([e.total_s for e in reread], counts)
    base_s = per_asset([e.total_s for e in baseline], [e.deleted for e in baseline])
    print(f"median bytes re-read per deleted asset: "
          f"{per_asset([float(e.reread_bytes) for e in reread], counts) / MB:.2f} MB")
    print(f"median seconds per deleted asset: re-read {reread_s:.4f}, delete call {call_s:.4f} "
          f"(latency {args.latency_ms:.0f} ms per call)")
    print(f"median seconds per deleted asset, whole execute: with re-read {total_s:.4f}, "
          f"without the NAS {base_s:.4f}")
    print(f"ratio re-read / delete call: {reread_s / call_s:.2f}")
    print(f"ratio execute with re-read / without: {total_s / base_s:.2f}")


if __name__ == "__main__":
    main()
