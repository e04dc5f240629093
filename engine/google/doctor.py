"""Checks of the Syncthing set-up behind the Google route, each a one-line finding with its fix.

Invariants:
- A "danger" finding means staging could lose or leak photos (or cannot work at all):
  backup-google refuses to stage while any exists. A "warning" is worth knowing but safe (the
  Pixel is offline now: files wait). "ok" lines say what was checked.
- Dangerous: Syncthing unreachable or refusing the API key; the outbox folder missing, not
  send-only, at another path than `google.outbox`, with `ignoreDelete`, or not shared with the
  Pixel; the library or the NAS inside (or containing) any Syncthing folder; a Pixel that has
  never connected.
- Only reads: a few REST GETs and stat calls; nothing is changed in Syncthing or on disk.
- Exit codes: 13 when Syncthing cannot be used at all (unreachable, API key refused), 14 for
  any other danger (`doctor_exit_code`); backup-google stops with the same codes before it
  places a file (`refuse_if_unsafe`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.config import Config
from engine.errors import ConfigError, ExitCode
from engine.google.syncthing import (
    SyncthingAuthError,
    SyncthingClient,
    SyncthingUnavailableError,
    SyncthingUnsafeError,
    resolve_api_key,
)

NEVER_SEEN_PREFIXES = ("1970-01-01", "0001-01-01")


@dataclass(frozen=True)
class Finding:
    severity: str  # "danger", "warning" or "ok"
    message: str
    fix: str = ""
    is_unreachable: bool = False  # Syncthing itself cannot be used (exit 13, not 14)

    def line(self) -> str:
        return f"{self.severity}: {self.message}" + (f"; fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class DoctorInputs:
    """The configured route and the folders that must never be shared."""

    syncthing_url: str
    folder_id: str
    outbox: Path | None
    pixel_device_id: str | None
    library_root: Path
    nas_root: Path | None


def has_danger(findings: list[Finding]) -> bool:
    return any(f.severity == "danger" for f in findings)


def doctor_inputs(config: Config) -> DoctorInputs:
    """The route's settings as absolute paths."""
    google, nas_root = config.settings.google, config.settings.nas.root
    return DoctorInputs(
        syncthing_url=google.syncthing_url,
        folder_id=google.folder_id,
        outbox=config.resolve(google.outbox) if google.outbox else None,
        pixel_device_id=google.pixel_device_id,
        library_root=config.library_root,
        nas_root=config.resolve(nas_root) if nas_root else None,
    )


def syncthing_client(config: Config, environ: Mapping[str, str]) -> SyncthingClient:
    """A client for the configured Syncthing; ConfigError when no API key can be found."""
    google = config.settings.google
    config_xml = config.resolve(google.syncthing_config) if google.syncthing_config else None
    return SyncthingClient(google.syncthing_url, resolve_api_key(config_xml, environ))


def run_doctor(config: Config, environ: Mapping[str, str]) -> list[Finding]:
    """Every finding about the configured Syncthing set-up (`photoledger doctor`)."""
    try:
        client: SyncthingClient | None = syncthing_client(config, environ)
    except ConfigError as exc:
        key_finding = Finding("danger", f"no usable Syncthing API key ({exc})", "", True)
        return [key_finding, *examine_setup(doctor_inputs(config), None)]
    return examine_setup(doctor_inputs(config), client)


def doctor_exit_code(findings: list[Finding]) -> ExitCode:
    """13 when Syncthing cannot be used at all, 14 for any other danger, else 0."""
    if any(f.severity == "danger" and f.is_unreachable for f in findings):
        return ExitCode.SYNCTHING_UNAVAILABLE
    return ExitCode.SYNCTHING_UNSAFE if has_danger(findings) else ExitCode.OK


def raise_for_findings(findings: list[Finding], message: str) -> None:
    """Raise the error of `doctor_exit_code` with `message`; nothing when no danger."""
    code = doctor_exit_code(findings)
    if code == ExitCode.SYNCTHING_UNAVAILABLE:
        raise SyncthingUnavailableError(message)
    if code == ExitCode.SYNCTHING_UNSAFE:
        raise SyncthingUnsafeError(message)


def refuse_if_unsafe(findings: list[Finding]) -> None:
    """Raise the error backup-google stops with when the set-up is dangerous."""
    dangers = [f for f in findings if f.severity == "danger"]
    if not dangers:
        return
    more = f" (and {len(dangers) - 1} more)" if len(dangers) > 1 else ""
    raise_for_findings(
        findings, f"{dangers[0].line()}{more}; run `photoledger doctor`; nothing was staged"
    )


def examine_setup(inputs: DoctorInputs, client: SyncthingClient | None) -> list[Finding]:
    """Every finding about the set-up; `client` is None when no API key could be found."""
    findings = _config_findings(inputs)
    if client is None:
        return findings
    try:
        client.ping()
        folders, device_stats = client.folders(), client.device_stats()
        connected = bool(inputs.pixel_device_id) and client.is_connected(
            inputs.pixel_device_id or ""
        )
    except SyncthingAuthError as exc:
        message = f"Syncthing at {inputs.syncthing_url} refused the API key (HTTP {exc.status})"
        return [*findings, Finding("danger", message, _KEY_FIX, True)]
    except SyncthingUnavailableError as exc:
        return [*findings, Finding("danger", str(exc), "", True)]
    findings.append(Finding("ok", f"Syncthing answers at {inputs.syncthing_url} with this API key"))
    outbox_folder = next((f for f in folders if f.get("id") == inputs.folder_id), None)
    if outbox_folder is None:
        findings.append(Finding(
            "danger", f"Syncthing has no folder with id {inputs.folder_id!r}",
            "add the outbox as a send-only folder shared with the Pixel, or fix google.folder_id",
        ))
    else:
        findings.extend(_folder_findings(inputs, outbox_folder))
    findings.extend(_pixel_findings(inputs, device_stats, connected))
    findings.extend(_overlap_findings(inputs, folders))
    return findings


_KEY_FIX = "set google.syncthing_config to Syncthing's config.xml, or PHOTOLEDGER_SYNCTHING_API_KEY"


def _config_findings(inputs: DoctorInputs) -> list[Finding]:
    findings = []
    if inputs.outbox is None:
        findings.append(Finding("danger", "google.outbox is not set",
                                "set it to the Syncthing folder shared with the Pixel"))
    elif not inputs.outbox.is_dir():
        findings.append(Finding("danger", f"the outbox {inputs.outbox} does not exist",
                                "create it, or fix google.outbox"))
    if not inputs.pixel_device_id:
        findings.append(Finding("danger", "google.pixel_device_id is not set",
                                "copy the Pixel's device id from its Syncthing app"))
    return findings


def _same_path(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _folder_findings(inputs: DoctorInputs, folder: dict[str, Any]) -> list[Finding]:
    name, path = inputs.folder_id, Path(str(folder.get("path", "")))
    checks: list[tuple[bool, str, str]] = [
        (inputs.outbox is None or _same_path(path, inputs.outbox),
         f"folder {name} is at {path}, but google.outbox is {inputs.outbox}",
         "point google.outbox at the folder's path (or the folder at the outbox)"),
        (folder.get("type") == "sendonly",
         f"folder {name} is {folder.get('type')}, not send-only: changes on the Pixel would "
         "come back into the outbox",
         "set the folder type to \"Send Only\" in Syncthing"),
        (not folder.get("ignoreDelete", False),
         f"folder {name} has ignoreDelete set: removals would never reach the Pixel and the "
         "folder never shows in sync", "turn ignoreDelete off in the folder's advanced settings"),
        (any(d.get("deviceID") == inputs.pixel_device_id for d in folder.get("devices", [])),
         f"folder {name} is not shared with the Pixel {_short(inputs.pixel_device_id)}",
         "share the folder with the Pixel in Syncthing"),
    ]
    findings = [Finding("danger", message, fix) for ok, message, fix in checks if not ok]
    if folder.get("paused"):
        findings.append(Finding("warning", f"folder {name} is paused: nothing is sent",
                                "resume it in Syncthing"))
    if not findings:
        findings.append(Finding("ok", f"folder {name} is send-only at {path}, shared with the "
                                f"Pixel {_short(inputs.pixel_device_id)}"))
    return findings


def _pixel_findings(inputs: DoctorInputs, stats: dict[str, Any], connected: bool) -> list[Finding]:
    if not inputs.pixel_device_id:
        return []
    short = _short(inputs.pixel_device_id)
    if connected:
        return [Finding("ok", f"the Pixel {short} is connected")]
    last_seen = str(stats.get(inputs.pixel_device_id, {}).get("lastSeen", ""))
    if not last_seen or last_seen.startswith(NEVER_SEEN_PREFIXES):
        return [Finding("danger", f"the Pixel {short} has never connected to this Syncthing",
                        "check google.pixel_device_id, add this server on the Pixel's Syncthing "
                        "app and accept the folder there")]
    return [Finding("warning", f"the Pixel {short} is not connected now (last seen "
                    f"{last_seen}): staged files wait for it", "open Syncthing on the Pixel")]


def _overlap_findings(inputs: DoctorInputs, folders: list[dict[str, Any]]) -> list[Finding]:
    """The library and the NAS must be neither inside nor around any shared folder."""
    guarded: list[tuple[str, Path]] = [("library", inputs.library_root)]
    if inputs.nas_root is not None:
        guarded.append(("NAS folder", inputs.nas_root))
    findings = []
    for what, root in guarded:
        for folder in folders:
            shared = Path(os.path.realpath(str(folder.get("path", ""))))
            if _overlaps(Path(os.path.realpath(root)), shared):
                findings.append(Finding(
                    "danger", f"the {what} {root} overlaps Syncthing folder "
                    f"{folder.get('id')} at {shared}: a remote change could alter it",
                    "keep the library and the NAS out of every Syncthing folder (the outbox is "
                    "a separate folder)",
                ))
    return findings


def _overlaps(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def _short(device_id: str | None) -> str:
    return (device_id or "?").split("-")[0]

