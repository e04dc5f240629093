"""`photoledger init`: write a commented config and create the library's empty ledger.

Invariants:
- init never overwrites a config without --force and never replaces an existing ledger; run
  on an initialised library it only reports what is there.
- With nas.root set, init writes the NAS marker `.photoledger-nas` into that folder (never
  creating the folder itself: a missing folder may be an unmounted share). Only a folder
  with the marker is ever read as the NAS; running init again after mounting writes it.
- The marker holds the NAS's id (a new uuid4 hex): init gives one to a marker that has none
  (written before ids) and never replaces an id already there, since NAS facts name it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

import click

from commands.context import Settings, utc_now
from commands.output import console
from engine.config import load_config
from engine.crashpoints import CrashPoints
from engine.errors import ConfigError, StorageError
from engine.fsutil import atomic_write_bytes, probe_writable
from engine.ledger import open_ledger
from engine.nas.access import NAS_MARKER_NAME, read_nas_id, short_id, write_nas_marker
from projections.media import MediaProjection


@dataclass(frozen=True)
class InitResult:
    config_path: Path
    is_config_written: bool
    library_root: Path
    ledger_location: str
    is_ledger_created: bool
    nas_marker: str = "no nas.root"  # "written", "id added", "already there", "folder missing"
    nas_root: Path | None = None
    nas_id: str | None = None  # the id in the marker afterwards


@dataclass(frozen=True)
class GoogleWiring:
    """The Syncthing side of the Google route, as `init` can write it into the config."""

    outbox: str | None = None
    syncthing_url: str = "http://127.0.0.1:8384"
    syncthing_config: str | None = None
    folder_id: str = "photoledger-outbox"
    pixel_device_id: str | None = None


def render_config(
    library_root: str,
    username: str,
    session_dir: str,
    nas_root: str | None = None,
    google: GoogleWiring = GoogleWiring(),
) -> str:
    """The commented config file with these values filled in (YAML-quoted)."""
    template = resources.files("commands").joinpath("config_template.yaml").read_text("utf-8")
    return template.format(
        library_root=json.dumps(library_root),
        username=json.dumps(username),
        session_dir=json.dumps(session_dir),
        nas_root=json.dumps(nas_root),
        **{name: json.dumps(value) for name, value in asdict(google).items()},
    )


def run_init(
    config_path: Path,
    crash: CrashPoints,
    *,
    library_root: str | None = None,
    username: str | None = None,
    session_dir: str | None = None,
    nas_root: str | None = None,
    google: GoogleWiring = GoogleWiring(),
    is_forced: bool = False,
    clock: Callable[[], datetime] = utc_now,
) -> InitResult:
    """Write the config (when asked) and create the state folder and an empty ledger."""
    written = _write_config_if_asked(
        config_path,
        library_root=library_root,
        username=username,
        session_dir=session_dir,
        nas_root=nas_root,
        google=google,
        is_forced=is_forced,
    )
    config = load_config(config_path)
    root = config.library_root
    try:
        config.state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create {config.state_dir}: {exc.strerror}") from None
    probe_writable(config.state_dir)
    existed = config.settings.ledger.url is not None or (config.state_dir / "ledger.db").exists()
    ledger = open_ledger(config.state_dir, config.settings.ledger.url, crash, create=True)
    try:
        MediaProjection(config.state_dir / "media.db", crash).close()
    finally:
        ledger.close()
    nas = config.resolve(config.settings.nas.root) if config.settings.nas.root else None
    marker = _mark_nas(nas, clock) if nas is not None else "no nas.root"
    nas_id = read_nas_id(nas) if nas is not None else None
    return InitResult(
        config.path, written, root, ledger.location, not existed, marker, nas, nas_id
    )


def _mark_nas(nas_root: Path, clock: Callable[[], datetime]) -> str:
    """Write the NAS marker if the folder exists; what happened, in words."""
    if not nas_root.is_dir():
        return "folder missing"
    return write_nas_marker(nas_root, clock())


def _write_config_if_asked(
    config_path: Path,
    *,
    library_root: str | None,
    username: str | None,
    session_dir: str | None,
    nas_root: str | None,
    google: GoogleWiring,
    is_forced: bool,
) -> bool:
    asked = library_root is not None or username is not None
    if config_path.exists() and (not asked or not is_forced):
        if asked:
            raise ConfigError(
                f"{config_path} already exists: edit it, or pass --force to replace it"
            )
        return False
    if library_root is None or username is None:
        raise ConfigError(
            f"no config at {config_path}: pass --library-root and --username to write one"
        )
    if not config_path.parent.is_dir():
        raise ConfigError(f"folder {config_path.parent} for the config does not exist")
    text = render_config(
        library_root,
        username,
        session_dir or str(config_path.parent.absolute() / "session"),
        nas_root,
        google,
    )
    atomic_write_bytes(config_path, text.encode("utf-8"), mode=0o600)
    return True


@click.command("init")
@click.option("--library-root", help="Folder for the local working copy (created if missing).")
@click.option("--username", help="Your Apple ID (e-mail).")
@click.option("--session-dir", help="Where the iCloud login session is kept [default: ./session].")
@click.option("--nas-root", help="The NAS folder for the archive copy (can be set later).")
@click.option("--force", is_flag=True, help="Replace an existing config file.")
@click.pass_obj
def command(
    settings: Settings,
    library_root: str | None,
    username: str | None,
    session_dir: str | None,
    nas_root: str | None,
    force: bool,
) -> None:
    """Write a commented config file and create the library's empty ledger.

    With --library-root and --username, writes the config (--config, default
    ./photoledger.yaml) with every setting explained. With an existing config, creates the
    state folder and ledger it names. Safe to run twice: nothing recorded is ever replaced.
    """
    result = run_init(
        settings.config_path,
        settings.crash,
        library_root=library_root,
        username=username,
        session_dir=session_dir,
        nas_root=nas_root,
        is_forced=force,
    )
    if result.is_config_written:
        console.print(f"wrote {result.config_path} (read it: every setting is explained)")
    state = "created" if result.is_ledger_created else "already there"
    console.print(f"library {result.library_root}: ledger {result.ledger_location} {state}")
    if result.nas_marker == "folder missing":
        console.print(
            f"NAS folder {result.nas_root} does not exist: mount the share (or create the "
            "folder) and run `photoledger init` again to mark it"
        )
    elif result.nas_root is not None:
        console.print(
            f"NAS {result.nas_root}: marker {NAS_MARKER_NAME} {result.nas_marker} "
            f"(NAS id {short_id(result.nas_id)})"
        )
    console.print("next: `photoledger status`")
