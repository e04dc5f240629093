"""Reports benchmark: `report savings|backlog|failures` over a 40,000-asset projection.

Standalone script (pytest does not collect it):

    .venv/bin/python -m tests.bench.bench_reports [--assets 40000] [--repeat 3]

One library is built once (not timed) with bench_ledger's realistic facts, spread over the
milestones so that every stage has work: 10 % only discovered, 10 % downloaded, 10 % on the
NAS, the rest backed up twice and compressed (those wait for album-move, so the deletion gate
judges about 70 % of the library for the backlog). Each repeat then times, per report:

- `cold`: the reports file removed first, so it is built from the projection;
- `again`: the same report once more with nothing new in the ledger;
- `after 1 event`: one more fact appended and caught up, then the report.

Every figure is `engine.reports.run_named_report` (build or reuse, open, run the SQL), the
projection already open and caught up. The floor, measured in the same repeat, is a plain
`SELECT` of the media columns the reports file holds from SQLite into Python lists; the ratio
is a report's time over that floor. Medians over the repeats (the machine is shared).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from commands.context import Settings  # noqa: E402
from engine import events as ev  # noqa: E402
from engine.asset import Asset  # noqa: E402
from engine.crashpoints import CrashPoints  # noqa: E402
from engine.reports import run_named_report  # noqa: E402
from engine.services import open_reader, utc_now  # noqa: E402
from projections.reports import REPORT_NAMES  # noqa: E402
from projections.reports.store import REPORTS_FILE, report_columns  # noqa: E402
from tests.bench.bench_ledger import SEED, AssetSpec, iter_spec_batches  # noqa: E402
from tests.factories import Library, make_library, new_run  # noqa: E402

BATCH = 1000


def build_asset(spec: AssetSpec, run_id: str, index: int) -> Asset:
    """An asset taken as far as its milestone (by index: 10 % / 10 % / 10 % / 70 %)."""
    asset = Asset.discover(spec.identity, run_id, **spec.discovered)
    milestone = index % 10
    if milestone == 0:
        return asset
    asset.record(ev.Downloaded, run_id, **spec.downloaded)
    if milestone == 1:
        return asset
    asset.record(ev.NasVerified, run_id, **spec.nas_verified)
    if milestone == 2:
        return asset
    asset.record(ev.GoogleVerified, run_id, **spec.google_verified)
    asset.record(ev.Compressed, run_id, **spec.compressed)
    return asset


def make_world(workdir: Path, n_assets: int) -> tuple[Library, list[Asset]]:
    """A library holding `n_assets` assets; returns it and the saved aggregates."""
    library = make_library(workdir)
    ledger = library.open_ledger()
    run = new_run("bench")
    saved: list[Asset] = []
    try:
        ledger.save(run)
        index = 0
        for specs in iter_spec_batches(n_assets, BATCH, SEED):
            assets = []
            for spec in specs:
                assets.append(build_asset(spec, run.id.hex, index))
                index += 1
            ledger.save(*assets)
            saved += assets
    finally:
        ledger.close()
    return library, saved


def floor_select(media_db: Path) -> float:
    """Seconds to SELECT the reports file's media columns from SQLite into Python lists."""
    con = sqlite3.connect(media_db)
    try:
        sql = f"SELECT {', '.join(report_columns())} FROM media"
        gc.collect()
        t0 = time.perf_counter()
        rows = con.execute(sql).fetchall()
        columns = [list(col) for col in zip(*rows, strict=True)]
        elapsed = time.perf_counter() - t0
        assert columns and len(columns[0]) > 0
        return elapsed
    finally:
        con.close()


def timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def one_repeat(library: Library, extra: Asset, run_id: str) -> dict[str, float]:
    """Every report cold, again, and after one new event; plus the floor."""
    out: dict[str, float] = {"floor_s": floor_select(library.config.state_dir / "media.db")}
    settings = Settings(library.config_path, CrashPoints(), utc_now, False, lambda _m: None)
    reports_file = library.config.state_dir / REPORTS_FILE
    for name in REPORT_NAMES:
        with open_reader(library.config, settings) as deps:
            reports_file.unlink(missing_ok=True)
            out[f"{name}.cold_s"] = timed(lambda n=name, d=deps: run_named_report(d, n))
            out[f"{name}.again_s"] = timed(lambda n=name, d=deps: run_named_report(d, n))
        # One new fact moves the ledger on: the next report must see it.
        extra.record(ev.DownloadFailed, run_id, error="HTTP 503: try later", is_retriable=True)
        ledger = library.open_ledger()
        try:
            ledger.save(extra)
        finally:
            ledger.close()
        with open_reader(library.config, settings) as deps:
            out[f"{name}.after_event_s"] = timed(lambda n=name, d=deps: run_named_report(d, n))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tmpdir", help="where the tmp library goes (default: system tmp)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench_reports_", dir=args.tmpdir))
    try:
        t0 = time.perf_counter()
        library, saved = make_world(workdir, args.assets)
        projection = library.open_projection()
        try:
            ledger = library.open_ledger()
            try:
                projection.catch_up(ledger)
            finally:
                ledger.close()
        finally:
            projection.close()
        print(f"bench_reports: {args.assets:,} assets, {args.repeat} repeat(s), "
              f"set-up {time.perf_counter() - t0:.1f} s, load {os.getloadavg()[0]:.2f}")
        run_id = new_run("bench-extra").id.hex
        results = []
        for i in range(args.repeat):
            results.append(one_repeat(library, saved[i], run_id))
            print(f"  repeat {i + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in
                                                   results[-1].items()), flush=True)
        med = {key: statistics.median(r[key] for r in results) for key in results[0]}
        floor = med["floor_s"]
        print(f"\nmedians (load average now {os.getloadavg()[0]:.2f}); floor: SELECT of "
              f"{len(report_columns())} media columns into lists {floor:.3f} s")
        print(f"{'report':<10} {'cold s':>8} {'x floor':>8} {'again s':>8} "
              f"{'after 1 event s':>16} {'x floor':>8}")
        for name in REPORT_NAMES:
            cold, again, after = (med[f"{name}.{k}_s"] for k in ("cold", "again", "after_event"))
            print(f"{name:<10} {cold:8.3f} {cold / floor:8.2f} {again:8.3f} {after:16.3f} "
                  f"{after / floor:8.2f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
