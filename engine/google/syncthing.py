"""Syncthing's REST API on the server, as far as the Google route needs it.

Invariants:
- Only `X-API-Key` authenticates (Syncthing 1.19 refuses a bearer token). The key comes from
  the config.xml named by `google.syncthing_config`, else env PHOTOLEDGER_SYNCTHING_API_KEY
  or the file PHOTOLEDGER_SYNCTHING_API_KEY_FILE names (engine.secrets);
  it is never logged or put in a message.
- A refused connection or time-out is SyncthingUnavailableError, a refused key
  SyncthingAuthError (both exit 13); a file or folder Syncthing does not know is None, never an
  error, because "not indexed yet" is an ordinary answer.
- `FileView` keeps `availability` None apart from an empty list: Syncthing 1.19 answers null
  while the peer is disconnected ("unknown", not "absent") and also when no peer has the file,
  so callers must read it together with the connection state.
- Nothing here decides anything about an asset; decisions live in engine.google.plan.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.errors import ConfigError, ExitCode, PhotoledgerError
from engine.secrets import SYNCTHING_API_KEY, read_secret, remember

API_KEY_ENV = SYNCTHING_API_KEY
REQUEST_TIMEOUT_S = 10.0
# The events the confirmation loop wakes up for (a filtered stream is its own subscription).
CONFIRM_EVENTS = ("RemoteIndexUpdated", "LocalIndexUpdated", "DeviceConnected",
                  "DeviceDisconnected")
_TIME_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


class SyncthingUnavailableError(PhotoledgerError):
    """Syncthing's REST API cannot be reached."""

    exit_code = ExitCode.SYNCTHING_UNAVAILABLE


class SyncthingAuthError(SyncthingUnavailableError):
    """Syncthing answered but refused the API key."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class SyncthingUnsafeError(PhotoledgerError):
    """The Syncthing set-up could lose or leak photos; nothing is staged until it is fixed."""

    exit_code = ExitCode.SYNCTHING_UNSAFE


def read_api_key(config_xml: Path) -> str:
    """The GUI/REST API key from a Syncthing config.xml."""
    try:
        root = ET.parse(config_xml).getroot()
    except FileNotFoundError:
        raise ConfigError(f"google.syncthing_config: {config_xml} does not exist") from None
    except (ET.ParseError, OSError) as exc:
        raise ConfigError(f"google.syncthing_config: {config_xml} cannot be read: {exc}") from None
    key = (root.findtext("gui/apikey") or "").strip()
    if not key:
        raise ConfigError(f"google.syncthing_config: {config_xml} has no <gui><apikey>")
    return key


def resolve_api_key(config_xml: Path | None, environ: Mapping[str, str]) -> str:
    """The API key: from config.xml when configured, else from the environment."""
    if config_xml is not None:
        key = read_api_key(config_xml)
        remember(key)
        return key
    key = (read_secret(API_KEY_ENV, environ) or "").strip()
    if not key:
        raise ConfigError(
            f"no Syncthing API key: set google.syncthing_config to Syncthing's config.xml "
            f"or set {API_KEY_ENV} (or {API_KEY_ENV}_FILE)"
        )
    return key


def parse_syncthing_time_ns(text: str) -> int | None:
    """`2024-05-17T09:30:00.5Z` (up to nanoseconds, any offset) -> ns since the epoch."""
    found = _TIME_RE.match(text.strip())
    if found is None:
        return None
    whole, fraction, zone = found.groups()
    stamp = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    nanos = int((fraction or "0").ljust(9, "0"))
    return int(stamp.timestamp()) * 1_000_000_000 + nanos


@dataclass(frozen=True)
class FileView:
    """What the server's Syncthing knows about one file of the outbox."""

    global_size_bytes: int
    global_modified_ns: int | None
    is_deleted: bool
    availability: tuple[tuple[str, bool], ...] | None  # (device id, from temporary); None: unknown

    @classmethod
    def from_rest(cls, answer: Mapping[str, Any]) -> FileView:
        glob = answer.get("global") or {}
        raw = answer.get("availability")
        availability = None if raw is None else tuple(
            (str(a.get("id", "")), bool(a.get("fromTemporary", False))) for a in raw
        )
        return cls(
            global_size_bytes=int(glob.get("size", -1)),
            global_modified_ns=parse_syncthing_time_ns(str(glob.get("modified", ""))),
            is_deleted=bool(glob.get("deleted", False)),
            availability=availability,
        )


class SyncthingClient:
    """A small JSON client for one Syncthing instance's REST API."""

    def __init__(self, base_url: str, api_key: str, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s

    def call(
        self,
        path: str,
        params: Sequence[tuple[str, str]] = (),
        *,
        method: str = "GET",
        timeout_s: float | None = None,
    ) -> Any:
        """One call; None for 404 (unknown file or folder), errors for everything else."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request = urllib.request.Request(
            f"{self.base_url}{path}{query}", method=method, headers={"X-API-Key": self.api_key}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s or self.timeout_s) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            if exc.code in (401, 403):
                raise SyncthingAuthError(
                    f"Syncthing at {self.base_url} refused the API key (HTTP {exc.code}): "
                    f"check google.syncthing_config or {API_KEY_ENV}",
                    exc.code,
                ) from None
            raise SyncthingUnavailableError(
                f"Syncthing at {self.base_url} answered HTTP {exc.code} to {path}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SyncthingUnavailableError(
                f"Syncthing at {self.base_url} is not answering ({reason}): start it, or fix "
                "google.syncthing_url"
            ) from None
        return json.loads(body) if body.strip() else {}

    def ping(self) -> None:
        if self.call("/rest/system/ping") != {"ping": "pong"}:
            raise SyncthingUnavailableError(f"{self.base_url} is not a Syncthing REST API")

    def my_device_id(self) -> str:
        return str(self.call("/rest/system/status")["myID"])

    def is_connected(self, device_id: str) -> bool:
        connections = self.call("/rest/system/connections").get("connections", {})
        return bool(connections.get(device_id, {}).get("connected", False))

    def folders(self) -> list[dict[str, Any]]:
        return list(self.call("/rest/config/folders") or [])

    def devices(self) -> list[dict[str, Any]]:
        return list(self.call("/rest/config/devices") or [])

    def device_stats(self) -> dict[str, Any]:
        return dict(self.call("/rest/stats/device") or {})

    def file_view(self, folder_id: str, relpath: str) -> FileView | None:
        answer = self.call("/rest/db/file", [("folder", folder_id), ("file", relpath)])
        return FileView.from_rest(answer) if answer is not None else None

    def scan(self, folder_id: str, subs: Sequence[str] = ()) -> None:
        params = [("folder", folder_id), *(("sub", s) for s in subs)]
        self.call("/rest/db/scan", params, method="POST", timeout_s=max(self.timeout_s, 120))

    def events_since(self, since: int, timeout_s: float, types: Sequence[str]) -> list[Any]:
        """Long-poll the event stream (filtered by `types`) for events after `since`."""
        params = [("events", ",".join(types)), ("since", str(since)),
                  ("timeout", str(max(0, round(timeout_s))))]
        return list(self.call("/rest/events", params, timeout_s=timeout_s + self.timeout_s) or [])

    def event_baseline(self, types: Sequence[str]) -> int:
        """Subscribe to `types` now; returns the id to wait after (ids restart per filter)."""
        events = self.events_since(0, 0, types)
        return max((int(e.get("id", 0)) for e in events), default=0)
