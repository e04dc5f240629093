"""Several Apple IDs in one config: the `accounts:` list and what each account's settings are.

A config may hold `accounts:`, a list of entries each with a `name` and the sections that
differ for that account (at least `icloud.username` and `library.root`); the top-level sections
are the defaults every account inherits. A mapping in an account's entry is merged key by key
into the top-level one (recursively); any other value (a list, a string) replaces it.

Invariants:
- The merge is pure: it reads the parsed YAML and its key lines and returns one plain mapping
  per account (engine.config turns each into a frozen Config, as for a config without a list).
- A config without `accounts:` is one account without a name: exactly the config as it was.
- Account names are unique, made of letters, digits, `-` and `_`, and stay unique once
  upper-cased with `-` read as `_` (the name is part of the password variable
  PHOTOLEDGER_ICLOUD_PASSWORD_<NAME>); `file` is refused (PHOTOLEDGER_ICLOUD_PASSWORD_FILE is
  taken).
- Each account keeps its own library, state folder and ledger: no two accounts may share or
  nest a library root, NAS folder or Pixel outbox, use the same ledger.url, or the same
  Syncthing folder id on the same Syncthing (`separation_problem` says which two and why).
- An account is chosen by its name (case-insensitive); an unknown name is an
  AccountChoiceError (exit 2) listing the names there are.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import AccountChoiceError, ConfigError
from engine.secrets import ICLOUD_PASSWORD

ACCOUNTS_KEY = "accounts"
ACCOUNT_ENV = "PHOTOLEDGER_ACCOUNT"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")


@dataclass(frozen=True)
class AccountView:
    """One account's settings as a plain mapping, with where each key was written."""

    name: str | None  # None: a config without `accounts:`
    data: dict[str, Any]
    key_lines: dict[str, int]


@dataclass(frozen=True)
class AccountTrees:
    """What must not be shared between two accounts (paths resolved, ledger URL as written)."""

    name: str
    trees: Mapping[str, Path]  # "library.root" / "nas.root" / "google.outbox" -> folder
    ledger_url: str | None = None
    syncthing_folder: tuple[str, str] | None = None  # (syncthing_url, folder_id) with an outbox


def password_variable(name: str) -> str:
    """The environment variable holding this account's iCloud password."""
    return f"{ICLOUD_PASSWORD}_{name.upper().replace('-', '_')}"


def account_views(
    data: Mapping[str, Any], key_lines: Mapping[str, int], path: Path
) -> list[AccountView]:
    """Every account's merged settings; one nameless view for a config without `accounts:`."""
    if ACCOUNTS_KEY not in data:
        return [AccountView(None, dict(data), dict(key_lines))]
    entries = data[ACCOUNTS_KEY]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{_where(path, key_lines, ACCOUNTS_KEY)}: must be a list of "
                          "accounts, each a mapping with name, icloud.username and library.root")
    defaults = {k: v for k, v in data.items() if k != ACCOUNTS_KEY}
    default_lines = {k: v for k, v in key_lines.items() if not k.startswith(ACCOUNTS_KEY)}
    views: list[AccountView] = []
    for index, entry in enumerate(entries):
        at = f"{ACCOUNTS_KEY}[{index}]"
        name = _account_name(entry, at, path, key_lines)
        _refuse_duplicate(name, [v.name or "" for v in views], at, path, key_lines)
        overrides = {k: v for k, v in entry.items() if k != "name"}
        lines = dict(default_lines)
        lines.update({k.removeprefix(f"{at}."): v for k, v in key_lines.items()
                      if k.startswith(f"{at}.")})
        views.append(AccountView(name, merge(defaults, overrides), lines))
    return views


def merge(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`defaults` with `overrides` applied: mappings merged key by key, anything else replaced."""
    merged = dict(defaults)
    for key, value in overrides.items():
        base = merged.get(key)
        if isinstance(base, Mapping) and isinstance(value, Mapping):
            merged[key] = merge(base, value)
        else:
            merged[key] = value
    return merged


def choose(names: Sequence[str | None], chosen: str | None) -> list[int]:
    """The indexes of the accounts to act on: all when `chosen` is None, else the one named."""
    if chosen is None:
        return list(range(len(names)))
    if names == [None]:
        raise AccountChoiceError(f"--account {chosen}: the config has no `accounts:` list "
                                 "(leave --account and PHOTOLEDGER_ACCOUNT out)")
    for index, name in enumerate(names):
        if name is not None and name.lower() == chosen.lower():
            return [index]
    raise AccountChoiceError(f"--account {chosen}: no such account; the config has "
                             f"{describe_names(names)}")


def describe_names(names: Sequence[str | None]) -> str:
    """`2 accounts: alice, bob` for messages."""
    return f"{len(names)} accounts: {', '.join(n or '' for n in names)}"


def separation_problem(accounts: Sequence[AccountTrees]) -> str | None:
    """Why two accounts would share a folder, a ledger or a Syncthing folder (None: they don't)."""
    for i, first in enumerate(accounts):
        for second in accounts[i + 1:]:
            problem = _pair_problem(first, second)
            if problem is not None:
                return problem
    return None


def _pair_problem(a: AccountTrees, b: AccountTrees) -> str | None:
    both = f"accounts {a.name} and {b.name}"
    for a_key, a_path in a.trees.items():
        for b_key, b_path in b.trees.items():
            relation = _relation(Path(os.path.normpath(a_path)), Path(os.path.normpath(b_path)))
            if relation is not None:
                return (f"{both} share a folder: {a.name}'s {a_key} {a_path} {relation} "
                        f"{b.name}'s {b_key} {b_path}; each account needs its own")
    if a.ledger_url is not None and a.ledger_url == b.ledger_url:
        return f"{both} have the same ledger.url; each account keeps its own ledger"
    if a.syncthing_folder is not None and a.syncthing_folder == b.syncthing_folder:
        return (f"{both} use the same Syncthing folder {a.syncthing_folder[1]!r} on "
                f"{a.syncthing_folder[0]}; give each account its own google.folder_id")
    return None


def _relation(first: Path, second: Path) -> str | None:
    if first == second:
        return "is"
    if first.is_relative_to(second):
        return "is inside"
    if second.is_relative_to(first):
        return "holds"
    return None


def _account_name(entry: Any, at: str, path: Path, key_lines: Mapping[str, int]) -> str:
    if not isinstance(entry, dict):
        raise ConfigError(f"{_where(path, key_lines, at)}: must be a mapping with name, "
                          "icloud.username and library.root")
    name = entry.get("name")
    if name is None:
        raise ConfigError(f"{_where(path, key_lines, at)}.name: missing required value "
                          "(each account needs a name, for --account)")
    text = str(name)
    if not isinstance(name, str) or not _NAME_RE.fullmatch(text) or text.lower() == "file":
        raise ConfigError(
            f"{_where(path, key_lines, f'{at}.name')}: {text!r} is not a usable account name "
            "(letters, digits, - and _, at most 40, not `file`: it names the password "
            f"variable {ICLOUD_PASSWORD}_<NAME>)")
    return text


def _refuse_duplicate(
    name: str, earlier: list[str], at: str, path: Path, key_lines: Mapping[str, int]
) -> None:
    for index, other in enumerate(earlier):
        if password_variable(other) == password_variable(name):
            raise ConfigError(
                f"{_where(path, key_lines, f'{at}.name')}: {name!r} is already the name of "
                f"accounts[{index}] ({other!r}); account names must be unique")


def _where(path: Path, key_lines: Mapping[str, int], key: str) -> str:
    line = key_lines.get(key)
    return f"{path}{f' line {line}' if line else ''}: {key}"
