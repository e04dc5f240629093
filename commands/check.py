"""`photoledger check`: prove the ledger is intact and the projection equals a fresh replay.

Invariant: every finding exits 8 (CHECK_FAILED), a ledger that cannot even be opened
(missing, not a database) included; other codes only for a bad config (3), an unreachable
PostgreSQL ledger (9) or a bug (1).
"""

from __future__ import annotations

from dataclasses import asdict

import click

from commands.context import Settings
from commands.output import console, print_json, progress_bar
from engine.errors import CheckFailedError, LedgerDamagedError
from engine.maintenance import CheckReport, run_check
from engine.services import open_reader


@click.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def command(settings: Settings, as_json: bool) -> None:
    """Verify the ledger and the projection; exit 8 when anything is wrong.

    Runs SQLite's integrity_check on the ledger file, decodes every event, checks that each
    asset's versions are contiguous, checks the media projection file (SQLite quick_check), and
    compares the media table with a fresh replay. A ledger that cannot be opened is a finding.
    Read-only apart from bringing the projection up to date.
    """
    config = settings.load_config()
    try:
        with open_reader(config, settings, catch_up=False) as services:
            events = services.ledger.max_position()
            with progress_bar("checking events", events, settings.show_progress) as advance:
                report = run_check(services, advance)
    except LedgerDamagedError as exc:  # cannot be opened: that is the finding
        report = CheckReport(events=0, assets=0, findings=[str(exc)])
    if as_json:
        print_json({**asdict(report), "is_clean": report.is_clean})
    else:
        for finding in report.findings:
            console.print(f"problem: {finding}", markup=False)
        if report.is_clean:
            console.print(f"ok: {report.events} events, {report.assets} assets, projection matches")
    if not report.is_clean:
        raise CheckFailedError(f"check found {len(report.findings)} problem(s)")
