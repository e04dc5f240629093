"""compress when the encoder fails: it exits non-zero, crashes, hangs past its timeout, or
cannot be run at all.

Each failing-encoder case leaves the local copy byte for byte as it was, no temp file, and a
failure `CompressionSkipped` that the next run retries (with a working encoder it then
succeeds). A tool that cannot be run stops the run before any encode, with exit code 3 and
no asset fact recorded. The truncated-output case lives in test_compress.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine import events as ev
from engine.config import load_config
from engine.errors import ExitCode
from tests.compress_library import (
    TEST_COMPRESSION,
    CompressLibrary,
    Item,
    compress_temps,
    fake_encoder,
    generate_media,
    make_compress_library,
)
from tests.compress_media import sha256_of
from tests.factories import Library, run_cli

# Each fake stands in for the ffmpeg binary and fails in its own way.
EXITS_1 = """#!{python}
import sys
sys.stderr.write("Error while opening encoder for output stream\\n")
sys.exit(1)
"""
CRASHES = """#!{python}
import os, signal, sys
args = sys.argv[1:]
open(args[-1], "wb").write(b"\\0" * 4096)  # a partial output, then a segfault
os.kill(os.getpid(), signal.SIGSEGV)
"""
HANGS = """#!{python}
import sys, time
args = sys.argv[1:]
open(args[-1], "wb").write(b"\\0" * 4096)
time.sleep(600)
"""


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_media(tmp_path_factory.getbasetemp() / "compress-media")


def with_ffmpeg(cl: CompressLibrary, ffmpeg: str) -> CompressLibrary:
    """The same library with its compression section pointing at another ffmpeg binary."""
    path = cl.library.config_path
    lines = [f'  ffmpeg: "{ffmpeg}"' if line.startswith("  ffmpeg: ") else line
             for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    return replace(cl, library=Library(path, load_config(path)))


def assert_failed_and_untouched(cl: CompressLibrary, before: str, reason_part: str) -> None:
    assert sha256_of(cl.root / cl.relpaths["V"]) == before
    assert compress_temps(cl.root) == []
    assert cl.facts("V", ev.Compressed) == []
    (skip,) = cl.facts("V", ev.CompressionSkipped)
    assert skip.is_failure and reason_part in skip.reason, skip.reason


@pytest.mark.parametrize(("script", "reason_part"), [(EXITS_1, "exited 1"),
                                                     (CRASHES, "exited -11")])
def test_a_failing_encoder_leaves_the_video_as_it_was_and_the_next_run_retries(
    tmp_path: Path, media: Path, script: str, reason_part: str,
) -> None:
    fake = fake_encoder(tmp_path, script)
    cl = make_compress_library(tmp_path, media, [Item("V", "h264.MOV", 10)], ffmpeg=fake)
    cl.backup_nas()
    before = sha256_of(cl.root / cl.relpaths["V"])

    summary = cl.compress()

    assert (summary.compressed, summary.failed) == (0, 1)
    assert_failed_and_untouched(cl, before, reason_part)
    retried = with_ffmpeg(cl, "ffmpeg").compress()
    assert (retried.compressed, retried.failed) == (1, 0)
    (done,) = cl.facts("V", ev.Compressed)
    assert sha256_of(cl.root / cl.relpaths["V"]) == done.sha256_after != before


def test_an_encoder_past_its_timeout_is_killed_and_nothing_changes(
    tmp_path: Path, media: Path,
) -> None:
    fake = fake_encoder(tmp_path, HANGS)
    compression = TEST_COMPRESSION.replace("video_timeout_s_per_s: 300.0",
                                           "video_timeout_s_per_s: 0.1")
    cl = make_compress_library(tmp_path, media, [Item("V", "h264.MOV", 10)], ffmpeg=fake,
                               compression=compression)
    cl.backup_nas()
    before = sha256_of(cl.root / cl.relpaths["V"])

    summary = cl.compress()

    assert (summary.compressed, summary.failed) == (0, 1)
    assert_failed_and_untouched(cl, before, "timed out")


def test_a_photo_encode_past_its_timeout_is_killed_and_nothing_changes(
    tmp_path: Path, media: Path,
) -> None:
    compression = TEST_COMPRESSION.replace("photo_timeout_s: 600.0", "photo_timeout_s: 0.001")
    cl = make_compress_library(tmp_path, media, [Item("P", "photo12mp.JPG", 10)],
                               compression=compression)
    cl.backup_nas()
    before = sha256_of(cl.root / cl.relpaths["P"])

    summary = cl.compress()

    assert (summary.compressed, summary.failed) == (0, 1)
    assert sha256_of(cl.root / cl.relpaths["P"]) == before
    assert compress_temps(cl.root) == []
    (skip,) = cl.facts("P", ev.CompressionSkipped)
    assert skip.is_failure and "timed out" in skip.reason, skip.reason


MISSING = "/nonexistent/bin/ffmpeg-7"


def test_a_missing_ffmpeg_stops_the_run_before_any_encode_and_records_no_asset_fact(
    tmp_path: Path, media: Path,
) -> None:
    cl = make_compress_library(tmp_path, media, [Item("P", "photo12mp.JPG", 10),
                                                 Item("V", "h264.MOV", 10)], ffmpeg=MISSING)
    cl.backup_nas(now=datetime.now(UTC))  # the command below runs on the real clock
    before = {name: sha256_of(cl.root / cl.relpaths[name]) for name in ("P", "V")}

    result = run_cli(["compress"], cl.library.config_path)

    assert result.returncode == ExitCode.CONFIG, result.stderr
    assert "compression.ffmpeg" in result.stderr and MISSING in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert_no_asset_fact(cl, "P", "V")  # the run itself is recorded, with its exit code
    assert {name: sha256_of(cl.root / cl.relpaths[name]) for name in before} == before
    assert compress_temps(cl.root) == []


def test_a_missing_ffmpeg_does_not_stop_a_run_with_only_photos_due(
    tmp_path: Path, media: Path,
) -> None:
    cl = make_compress_library(tmp_path, media, [Item("P", "photo12mp.JPG", 10)],
                               ffmpeg=MISSING)
    cl.backup_nas()

    summary = cl.compress()

    assert (summary.compressed, summary.failed) == (1, 0)


def test_a_missing_exiftool_stops_a_run_with_a_raw_to_develop(
    tmp_path: Path, media: Path,
) -> None:
    compression = TEST_COMPRESSION.replace(
        "  ffmpeg: {ffmpeg}\n", "  ffmpeg: {ffmpeg}\n  raw: jpeg\n  exiftool: /nonexistent/exiftool\n"
    )
    cl = make_compress_library(tmp_path, media, [Item("R", "camera.DNG", 10)],
                               compression=compression)
    cl.backup_nas(now=datetime.now(UTC))  # the command below runs on the real clock

    result = run_cli(["compress"], cl.library.config_path)

    assert result.returncode == ExitCode.CONFIG, result.stderr
    assert "compression.exiftool" in result.stderr
    assert_no_asset_fact(cl, "R")


def assert_no_asset_fact(cl: CompressLibrary, *names: str) -> None:
    for name in names:
        assert cl.facts(name, ev.Compressed) == cl.facts(name, ev.CompressionSkipped) == []
