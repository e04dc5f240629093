"""The configuration: one YAML file parsed once into frozen, typed structs (DESIGN.md §6).

Invariants:
- A Config is built once per process by `load_config` and passed down; nothing reads the
  file or the environment for settings afterwards.
- Every problem is a ConfigError whose message is one line naming the file, the line and the
  dotted key: an unknown key, a wrong type, a missing value, a path that does not exist.
- Secrets never come from the YAML (a `password` key is refused with a pointer to the env var).
  Every secret source (NAME or NAME_FILE, engine.secrets) and every Apprise URL is checked at
  load, so a bad one is a config error before anything starts.
- Relative paths are relative to the config file's folder, so a config can travel with its tree.
- With an `accounts:` list (engine.accounts), each account is loaded as its own Config from the
  merged settings; every account is validated whichever is chosen. Without the list, a config
  loads exactly as a one-account config always did.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

import msgspec

from engine.accounts import (
    ACCOUNT_ENV,
    AccountTrees,
    AccountView,
    account_views,
    choose,
    describe_names,
    password_variable,
    separation_problem,
)
from engine.compress.settings import CompressionSettings, validate_compression
from engine.config_yaml import explain, read_yaml, refuse_secrets
from engine.errors import AccountChoiceError, ConfigError
from engine.filemodes import FileModes, file_modes
from engine.naming_settings import icloud_problems, naming_problems
from engine.notify import NotifySettings, apprise_urls
from engine.notify_apprise import apprise_problem
from engine.secrets import (
    APPRISE_URLS,
    ICLOUD_PASSWORD,
    LEDGER_PASSWORD,
    check_secrets,
    read_secret,
    remember,
)
from engine.selection import SelectionSettings, settings_problems


class LibrarySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    root: str
    folder_structure: str = "{:%Y/%m/%d}"
    file_match_policy: Literal["name-size-dedup-with-suffix", "name-id7"] = (
        "name-size-dedup-with-suffix"
    )
    keep_unicode_in_filenames: bool = False
    live_photo_mov_filename_policy: str = "suffix"  # or "original" (engine.naming_settings)
    file_mode: str | int = "0644"  # octal, in quotes (an int is refused with that hint)
    dir_mode: str | int = "0755"


class IcloudSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    username: str
    session_dir: str
    # A library id or name, "all", or several comma-separated (engine.libraries).
    library: str = "PrimarySync"
    twofa_retry_after_hours: float = 24.0  # a requested 2FA code is awaited this long
    trust_warning_days: int = 7  # warn this many days before Apple's trust is expected to end
    domain: str = "com"  # "cn": Apple's mainland-China endpoints (icloud.com.cn)
    max_retries: int = 5  # retries of a throttled or failed iCloud call (icloudpd --max-retries)
    retry_delay_s: float = 1.0  # the first retry's wait ceiling, doubled per retry


class LedgerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    url: str | None = None  # None: embedded SQLite at <library.root>/.photoledger/ledger.db


ResourceKey = Literal["original", "live_video", "alternative", "adjusted", "adjusted_video"]


class DownloadSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    resources: tuple[ResourceKey, ...] = (
        "original", "live_video", "alternative", "adjusted", "adjusted_video"
    )
    max_consecutive_failures: int = 50


class NasSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    root: str | None = None
    max_verify_age_days: int = 30
    file_mode: str | int = "0644"
    dir_mode: str | int = "0755"
    owner: str | None = None  # "uid:gid" or "user:group"


class GoogleSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    outbox: str | None = None
    syncthing_url: str = "http://127.0.0.1:8384"
    # The API key is a secret: env PHOTOLEDGER_SYNCTHING_API_KEY, or read from this config.xml.
    syncthing_config: str | None = None
    folder_id: str = "photoledger-outbox"
    pixel_device_id: str | None = None
    include_edits: bool = False  # stage the edited still too (Google shows it beside the original)
    remove_outbox_copy_after_days: int | None = None  # None: keep the outbox copy


class CleanupSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # "compress": an asset whose compression tier is due must have been compressed first.
    require: tuple[Literal["nas", "google", "compress"], ...] = ("nas", "google")
    keep_recent_days: int = 30
    max_delete: int = 500
    max_delete_fraction: float = 0.5
    remove_local: bool = False
    # Deleting a Shared Library asset deletes it for every participant: off unless set.
    include_shared_library: bool = False


class ConfigFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The YAML file's shape."""

    library: LibrarySettings
    icloud: IcloudSettings
    ledger: LedgerSettings = LedgerSettings()
    download: DownloadSettings = DownloadSettings()
    nas: NasSettings = NasSettings()
    google: GoogleSettings = GoogleSettings()
    cleanup: CleanupSettings = CleanupSettings()
    compression: CompressionSettings = CompressionSettings()
    notify: NotifySettings = NotifySettings()
    selection: SelectionSettings = SelectionSettings()


@dataclass(frozen=True)
class Config:
    """The validated configuration plus where each key was written (for error messages)."""

    settings: ConfigFile
    path: Path
    key_lines: Mapping[str, int] = field(default_factory=dict)
    account: str | None = None  # its name in `accounts:` (None: a config without the list)
    # Where its iCloud password may come from, in order (engine.icloud.credentials).
    password_variables: tuple[str, ...] = (ICLOUD_PASSWORD,)

    @property
    def library_root(self) -> Path:
        return self.resolve(self.settings.library.root)

    @property
    def state_dir(self) -> Path:
        """Where the ledger, projections and lock live (local disk, never a NAS)."""
        return self.library_root / ".photoledger"

    def resolve(self, value: str) -> Path:
        """A path from the config: `~` expanded, relative to the config file's folder."""
        return (self.path.parent / Path(value).expanduser()).absolute()

    def nas_root(self) -> Path | None:
        """The configured NAS root, or None when no NAS is configured (mounted or not)."""
        root = self.settings.nas.root
        return self.resolve(root) if root else None

    def library_modes(self) -> FileModes:
        """Modes of what is written into the library and the Pixel outbox (engine.filemodes)."""
        lib = self.settings.library
        return file_modes("library", lib.file_mode, lib.dir_mode, None, self.where)

    def nas_modes(self) -> FileModes:
        """Modes and owner of what is written on the NAS (engine.filemodes)."""
        nas = self.settings.nas
        return file_modes("nas", nas.file_mode, nas.dir_mode, nas.owner, self.where)

    def for_library(self, zone: str) -> Config:
        """This config narrowed to one library zone (what a per-library stage runs with)."""
        icloud = msgspec.structs.replace(self.settings.icloud, library=zone)
        return replace(self, settings=msgspec.structs.replace(self.settings, icloud=icloud))

    def where(self, key: str) -> str:
        """`<file> line N: <key>` for messages about a key."""
        line = self.key_lines.get(key)
        account = f" (account {self.account})" if self.account else ""
        return f"{self.path}{f' line {line}' if line else ''}: {key}{account}"

    def require_existing_dir(self, key: str, value: str) -> Path:
        """The folder a key names; ConfigError when it does not exist."""
        path = self.resolve(value)
        if not path.is_dir():
            raise ConfigError(f"{self.where(key)}: folder {path} does not exist")
        return path


def load_config(
    path: Path, environ: Mapping[str, str] | None = None, account: str | None = None
) -> Config:
    """Read and validate the config file; every failure is one ConfigError line.

    `environ` (default: this process's) is where the secrets come from; they are checked here.
    With `accounts:`, the account named by `account` (else env PHOTOLEDGER_ACCOUNT), or the
    only one; several and none chosen is an AccountChoiceError (exit 2) naming them."""
    configs = _load(path, os.environ if environ is None else environ, account)
    if len(configs) > 1:
        raise AccountChoiceError(
            f"the config has {describe_names([c.account for c in configs])}: choose one with "
            f"--account NAME (or {ACCOUNT_ENV}); `run`, `watch` and `init` go through all")
    return configs[0]


def load_accounts(
    path: Path, environ: Mapping[str, str] | None = None, account: str | None = None
) -> tuple[Config, ...]:
    """Every account's Config in the file's order (one without `accounts:`), or the one chosen
    (`account`, else env PHOTOLEDGER_ACCOUNT). Several together: the unnamed password variable
    is refused, since it would be sent for every Apple ID."""
    env = os.environ if environ is None else environ
    configs = _load(path, env, account)
    if len(configs) > 1 and read_secret(ICLOUD_PASSWORD, env):
        raise ConfigError(
            f"{ICLOUD_PASSWORD} is set but the config has "
            f"{describe_names([c.account for c in configs])} and it would go to every Apple ID: "
            f"unset it and give each account its own "
            f"({', '.join(c.password_variables[0] for c in configs)}), or pass --account")
    return configs


def _load(path: Path, environ: Mapping[str, str], account: str | None) -> tuple[Config, ...]:
    data, key_lines = read_yaml(path)
    views = account_views(data, key_lines, path)
    chosen = choose([v.name for v in views], account or environ.get(ACCOUNT_ENV) or None)
    configs = [_build(v, path, environ, is_single=len(chosen) == 1) for v in views]
    problem = separation_problem([_trees(c) for c in configs]) if len(configs) > 1 else None
    if problem is not None:
        raise ConfigError(f"{path}: {problem}")
    return tuple(configs[i] for i in chosen)


def _build(view: AccountView, path: Path, environ: Mapping[str, str], *, is_single: bool
           ) -> Config:
    """One account's Config from its merged settings."""
    label = f" (account {view.name})" if view.name else ""
    refuse_secrets(view.data, path, view.key_lines)
    try:
        settings = msgspec.convert(_library_list_joined(view.data), ConfigFile, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(explain(str(exc), path, view.key_lines) + label) from None
    own = (password_variable(view.name),) if view.name else ()
    shared = (ICLOUD_PASSWORD,) if is_single else ()
    config = Config(settings, path.absolute(), view.key_lines, view.name, own + shared)
    _validate_values(config)
    _validate_secrets(config, environ)
    check_secrets(environ, own)
    return config


def _library_list_joined(data: dict[str, Any]) -> dict[str, Any]:
    """`icloud.library` written as a YAML list of libraries becomes its comma-separated form
    (engine.libraries reads both); anything else is left for the type check."""
    icloud = data.get("icloud")
    value = icloud.get("library") if isinstance(icloud, dict) else None
    if isinstance(icloud, dict) and isinstance(value, list) and value and all(
            isinstance(v, str) and "," not in v for v in value):
        return {**data, "icloud": {**icloud, "library": ", ".join(value)}}
    return data


def _trees(config: Config) -> AccountTrees:
    g = config.settings.google
    trees = {"library.root": config.library_root}
    trees.update({key: config.resolve(value) for key, value in
                  (("nas.root", config.settings.nas.root), ("google.outbox", g.outbox)) if value})
    folder = (g.syncthing_url, g.folder_id) if g.outbox else None
    return AccountTrees(config.account or "", trees, config.settings.ledger.url, folder)


def _validate_values(config: Config) -> None:
    s = config.settings
    checks: list[tuple[str, bool, str]] = [
        ("nas.max_verify_age_days", s.nas.max_verify_age_days >= 1, "must be at least 1"),
        (
            "download.resources",
            "original" in s.download.resources,
            "must include original (the photo itself)",
        ),
        (
            "download.max_consecutive_failures",
            s.download.max_consecutive_failures >= 1,
            "must be at least 1",
        ),
        ("cleanup.keep_recent_days", s.cleanup.keep_recent_days >= 0, "must not be negative"),
        ("cleanup.max_delete", s.cleanup.max_delete >= 0, "must not be negative"),
        (
            "cleanup.max_delete_fraction",
            0.0 < s.cleanup.max_delete_fraction <= 1.0,
            "must be above 0 and at most 1",
        ),
        ("icloud.username", bool(s.icloud.username.strip()), "must not be empty"),
        ("icloud.twofa_retry_after_hours", s.icloud.twofa_retry_after_hours > 0,
         "must be above 0"),
        ("icloud.trust_warning_days", s.icloud.trust_warning_days >= 0, "must not be negative"),
        ("notify.script_timeout_s", s.notify.script_timeout_s > 0, "must be above 0"),
        ("library.root", bool(s.library.root.strip()), "must not be empty"),
        (
            "ledger.url",
            s.ledger.url is None or s.ledger.url.startswith(("postgresql://", "postgres://")),
            "must be a postgresql://user:password@host:port/database URL (or left out for "
            "the embedded SQLite ledger)",
        ),
    ]
    checks.extend((key, False, why) for key, why in validate_compression(s.compression))
    checks.extend((key, False, why) for key, why in naming_problems(s.library))
    checks.extend((key, False, why) for key, why in icloud_problems(s.icloud))
    checks.extend((key, False, why) for key, why in settings_problems(s.selection))
    for key, ok, why in checks:
        if not ok:
            raise ConfigError(f"{config.where(key)}: {why}")
    _validate_nas_root(config)
    config.library_modes()  # a bad mode or owner is refused at load, not at the first write
    config.nas_modes()
    try:
        s.library.folder_structure.format(datetime(2000, 1, 2), library="PrimarySync")
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise ConfigError(
            f"{config.where('library.folder_structure')}: not a valid date template ({exc})"
        ) from None


def _validate_secrets(config: Config, environ: Mapping[str, str]) -> None:
    """Each secret's source, one ledger password at most, and URLs Apprise accepts."""
    check_secrets(environ)
    url = config.settings.ledger.url
    in_url = urlparse(url).password if url else None
    remember(unquote(in_url) if in_url else None)
    if in_url and read_secret(LEDGER_PASSWORD, environ):
        raise ConfigError(
            f"{config.where('ledger.url')}: holds a password and {LEDGER_PASSWORD} is set "
            "too: keep one (the variable, so the password is not in the YAML)"
        )
    configured = config.settings.notify.apprise_urls
    for index, apprise_url in enumerate(apprise_urls(config.settings.notify, environ)):
        remember(apprise_url)
        problem = apprise_problem(apprise_url)
        if problem:
            key = f"notify.apprise_urls[{index}]" if index < len(configured) else APPRISE_URLS
            where = config.where(key) if index < len(configured) else key
            raise ConfigError(f"{where}: {problem}")


def _validate_nas_root(config: Config) -> None:
    """The NAS copy must be another tree than the library: nested, one would hold the other's
    files (and a rename on one would be a rename on the "backup")."""
    if not config.settings.nas.root:
        return
    # Lexically (normpath), not resolve(): a stat of a hung NAS mount would hang every command.
    nas = Path(os.path.normpath(config.resolve(config.settings.nas.root)))
    library = Path(os.path.normpath(config.library_root))
    if nas == library:
        why = f"{nas} is library.root itself"
    elif nas.is_relative_to(library):
        why = f"{nas} is inside library.root {library}"
    elif library.is_relative_to(nas):
        why = f"{nas} holds library.root {library}"
    else:
        return
    raise ConfigError(
        f"{config.where('nas.root')}: {why}; the NAS copy must be a separate folder (the share)"
    )
