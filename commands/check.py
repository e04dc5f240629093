"""`photoledger check`: prove the ledger is intact and the projection equals a fresh replay."""

from __future__ import annotations

from dataclasses import asdict

import click

from commands.context import Settings
from commands.output import console, print_json, progress_bar
from engine.config import load_config
from engine.errors import CheckFailedError
from engine.maintenance import run_check
from engine.services import open_reader


@click.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def command(settings: Settings, as_json: bool) -> None:
    """Verify the ledger and the projection; exit 8 when anything is wrong.

    Runs SQLite's integrity_check on the ledger file, decodes every event, checks that each
    asset's versions are contiguous, and compares the media table with a fresh replay.
    Read-only apart from bringing the projection up to date.
    """
    with open_reader(load_config(settings.config_path), settings, catch_up=False) as services:
        events = services.ledger.max_position()
        with progress_bar("checking events", events, settings.show_progress) as advance:
            report = run_check(services, advance)
    if as_json:
        print_json({**asdict(report), "is_clean": report.is_clean})
    else:
        for finding in report.findings:
            console.print(f"problem: {finding}", markup=False)
        if report.is_clean:
            console.print(f"ok: {report.events} events, {report.assets} assets, projection matches")
    if not report.is_clean:
        raise CheckFailedError(f"check found {len(report.findings)} problem(s)")
