"""Builders for tests: real libraries in tmp dirs, real ledgers, synthetic but well-formed facts."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine import events as ev
from engine.asset import Asset, SyncRun
from engine.config import Config, load_config
from engine.crashpoints import CrashPoints
from engine.ids import IcloudIdentity
from engine.ledger import Ledger, open_ledger
from engine.library_init import run_init
from projections.media import MediaProjection

REPO_ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2024, 5, 17, 9, 30, tzinfo=UTC)


@dataclass
class Library:
    """An initialised library in a tmp dir."""

    config_path: Path
    config: Config

    def open_ledger(self, crash: CrashPoints | None = None) -> Ledger:
        return open_ledger(
            self.config.state_dir, self.config.settings.ledger.url, crash or CrashPoints()
        )

    def open_projection(self) -> MediaProjection:
        return MediaProjection(self.config.state_dir / "media.db", CrashPoints())

    @property
    def ledger_path(self) -> Path:
        return self.config.state_dir / "ledger.db"


def make_library(tmp_path: Path, ledger_url: str | None = None) -> Library:
    """Write a config and init the library (optionally on a PostgreSQL ledger)."""
    config_path = tmp_path / "photoledger.yaml"
    run_init(
        config_path,
        CrashPoints(),
        library_root=str(tmp_path / "library"),
        username="jdoe@example.com",
        session_dir=str(tmp_path / "session"),
    )
    if ledger_url is not None:
        text = config_path.read_text().replace("  url: null", f"  url: {ledger_url}")
        config_path.write_text(text)
        run_init(config_path, CrashPoints())
    return Library(config_path=config_path, config=load_config(config_path))


def new_run(command: str = "test") -> SyncRun:
    return SyncRun.start(
        uuid.uuid4(),
        command=command,
        host="testhost",
        pid=os.getpid(),
        config_sha256="0" * 64,
        version="test",
    )


def discover(run: SyncRun, index: int, **overrides: Any) -> Asset:
    """A newly discovered asset with realistic fields; `index` makes it unique."""
    facts: dict[str, Any] = {
        "master_record_name": f"AZ{index:08d}masterXXXXXXXXXXXX",
        "filename": f"IMG_{index % 10000:04d}.HEIC",
        "kind": "photo",
        "item_type": "public.heic",
        "declared_size_bytes": 1_000_000 + index,
        "live_video_declared_size_bytes": None,
        "captured_at_utc": T0 - timedelta(days=index % 2000, minutes=index),
        "added_at_utc": T0 - timedelta(days=index % 2000),
        "remote_change_tag": f"tag{index}a",
        "remote_checksum": f"AZ{index:08d}checksum",
        "filename_status": "ok",
        "live_video_checksum": None,
        "timezone_offset_s": 7200,
        "is_favorite": index % 7 == 0,
        "is_hidden": False,
        "album_ids": (),
    }
    facts.update(overrides)
    facts.setdefault(
        "versions",
        (
            ev.VersionFact(
                key="original",
                size_bytes=facts["declared_size_bytes"],
                checksum=facts["remote_checksum"],
                file_type=facts["item_type"],
            ),
        ),
    )
    identity = IcloudIdentity("jdoe@example.com", "PrimarySync", f"REC-{index:08d}")
    return Asset.discover(identity, run.id.hex, **facts)


def remote_change(asset: Asset, run: SyncRun, **overrides: Any) -> None:
    """iCloud reports an edit: the current remote facts with `overrides` applied."""
    s = asset.state
    facts: dict[str, Any] = {
        name: getattr(s, name)
        for name in (
            "remote_change_tag", "remote_checksum", "declared_size_bytes",
            "live_video_declared_size_bytes", "live_video_checksum", "versions", "filename",
            "filename_status", "item_type", "captured_at_utc", "is_favorite", "is_hidden",
        )
    }
    facts.update(overrides)
    asset.record(ev.RemoteChanged, run.id.hex, **facts)


def download(asset: Asset, run: SyncRun, sha256: str | None = None) -> None:
    s = asset.state
    asset.record(
        ev.Downloaded,
        run.id.hex,
        local_relpath=f"2024/05/17/{s.filename}",
        size_bytes=s.declared_size_bytes,
        sha256=sha256 or uuid.uuid5(uuid.NAMESPACE_OID, s.record_name).hex * 2,
        live_video_relpath=None,
        live_video_size_bytes=None,
        live_video_sha256=None,
        extra_files=(),
    )


def run_cli(
    args: list[str],
    config_path: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    """Run the real `photoledger` console entry point in a subprocess."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    prefix = ["--config", str(config_path)] if config_path else []
    return subprocess.run(
        [sys.executable, "-c", "from commands import main; main()", *prefix, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        **kwargs,
    )
