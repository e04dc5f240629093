"""The init use case: write a commented config, create the library's empty ledger, mark the NAS.

Invariants:
- init never overwrites a config without `is_forced` and never replaces an existing ledger; run
  on an initialised library it only reports what is there.
- With nas.root set, init writes the NAS marker `.photoledger-nas` into that folder (never
  creating the folder itself: a missing folder may be an unmounted share). Only a folder
  with the marker is ever read as the NAS; running init again after mounting writes it.
- The marker holds the NAS's id (a new uuid4 hex): init gives one to a marker that has none
  (written before ids) and never replaces an id already there, since NAS facts name it.
- The config is written atomically, 0600 (it names the account and its session folder).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from engine.config import Config, load_config
from engine.crashpoints import CrashPoints
from engine.errors import ConfigError, StorageError
from engine.fsutil import probe_writable
from engine.ledger import open_ledger
from engine.nas.access import read_nas_id, write_nas_marker
from engine.placement import place_bytes
from engine.services import Clock, utc_now
from projections.media import MediaProjection

CONFIG_TEMPLATE = "config_template.yaml"


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


@dataclass(frozen=True)
class ConfigValues:
    """What `init` writes into a new config; None values keep the template's defaults."""

    library_root: str | None = None
    username: str | None = None
    session_dir: str | None = None
    nas_root: str | None = None
    google: GoogleWiring = GoogleWiring()

    @property
    def is_given(self) -> bool:
        return self.library_root is not None or self.username is not None


def render_config(
    library_root: str,
    username: str,
    session_dir: str,
    nas_root: str | None = None,
    google: GoogleWiring = GoogleWiring(),
) -> str:
    """The commented config file with these values filled in (YAML-quoted)."""
    template = resources.files("engine").joinpath(CONFIG_TEMPLATE).read_text("utf-8")
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
    clock: Clock = utc_now,
) -> InitResult:
    """Write the config (when asked) and create the state folder and an empty ledger."""
    values = ConfigValues(library_root, username, session_dir, nas_root, google)
    written = _write_config_if_asked(config_path, values, is_forced=is_forced)
    return init_library(load_config(config_path), crash, is_config_written=written, clock=clock)


def init_library(config: Config, crash: CrashPoints, *, is_config_written: bool = False,
                 clock: Clock = utc_now) -> InitResult:
    """Create one library's state folder and empty ledger, and mark its NAS (each account of
    an `accounts:` list is initialised by this on its own Config)."""
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
        config.path, is_config_written, config.library_root, ledger.location, not existed, marker,
        nas, nas_id,
    )


def _mark_nas(nas_root: Path, clock: Clock) -> str:
    """Write the NAS marker if the folder exists; what happened, in words."""
    if not nas_root.is_dir():
        return "folder missing"
    return write_nas_marker(nas_root, clock())


def _write_config_if_asked(config_path: Path, values: ConfigValues, *, is_forced: bool) -> bool:
    if config_path.exists() and (not values.is_given or not is_forced):
        if values.is_given:
            raise ConfigError(
                f"{config_path} already exists: edit it, or pass --force to replace it"
            )
        return False
    if values.library_root is None or values.username is None:
        raise ConfigError(
            f"no config at {config_path}: pass --library-root and --username to write one"
        )
    if not config_path.parent.is_dir():
        raise ConfigError(f"folder {config_path.parent} for the config does not exist")
    text = render_config(
        values.library_root,
        values.username,
        values.session_dir or str(config_path.parent.absolute() / "session"),
        values.nas_root,
        values.google,
    )
    place_bytes(config_path, text.encode("utf-8"), tag="config", mode=0o600)
    return True
