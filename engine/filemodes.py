"""Who may read what photoledger writes for people and other programs: the modes of files and
folders, and an optional owner (config `library.file_mode`/`dir_mode`, `nas.file_mode`/
`dir_mode`/`owner`).

Invariants:
- A mode comes from the config as an octal string ("0644", in quotes: YAML reads an unquoted
  0644 as a number). A file mode must let the owner read and write (photoledger re-reads and
  replaces its files), a folder mode must let the owner read, write and enter; neither may
  carry setuid, setgid or sticky bits.
- A mode is set explicitly (chmod) on what photoledger creates, after creating it, so the
  process umask neither widens nor narrows it.
- Only folders photoledger creates get `dir_mode` and the owner; a folder already there (the
  share's root, a folder the user made) is left as it is.
- The state folder (ledger, projections, lock) and the session folder never go through here:
  however wide these settings are, they never widen those.
- An owner is set with os.chown; one that fails stops the stage with a one-line ConfigError
  naming the key it was configured by (every later file would fail the same way, and the fix
  is the setting or the privileges).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ConfigError

DEFAULT_FILE_MODE = 0o644
DEFAULT_DIR_MODE = 0o755
_MODE_RE = re.compile(r"(?:0o?)?([0-7]{3})")
_OWNER_NEEDS = {False: (0o600, "read and write the files"), True: (0o700, "list, enter and "
                "write the folders")}


@dataclass(frozen=True)
class Owner:
    """The owner set on what photoledger writes, and where it was configured (for messages)."""

    uid: int
    gid: int
    configured_at: str = "nas.owner"

    def apply(self, path: Path) -> None:
        """chown `path`; ConfigError (one line) when the system refuses."""
        try:
            os.chown(path, self.uid, self.gid)
        except OSError as exc:
            raise ConfigError(
                f"{self.configured_at}: cannot make {path} owned by {self.uid}:{self.gid}: "
                f"{exc.strerror or exc} (setting an owner needs root or CAP_CHOWN, and a file "
                "system that keeps owners; leave the key out to keep the writer's own)"
            ) from None


@dataclass(frozen=True)
class FileModes:
    """The modes (and owner) of the files and folders written into one place."""

    file_mode: int = DEFAULT_FILE_MODE
    dir_mode: int = DEFAULT_DIR_MODE
    owner: Owner | None = None

    def settle_file(self, path: Path) -> None:
        """Give a file photoledger created its owner and mode."""
        if self.owner is not None:
            self.owner.apply(path)
        path.chmod(self.file_mode)

    def settle_folder(self, path: Path) -> None:
        """Give a folder photoledger created its owner and mode."""
        if self.owner is not None:
            self.owner.apply(path)
        path.chmod(self.dir_mode)


DEFAULT_MODES = FileModes()


def parse_mode(value: str | int, *, is_folder: bool) -> int:
    """The mode an octal string names; ValueError saying what is wrong."""
    if isinstance(value, int):
        raise ValueError('write the mode in quotes, like "0644" (unquoted, YAML reads it as a '
                         "number)")
    found = _MODE_RE.fullmatch(value.strip())
    if found is None:
        raise ValueError(f'{value!r} is not an octal mode like "0644" or "0755"')
    mode = int(found.group(1), 8)
    needed, why = _OWNER_NEEDS[is_folder]
    if mode & needed != needed:
        raise ValueError(f'"{value}" must let the owner {why} (at least "0{needed:o}")')
    return mode


def parse_owner(value: str) -> tuple[int, int]:
    """(uid, gid) of "uid:gid" or "user:group" (names looked up here); ValueError otherwise."""
    user, sep, group = value.strip().partition(":")
    if not sep or not user or not group or ":" in group:
        raise ValueError(f'{value!r} is not "uid:gid" or "user:group" (like "1026:100")')
    return _user_id(user), _group_id(group)


def _user_id(name: str) -> int:
    if name.isdigit():
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        raise ValueError(f"there is no user {name!r} on this machine (give the uid)") from None


def _group_id(name: str) -> int:
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ValueError(f"there is no group {name!r} on this machine (give the gid)") from None


def file_modes(
    section: str, file_mode: str | int, dir_mode: str | int, owner: str | None,
    where: Callable[[str], str],
) -> FileModes:
    """The FileModes of a config section; ConfigError naming the key (`where`) of a bad value."""
    key = f"{section}.file_mode"
    try:
        files = parse_mode(file_mode, is_folder=False)
        key = f"{section}.dir_mode"
        folders = parse_mode(dir_mode, is_folder=True)
        key = f"{section}.owner"
        ids = parse_owner(owner) if owner is not None else None
    except ValueError as exc:
        raise ConfigError(f"{where(key)}: {exc}") from None
    chown = Owner(ids[0], ids[1], where(key)) if ids is not None else None
    return FileModes(files, folders, chown)
