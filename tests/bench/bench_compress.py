"""Compression benchmark: JPEG tier throughput vs a plain Pillow loop, size ratio and PSNR per
tier, video fps per tier. Run: `.venv/bin/python tests/bench/bench_compress.py [--photos 8]`.

Throughput runs the stage's encode path (worker pool, source hash, encode, decode-back check,
output hash) on `--workers` processes, against one process decoding and encoding the same
photos with the same settings in a plain loop, in the same run; target >= 0.8 x loop x workers.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import msgspec
from PIL import Image

from engine.compress.pool import WorkerPool
from engine.compress.settings import CompressionSettings
from engine.compress.tiers import CompressJob, FileJob
from engine.compress.work import JobOutcome, WorkerSettings, execute_compress_job
from tests.compress_media import VideoSpec, psnr_db, sha256_of, write_jpeg, write_video

MP = 4032 * 3024 / 1e6


def job_for(root: Path, name: str, target: str, settings: msgspec.Struct) -> CompressJob:
    sha = sha256_of(root / name)
    f = FileJob("original", name, name, name, sha, sha, "jpeg" if target != "video" else "video",
                target, msgspec.json.encode(settings).decode())
    return CompressJob(name, "bench", (f,), target, "h", 0, name)


def run_pool(root: Path, jobs: list[CompressJob], workers: int) -> tuple[float, list[JobOutcome]]:
    ws = WorkerSettings(root, None, "ffmpeg", "ffprobe", 60.0, 0.0)
    pool: WorkerPool[tuple[WorkerSettings, CompressJob], JobOutcome] = WorkerPool(
        execute_compress_job, workers)
    try:
        list(pool.run([(ws, jobs[0])], lambda _t: None))  # warm the workers up
        started = time.perf_counter()
        outs = [o.value for o in pool.run(((ws, j) for j in jobs), lambda _t: None)]
        elapsed = time.perf_counter() - started
    finally:
        pool.close()
    done = sorted((o for o in outs if o is not None), key=lambda o: o.asset_id)
    return elapsed, done  # in job-name order (the pool yields in completion order)


def plain_loop(paths: list[Path], settings: dict[str, object]) -> float:
    started = time.perf_counter()
    for path in paths:
        with Image.open(path) as im:
            im.load()
            im.save(io.BytesIO(), "JPEG", exif=im.info["exif"], icc_profile=im.info["icc_profile"],
                    xmp=im.info["xmp"], **settings)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tiers = CompressionSettings().tiers
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = [f"p{i}.JPG" for i in range(args.photos)]
        for i, name in enumerate(names):
            write_jpeg(root / name, 4032, 3024, seed=100 + i)
        light = tiers["light"].jpeg
        assert light is not None
        settings = {k: v for k, v in msgspec.structs.asdict(light).items() if k != "subsampling"}
        ratios = []
        for _ in range(args.repeat):
            pool_s, outs = run_pool(root, [job_for(root, n, "jpeg", light) for n in names],
                                    args.workers)
            for o in outs:
                Path(o.files[0].temp_path or "").unlink(missing_ok=True)
            loop_s = plain_loop([root / n for n in names], {**settings, "subsampling": "keep"})
            ratios.append((len(names) * MP / pool_s, len(names) * MP / loop_s))
        stage, loop = statistics.median(r[0] for r in ratios), statistics.median(r[1] for r in ratios)
        print(f"JPEG light tier: {stage:.1f} MP/s on {args.workers} workers; plain loop "
              f"{loop:.1f} MP/s on 1 core; ratio {stage / (loop * args.workers):.2f} "
              "(target >= 0.8)")
        for tier_name, tier in tiers.items():
            for target in ("jpeg", "heic"):
                report_photo_tier(root, names[:3], tier_name, target, getattr(tier, target))
        video = root / "v.MOV"
        write_video(video, VideoSpec(codec="libx264", seconds=3.0, bitrate="17M"))
        for tier_name, tier in tiers.items():
            t0 = time.perf_counter()
            _s, outs = run_pool(root, [job_for(root, "v.MOV", "video", tier.video)], 1)
            elapsed = time.perf_counter() - t0
            f = outs[0].files[0]
            if f.temp_path is None:
                print(f"video {tier_name}: not smaller ({o_reason(outs[0])})")
                continue
            print(f"video {tier_name} ({tier.video.codec} crf {tier.video.crf} "
                  f"{tier.video.preset}): {90 / elapsed:.1f} fps incl. checks, ratio "
                  f"{f.size_bytes_after / f.size_bytes_before:.3f}")
            Path(f.temp_path or "").unlink(missing_ok=True)


def o_reason(outcome: JobOutcome) -> str:
    return outcome.reason


def report_photo_tier(root: Path, names: list[str], tier: str, target: str,
                      settings: msgspec.Struct) -> None:
    _s, outs = run_pool(root, [job_for(root, n, target, settings) for n in names], 2)
    ratios, psnrs = [], []
    for name, o in zip(sorted(names), outs, strict=True):
        f = o.files[0]
        ratios.append(f.size_bytes_after / f.size_bytes_before)
        with Image.open(root / name) as a, Image.open(f.temp_path or "") as b:
            psnrs.append(psnr_db(a, b))
        Path(f.temp_path or "").unlink()
    print(f"{tier} {target}: size ratio median {statistics.median(ratios):.2f} vs q92 source, "
          f"PSNR median {statistics.median(psnrs):.1f} dB")


if __name__ == "__main__":
    main()
