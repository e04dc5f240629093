"""`photoledger doctor`: check the Syncthing set-up of the Google route, one line per finding.

Invariants:
- Reads the config and Syncthing's REST API only: no lock, no ledger, nothing written.
- Every finding is one line with its fix. Exit 0 when nothing is dangerous, 13 when Syncthing
  cannot be used at all (unreachable, API key refused), 14 for any other danger.
- The checks live in engine.google.doctor; backup-google runs the same ones before it stages.
"""

from __future__ import annotations

import os
from dataclasses import asdict

import click
from rich.text import Text

from commands.context import Settings
from commands.output import console, print_json
from engine.google.doctor import raise_for_findings, run_doctor


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
    findings = run_doctor(settings.load_config(), os.environ)
    if as_json:
        print_json([asdict(f) for f in findings])
    else:
        for finding in findings:
            console.print(Text(finding.line()))
    count = sum(f.severity == "danger" for f in findings)
    raise_for_findings(
        findings, f"{count} dangerous finding(s) above; fix them, then run doctor again"
    )


command = doctor_command
