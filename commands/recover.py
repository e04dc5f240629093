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

from commands.context import Settings
from commands.output import check_nas_damage, console, print_json
from commands.progress import reporter_for
from engine.cleanup.last_copy import raise_for_damage
from engine.cleanup.recover import (
    RecoverItem,
    RecoverSummary,
    describe_gone,
    plan_recover,
    run_recover,
)
from engine.errors import AssetsFailedError, GoneFromIcloudError
from engine.nas.access import NasUnavailableError
from engine.services import Services, open_icloud, open_reader, open_writer
from projections.assets import resolve_asset
from projections.last_copy import damaged_deleted_assets


def resolve_assets(services: Services, assets: tuple[str, ...], all_damaged: bool) -> list[UUID]:
    """The asset ids named (as `history` resolves them), plus every damaged deleted asset."""
    root = services.config.library_root
    ids = [resolve_asset(services.projection, name, root) for name in assets]
    if all_damaged:
        ids += [UUID(i) for i in damaged_deleted_assets(services.projection)]
    return list(dict.fromkeys(ids))  # once each, in the order given


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
    config = settings.load_config()
    opener = open_reader(config, settings) if dry_run else open_writer(config, settings,
                                                                      "recover")
    with open_icloud(config) as port, opener as services:
        ids = resolve_assets(services, assets, all_damaged)
        if dry_run:
            summary = plan_recover(services, port, ids)
        else:
            with reporter_for(settings.show_progress, quiet=as_json) as reporter:
                summary = run_recover(services, port, ids, reporter)
        now = services.clock()
        if as_json:
            print_json({**asdict(summary), "dry_run": dry_run})
        else:
            _print_summary(summary, now, dry_run)
        if not dry_run:
            damage = check_nas_damage(services, settings.warn, quiet=as_json)
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
