"""Ledger benchmark: batched append, media-projection rebuild/catch-up, size per event.

Standalone script (pytest does not collect it):

    .venv/bin/python tests/bench/bench_ledger.py [--assets 40000] [--repeat 3] [--json out.json]
    .venv/bin/python tests/bench/bench_ledger.py --profile      # cProfile of save and rebuild

Every repeat builds a fresh library in a tmp dir and appends `assets` x 5 events (Discovered,
Downloaded, NasVerified, GoogleVerified, Compressed) through the engine API, 1000 assets per
`ledger.save(...)`. It then rebuilds the media projection, catches a fresh projection up from
zero, times the structural check that compress, album-move, delete and run make before
acting (engine.ledger_check.find_damage: SQLite's integrity_check and every event decoded), and
measures two raw sqlite3 floors on the very same stored rows in the same run: an
`executemany` insert into a fresh file with the same schema, and a paged SELECT of all rows.
Figures are printed per repeat and as medians (the machine is shared; medians, not means),
and compared with the targets of the issue. See tests/bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import gc
import hashlib
import importlib.metadata
import json
import platform
import pstats
import random
import shutil
import sqlite3
import statistics
import string
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import msgspec  # noqa: E402

from engine import events as ev  # noqa: E402
from engine.asset import Asset, SyncRun  # noqa: E402
from engine.crashpoints import CrashPoints  # noqa: E402
from engine.ids import IcloudIdentity  # noqa: E402
from engine.ledger import Ledger  # noqa: E402
from engine.ledger_check import find_damage  # noqa: E402
from projections.media import MediaProjection  # noqa: E402
from tests.factories import Library, make_library, new_run  # noqa: E402

EVENTS_PER_ASSET = 5
BATCH_ASSETS = 1000
FLOOR_PAGE = 5000
SEED = 20240517
ACCOUNT = "jdoe@example.com"
ZONE = "PrimarySync"
PIXEL_DEVICE_ID = "MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGZDMM-FZWI3DP-BONSGYY-LTMRWAD"
BASE36 = string.digits + string.ascii_lowercase
CAPTURED_FROM = datetime(2014, 1, 1, tzinfo=UTC)
CAPTURED_SPAN_S = int((datetime(2025, 1, 1, tzinfo=UTC) - CAPTURED_FROM).total_seconds())

# Targets from the issue (for 200,000 events; the rebuild target scales with the event count).
TARGET_APPEND_EPS = 30_000.0
TARGET_REBUILD_S_PER_200K = 2.0
TARGET_BYTES_PER_EVENT = 250.0

# (share, kind, item_type, extension) of the simulated library.
KINDS = (
    (0.60, "photo", "public.heic", "HEIC"),
    (0.15, "photo", "public.jpeg", "JPG"),
    (0.03, "photo", "public.png", "PNG"),
    (0.12, "live", "public.heic", "HEIC"),
    (0.10, "video", "com.apple.quicktime-movie", "MOV"),
)
# (tier, codec, params) per media class; params_hash is the sha256 of the params text.
TIERS = {
    "photo": ("light", "jpeg", "q=80;progressive=1;keep_exif=1"),
    "video": ("light", "h264", "crf=23;preset=medium;pix_fmt=yuv420p;audio=copy"),
}


# ---------------------------------------------------------------------------- test data


@dataclass(frozen=True)
class AssetSpec:
    """Everything one simulated asset's five facts need (generated outside the timings)."""

    identity: IcloudIdentity
    discovered: dict[str, Any]
    downloaded: dict[str, Any]
    nas_verified: dict[str, Any]
    google_verified: dict[str, Any]
    compressed: dict[str, Any]


def _sha256_hex(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _pick_kind(rng: random.Random) -> tuple[str, str, str]:
    roll = rng.random()
    for share, kind, item_type, ext in KINDS:
        if roll < share:
            return kind, item_type, ext
        roll -= share
    return KINDS[0][1:]


def make_spec(rng: random.Random, index: int, record_name: str) -> AssetSpec:
    """One asset's realistic facts: unique CPLAsset name, content sha256, dated relpath."""
    kind, item_type, ext = _pick_kind(rng)
    master = base64.b64encode(b"\x01" + rng.randbytes(20)).decode()  # CPLMaster name = checksum
    filename = f"IMG_{index % 9999 + 1:04d}.{ext}"
    captured = CAPTURED_FROM + timedelta(seconds=rng.randrange(CAPTURED_SPAN_S))
    added = captured + timedelta(seconds=rng.randrange(3 * 86400))
    if kind == "video":
        size = int(rng.lognormvariate(17.5, 1.0))  # median ~40 MB
    else:
        size = int(rng.lognormvariate(14.8, 0.4))  # median ~2.7 MB
    live_size = int(rng.lognormvariate(14.9, 0.3)) if kind == "live" else None
    relpath = f"{captured:%Y/%m/%d}/{filename}"
    sha = _sha256_hex("original", record_name)
    live_relpath = live_sha = None
    if kind == "live":
        live_relpath = f"{captured:%Y/%m/%d}/{filename.rsplit('.', 1)[0]}_HEVC.MOV"
        live_sha = _sha256_hex("live", record_name)
    tier, codec, params = TIERS["video" if kind == "video" else "photo"]
    versions = [ev.VersionFact(key="original", size_bytes=size, checksum=master, file_type=item_type)]
    live_checksum = None
    if live_size is not None:
        live_checksum = base64.b64encode(b"\x01" + rng.randbytes(20)).decode()
        versions.append(ev.VersionFact(key="live_video", size_bytes=live_size,
                                       checksum=live_checksum,
                                       file_type="com.apple.quicktime-movie"))
    return AssetSpec(
        identity=IcloudIdentity(ACCOUNT, ZONE, record_name),
        discovered={
            "master_record_name": master,
            "filename": filename,
            "kind": kind,
            "item_type": item_type,
            "declared_size_bytes": size,
            "live_video_declared_size_bytes": live_size,
            "captured_at_utc": captured,
            "added_at_utc": added,
            "remote_change_tag": "".join(rng.choices(BASE36, k=8)),
            "remote_checksum": master,
            "filename_status": "ok",
            "live_video_checksum": live_checksum,
            "versions": tuple(versions),
            "timezone_offset_s": 3600,
            "is_favorite": rng.random() < 0.05,
            "is_hidden": False,
            "album_ids": (),
        },
        downloaded={
            "local_relpath": relpath,
            "size_bytes": size,
            "sha256": sha,
            "live_video_relpath": live_relpath,
            "live_video_size_bytes": live_size,
            "live_video_sha256": live_sha,
            "extra_files": (),
        },
        nas_verified={
            "sha256": sha,
            "method": "reread-fadvise-dontneed" if rng.random() < 0.95 else "adopted-existing",
            "files": tuple(
                ev.ResourceHash(key=key, sha256=digest)
                for key, digest in (("original", sha), ("live_video", live_sha))
                if digest is not None
            ),
        },
        google_verified={"device_id": PIXEL_DEVICE_ID, "size_bytes": size},
        compressed={
            "tier": tier,
            "codec": codec,
            "params_hash": _sha256_hex(params),
            "size_bytes_before": size,
            "size_bytes_after": int(size * rng.uniform(0.25, 0.7)),
            "sha256_after": _sha256_hex("compressed", tier, record_name),
            "source": "nas",
            "local_relpath_after": None,
            "live_video_sha256_after": None,
        },
    )


def iter_spec_batches(n_assets: int, batch: int, seed: int) -> Iterator[list[AssetSpec]]:
    """Deterministic batches of asset specs (same data in every repeat, unique record names)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    for start in range(0, n_assets, batch):
        specs = []
        for index in range(start, min(start + batch, n_assets)):
            record_name = str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()
            if record_name in seen:
                raise AssertionError(f"duplicate record name {record_name}")
            seen.add(record_name)
            specs.append(make_spec(rng, index, record_name))
        yield specs


def build_assets(specs: list[AssetSpec], run_id: str) -> list[Asset]:
    """The engine API part that is timed as 'build': five facts per asset."""
    assets = []
    for spec in specs:
        asset = Asset.discover(spec.identity, run_id, **spec.discovered)
        asset.record(ev.Downloaded, run_id, **spec.downloaded)
        asset.record(ev.NasVerified, run_id, **spec.nas_verified)
        asset.record(ev.GoogleVerified, run_id, **spec.google_verified)
        asset.record(ev.Compressed, run_id, **spec.compressed)
        assets.append(asset)
    return assets


# ---------------------------------------------------------------------------- measurements


@contextmanager
def timed(out: dict[str, float], key: str) -> Iterator[None]:
    """Add the wall time of the block to out[key]."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        out[key] = out.get(key, 0.0) + time.perf_counter() - t0


def append_all(ledger: Ledger, run: SyncRun, n_assets: int, batch: int) -> dict[str, float]:
    """Build and save every asset in batches; build and save are timed separately."""
    times: dict[str, float] = {"build_s": 0.0, "save_s": 0.0}
    run_id = run.id.hex
    for specs in iter_spec_batches(n_assets, batch, SEED):
        with timed(times, "build_s"):
            assets = build_assets(specs, run_id)
        with timed(times, "save_s"):
            ledger.save(*assets)
    return times


def measure_projection(library: Library, ledger: Ledger, workdir: Path) -> dict[str, Any]:
    """Full rebuild of the library's media.db, then catch_up from zero on a fresh file."""
    out: dict[str, Any] = {}
    gc.collect()
    with timed(out, "iter_all_s"):  # the product's raw read path alone (no decode, no fold)
        read = sum(1 for _ in ledger.iter_all())
    projection = library.open_projection()
    try:
        gc.collect()
        with timed(out, "rebuild_s"):
            out["rebuild_events"] = projection.rebuild(ledger)
        rebuilt_rows = projection.rows()
    finally:
        projection.close()
    fresh = MediaProjection(workdir / "media_catchup.db", CrashPoints())
    try:
        gc.collect()
        with timed(out, "catch_up_s"):
            out["catch_up_events"] = fresh.catch_up(ledger)
        caught_up_rows = fresh.rows()
    finally:
        fresh.close()
    if not read == out["rebuild_events"] == out["catch_up_events"]:
        raise AssertionError(f"event counts differ: {read}, {out}")
    if rebuilt_rows != caught_up_rows:
        raise AssertionError("rebuild and catch_up produced different media rows")
    out["media_rows"] = len(rebuilt_rows)
    return out


def measure_floors(ledger_path: Path, workdir: Path) -> dict[str, Any]:
    """Raw sqlite3 floors on the same stored rows: executemany insert, paged select."""
    out: dict[str, Any] = {}
    src = sqlite3.connect(f"file:{ledger_path}?mode=ro", uri=True)
    try:
        schema = [
            sql
            for (sql,) in src.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'stored_events' AND sql IS NOT NULL"
                " ORDER BY type DESC"  # the table before its indexes
            )
        ]
        rows = src.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events "
            "ORDER BY rowid"
        ).fetchall()
        gc.collect()
        with timed(out, "select_s"):
            out["select_rows"] = _paged_select(src)
    finally:
        src.close()
    out["insert_rows"] = len(rows)
    floor_path = workdir / "floor.db"
    con = sqlite3.connect(floor_path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        for sql in schema:
            con.execute(sql)
        gc.collect()
        with timed(out, "insert_s"):
            con.execute("BEGIN")
            con.executemany(
                "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
                "VALUES (?, ?, ?, ?)",
                rows,
            )
            con.execute("COMMIT")
    finally:
        con.close()
    out["insert_eps"] = len(rows) / out["insert_s"]
    out["select_eps"] = out["select_rows"] / out["select_s"]
    return out


def _paged_select(con: sqlite3.Connection) -> int:
    count, position = 0, 0
    while True:
        page = con.execute(
            "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (position, FLOOR_PAGE),
        ).fetchall()
        if not page:
            return count
        count += len(page)
        position = page[-1][0]


def measure_size(ledger_path: Path) -> dict[str, Any]:
    """Ledger bytes on disk after a TRUNCATE checkpoint, and stored state length per topic."""
    con = sqlite3.connect(ledger_path, isolation_level=None)
    try:
        busy, wal_pages, moved = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        events = con.execute("SELECT count(*) FROM stored_events").fetchone()[0]
        per_topic = {
            topic: {"count": n, "avg_state_bytes": avg, "avg_row_payload_bytes": payload}
            for topic, n, avg, payload in con.execute(
                "SELECT topic, count(*), avg(length(state)), "
                "avg(length(originator_id) + length(topic) + length(state) + 4) "
                "FROM stored_events GROUP BY topic ORDER BY min(rowid)"
            )
        }
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        freelist = con.execute("PRAGMA freelist_count").fetchone()[0]
        objects = _dbstat(con)
    finally:
        con.close()
    wal = Path(f"{ledger_path}-wal")
    db_bytes = ledger_path.stat().st_size
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    return {
        "checkpoint": {"busy": busy, "wal_pages": wal_pages, "moved": moved},
        "events": events,
        "db_bytes": db_bytes,
        "wal_bytes": wal_bytes,
        "bytes_per_event": (db_bytes + wal_bytes) / events,
        "page_size": page_size,
        "freelist_pages": freelist,
        "objects_bytes": objects,
        "per_topic": per_topic,
    }


def _dbstat(con: sqlite3.Connection) -> dict[str, int] | None:
    """Bytes per table/index (None when this sqlite3 lacks the dbstat table)."""
    try:
        rows = con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
        return dict(rows.fetchall())
    except sqlite3.OperationalError:
        return None


def time_find_damage(ledger: Ledger) -> float:
    """Seconds of the check destructive commands make first; it must find nothing here."""
    started = time.perf_counter()
    problems = find_damage(ledger)
    elapsed = time.perf_counter() - started
    if problems:
        raise AssertionError(f"the bench ledger is damaged: {problems[0]}")
    return elapsed


def open_bench_library(workdir: Path) -> tuple[Library, Ledger, SyncRun]:
    """A fresh library with its SyncRun saved (that one run event is not timed)."""
    library = make_library(workdir)
    ledger = library.open_ledger()
    run = new_run("bench")
    ledger.save(run)
    return library, ledger, run


def one_repeat(n_assets: int, batch: int, tmp_root: str | None) -> dict[str, Any]:
    """One full measurement in a fresh tmp dir (removed afterwards)."""
    workdir = Path(tempfile.mkdtemp(prefix="bench_ledger_", dir=tmp_root))
    try:
        library, ledger, run = open_bench_library(workdir)
        try:
            gc.collect()
            append = append_all(ledger, run, n_assets, batch)
            events = n_assets * EVENTS_PER_ASSET
            append["events"] = events
            append["save_eps"] = events / append["save_s"]
            append["build_save_eps"] = events / (append["build_s"] + append["save_s"])
            projection = measure_projection(library, ledger, workdir)
            projection["rebuild_eps"] = projection["rebuild_events"] / projection["rebuild_s"]
            projection["catch_up_eps"] = projection["catch_up_events"] / projection["catch_up_s"]
            projection["verify_s"] = time_find_damage(ledger)
            floors = measure_floors(library.ledger_path, workdir)
            size = measure_size(library.ledger_path)
        finally:
            ledger.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "append": append,
        "projection": projection,
        "floors": floors,
        "size": size,
        "ratios": {
            "save_to_floor": append["save_eps"] / floors["insert_eps"],
            "build_save_to_floor": append["build_save_eps"] / floors["insert_eps"],
            "rebuild_to_select_time": projection["rebuild_s"] / floors["select_s"],
            "catch_up_to_select_time": projection["catch_up_s"] / floors["select_s"],
            "verify_to_select_time": projection["verify_s"] / floors["select_s"],
        },
    }


# ---------------------------------------------------------------------------- reporting

# (label, path into a repeat's result, format)
FIGURES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("build aggregates s", ("append", "build_s"), "{:.2f}"),
    ("save calls s", ("append", "save_s"), "{:.2f}"),
    ("append events/s (save only)", ("append", "save_eps"), "{:,.0f}"),
    ("append events/s (build+save)", ("append", "build_save_eps"), "{:,.0f}"),
    ("floor executemany rows/s", ("floors", "insert_eps"), "{:,.0f}"),
    ("append/floor (save only)", ("ratios", "save_to_floor"), "{:.3f}"),
    ("append/floor (build+save)", ("ratios", "build_save_to_floor"), "{:.3f}"),
    ("iter_all read s (no decode)", ("projection", "iter_all_s"), "{:.2f}"),
    ("rebuild s", ("projection", "rebuild_s"), "{:.2f}"),
    ("rebuild events/s", ("projection", "rebuild_eps"), "{:,.0f}"),
    ("catch_up from 0 s", ("projection", "catch_up_s"), "{:.2f}"),
    ("catch_up events/s", ("projection", "catch_up_eps"), "{:,.0f}"),
    ("floor paged select s", ("floors", "select_s"), "{:.3f}"),
    ("floor paged select rows/s", ("floors", "select_eps"), "{:,.0f}"),
    ("rebuild/select time (x)", ("ratios", "rebuild_to_select_time"), "{:.1f}"),
    ("catch_up/select time (x)", ("ratios", "catch_up_to_select_time"), "{:.1f}"),
    ("check before acting s", ("projection", "verify_s"), "{:.2f}"),
    ("check/select time (x)", ("ratios", "verify_to_select_time"), "{:.1f}"),
    ("ledger bytes/event", ("size", "bytes_per_event"), "{:.1f}"),
)


def dig(result: dict[str, Any], path: tuple[str, ...]) -> float:
    value: Any = result
    for key in path:
        value = value[key]
    return float(value)


def medians(results: list[dict[str, Any]]) -> dict[str, float]:
    return {
        ".".join(path): statistics.median(dig(r, path) for r in results) for _, path, _ in FIGURES
    }


def print_table(results: list[dict[str, Any]], med: dict[str, float]) -> None:
    heads = [f"run {i + 1}" for i in range(len(results))] + ["median"]
    print(f"{'figure':<32}" + "".join(f"{h:>14}" for h in heads))
    for label, path, fmt in FIGURES:
        cells = [fmt.format(dig(r, path)) for r in results] + [fmt.format(med[".".join(path)])]
        print(f"{label:<32}" + "".join(f"{c:>14}" for c in cells))


def print_size(size: dict[str, Any]) -> None:
    print(
        f"\nledger file (last run, after wal_checkpoint(TRUNCATE) -> {size['checkpoint']}): "
        f"db {size['db_bytes']:,} B + wal {size['wal_bytes']:,} B for {size['events']:,} "
        f"events = {size['bytes_per_event']:.1f} B/event "
        f"(page {size['page_size']} B, {size['freelist_pages']} free pages)"
    )
    if size["objects_bytes"]:
        parts = ", ".join(f"{k} {v:,} B" for k, v in size["objects_bytes"].items())
        print(f"  by object (dbstat): {parts}")
    print(f"  {'topic':<16}{'events':>9}{'avg state B':>13}{'avg id+topic+state+4 B':>25}")
    for topic, row in size["per_topic"].items():
        print(
            f"  {topic:<16}{row['count']:>9,}{row['avg_state_bytes']:>13.1f}"
            f"{row['avg_row_payload_bytes']:>25.1f}"
        )


def judge(med: dict[str, float], events: int) -> dict[str, dict[str, Any]]:
    rebuild_target = TARGET_REBUILD_S_PER_200K * events / 200_000
    checks = {
        "batched append events/s (save only) >= 30,000": (
            med["append.save_eps"],
            med["append.save_eps"] >= TARGET_APPEND_EPS,
        ),
        f"rebuild of {events:,} events <= {rebuild_target:.2f} s": (
            med["projection.rebuild_s"],
            med["projection.rebuild_s"] <= rebuild_target,
        ),
        "ledger bytes/event <= 250": (
            med["size.bytes_per_event"],
            med["size.bytes_per_event"] <= TARGET_BYTES_PER_EVENT,
        ),
    }
    return {name: {"median": value, "pass": ok} for name, (value, ok) in checks.items()}


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "eventsourcing": importlib.metadata.version("eventsourcing"),
        "msgspec": msgspec.__version__,
        "machine": platform.machine(),
        "optimize_flag": sys.flags.optimize,
    }


# ---------------------------------------------------------------------------- profiling


def print_profile(title: str, profiler: cProfile.Profile, top: int) -> None:
    for order in ("cumulative", "tottime"):
        print(f"\n===== {title}: top {top} by {order} =====")
        pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats(order).print_stats(top)


def run_profile(n_assets: int, batch: int, tmp_root: str | None, top: int) -> None:
    """cProfile the batched save (build excluded) and the rebuild, on one fresh library."""
    workdir = Path(tempfile.mkdtemp(prefix="bench_ledger_prof_", dir=tmp_root))
    try:
        library, ledger, run = open_bench_library(workdir)
        try:
            save_prof, build_prof = cProfile.Profile(), cProfile.Profile()
            for specs in iter_spec_batches(n_assets, batch, SEED):
                assets = _profiled(build_prof, lambda s=specs: build_assets(s, run.id.hex))
                _profiled(save_prof, lambda a=assets: ledger.save(*a))
            print_profile("build aggregates (Asset.discover + 4 x record)", build_prof, top)
            print_profile(f"batched save ({batch} assets per save)", save_prof, top)
            projection = library.open_projection()
            try:
                rebuild_prof = cProfile.Profile()
                _profiled(rebuild_prof, lambda: projection.rebuild(ledger))
            finally:
                projection.close()
            print_profile("MediaProjection.rebuild", rebuild_prof, top)
        finally:
            ledger.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _profiled(profiler: cProfile.Profile, fn: Callable[[], Any]) -> Any:
    profiler.enable()
    try:
        return fn()
    finally:
        profiler.disable()


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=40_000, help="assets (x5 events)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh-library repeats")
    parser.add_argument("--batch", type=int, default=BATCH_ASSETS, help="assets per save")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--tmpdir", help="where the tmp libraries go (default: system tmp)")
    parser.add_argument("--profile", action="store_true", help="cProfile save and rebuild only")
    parser.add_argument("--top", type=int, default=15, help="rows per profile listing")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        run_profile(args.assets, args.batch, args.tmpdir, args.top)
        return 0
    events = args.assets * EVENTS_PER_ASSET
    env = environment()
    print(
        f"bench_ledger: {args.assets:,} assets x {EVENTS_PER_ASSET} = {events:,} events, "
        f"{args.batch} assets per save, {args.repeat} repeat(s)\n  {env}"
    )
    results = []
    for i in range(args.repeat):
        t0 = time.perf_counter()
        results.append(one_repeat(args.assets, args.batch, args.tmpdir))
        print(
            f"  repeat {i + 1}/{args.repeat} done in {time.perf_counter() - t0:.1f} s", flush=True
        )
    med = medians(results)
    print()
    print_table(results, med)
    print_size(results[-1]["size"])
    verdicts = judge(med, events)
    print("\ntargets (medians):")
    for name, verdict in verdicts.items():
        print(
            f"  {'PASS' if verdict['pass'] else 'MISS'}  {name}  (median {verdict['median']:,.2f})"
        )
    if args.json:
        report = {
            "config": {
                "assets": args.assets,
                "events": events,
                "batch_assets": args.batch,
                "repeat": args.repeat,
                "seed": SEED,
                "floor_page": FLOOR_PAGE,
            },
            "environment": env,
            "repeats": results,
            "medians": med,
            "targets": verdicts,
        }
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
