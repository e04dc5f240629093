"""`photoledger audit`: prove every deletion from iCloud had complete evidence at the time.

Invariant: read-only. Exit 0 only when every asset the ledger records as Deleted passes
`engine.cleanup.audit` (the gate re-evaluated at each request, evidence, plan and hash);
otherwise AUDIT_FAILED (21) after listing every finding.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click
from rich.text import Text

from commands.context import Settings
from commands.output import console, print_json
from engine.cleanup import audit
from engine.errors import AuditFailedError
from engine.services import open_reader


@click.command("audit")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_obj
def command(settings: Settings, as_json: bool) -> None:
    """Check that every asset deleted from iCloud had complete evidence when it was deleted.

    For each Deleted asset the ledger is replayed: at its DeletionRequested the deletion gate
    must pass on the facts known then, the recorded evidence must be those facts, and the
    plan must exist, match its hash and list the asset with the same sha256. Exits 21 when
    any deletion fails this.
    """
    with open_reader(settings.load_config(), settings) as services:
        report = audit.run_audit(services)
    if as_json:
        data: dict[str, Any] = {
            "audited": len(report.assets),
            "failing": len(report.failing),
            "assets": [asdict(a) for a in report.assets],
        }
        print_json(data)
    else:
        for asset in report.failing:
            for problem in asset.problems:
                console.print(Text(f"{asset.label} ({asset.record_name}): {problem}"))
        console.print(
            f"audited {len(report.assets)} deleted assets: "
            f"{len(report.assets) - len(report.failing)} with complete evidence, "
            f"{len(report.failing)} without"
        )
    if report.failing:
        raise AuditFailedError(f"{len(report.failing)} deletions lack complete evidence")
