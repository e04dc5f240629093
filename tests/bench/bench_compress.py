"""Compression benchmark: JPEG tier throughput vs a plain Pillow loop, size ratio and PSNR per
tier, video fps per tier. Run: `.venv/bin/python -m tests.bench.bench_compress [--photos 8]`.

Throughput runs the stage's encode path (worker pool, source hash, encode, decode-back check,
output hash) on `--workers` processes, against a plain Pillow decode+encode loop with the same
settings, in the same run; target >= 0.8 x loop x workers.

The stage's workers keep freed memory for the next photo (engine.compress.process); the plain loop
does not, as plain Pillow does not. The loop is also run once more on `--workers` processes
with that same malloc setting, so the figure printed last shows what the stage's checks alone
cost.

"loop x workers" is measured, not assumed: the loop runs once in one process, and once split
over `--workers` warm processes at the same time. On a machine shared with other work two
processes rarely get twice one process's throughput, so the stage (which needs every core) is
compared with the loop on the same number of cores; the one-process figure x workers is
printed too. Each repeat alternates which side runs first, so load drifts cancel out.

The floor line says what the checks cost on one core: a plain loop's time over the same loop
plus the stage's own decode-back check of every output (engine.compress.verify.verify_photo,
which reads every scan of a JPEG and decodes it at 1/8 scale), and the same with a full-size
decode instead, both measured here; and
the loop's CPU seconds over the stage workers' CPU seconds for the same photos, which other
work on the machine does not skew (it leaves out the pool's idle gaps, which wall time counts).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from PIL import Image, ImageOps

from engine.compress.pool import WorkerPool
from engine.compress.process import keep_freed_memory
from engine.compress.settings import CompressionSettings
from engine.compress.tiers import CompressJob, FileJob
from engine.compress.verify import photo_facts, verify_photo
from engine.compress.work import JobOutcome, WorkerSettings, execute_compress_job
from tests.compress_media import VideoSpec, psnr_db, sha256_of, write_jpeg, write_video

MP = 4032 * 3024 / 1e6


def job_for(root: Path, name: str, target: str, settings: msgspec.Struct) -> CompressJob:
    sha = sha256_of(root / name)
    f = FileJob("original", name, name, name, sha, sha, "jpeg" if target != "video" else "video",
                target, msgspec.json.encode(settings).decode())
    return CompressJob(name, "bench", (f,), target, "h", 0, name)


def timed_job(task: tuple[WorkerSettings, CompressJob]) -> tuple[JobOutcome, float]:
    """The stage's job, with the CPU seconds the worker spent on it."""
    started = time.process_time()
    outcome = execute_compress_job(task)
    return outcome, time.process_time() - started


def run_pool(root: Path, jobs: list[CompressJob], workers: int) -> tuple[float, list[JobOutcome]]:
    elapsed, outs, _cpu_s = run_pool_timed(root, jobs, workers)
    return elapsed, outs


def run_pool_timed(
    root: Path, jobs: list[CompressJob], workers: int
) -> tuple[float, list[JobOutcome], float]:
    """Wall seconds, outcomes in job-name order, and the workers' CPU seconds."""
    ws = WorkerSettings(root, None, "ffmpeg", "ffprobe", "exiftool", 60.0, 0.0)
    pool: WorkerPool[tuple[WorkerSettings, CompressJob], tuple[JobOutcome, float]] = WorkerPool(
        timed_job, workers)
    try:
        list(pool.run([(ws, jobs[0])], lambda _t: None))  # warm the workers up
        started = time.perf_counter()
        outs = [o.value for o in pool.run(((ws, j) for j in jobs), lambda _t: None)]
        elapsed = time.perf_counter() - started
    finally:
        pool.close()
    done = sorted((o for o in outs if o is not None), key=lambda o: o[0].asset_id)
    return elapsed, [o for o, _c in done], sum(c for _o, c in done)


def plain_loop(paths: list[Path], settings: dict[str, Any]) -> float:
    return plain_loop_timed(paths, settings)[0]


def plain_loop_timed(paths: list[Path], settings: dict[str, Any]) -> tuple[float, float]:
    """Wall and CPU seconds of one process decoding and encoding every photo."""
    started, cpu_started = time.perf_counter(), time.process_time()
    for path in paths:
        with Image.open(path) as im:
            im.load()
            im.save(io.BytesIO(), "JPEG", exif=im.info["exif"], icc_profile=im.info["icc_profile"],
                    xmp=im.info["xmp"], **settings)
    return time.perf_counter() - started, time.process_time() - cpu_started


def _set_up_loop_process(keep_freed: bool) -> None:
    """Run in every loop process as it starts: with `keep_freed`, the stage workers' malloc
    setting."""
    if keep_freed:
        keep_freed_memory()


def _warm(_index: int) -> None:
    """Imports done in each loop process before the clock starts (the stage's pool is warm)."""


def parallel_loop(
    paths: list[Path], settings: dict[str, Any], workers: int, *, keep_freed: bool = False
) -> float:
    """The plain loop split over `workers` processes running at once; wall time."""
    context = multiprocessing.get_context("forkserver")
    with context.Pool(workers, _set_up_loop_process, (keep_freed,)) as processes:
        processes.map(_warm, range(workers), chunksize=1)
        shares = [(paths[i::workers], settings) for i in range(workers)]
        started = time.perf_counter()
        processes.starmap(plain_loop, shares, chunksize=1)
        return time.perf_counter() - started


def decode_all(paths: list[str]) -> float:
    """One full-size decode of each file in this process."""
    started = time.perf_counter()
    for path in paths:
        with Image.open(path) as im:
            im.load()
    return time.perf_counter() - started


def check_all(pairs: list[tuple[Path, str]]) -> float:
    """The stage's decode-back check of each (source, output) in this process."""
    facts = []
    for source, _output in pairs:
        with Image.open(source) as im:
            facts.append(photo_facts(im))  # header and EXIF only: not part of the check's cost
    started = time.perf_counter()
    for (_source, output), source_facts in zip(pairs, facts, strict=True):
        verify_photo(Path(output).read_bytes(), "jpeg", source_facts)
    return time.perf_counter() - started


@dataclass
class Round:
    stage_s: float
    stage_cpu_s: float
    loop_1_s: float
    loop_1_cpu_s: float
    loop_n_s: float
    loop_kept_s: float
    decode_s: float
    check_s: float


def throughput_round(root: Path, names: list[str], light: msgspec.Struct, workers: int,
                     stage_first: bool) -> Round:
    settings = {**msgspec.structs.asdict(light), "subsampling": "keep"}
    paths = [root / n for n in names]
    jobs = [job_for(root, n, "jpeg", light) for n in names]
    if not stage_first:
        loop_1 = plain_loop_timed(paths, settings)
        loop_n_s = parallel_loop(paths, settings, workers)
        loop_kept_s = parallel_loop(paths, settings, workers, keep_freed=True)
    stage_s, outs, stage_cpu_s = run_pool_timed(root, jobs, workers)
    temps = [o.files[0].temp_path or "" for o in outs]
    decode_s = decode_all(temps)
    check_s = check_all(list(zip(paths, temps, strict=True)))
    for temp in temps:
        Path(temp).unlink(missing_ok=True)
    if stage_first:
        loop_1 = plain_loop_timed(paths, settings)
        loop_n_s = parallel_loop(paths, settings, workers)
        loop_kept_s = parallel_loop(paths, settings, workers, keep_freed=True)
    return Round(stage_s, stage_cpu_s, loop_1[0], loop_1[1], loop_n_s, loop_kept_s, decode_s,
                 check_s)


def report_throughput(root: Path, names: list[str], workers: int, repeat: int) -> None:
    light = CompressionSettings().tiers["light"].jpeg
    assert light is not None
    rounds = [throughput_round(root, names, light, workers, stage_first=i % 2 == 0)
              for i in range(repeat)]
    mp_total = len(names) * MP

    def med(values: list[float]) -> float:
        return statistics.median(values)

    stage = med([mp_total / r.stage_s for r in rounds])
    loop_1 = med([mp_total / r.loop_1_s for r in rounds])
    loop_n = med([mp_total / r.loop_n_s for r in rounds])
    ratio_n = med([r.loop_n_s / r.stage_s for r in rounds])
    ratio_kept = med([r.loop_kept_s / r.stage_s for r in rounds])
    ratio_1 = med([r.loop_1_s / (r.stage_s * workers) for r in rounds])
    floor = med([r.loop_1_s / (r.loop_1_s + r.check_s) for r in rounds])
    full_floor = med([r.loop_1_s / (r.loop_1_s + r.decode_s) for r in rounds])
    cpu_ratio = med([r.loop_1_cpu_s / r.stage_cpu_s for r in rounds])
    print(f"JPEG light tier: {stage:.1f} MP/s on {workers} workers; plain loop {loop_n:.1f} MP/s "
          f"on {workers} processes at once, {loop_1:.1f} MP/s on 1")
    print(f"ratio {ratio_n:.2f} of the loop on {workers} processes (target >= 0.8); "
          f"{ratio_1:.2f} of the 1-process loop x {workers}; {ratio_kept:.2f} of the loop on "
          f"{workers} processes given the workers' malloc setting (what the check costs)")
    print(f"floor with the stage's decode-back check of each output: {floor:.2f} "
          f"({full_floor:.2f} with a full-size decode; one core, measured); "
          f"CPU seconds per photo, loop / stage: {cpu_ratio:.2f} (load-independent)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--throughput-only", action="store_true",
                        help="skip the per-tier size/PSNR and video figures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = [f"p{i}.JPG" for i in range(args.photos)]
        for i, name in enumerate(names):
            write_jpeg(root / name, 4032, 3024, seed=100 + i)
        report_throughput(root, names, args.workers, args.repeat)
        if args.throughput_only:
            return
        tiers = CompressionSettings().tiers
        for tier_name, tier in tiers.items():
            for target in ("jpeg", "heic"):
                report_photo_tier(root, names[:3], tier_name, target, getattr(tier, target))
        report_video(root, tiers)


def report_video(root: Path, tiers: dict[str, Any]) -> None:
    video = root / "v.MOV"
    write_video(video, VideoSpec(codec="libx264", seconds=3.0, bitrate="17M"))
    for tier_name, tier in tiers.items():
        t0 = time.perf_counter()
        _s, outs = run_pool(root, [job_for(root, "v.MOV", "video", tier.video)], 1)
        elapsed = time.perf_counter() - t0
        f = outs[0].files[0]
        if f.temp_path is None:
            print(f"video {tier_name}: not smaller ({outs[0].reason})")
            continue
        print(f"video {tier_name} ({tier.video.codec} crf {tier.video.crf} "
              f"{tier.video.preset}): {90 / elapsed:.1f} fps incl. checks, ratio "
              f"{f.size_bytes_after / f.size_bytes_before:.3f}")
        Path(f.temp_path or "").unlink(missing_ok=True)


def report_photo_tier(root: Path, names: list[str], tier: str, target: str,
                      settings: msgspec.Struct) -> None:
    _s, outs = run_pool(root, [job_for(root, n, target, settings) for n in names], 2)
    ratios, psnrs = [], []
    for name, o in zip(sorted(names), outs, strict=True):
        f = o.files[0]
        ratios.append(f.size_bytes_after / f.size_bytes_before)
        # Compared as shown: a HEIC decode comes turned by its irot box, the JPEG source by tag.
        with Image.open(root / name) as a, Image.open(f.temp_path or "") as b:
            psnrs.append(psnr_db(ImageOps.exif_transpose(a), ImageOps.exif_transpose(b)))
        Path(f.temp_path or "").unlink()
    print(f"{tier} {target}: size ratio median {statistics.median(ratios):.2f} vs q92 source, "
          f"PSNR median {statistics.median(psnrs):.1f} dB")


if __name__ == "__main__":
    main()
