"""compress on real encoders and generated media: one library of every kind, run once.

The shared library (module fixture) holds a 12 MP JPEG, a HEIC, a HEIC live photo with its
MOV, a PNG screenshot, a RAW file, H.264 and HEVC 1080p videos with camera metadata, a JPEG
that cannot shrink, and one asset whose NAS backup is not verified. It is backed up to the
NAS by the real stage, then compressed once with a frozen clock; each test checks one
behaviour of that run. Tests that need another state build their own small library.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from engine import events as ev
from engine.compress.pool import WorkerPool
from engine.errors import ExitCode
from projections.download import held_relpaths
from tests.compress_library import (
    AVIF_COMPRESSION,
    HEIC_COMPRESSION,
    NOW,
    CompressLibrary,
    Item,
    add_items,
    compress_temps,
    fake_encoder,
    generate_media,
    make_compress_library,
    tree_digests,
)
from tests.compress_media import CONTENT_ID, ISO6709, MAKE, MODEL, TAKEN, exiftool, sha256_of
from tests.factories import run_cli
from tests.reliability.invariants import ledger_digests

ITEMS = [
    Item("IMG_JPEG", "photo12mp.JPG", age_days=100),
    Item("IMG_OLD", "small.JPG", age_days=4 * 365),
    Item("IMG_HEIC", "photo.HEIC", age_days=100),
    Item("IMG_LIVE", "live.HEIC", age_days=100, live_media="live_HEVC.MOV"),
    Item("IMG_SHOT", "screenshot.PNG", age_days=100),
    Item("IMG_RAW", "raw.DNG", age_days=4 * 365),
    Item("IMG_H264", "h264.MOV", age_days=100),
    Item("IMG_HEVC", "hevc.MOV", age_days=4 * 365),
    Item("IMG_LOWQ", "lowq.JPG", age_days=100),
]


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_media(tmp_path_factory.getbasetemp() / "compress-media")


@dataclass
class Ran:
    cl: CompressLibrary
    before: dict[str, str]  # library tree digests before compress
    nas_before: dict[str, str]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory, media: Path) -> Ran:
    cl = make_compress_library(tmp_path_factory.mktemp("compress"), media, ITEMS)
    cl.backup_nas()
    add_items(cl, media, [Item("IMG_NOBACKUP", "small.JPG", age_days=100)])  # never backed up
    before, nas_before = tree_digests(cl.root), tree_digests(cl.nas_root)
    summary = cl.compress(workers=2)
    assert summary.failed == 0, summary.problems
    return Ran(cl, before, nas_before)


def compressed(ran: Ran, name: str) -> list[ev.Compressed]:
    return ran.cl.facts(name, ev.Compressed)


def local(ran: Ran, name: str) -> Path:
    return ran.cl.root / ran.cl.relpaths[name]


@pytest.mark.parametrize("name", ["IMG_JPEG", "IMG_HEIC", "IMG_LIVE", "IMG_H264", "IMG_HEVC",
                                  "IMG_OLD"])
def test_compress_shrinks_each_kind_once_and_records_the_result(ran: Ran, name: str) -> None:
    (fact,) = compressed(ran, name)
    path = local(ran, name)
    assert fact.size_bytes_after < fact.size_bytes_before * 0.95
    assert fact.sha256_after == sha256_of(path)
    assert fact.source == "nas"  # the verified NAS original, not the local file
    assert sha256_of(path) != ran.before[ran.cl.relpaths[name]]


def test_tier_is_chosen_by_capture_age(ran: Ran) -> None:
    assert compressed(ran, "IMG_JPEG")[0].tier == "light"
    assert compressed(ran, "IMG_OLD")[0].tier == "heavy"
    assert (compressed(ran, "IMG_H264")[0].codec, compressed(ran, "IMG_HEVC")[0].codec) == (
        "libx264", "libx265")


@pytest.mark.parametrize("name", ["IMG_JPEG", "IMG_HEIC", "IMG_OLD"])
def test_photo_metadata_survives(ran: Ran, name: str) -> None:
    tags = exiftool(local(ran, name), "DateTimeOriginal", "GPSLatitude", "Make", "Model",
                    "ProfileDescription", "Rating", "Orientation")
    assert tags["DateTimeOriginal"] == TAKEN
    assert tags["GPSLatitude"].startswith("48.858")
    assert (tags["Make"], tags["Model"]) == (MAKE, MODEL)
    assert tags["ProfileDescription"] == "sRGB built-in"  # the ICC profile
    assert tags["Rating"] == "4"  # from the XMP packet
    if name != "IMG_HEIC":
        assert tags["Orientation"] == "6"  # a tag, pixels not turned


def test_12mp_jpeg_keeps_its_dimensions_and_decodes(ran: Ran) -> None:
    with Image.open(local(ran, "IMG_JPEG")) as im:
        im.load()
        assert im.size == (4032, 3024) and im.format == "JPEG"


@pytest.mark.parametrize("name", ["IMG_H264", "IMG_HEVC"])
def test_video_metadata_survives(ran: Ran, name: str) -> None:
    tags = exiftool(local(ran, name), "Rotation", "CreateDate", "GPSCoordinates", "Make",
                    "Model", "ImageSize", "Duration")
    assert tags["Rotation"] == "90"  # the matrix, not turned pixels
    assert tags["ImageSize"] == "1920 1080"
    assert tags["CreateDate"] == "2021:06:05 12:03:02"
    assert tags["GPSCoordinates"].startswith("48.8584 2.2945")
    assert (tags["Make"], tags["Model"]) == (MAKE, MODEL)


def test_live_photo_still_and_video_stay_paired(ran: Ran) -> None:
    (fact,) = compressed(ran, "IMG_LIVE")
    still, video = local(ran, "IMG_LIVE"), local(ran, "IMG_LIVE").with_name("IMG_LIVE_HEVC.MOV")
    assert fact.codec == "heic+libx264" and fact.live_video_sha256_after == sha256_of(video)
    assert still.exists() and video.exists() and fact.local_relpath_after is None
    assert exiftool(video, "ContentIdentifier")["ContentIdentifier"] == CONTENT_ID
    assert ISO6709 and exiftool(still, "Make")["Make"] == MAKE


def test_png_screenshot_is_only_ever_rewritten_losslessly(ran: Ran) -> None:
    path = local(ran, "IMG_SHOT")
    skipped = ran.cl.facts("IMG_SHOT", ev.CompressionSkipped)
    if compressed(ran, "IMG_SHOT"):
        with Image.open(path) as new, Image.open(ran.cl.nas_root / ran.cl.relpaths["IMG_SHOT"]) as old:
            assert new.tobytes() == old.tobytes()
    else:
        assert [s.is_failure for s in skipped] == [False]
        assert sha256_of(path) == ran.before[ran.cl.relpaths["IMG_SHOT"]]


def test_raw_is_left_alone(ran: Ran) -> None:
    assert sha256_of(local(ran, "IMG_RAW")) == ran.before[ran.cl.relpaths["IMG_RAW"]]
    assert not compressed(ran, "IMG_RAW")
    assert not ran.cl.facts("IMG_RAW", ev.CompressionSkipped)


def test_result_not_smaller_by_the_margin_is_skipped_with_its_reason(ran: Ran) -> None:
    (skip,) = ran.cl.facts("IMG_LOWQ", ev.CompressionSkipped)
    assert not skip.is_failure and skip.tier == "light" and "not smaller by 5%" in skip.reason
    assert sha256_of(local(ran, "IMG_LOWQ")) == ran.before[ran.cl.relpaths["IMG_LOWQ"]]


def test_asset_without_verified_backup_is_never_compressed(ran: Ran) -> None:
    assert not ran.cl.events_of("IMG_NOBACKUP")[2:]  # only Discovered and Downloaded
    assert sha256_of(local(ran, "IMG_NOBACKUP")) == ran.before[ran.cl.relpaths["IMG_NOBACKUP"]]


def test_nas_originals_are_never_touched_and_no_temp_is_left(ran: Ran) -> None:
    assert tree_digests(ran.cl.nas_root) == ran.nas_before
    assert compress_temps(ran.cl.root) == []


def test_second_run_has_nothing_to_do(ran: Ran) -> None:
    again = ran.cl.compress()
    assert (again.compressed, again.skipped, again.failed) == (0, 0, 0)


def test_plan_shows_expected_saving_and_writes_nothing(ran: Ran) -> None:
    before = ledger_digests(ran.cl.library)
    plan = run_cli(["compress", "--plan", "--json"], ran.cl.library.config_path)
    listing = run_cli(["compress", "--dry-run"], ran.cl.library.config_path)
    assert plan.returncode == 0 and listing.returncode == 0, plan.stderr + listing.stderr
    assert '"waiting-backups": 1' in plan.stdout  # IMG_NOBACKUP
    assert "0 assets would be compressed" in listing.stdout
    assert ledger_digests(ran.cl.library) == before


def test_plan_estimates_the_saving_of_a_fresh_library(tmp_path: Path, media: Path) -> None:
    cl = make_compress_library(tmp_path, media, [Item("A", "small.JPG", 10),
                                                 Item("B", "h264.MOV", 2000)])
    cl.backup_nas(datetime.now(UTC))  # the CLI reads the real clock
    plan = run_cli(["compress", "--plan"], cl.library.config_path)
    assert plan.returncode == 0, plan.stderr
    assert "light: 1 assets" in plan.stdout and "heavy: 1 assets" in plan.stdout
    assert "saves about" in plan.stdout


def test_heavier_tier_later_reencodes_from_the_nas_original(tmp_path: Path, media: Path) -> None:
    cl = make_compress_library(tmp_path, media, [Item("A", "small.JPG", age_days=300)])
    cl.backup_nas()
    cl.compress()
    light_size = local_size(cl, "A")
    cl.verify_nas(NOW + timedelta(days=900))  # keep the NAS verification fresh

    cl.compress(NOW + timedelta(days=900))  # now 1200 days old: heavy

    first, second = cl.facts("A", ev.Compressed)
    assert (first.tier, second.tier) == ("light", "heavy")
    assert second.size_bytes_before == light_size and second.source == "nas"
    assert second.size_bytes_after < light_size


def test_format_change_moves_the_still_and_keeps_its_live_video_paired(
    tmp_path: Path, media: Path
) -> None:
    cl = make_compress_library(tmp_path, media, [
        Item("IMG_0100", "small.JPG", 100, live_media="live_HEVC.MOV"),
    ], compression=HEIC_COMPRESSION)
    cl.backup_nas()
    jpeg = cl.root / cl.relpaths["IMG_0100"]
    heic, video = jpeg.with_suffix(".HEIC"), jpeg.with_name("IMG_0100_HEVC.MOV")
    nas_before = tree_digests(cl.nas_root)

    summary = cl.compress()

    assert (summary.compressed, summary.failed) == (1, 0), summary.problems
    (fact,) = cl.facts("IMG_0100", ev.Compressed)
    assert fact.local_relpath_after == heic.relative_to(cl.root).as_posix()
    assert not jpeg.exists() and fact.sha256_after == sha256_of(heic)
    assert fact.live_video_sha256_after == sha256_of(video)  # same stem: still paired
    with Image.open(heic) as im:
        assert im.format == "HEIF" and im.size == (1200, 1600)  # shown turned (irot)
    tags = exiftool(heic, "DateTimeOriginal", "GPSLatitude", "Make")
    assert tags["DateTimeOriginal"] == TAKEN and tags["GPSLatitude"].startswith("48.858")
    assert exiftool(video, "ContentIdentifier")["ContentIdentifier"] == CONTENT_ID
    assert tree_digests(cl.nas_root) == nas_before and compress_temps(cl.root) == []
    assert cl.compress().compressed == 0  # the renamed still is known: nothing left to do
    found = run_cli(["history", str(heic)], cl.library.config_path)  # found by its new name
    assert found.returncode == 0 and cl.ids["IMG_0100"] in found.stdout, found.stderr
    projection = cl.library.open_projection()
    try:  # download never gives the new name to another asset
        assert held_relpaths(projection)[fact.local_relpath_after] == cl.ids["IMG_0100"]
    finally:
        projection.close()


def test_format_change_never_takes_a_name_another_asset_holds(
    tmp_path: Path, media: Path
) -> None:
    shutil.copyfile(media / "small.JPG", tmp_path / "small.jpeg")
    for name in ("small.JPG", "photo.HEIC"):
        shutil.copyfile(media / name, tmp_path / name)
    cl = make_compress_library(tmp_path, tmp_path, [
        Item("IMG_0001", "small.JPG", 100, folder="2024/02/01", key="JPEG"),
        Item("IMG_0001", "photo.HEIC", 100, folder="2024/02/01", key="HEIC"),  # another phone
        Item("IMG_0002", "small.JPG", 100, folder="2024/02/02", key="UPPER"),
        Item("IMG_0002", "small.jpeg", 100, folder="2024/02/02", key="LOWER"),
    ], compression=HEIC_COMPRESSION)
    cl.backup_nas()
    heic_before = sha256_of(cl.root / cl.relpaths["HEIC"])

    summary = cl.compress(workers=2)

    assert summary.failed == 0, summary.problems
    (kept,) = cl.facts("JPEG", ev.Compressed)
    assert (kept.codec, kept.local_relpath_after) == ("jpeg", None)
    assert sha256_of(cl.root / cl.relpaths["JPEG"]) == kept.sha256_after
    heic_facts = cl.facts("HEIC", ev.Compressed)
    heic_now = sha256_of(cl.root / cl.relpaths["HEIC"])
    assert heic_now == (heic_facts[0].sha256_after if heic_facts else heic_before)
    # Two stills of one stem in one run: the first in work-list order gets the HEIC name.
    converted = [cl.facts(k, ev.Compressed)[0] for k in ("UPPER", "LOWER")]
    assert sorted(f.codec for f in converted) == ["heic", "jpeg"]
    for key, fact in zip(("UPPER", "LOWER"), converted, strict=True):
        path = fact.local_relpath_after or cl.relpaths[key]
        assert sha256_of(cl.root / path) == fact.sha256_after


def test_a_still_converted_to_avif_still_moves_to_a_heavier_tier(
    tmp_path: Path, media: Path
) -> None:
    cl = make_compress_library(tmp_path, media, [Item("A", "small.JPG", age_days=300)],
                               compression=AVIF_COMPRESSION)
    cl.backup_nas()
    cl.compress()
    cl.verify_nas(NOW + timedelta(days=900))

    cl.compress(NOW + timedelta(days=900))  # now 1200 days old: heavy

    first, second = cl.facts("A", ev.Compressed)
    avif = (cl.root / cl.relpaths["A"]).with_suffix(".AVIF")
    assert (first.tier, second.tier) == ("light", "heavy")
    assert first.local_relpath_after == avif.relative_to(cl.root).as_posix()
    assert second.local_relpath_after is None and second.source == "nas"
    assert second.sha256_after == sha256_of(avif) and second.size_bytes_before == first.size_bytes_after
    assert not (cl.root / cl.relpaths["A"]).exists()


def local_size(cl: CompressLibrary, name: str) -> int:
    return (cl.root / cl.relpaths[name]).stat().st_size


FAKE_FFMPEG = """#!{python}
# Exits 0 after writing the first 40% of its input as "output": a truncated encode.
import sys
args = sys.argv[1:]
data = open(args[args.index("-i") + 1], "rb").read()
open(args[-1], "wb").write(data[: len(data) * 2 // 5])
"""


def test_encoder_that_exits_0_with_a_truncated_file_is_caught(tmp_path: Path, media: Path) -> None:
    fake = fake_encoder(tmp_path, FAKE_FFMPEG)
    cl = make_compress_library(tmp_path, media, [Item("V", "h264.MOV", 10)], ffmpeg=fake)
    cl.backup_nas()
    before = sha256_of(cl.root / cl.relpaths["V"])

    summary = cl.compress()

    assert (summary.compressed, summary.failed) == (0, 1)
    (skip,) = cl.facts("V", ev.CompressionSkipped)
    assert skip.is_failure and ("frames" in skip.reason or "ffprobe" in skip.reason)
    assert sha256_of(cl.root / cl.relpaths["V"]) == before
    assert compress_temps(cl.root) == []


def test_required_nas_not_mounted_exits_12_and_records_nothing(tmp_path: Path, media: Path) -> None:
    cl = make_compress_library(tmp_path, media, [Item("A", "small.JPG", 10)])
    (cl.nas_root / ".photoledger-nas").unlink()
    before = ledger_digests(cl.library)
    result = run_cli(["compress"], cl.library.config_path)
    assert result.returncode == ExitCode.NAS_UNAVAILABLE, result.stderr
    assert ledger_digests(cl.library) == before


def pool_task(task: tuple[str, int]) -> int:
    """A worker task: double the number, or die, or hang (run in the pool's processes)."""
    kind, number = task
    if kind == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "hang":
        time.sleep(600)
    return number * 2


def test_pool_gives_the_next_task_before_handing_an_outcome_over() -> None:
    pool: WorkerPool[tuple[str, int], int] = WorkerPool(pool_task, 1)
    try:
        outcomes = pool.run([("ok", 1), ("ok", 2), ("ok", 3)], lambda _t: None)
        first = next(outcomes)
        # The worker already has task 2 while the caller records outcome 1.
        assert (first.value, pool.slots[0].task) == (2, ("ok", 2))
        assert [o.value for o in outcomes] == [4, 6]
    finally:
        pool.close()


def test_pool_survives_a_dying_and_a_hanging_task() -> None:
    pool: WorkerPool[tuple[str, int], int] = WorkerPool(pool_task, 2)
    tasks = [("die", 0), ("hang", 0), ("ok", 5), ("ok", 6)]
    try:
        outcomes = {o.task: o for o in pool.run(
            tasks, lambda t: 1.0 if t[0] == "hang" else None)}
    finally:
        pool.close()
    assert outcomes[("die", 0)].value is None and "crashed" in (outcomes[("die", 0)].error or "")
    assert "timed out" in (outcomes[("hang", 0)].error or "")
    assert (outcomes[("ok", 5)].value, outcomes[("ok", 6)].value) == (10, 12)
