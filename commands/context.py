"""The CLI's process-wide settings; the services themselves are built by engine.services.

Invariant: `Settings` is built once in the CLI entry point and passed to every command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.crashpoints import CrashPoints
from engine.services import (
    VERSION,
    Clock,
    PortOnDemand,
    Services,
    check_library,
    open_icloud,
    open_reader,
    open_writer,
    utc_now,
    writer_lock,
)

Deps = Services  # the name the command modules used before engine.services

__all__ = [
    "VERSION", "Clock", "Deps", "PortOnDemand", "Services", "Settings", "check_library",
    "open_icloud", "open_reader", "open_writer", "utc_now", "writer_lock",
]


@dataclass(frozen=True)
class Settings:
    """Process-wide inputs, built once in the CLI entry point."""

    config_path: Path
    crash: CrashPoints
    clock: Clock
    show_progress: bool
    warn: Callable[[str], None]


