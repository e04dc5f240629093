"""Re-sending named assets to the Pixel: where each file's downloaded bytes are read from.

Invariants:
- Planning reads (hashes) the library copy and, only when that is not the downloaded file,
  the NAS copy at the same relative path; it writes nothing.
- Every named asset's source is settled before anything is written: one that cannot be
  re-sent refuses the whole request (ResendRefusedError), naming each refusal.
- Assets are named the way `photoledger history` takes them (projections.assets): an id, an
  iCloud record name or a library path; a name that fits no asset, or several, is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from engine.asset import Asset
from engine.errors import ExitCode, PhotoledgerError
from engine.google.plan import (
    OutboxFile,
    SourceSeen,
    decide_resend_refusal,
    decide_resend_source,
    plan_outbox_files,
)
from engine.google.stage import observe_resend_sources
from engine.ledger import Ledger
from engine.services import Services
from projections.assets import resolve_asset


class ResendRefusedError(PhotoledgerError):
    """A named asset cannot be re-sent (never staged, or no copy has its downloaded bytes)."""

    exit_code = ExitCode.NOT_FOUND


@dataclass(frozen=True)
class ResendJob:
    """One asset to re-send: each of its files with the place its bytes are read from."""

    asset: Asset
    files: tuple[tuple[OutboxFile, SourceSeen], ...]


def resolve_assets(services: Services, names: Sequence[str]) -> list[UUID]:
    """Asset ids for names given like `photoledger history ASSET` takes them."""
    root = services.config.library_root
    return [resolve_asset(services.projection, name, root) for name in names]


def find_downloaded_bytes(
    file: OutboxFile, library_root: Path, nas_root: Path | None
) -> SourceSeen | str:
    """The copy (library first, then NAS) holding the file's downloaded bytes, or why none."""
    return decide_resend_source(file, observe_resend_sources(file, library_root, nas_root))


def plan_google_resend(
    ledger: Ledger, asset_ids: Sequence[UUID], library_root: Path, nas_root: Path | None,
    *, include_edits: bool = False,
) -> list[ResendJob]:
    """Where each named asset's files would be re-sent from; refuses if any asset cannot be.

    Reads the library (and, where needed, the NAS) copies to hash them; writes nothing.
    """
    jobs: list[ResendJob] = []
    refusals: list[str] = []
    for asset_id in dict.fromkeys(asset_ids):  # a name given twice is one resend
        asset = ledger.get_asset(asset_id)
        label = f"asset {asset_id.hex} ({asset.state.local_relpath or 'not downloaded'})"
        refusal = decide_resend_refusal(asset.state)
        if refusal is not None:
            refusals.append(f"cannot resend {label}: {refusal}")
            continue
        chosen: list[tuple[OutboxFile, SourceSeen]] = []
        for file in plan_outbox_files(asset.state, include_edits=include_edits):
            decision = find_downloaded_bytes(file, library_root, nas_root)
            if isinstance(decision, str):
                refusals.append(f"cannot resend {label}: {decision}")
                break
            chosen.append((file, decision))
        else:
            jobs.append(ResendJob(asset, tuple(chosen)))
    if refusals:
        raise ResendRefusedError("; ".join(refusals) + "; nothing was re-sent")
    return jobs


def plan_google_resend_lines(services: Services, names: Sequence[str]) -> list[str]:
    """What `--resend NAME... --dry-run` would do, one line per file (hashes the copies it
    would read; writes nothing)."""
    config = services.config
    jobs = plan_google_resend(
        services.ledger, resolve_assets(services, names), config.library_root,
        config.nas_root(), include_edits=config.settings.google.include_edits,
    )
    return describe_resend(jobs)


def describe_resend(jobs: list[ResendJob]) -> list[str]:
    """One `resend PATH from SOURCE` line per file (for --dry-run)."""
    names = {"library": "library", "nas": "NAS"}
    return [f"resend {file.relpath} from the {names.get(source.where, source.where)} copy"
            for job in jobs for file, source in job.files]
