"""Test helpers for the Google route: a real Syncthing pair, a library wired to it, and
downloaded assets whose files really exist with the recorded sha256.

The pair itself is simulator.syncthing_pair (the demo uses it too); these helpers only
connect a test library to it. Every helper writes real files and real ledger facts.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine import events as ev
from engine.asset import Asset
from engine.config import load_config
from simulator.syncthing_pair import SyncthingPair, running_syncthing_pair
from tests.factories import REPO_ROOT, Library, discover, new_run

__all__ = ["SyncthingPair", "running_syncthing_pair"]

# The CLI with backup-google and doctor present whether or not the group registers them yet.
_CLI = (
    "from commands import backup_google, cli, doctor, main\n"
    "for module in (backup_google, doctor):\n"
    "    if module.command.name not in cli.commands:\n"
    "        cli.add_command(module.command)\n"
    "main()"
)


def run_photoledger(
    args: list[str], config_path: Path | None = None, env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the real photoledger CLI in a subprocess (like tests.factories.run_cli)."""
    prefix = ["--config", str(config_path)] if config_path else []
    return subprocess.run(
        [sys.executable, "-c", _CLI, *prefix, *args], capture_output=True, text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})}, timeout=timeout, cwd=REPO_ROOT,
    )


@contextmanager
def syncthing_pair_in(tmp_path: Path) -> Iterator[SyncthingPair]:
    """The pair under tmp_path/st, stopped (by pid) when the block ends."""
    with running_syncthing_pair(tmp_path / "st") as pair:
        yield pair


def wire_library(library: Library, pair: SyncthingPair, **google: Any) -> Library:
    """Point the library's `google:` section at the pair's server (overrides in `google`)."""
    values: dict[str, Any] = {
        "outbox": str(pair.outbox),
        "syncthing_url": pair.server.url,
        "syncthing_config": str(pair.server.config_xml),
        "folder_id": pair.folder_id,
        "pixel_device_id": pair.pixel.device_id,
        **google,
    }
    text = library.config_path.read_text()
    head, _, tail = text.partition("\ngoogle:\n")
    body, sep, rest = tail.partition("\n\n")
    for key, value in values.items():
        rendered = "null" if value is None else f'"{value}"' if isinstance(value, str) else value
        body, count = re.subn(rf"(?m)^  {key}: .*$", f"  {key}: {rendered}", body)
        assert count == 1, key
    library.config_path.write_text(f"{head}\ngoogle:\n{body}{sep}{rest}")
    return Library(library.config_path, load_config(library.config_path))


def write_media(path: Path, index: int, size_bytes: int, mtime_s: float) -> str:
    """Write deterministic bytes, set the capture mtime; returns the sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = hashlib.sha256(f"media-{index}".encode()).digest()
    data = (seed * (size_bytes // len(seed) + 1))[:size_bytes]
    path.write_bytes(data)
    os.utime(path, (mtime_s, mtime_s))
    return hashlib.sha256(data).hexdigest()


def add_downloaded_assets(
    library: Library, count: int, *, size_bytes: int = 20_000, live_every: int = 0, start: int = 0
) -> list[Asset]:
    """`count` discovered+downloaded assets with real files (every Nth a live photo)."""
    root, run = library.config.library_root, new_run()
    assets = []
    for index in range(start, start + count):
        is_live = live_every > 0 and index % live_every == 0
        asset = discover(run, index, declared_size_bytes=size_bytes,
                         kind="live" if is_live else "photo")
        relpath = f"2024/05/17/IMG_{index:04d}.HEIC"
        mtime_s = time.mktime((2024, 5, 17, 9, 30, 0, 0, 0, -1)) + index
        sha256 = write_media(root / relpath, index, size_bytes, mtime_s)
        live_relpath = f"2024/05/17/IMG_{index:04d}_HEVC.MOV" if is_live else None
        live_sha256 = (
            write_media(root / live_relpath, 100_000 + index, size_bytes // 2, mtime_s)
            if live_relpath else None
        )
        asset.record(
            ev.Downloaded, run.id.hex, local_relpath=relpath, size_bytes=size_bytes,
            sha256=sha256, live_video_relpath=live_relpath,
            live_video_size_bytes=size_bytes // 2 if live_relpath else None,
            live_video_sha256=live_sha256, extra_files=(),
        )
        assets.append(asset)
    ledger = library.open_ledger()
    try:
        ledger.save(run, *assets)
    finally:
        ledger.close()
    return assets
