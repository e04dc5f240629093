"""What a `compress` run would do: every candidate's decision, and the `--plan` and
`--dry-run` views of it.

Invariants:
- Reads the projection and the clock passed in only: no lock, no run, no file opened; the
  decisions themselves are engine.compress.tiers's (pure).
- The candidates come from projections.worklists in work-list order (oldest capture first);
  `limit` counts only assets due for compression.
- A format change claims its new name at once, so two assets of one run never get one name.
- The expected saving of a tier is its measured after/before ratio once enough assets are at
  it (projections.compression.measured_ratios), else the built-in estimate per file.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine.cleanup.effects import mounted_nas_id
from engine.compress.tiers import (
    CompressDecision,
    CompressionPolicy,
    decide_compression,
    estimate_ratio,
)
from engine.config import Config
from engine.services import Services
from projections.compression import held_relpaths, measured_ratios
from projections.media import MediaProjection
from projections.worklists import compress_candidates


@dataclass(frozen=True)
class PlannedCompression:
    """One asset a run would compress (`--dry-run`)."""

    relpath: str
    tier: str
    codec: str


def compression_policy(config: Config, now_utc: datetime, nas_root: Path | None) -> (
    CompressionPolicy
):
    """The policy as of `now_utc`; NAS verifications count only for the NAS at `nas_root`."""
    settings = config.settings
    return CompressionPolicy(
        settings.compression, timedelta(days=settings.nas.max_verify_age_days), now_utc,
        mounted_nas_id(nas_root),
    )


def plan_compression(
    projection: MediaProjection, policy: CompressionPolicy, limit: int | None = None
) -> list[tuple[str, CompressDecision]]:
    """Every candidate's decision, in work-list order (oldest capture first)."""
    ids = compress_candidates(projection)
    states = projection.states_of(set(ids))
    held = held_relpaths(projection)
    decisions = []
    for asset_id in ids:
        decision = decide_compression(asset_id, states[asset_id], policy, held)
        for f in decision.job.files if decision.job else ():
            held.setdefault(f.relpath_after.casefold(), asset_id)
        decisions.append((asset_id, decision))
    if limit is not None:
        due = [d for d in decisions if d[1].action == "compress"][:limit]
        return due + [d for d in decisions if d[1].action != "compress"]
    return decisions


def _planned_decisions(services: Services, limit: int | None) -> (
    list[tuple[str, CompressDecision]]
):
    config = services.config
    policy = compression_policy(config, services.clock(), config.nas_root())
    return plan_compression(services.projection, policy, limit)


def plan_compress_listing(services: Services, limit: int | None) -> list[PlannedCompression]:
    """Each asset a run would compress now, in the order it would (`--dry-run`)."""
    return [
        PlannedCompression(d.job.label, d.job.tier, d.job.codec)
        for _asset_id, d in _planned_decisions(services, limit) if d.job
    ]


def plan_compress_tiers(services: Services, limit: int | None) -> dict[str, Any]:
    """What a run would do now (`--plan`): per tier the assets, bytes and expected saving,
    and per reason the assets not compressed."""
    measured = measured_ratios(services.projection)
    tiers: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"assets": 0, "bytes_now": 0, "expected_bytes_after": 0, "kinds": {}}
    )
    others: dict[str, int] = defaultdict(int)
    for _asset_id, decision in _planned_decisions(services, limit):
        if decision.job is None:
            others[decision.action] += 1
            continue
        _add_to_plan(tiers[decision.job.tier], decision, measured)
    for tier in tiers.values():
        tier["expected_saving_bytes"] = tier["bytes_now"] - tier["expected_bytes_after"]
        tier["ratio_source"] = "measured" if tier.pop("is_measured", False) else "estimate"
    return {"tiers": dict(tiers), "not_compressed": dict(others)}


def _add_to_plan(
    row: dict[str, Any], decision: CompressDecision, measured: dict[str, float]
) -> None:
    job = decision.job
    assert job is not None
    ratio = measured.get(job.tier)
    if ratio is None:
        ratio = sum(estimate_ratio(f) for f in job.files) / len(job.files)
    else:
        row["is_measured"] = True
    row["assets"] += 1
    row["bytes_now"] += job.size_bytes
    row["expected_bytes_after"] += int(job.size_bytes * ratio)
    row["kinds"][job.codec] = row["kinds"].get(job.codec, 0) + 1
