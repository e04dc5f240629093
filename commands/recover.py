"""`photoledger recover ASSET... | --all-damaged`: bring assets back from Recently Deleted.

Invariants:
- Options -> config -> services -> one engine entry (engine.cleanup.recover) -> render; the
  engine re-downloads through the download stage's engine and repairs the NAS copies through
  the NAS stage's engine, so a recovered asset is handled exactly as those stages handle any.
- ASSET is resolved as `history` resolves it (asset id, iCloud record name or local path);
  `--all-damaged` takes every asset deleted from iCloud whose NAS copy is damaged.
- Exit code, raised inside the writer so the run records it: GONE_FROM_ICLOUD (19) when
  iCloud no longer holds a named asset; ASSETS_FAILED (16) when a re-download failed or gave
  other bytes than recorded before the deletion (quarantined, never filed), or iCloud kept
  answering CONFLICT; NAS_UNAVAILABLE (12) when the NAS is not mounted for the repair; then
  the NAS damage check of every NAS command (18, 17). "Not deleted" is said, and is 0.
- `--dry-run` opens the ledger read-only and asks iCloud only to look: nothing is written.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from uuid import UUID

import click
from rich.text import Text

from commands.backup_nas import LogProgress as NasLogProgress
from commands.backup_nas import nas_context, nas_root_of
from commands.context import Deps, Settings, open_icloud, open_reader, open_writer
from commands.download import LogProgress, download_options, local_timezone, naming_policy
from commands.output import check_nas_damage, console, print_json
from engine.cleanup.last_copy import raise_for_damage
from engine.cleanup.recover import (
    RecoverContext,
    RecoverItem,
    RecoverSummary,
    describe_gone,
    execute_recover,
    plan_recover,
)
from engine.config import load_config
from engine.download.options import RunContext
from engine.errors import AssetsFailedError, GoneFromIcloudError
from engine.icloud.port import IcloudPort
from engine.nas.access import NasUnavailableError
from projections.assets import resolve_asset
from projections.last_copy import damaged_deleted_assets


def recover_context(deps: Deps, port: IcloudPort, run_id: str) -> RecoverContext:
    """The engine's view of this command's dependencies (the download and NAS stages')."""
    config = deps.config
    download = RunContext(
        ledger=deps.ledger, projection=deps.projection, crash=deps.crash, run_id=run_id,
        library_root=config.library_root, naming=naming_policy(config, local_timezone()),
    )
    nas = nas_context(deps, nas_root_of(config)) if config.settings.nas.root and run_id else None
    return RecoverContext(
        ledger=deps.ledger, projection=deps.projection, port=port, crash=deps.crash,
        run_id=run_id, clock=deps.clock, download=download,
        download_options=download_options(config), download_progress=LogProgress(enabled=False),
        nas=nas, nas_progress=NasLogProgress(enabled=False),
    )


def resolve_assets(deps: Deps, assets: tuple[str, ...], all_damaged: bool) -> list[UUID]:
    """The asset ids named (as `history` resolves them), plus every damaged deleted asset."""
    ids = [resolve_asset(deps.projection, name, deps.config.library_root) for name in assets]
    if all_damaged:
        ids += [UUID(i) for i in damaged_deleted_assets(deps.projection)]
    return list(dict.fromkeys(ids))  # once each, in the order given


def run_recover(deps: Deps, port: IcloudPort, asset_ids: list[UUID], *,
                dry_run: bool = False) -> RecoverSummary:
    """Recover, re-download and repair (or, dry, say what would happen)."""
    if dry_run:
        return plan_recover(recover_context(deps, port, ""), asset_ids)
    summary = execute_recover(recover_context(deps, port, deps.run_id), asset_ids)
    deps.record_stage_completed("recover", {
        outcome: sum(item.outcome == outcome for item in summary.items)
        for outcome in ("recovered", "reconciled", "finishing", "not-deleted", "gone",
                        "conflict")
    })
    return summary


@click.command("recover")
@click.argument("assets", nargs=-1)
@click.option("--all-damaged", is_flag=True,
              help="Every asset deleted from iCloud whose NAS copy is damaged or missing.")
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def command(settings: Settings, assets: tuple[str, ...], all_damaged: bool, dry_run: bool,
            as_json: bool) -> None:
    """Bring ASSET back from iCloud's Recently Deleted, download it again, repair its NAS copy.

    iCloud keeps a deleted photo 30 days in Recently Deleted. Within them, this puts it back
    in the Library, downloads every resource again (each must hash to the sha256 recorded
    before the deletion; other bytes are refused, never filed) and copies them to the NAS
    again, re-read and hashed. The asset goes back to the normal pipeline: it is deleted
    again only through the deletion gate. ASSET is an asset id, an iCloud record name or a
    local path, as for `history`.
    """
    if not assets and not all_damaged:
        raise click.UsageError("name at least one ASSET, or use --all-damaged")
    config = load_config(settings.config_path)
    opener = open_reader(config, settings) if dry_run else open_writer(config, settings,
                                                                      "recover")
    with open_icloud(config) as port, opener as deps:
        ids = resolve_assets(deps, assets, all_damaged)
        summary = run_recover(deps, port, ids, dry_run=dry_run)
        now = deps.clock()
        if as_json:
            print_json({**asdict(summary), "dry_run": dry_run})
        else:
            _print_summary(summary, now, dry_run)
        if not dry_run:
            damage = check_nas_damage(deps, settings.warn, quiet=as_json)
            raise_for_recover(summary, now)
            raise_for_damage(damage, now)


def raise_for_recover(summary: RecoverSummary, now: datetime) -> None:
    """The exit code of the recover itself, when it is not 0 (see the module invariants)."""
    gone = [item for item in summary.items if item.outcome == "gone"]
    if gone:
        more = f" (and {len(gone) - 1} more)" if len(gone) > 1 else ""
        raise GoneFromIcloudError(describe_gone(gone[0], now) + more)
    failed = [item for item in summary.items if item.problems or item.outcome == "conflict"]
    if failed:
        first = failed[0]
        reason = first.problems[0] if first.problems else "iCloud kept answering CONFLICT"
        raise AssetsFailedError(
            f"{len(failed)} assets not fully recovered; first: {first.label}: {reason}")
    if summary.is_nas_unmounted:
        raise NasUnavailableError(summary.nas_note)


def _print_summary(summary: RecoverSummary, now: datetime, dry_run: bool) -> None:
    for item in summary.items:
        console.print(Text(_item_line(item, now, dry_run)))
        for problem in item.problems:
            console.print(Text(f"  {problem}"))
    if summary.nas_note:
        console.print(Text(f"NAS: {summary.nas_note}"))


def _item_line(item: RecoverItem, now: datetime, dry_run: bool) -> str:
    if item.outcome == "gone":
        return describe_gone(item, now)
    if item.outcome == "conflict":
        return (f"{item.label}: changed in iCloud while being recovered (CONFLICT): nothing "
                "changed; run the recover again")
    if dry_run or item.outcome == "not-deleted":
        return f"{item.label}: {item.detail}"
    head = {
        "recovered": "recovered from iCloud's Recently Deleted",
        "reconciled": "already back in iCloud's Library (recorded as recovered)",
        "finishing": "recovered earlier",
    }[item.outcome]
    nas = "NAS copy repaired and re-read" if item.is_nas_repaired else "NAS copy not repaired"
    plural = "s" if item.refetched != 1 else ""
    return (f"{item.label}: {head}; {item.refetched} resource{plural} downloaded again with "
            f"the sha256 recorded before the deletion; {nas}")
