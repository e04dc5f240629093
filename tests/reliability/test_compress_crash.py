"""kill -9 inside compress (at named points and mid-encode): the rerun leaves every asset
compressed once from its NAS original, the NAS untouched, no temp file, a projection equal
to a replay.

`photoledger compress` runs as a real subprocess; the real clock applies, so the library is
seeded relative to now and backed up with the real backup-nas stage.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine import events as ev
from engine.crashpoints import CRASH_ENV
from tests.compress_library import (
    CompressLibrary,
    Item,
    compress_temps,
    generate_media,
    make_compress_library,
    tree_digests,
)
from tests.compress_media import sha256_of
from tests.factories import REPO_ROOT, run_cli
from tests.reliability.invariants import assert_invariants, assert_projection_matches_replay

COMPRESS_CRASH_TESTS: dict[str, str] = {
    "compress.before_replace": "re-encode checked as a temp file, killed before the rename",
    "compress.after_replace_before_save": "local copy replaced, killed before Compressed is saved",
}
ITEMS = [Item("A", "small.JPG", 100), Item("B", "photo.HEIC", 100), Item("C", "small.JPG", 2000)]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_media(tmp_path_factory.getbasetemp() / "compress-media")


def seeded(tmp_path: Path, media: Path, items: list[Item]) -> CompressLibrary:
    now = datetime.now(UTC)
    cl = make_compress_library(tmp_path, media, items, now=now)
    cl.backup_nas(now)
    return cl


def assert_compressed_once_from_the_nas(cl: CompressLibrary, nas_before: dict[str, str],
                                        scratch: Path) -> None:
    for name in cl.ids:
        (fact,) = cl.facts(name, ev.Compressed)
        assert fact.source == "nas"
        assert sha256_of(cl.root / cl.relpaths[name]) == fact.sha256_after
    assert tree_digests(cl.nas_root) == nas_before
    assert compress_temps(cl.root) == []
    scratch.mkdir(exist_ok=True)
    ledger = cl.library.open_ledger()
    try:
        assert_projection_matches_replay(cl.library, ledger, scratch)
    finally:
        ledger.close()
    assert_invariants(cl.library, scratch / "all", nas_root=cl.nas_root)


@pytest.mark.parametrize("point", sorted(COMPRESS_CRASH_TESTS))
def test_kill_during_compress_then_rerun_compresses_each_asset_once(
    tmp_path: Path, media: Path, point: str
) -> None:
    cl = seeded(tmp_path, media, ITEMS)
    nas_before = tree_digests(cl.nas_root)

    killed = run_cli(["--no-progress", "compress", "--workers", "2"], cl.library.config_path,
                     env={CRASH_ENV: point})

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert all(not cl.facts(name, ev.Compressed) for name in cl.ids)
    rerun = run_cli(["--no-progress", "compress"], cl.library.config_path)
    assert rerun.returncode == 0, rerun.stderr
    assert_compressed_once_from_the_nas(cl, nas_before, tmp_path / "scratch")


def test_kill_9_mid_video_encode_then_rerun(tmp_path: Path, media: Path) -> None:
    cl = seeded(tmp_path, media, [Item("V", "h264.MOV", 2000)])  # heavy: x265, a few seconds
    nas_before, before = tree_digests(cl.nas_root), sha256_of(cl.root / cl.relpaths["V"])
    process = subprocess.Popen(
        [sys.executable, "-c", "from commands import main; main()", "--config",
         str(cl.library.config_path), "--no-progress", "compress"],
        cwd=REPO_ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not compress_temps(cl.root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert compress_temps(cl.root), "the encode never started"
    os.killpg(process.pid, signal.SIGKILL)  # the command, its workers and ffmpeg
    process.wait(timeout=30)

    assert sha256_of(cl.root / cl.relpaths["V"]) == before  # the local copy is as it was
    rerun = run_cli(["--no-progress", "compress"], cl.library.config_path)
    assert rerun.returncode == 0, rerun.stderr
    assert_compressed_once_from_the_nas(cl, nas_before, tmp_path / "scratch")
