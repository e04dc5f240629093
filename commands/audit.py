"""`photoledger audit`: prove every deletion from iCloud had complete evidence at the time.

Invariant: read-only. Exit 0 only when every asset the ledger records as Deleted passes
`engine.cleanup.audit` (the gate re-evaluated at each request, evidence, plan and hash);
otherwise AUDIT_FAILED (21) after listing every finding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

import click
from rich.text import Text

from commands.context import Deps, Settings, open_reader
from commands.output import console, print_json
from engine import events as ev
from engine.cleanup.audit import DeletionStory, StoredPlan, decide_deletion_stories
from engine.config import load_config
from engine.errors import AuditFailedError


@dataclass
class AuditedAsset:
    asset_id: str
    record_name: str
    label: str
    deletions: list[DeletionStory]
    problems: list[str] = field(default_factory=list)


@dataclass
class AuditReport:
    assets: list[AuditedAsset]

    @property
    def failing(self) -> list[AuditedAsset]:
        return [a for a in self.assets if a.problems]


def load_stored_plans(deps: Deps) -> dict[str, StoredPlan]:
    """Every DeletePlanned in the ledger, by plan id."""
    plans: dict[str, StoredPlan] = {}
    runs = {row["run_id"] for row in deps.projection.query("SELECT run_id FROM delete_plans")}
    for run_id in sorted(runs):
        for event in deps.ledger.events_of(UUID(run_id)):
            if isinstance(event, ev.DeletePlanned):
                plans[event.plan_id] = StoredPlan(
                    event.plan_id, event.plan_sha256, tuple(event.entries)
                )
    return plans


def run_audit(deps: Deps) -> AuditReport:
    """Audit every asset with a Deleted fact."""
    plans = load_stored_plans(deps)
    rows = deps.projection.query(
        "SELECT asset_id, record_name, COALESCE(local_relpath, filename) AS label FROM media "
        "WHERE deletion_state = 'deleted' ORDER BY asset_id"
    )
    assets = []
    for row in rows:
        events = deps.ledger.events_of(UUID(row["asset_id"]))
        stories, strays = decide_deletion_stories(events, plans, deps.config.settings)
        problems = [p for story in stories for p in story.problems] + strays
        if not any(story.outcome == "Deleted" for story in stories):
            problems.append("recorded as deleted without a request that led to it")
        assets.append(
            AuditedAsset(row["asset_id"], row["record_name"], row["label"], stories, problems)
        )
    return AuditReport(assets)


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
    with open_reader(load_config(settings.config_path), settings) as deps:
        report = run_audit(deps)
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
