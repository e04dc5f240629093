"""`photoledger check`: prove the ledger is intact and the projection equals a fresh replay."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import click

from commands.context import Deps, Settings, open_reader
from commands.output import console, print_json, progress_bar
from engine.config import load_config
from engine.errors import CheckFailedError, PhotoledgerError
from engine.ledger_check import check_events, sqlite_integrity
from projections.media import replay_rows


@dataclass(frozen=True)
class CheckReport:
    events: int
    assets: int
    findings: list[str]

    @property
    def is_clean(self) -> bool:
        return not self.findings


def run_check(deps: Deps, show_progress: bool = False) -> CheckReport:
    """Integrity, decodability, contiguous versions, then projection == replay."""
    findings = sqlite_integrity(deps.ledger)
    events = deps.ledger.max_position()
    with progress_bar("checking events", events, show_progress) as advance:
        findings += check_events(deps.ledger, advance)
    assets = 0
    if not findings:
        findings += _compare_projection(deps)
        assets = int(deps.projection.con.execute("SELECT COUNT(*) FROM media").fetchone()[0])
    return CheckReport(events=events, assets=assets, findings=findings)


def _compare_projection(deps: Deps) -> list[str]:
    try:
        deps.projection.catch_up(deps.ledger)
    except PhotoledgerError as exc:
        return [f"projection cannot catch up: {exc}"]
    actual = deps.projection.rows()
    expected = replay_rows(deps.ledger, deps.projection.position())
    if actual == expected:
        return []
    actual_by_id = {row[0]: row for row in actual}
    expected_by_id = {row[0]: row for row in expected}
    differing = sorted(
        asset_id
        for asset_id in actual_by_id.keys() | expected_by_id.keys()
        if actual_by_id.get(asset_id) != expected_by_id.get(asset_id)
    )
    return [
        f"media projection differs from a fresh replay for {len(differing)} assets "
        f"(first: {differing[0]}): run `photoledger rebuild`"
    ]


@click.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def command(settings: Settings, as_json: bool) -> None:
    """Verify the ledger and the projection; exit 8 when anything is wrong.

    Runs SQLite's integrity_check on the ledger file, decodes every event, checks that each
    asset's versions are contiguous, and compares the media table with a fresh replay.
    Read-only apart from bringing the projection up to date.
    """
    with open_reader(load_config(settings.config_path), settings, catch_up=False) as deps:
        report = run_check(deps, settings.show_progress)
    if as_json:
        print_json({**asdict(report), "is_clean": report.is_clean})
    else:
        for finding in report.findings:
            console.print(f"problem: {finding}", markup=False)
        if report.is_clean:
            console.print(f"ok: {report.events} events, {report.assets} assets, projection matches")
    if not report.is_clean:
        raise CheckFailedError(f"check found {len(report.findings)} problem(s)")
