"""The environment of every child process photoledger starts (notify script, ffmpeg, ffprobe,
exiftool): the parent's, without any secret.

Invariants:
- A variable is left out when its name is a secret's (engine.secrets.is_secret_name: each
  secret, its `_FILE` twin, libpq's PGPASSWORD) or when its value holds a secret value
  photoledger knows (read from the environment, a secret file, the .env file, the keyring,
  Syncthing's config.xml or the ledger URL): a copy under another name does not leak either.
  A compression worker (a forkserver process) matches values against the secrets of its own
  environment and secret files only; names are stripped everywhere.
- Values shorter than MIN_CONTAINED are only matched whole, so a short secret cannot strip
  PATH or HOME by accident.
- `extra` (the notify script's PHOTOLEDGER_EVENT ...) is added after scrubbing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from engine.secrets import SECRET_NAMES, file_values, is_secret_name, known_values

MIN_CONTAINED = 8


def child_environment(
    extra: Mapping[str, str] | None = None, *, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A copy of `environ` (default: this process's) with no secret in it, plus `extra`."""
    source = os.environ if environ is None else environ
    secrets = set(known_values()) | file_values(source)
    secrets |= {source[name] for name in SECRET_NAMES if source.get(name)}
    secrets.discard("")
    env = {
        name: value for name, value in source.items()
        if not is_secret_name(name) and not _holds_secret(value, secrets)
    }
    return env | dict(extra or {})


def _holds_secret(value: str, secrets: set[str]) -> bool:
    return any(
        value == secret or (len(secret) >= MIN_CONTAINED and secret in value)
        for secret in secrets
    )
