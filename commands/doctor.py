"""`photoledger doctor`: check the Syncthing set-up of the Google route, one line per finding.

Invariants:
- Reads the config and Syncthing's REST API only: no lock, no ledger, nothing written.
- Every finding is one line with its fix. Exit 0 when nothing is dangerous, 13 when Syncthing
  cannot be used at all (unreachable, API key refused), 14 for any other danger.
- backup-google runs the same checks (`refuse_if_unsafe`) before it stages anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict

import click
from rich.text import Text

from commands.context import Settings
from commands.output import console, print_json
from engine.config import Config, load_config
from engine.errors import ConfigError, ExitCode
from engine.google.doctor import DoctorInputs, Finding, examine_setup, has_danger
from engine.google.syncthing import (
    SyncthingClient,
    SyncthingUnavailableError,
    SyncthingUnsafeError,
    resolve_api_key,
)


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
    """Every finding about the configured Syncthing set-up."""
    try:
        client: SyncthingClient | None = syncthing_client(config, environ)
    except ConfigError as exc:
        key_finding = Finding("danger", f"no usable Syncthing API key ({exc})", "", True)
        return [key_finding, *examine_setup(doctor_inputs(config), None)]
    return examine_setup(doctor_inputs(config), client)


def doctor_exit_code(findings: list[Finding]) -> ExitCode:
    if any(f.severity == "danger" and f.is_unreachable for f in findings):
        return ExitCode.SYNCTHING_UNAVAILABLE
    return ExitCode.SYNCTHING_UNSAFE if has_danger(findings) else ExitCode.OK


def refuse_if_unsafe(findings: list[Finding]) -> None:
    """Raise the error backup-google stops with when the set-up is dangerous."""
    dangers = [f for f in findings if f.severity == "danger"]
    if not dangers:
        return
    more = f" (and {len(dangers) - 1} more)" if len(dangers) > 1 else ""
    message = f"{dangers[0].line()}{more}; run `photoledger doctor`; nothing was staged"
    if doctor_exit_code(findings) == ExitCode.SYNCTHING_UNAVAILABLE:
        raise SyncthingUnavailableError(message)
    raise SyncthingUnsafeError(message)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_obj
def doctor_command(settings: Settings, as_json: bool) -> None:
    """Check the Syncthing set-up behind backup-google; one line per finding, with its fix.

    Dangerous (exit 14; backup-google refuses to stage): the outbox folder not send-only, at
    another path, with ignoreDelete, or not shared with the Pixel; the library or the NAS
    inside a Syncthing folder; a Pixel that never connected. Syncthing unreachable or the API
    key refused: exit 13.
    """
    findings = run_doctor(load_config(settings.config_path), os.environ)
    if as_json:
        print_json([asdict(f) for f in findings])
    else:
        for finding in findings:
            console.print(Text(finding.line()))
    count = sum(f.severity == "danger" for f in findings)
    message = f"{count} dangerous finding(s) above; fix them, then run doctor again"
    code = doctor_exit_code(findings)
    if code == ExitCode.SYNCTHING_UNAVAILABLE:
        raise SyncthingUnavailableError(message)
    if code == ExitCode.SYNCTHING_UNSAFE:
        raise SyncthingUnsafeError(message)


command = doctor_command
