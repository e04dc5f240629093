"""The audit trail of deletions: every Deleted must rest on complete evidence at the time.

Invariants:
- An audit replays each deleted asset's own facts in order and, at each DeletionRequested,
  asks the same gate (`decide_deletable`) about the state just before it, at the request's
  own time. It also checks that the request's evidence is that state's evidence, that the
  plan it names exists, hashes correctly and lists the asset with the same sha256, and that
  every Deleted follows a request of the same plan.
- The NAS marker's presence at the time is not a ledger fact; the audit takes it as present.
- The decisions (`decide_deletion_stories`) are pure: they take events and plans and return
  findings. Only `load_stored_plans` and `run_audit` read the ledger and the projection, and
  nothing here writes.
- An asset passes only when it has no problem and at least one of its requests led to Deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from engine import events as ev
from engine.asset import MediaState, fold_fact
from engine.cleanup.gate import decide_deletable
from engine.cleanup.plan import plan_sha256
from engine.config import ConfigFile
from engine.selection import NO_SELECTION
from engine.services import Services
from projections.cleanup import deleted_assets, plan_run_ids


@dataclass(frozen=True)
class StoredPlan:
    """A DeletePlanned fact, as the audit needs it."""

    plan_id: str
    plan_sha256: str
    entries: tuple[ev.PlanEntry, ...]

    @property
    def is_intact(self) -> bool:
        return plan_sha256(self.entries) == self.plan_sha256


@dataclass
class DeletionStory:
    """One deletion of one asset: the request's evidence and its outcome."""

    plan_id: str
    requested_at_utc: str
    evidence: dict[str, Any]
    outcome: str = "no outcome yet"
    outcome_at_utc: str | None = None
    recoverable_until_utc: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class AuditedAsset:
    """One asset recorded as deleted, its deletions and what is wrong with them."""

    asset_id: str
    record_name: str
    label: str
    deletions: list[DeletionStory]
    problems: list[str] = field(default_factory=list)


@dataclass
class AuditReport:
    """Every asset recorded as deleted, audited."""

    assets: list[AuditedAsset]

    @property
    def failing(self) -> list[AuditedAsset]:
        return [a for a in self.assets if a.problems]


def run_audit(services: Services) -> AuditReport:
    """Audit every asset with a Deleted fact."""
    plans = load_stored_plans(services)
    assets = []
    for row in deleted_assets(services.projection):
        events = services.ledger.events_of(UUID(row.asset_id))
        stories, strays = decide_deletion_stories(events, plans, services.config.settings)
        problems = [p for story in stories for p in story.problems] + strays
        if not any(story.outcome == "Deleted" for story in stories):
            problems.append("recorded as deleted without a request that led to it")
        assets.append(AuditedAsset(row.asset_id, row.record_name, row.label, stories, problems))
    return AuditReport(assets)


def load_stored_plans(services: Services) -> dict[str, StoredPlan]:
    """Every DeletePlanned in the ledger, by plan id."""
    plans: dict[str, StoredPlan] = {}
    for run_id in plan_run_ids(services.projection):
        for event in services.ledger.events_of(UUID(run_id)):
            if isinstance(event, ev.DeletePlanned):
                plans[event.plan_id] = StoredPlan(
                    event.plan_id, event.plan_sha256, tuple(event.entries)
                )
    return plans


def decide_deletion_stories(
    events: Iterable[Any], plans: Mapping[str, StoredPlan], settings: ConfigFile
) -> tuple[list[DeletionStory], list[str]]:
    """Each deletion of one asset (oldest first) with its problems, and stray problems."""
    state = MediaState()
    stories: list[DeletionStory] = []
    strays: list[str] = []
    for event in events:
        if isinstance(event, ev.DeletionRequested):
            stories.append(_story_of_request(state, event, plans, settings))
        elif isinstance(event, ev.Deleted | ev.DeletionFailed):
            _settle(stories, event, strays)
        fold_fact(state, type(event), event, event.originator_version)
    return stories, strays


def _story_of_request(
    state: MediaState, event: ev.DeletionRequested, plans: Mapping[str, StoredPlan],
    settings: ConfigFile,
) -> DeletionStory:
    evidence = {
        "sha256": event.sha256,
        "nas_verified_at_utc": _iso(event.nas_verified_at_utc),
        "google_device_id": event.google_device_id,
        "google_verified_at_utc": _iso(event.google_verified_at_utc),
        "remote_change_tag": event.remote_change_tag,
    }
    story = DeletionStory(event.plan_id, event.timestamp.isoformat(), evidence)
    # The ledger does not say which NAS was mounted when a deletion ran (execute judged that
    # then): the audit takes the NAS the evidence names as the one mounted.
    # A past request is judged without today's selection (it may not have existed then).
    verdict = decide_deletable(state, event.timestamp, settings, state.nas_id or "", NO_SELECTION)
    story.problems += [f"gate at the time: {block}" for block in verdict.blocks]
    if verdict.evidence is not None:
        e = verdict.evidence
        recorded = (event.sha256, event.nas_verified_at_utc, event.google_device_id,
                    event.remote_change_tag)
        if recorded != (e.sha256, e.nas_verified_at_utc, e.google_device_id,
                        e.remote_change_tag):
            story.problems.append("the recorded evidence is not the asset's state at the time")
    story.problems += _plan_problems(state, event, plans)
    return story


def _plan_problems(
    state: MediaState, event: ev.DeletionRequested, plans: Mapping[str, StoredPlan]
) -> list[str]:
    plan = plans.get(event.plan_id)
    if plan is None:
        return [f"plan {event.plan_id} is not in the ledger"]
    if not plan.is_intact:
        return [f"plan {event.plan_id} does not match its stored sha256"]
    entry = next((e for e in plan.entries if e.record_name == state.record_name), None)
    if entry is None:
        return [f"plan {event.plan_id} does not list this asset"]
    if entry.sha256 != event.sha256:
        return [f"plan {event.plan_id} listed other bytes (sha256 {entry.sha256[:12]})"]
    return []


def _settle(
    stories: list[DeletionStory], event: ev.Deleted | ev.DeletionFailed, strays: list[str]
) -> None:
    open_story = stories[-1] if stories and stories[-1].outcome == "no outcome yet" else None
    if open_story is None or open_story.plan_id != event.plan_id:
        strays.append(f"{type(event).__name__} at {event.timestamp.isoformat()} without a "
                      f"request of plan {event.plan_id}")
        return
    open_story.outcome = type(event).__name__
    open_story.outcome_at_utc = event.timestamp.isoformat()
    if isinstance(event, ev.Deleted):
        open_story.recoverable_until_utc = event.recoverable_until_utc.isoformat()


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
