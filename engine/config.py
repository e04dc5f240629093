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
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

import msgspec
import yaml

from engine.compress.settings import CompressionSettings, validate_compression
from engine.errors import ConfigError
from engine.filemodes import FileModes, file_modes
from engine.notify import NotifySettings, apprise_urls
from engine.notify_apprise import apprise_problem
from engine.secrets import (
    APPRISE_URLS,
    LEDGER_PASSWORD,
    check_secrets,
    read_secret,
    remember,
)


class LibrarySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    root: str
    folder_structure: str = "{:%Y/%m/%d}"
    file_match_policy: Literal["name-size-dedup-with-suffix", "name-id7"] = (
        "name-size-dedup-with-suffix"
    )
    keep_unicode_in_filenames: bool = False
    file_mode: str | int = "0644"  # octal, in quotes (an int is refused with that hint)
    dir_mode: str | int = "0755"


class IcloudSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    username: str
    session_dir: str
    library: str = "PrimarySync"
    twofa_retry_after_hours: float = 24.0  # a requested 2FA code is awaited this long
    trust_warning_days: int = 7  # warn this many days before Apple's trust is expected to end


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


@dataclass(frozen=True)
class Config:
    """The validated configuration plus where each key was written (for error messages)."""

    settings: ConfigFile
    path: Path
    key_lines: Mapping[str, int] = field(default_factory=dict)

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

    def where(self, key: str) -> str:
        """`<file> line N: <key>` for messages about a key."""
        line = self.key_lines.get(key)
        return f"{self.path}{f' line {line}' if line else ''}: {key}"

    def require_existing_dir(self, key: str, value: str) -> Path:
        """The folder a key names; ConfigError when it does not exist."""
        path = self.resolve(value)
        if not path.is_dir():
            raise ConfigError(f"{self.where(key)}: folder {path} does not exist")
        return path


_SECRET_KEYS = {"password", "icloud_password", "api_key", "token"}
_PATH_RE = re.compile(r"`\$((?:\.[A-Za-z0-9_-]+|\[\d+\])*)`")


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file; every failure is one ConfigError line.

    `environ` (default: this process's) is where the secrets come from; they are checked here."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found (pass --config or set PHOTOLEDGER_CONFIG; "
            "`photoledger init` writes one)"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()  # one parse: the node gives line numbers, then the data
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{line}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()
    key_lines = dict(_key_lines(node)) if node is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with `library:` and `icloud:` sections")
    _refuse_secrets(data, path, key_lines)
    try:
        settings = msgspec.convert(data, ConfigFile, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(str(exc), path, key_lines)) from None
    config = Config(settings=settings, path=path.absolute(), key_lines=key_lines)
    _validate_values(config)
    _validate_secrets(config, os.environ if environ is None else environ)
    return config


def _key_lines(node: yaml.Node, prefix: str = "") -> Iterator[tuple[str, int]]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            yield key, key_node.start_mark.line + 1
            yield from _key_lines(value_node, key)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            key = f"{prefix}[{index}]"
            yield key, item.start_mark.line + 1
            yield from _key_lines(item, key)


def _refuse_secrets(data: Mapping[str, Any], path: Path, key_lines: Mapping[str, int]) -> None:
    for section, values in data.items():
        if not isinstance(values, dict):
            continue
        for key in values:
            if str(key).lower() in _SECRET_KEYS:
                dotted = f"{section}.{key}"
                raise ConfigError(
                    f"{path} line {key_lines.get(dotted, '?')}: {dotted}: secrets are never "
                    "read from the config; set PHOTOLEDGER_ICLOUD_PASSWORD or use a .env file "
                    "beside the config"
                )


def _explain(message: str, path: Path, key_lines: Mapping[str, int]) -> str:
    """Turn msgspec's `... - at `$.a.b`` into `<file> line N: a.b: <what is wrong>`."""
    found = _PATH_RE.search(message)
    dotted = found.group(1).lstrip(".") if found else ""
    what = message.split(" - at ", maxsplit=1)[0]
    unknown = re.match(r"Object contains unknown field `([^`]+)`", what)
    missing = re.match(r"Object missing required field `([^`]+)`", what)
    if unknown:
        dotted = f"{dotted}.{unknown.group(1)}" if dotted else unknown.group(1)
        what = "unknown key (check the spelling; config.example.yaml lists every key)"
    elif missing:
        dotted = f"{dotted}.{missing.group(1)}" if dotted else missing.group(1)
        what = "missing required value"
    else:
        what = what[0].lower() + what[1:]
    line = _nearest_line(dotted, key_lines)
    return f"{path}{f' line {line}' if line else ''}: {dotted or '(top level)'}: {what}"


def _nearest_line(dotted: str, key_lines: Mapping[str, int]) -> int | None:
    key = dotted
    while key:
        if key in key_lines:
            return key_lines[key]
        key = key.rpartition(".")[0]
    return None


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
    for key, ok, why in checks:
        if not ok:
            raise ConfigError(f"{config.where(key)}: {why}")
    _validate_nas_root(config)
    config.library_modes()  # a bad mode or owner is refused at load, not at the first write
    config.nas_modes()
    try:
        s.library.folder_structure.format(datetime(2000, 1, 2))
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
