"""The configured Google route: which Syncthing, which folder, which Pixel, which outbox.

Invariants:
- Built from the config alone (and the environment for the API key): nothing is contacted
  here; the doctor's checks (engine.google.doctor) decide whether the route is safe to use.
- A missing `google.outbox` or `google.pixel_device_id` is a ConfigError naming the key,
  before any lock is taken or fact recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.config import Config
from engine.errors import ConfigError
from engine.google.doctor import syncthing_client
from engine.google.syncthing import SyncthingClient


@dataclass(frozen=True)
class GoogleRoute:
    """The configured Syncthing side of the route."""

    client: SyncthingClient
    folder_id: str
    pixel_device_id: str
    outbox: Path
    library_root: Path
    remove_after_days: int | None = None
    nas_root: Path | None = None  # where a resend finds the bytes a compressed library lost
    include_edits: bool = False  # google.include_edits: stage the edited still too


def google_route(config: Config, environ: Mapping[str, str]) -> GoogleRoute:
    """The configured route; ConfigError names the missing key."""
    google = config.settings.google
    for key, value in (("outbox", google.outbox), ("pixel_device_id", google.pixel_device_id)):
        if not value:
            raise ConfigError(f"{config.where(f'google.{key}')}: must be set for backup-google")
    assert google.outbox is not None and google.pixel_device_id is not None
    return GoogleRoute(
        client=syncthing_client(config, environ),
        folder_id=google.folder_id,
        pixel_device_id=google.pixel_device_id,
        outbox=config.resolve(google.outbox),
        library_root=config.library_root,
        remove_after_days=google.remove_outbox_copy_after_days,
        nas_root=config.nas_root(),
        include_edits=google.include_edits,
    )
