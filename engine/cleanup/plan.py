"""Deletion plans: which album-moved assets pass the gate, their evidence, and the plan's hash.

Invariants:
- A plan is built only from confirmed outputs: an asset enters it only when
  `decide_deletable` passes for it, and its entry copies the gate's evidence. Every other
  candidate is listed as blocked, with the gate's reasons.
- `plan_sha256` is a hash of the entries (sorted by asset id, canonical JSON): the executing
  run recomputes it from the stored DeletePlanned and refuses a plan that does not match.
- The mass-delete guard (rclone's --max-delete, borg's caution) is a pure decision: more than
  `cleanup.max_delete` assets, more than `cleanup.max_delete_fraction` of the library, or an
  I/O error earlier in the run refuses unless the user forces it.
- Pure: no clock, no ledger, no network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import msgspec

from engine.asset import MediaState
from engine.cleanup.gate import Block, decide_deletable
from engine.config import ConfigFile
from engine.events import PlanEntry
from engine.selection import SelectionCheck

_canonical = msgspec.json.Encoder(order="sorted")


@dataclass(frozen=True)
class BlockedAsset:
    """A candidate the gate refused, with why."""

    asset_id: str
    label: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class DeletionPlan:
    """What `delete plan` decided: the deletable entries and the blocked candidates."""

    plan_id: str
    entries: tuple[PlanEntry, ...]
    blocked: tuple[BlockedAsset, ...]
    plan_sha256: str
    needs_force: tuple[str, ...] = ()  # why executing it needs --force (the mass-delete guard)

    @property
    def freed_bytes(self) -> int:
        return sum(entry.icloud_size_bytes for entry in self.entries)


def plan_sha256(entries: Iterable[PlanEntry]) -> str:
    """The hash a plan is stored and checked with (independent of entry order)."""
    ordered = sorted(entries, key=lambda entry: entry.asset_id)
    return hashlib.sha256(_canonical.encode(ordered)).hexdigest()


def label_of(state: MediaState) -> str:
    """How a person recognises an asset in a list: its local path, else its name."""
    return state.local_relpath or f"{state.filename} ({state.record_name})"


def plan_deletion(
    plan_id: str,
    candidates: Iterable[tuple[str, MediaState]],
    now: datetime,
    settings: ConfigFile,
    mounted_nas_id: str | None,
    *,
    selection: SelectionCheck,
) -> DeletionPlan:
    """Evaluate the gate for each candidate (asset id hex, state) and build the plan, with
    the NAS whose marker holds `mounted_nas_id` mounted (None: none), under the selection."""
    entries: list[PlanEntry] = []
    blocked: list[BlockedAsset] = []
    for asset_id, state in candidates:
        verdict = decide_deletable(state, now, settings, mounted_nas_id, selection)
        if verdict.evidence is None or not verdict.is_deletable:
            blocked.append(BlockedAsset(asset_id, label_of(state), verdict.blocks))
            continue
        e = verdict.evidence
        entries.append(
            PlanEntry(
                asset_id=asset_id,
                record_name=state.record_name,
                sha256=e.sha256,
                icloud_size_bytes=e.icloud_size_bytes,
                nas_verified_at_utc=e.nas_verified_at_utc,
                google_device_id=e.google_device_id,
                google_verified_at_utc=e.google_verified_at_utc,
                remote_change_tag=e.remote_change_tag,
            )
        )
    return DeletionPlan(plan_id, tuple(entries), tuple(blocked), plan_sha256(entries))


def decide_mass_delete_guard(
    count: int, library_assets: int, settings: ConfigFile, had_io_error: bool
) -> tuple[str, ...]:
    """Why deleting `count` of `library_assets` assets needs --force (empty: it does not)."""
    cleanup = settings.cleanup
    reasons = []
    if count > cleanup.max_delete:
        reasons.append(f"{count} assets is more than cleanup.max_delete ({cleanup.max_delete})")
    if library_assets and count > cleanup.max_delete_fraction * library_assets:
        reasons.append(
            f"{count} of {library_assets} assets is more than cleanup.max_delete_fraction "
            f"({cleanup.max_delete_fraction:.0%}) of the library"
        )
    if had_io_error:
        reasons.append("an I/O error happened earlier in this run")
    return tuple(reasons)
