"""The CLI's process-wide settings; the services a command runs with come from engine.services.

Invariant: `Settings` is built once in the CLI entry point and passed to every command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.config import Config, load_accounts, load_config
from engine.crashpoints import CrashPoints
from engine.services import Clock


@dataclass(frozen=True)
class Settings:
    """Process-wide inputs, built once in the CLI entry point."""

    config_path: Path
    crash: CrashPoints
    clock: Clock
    show_progress: bool
    warn: Callable[[str], None]
    account: str | None = None  # --account (env PHOTOLEDGER_ACCOUNT): one of `accounts:`

    def load_config(self) -> Config:
        """The config of the one account this command acts on (--account when the file has
        several; engine.config.load_config refuses a choice that is missing or unknown)."""
        return load_config(self.config_path, account=self.account)

    def load_accounts(self) -> tuple[Config, ...]:
        """Every account's config (or only --account's), for the commands that go through all."""
        return load_accounts(self.config_path, account=self.account)
