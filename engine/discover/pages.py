"""Turning one page of iCloud's answer into facts, and saving the page with its sync token.

Invariants:
- A page's asset facts, the album facts decided since the last save, and the page's sync token
  (SyncTokenAdvanced) are saved in ONE ledger transaction, so a kill at any point resumes
  exactly: nothing lost, nothing twice. The crash point `discover.after_page_save` is right
  after that save; the projection catches up after it, so the next page's decisions see it.
- Decisions compare with what the ledger knows (engine.discover.decisions): an overlapping or
  repeated page appends nothing.
- Album facts go on the run (not on an asset) and later decisions of the same walk see them
  at once (`decide_albums`).
- A membership change for an asset not yet known is kept in `pending` for the later pages.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from engine import events as ev
from engine.albums import (
    AlbumFact,
    KnownAlbum,
    apply_known,
    decide_membership,
    decide_page_memberships,
    membership_deltas,
    merge_deltas,
    normalized,
)
from engine.asset import Asset, MediaState
from engine.discover.decisions import (
    PlannedFact,
    decide_for_deleted,
    decide_for_problem,
    decide_for_remote,
)
from engine.icloud.model import ChangePage, ScanPage
from engine.ids import IcloudIdentity, asset_id_for
from engine.services import Services
from projections.albums import known_albums


@dataclass
class DiscoverResult:
    """What one discover run found and what it cost."""

    mode: str = "incremental"  # "full", "incremental" or "full (token rejected)"
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    listed: int = 0
    pages: int = 0
    login_calls: int = 0
    cloudkit_calls: int = 0
    sync_token: str | None = None
    elapsed_s: float = 0.0


class PageWriter:
    """Turns decisions into events and saves each page atomically (with its token, if any)."""

    def __init__(
        self, services: Services, account: str, zone: str, result: DiscoverResult
    ) -> None:
        self.services, self.account, self.zone, self.result = services, account, zone, result
        self.albums: dict[str, KnownAlbum] = known_albums(services.projection, zone)
        self.album_facts: list[AlbumFact] = []  # decided, saved with the next page

    def asset_id(self, record_name: str) -> str:
        return asset_id_for(IcloudIdentity(self.account, self.zone, record_name)).hex

    def known(self, record_names: Iterable[str]) -> dict[str, MediaState]:
        by_id = {self.asset_id(name): name for name in record_names}
        states = self.services.projection.states_of(set(by_id))
        return {by_id[asset_id]: state for asset_id, state in states.items()}

    def save(self, plan: list[PlannedFact], sync_token: str | None = None) -> None:
        aggregates = self._aggregates(plan)
        run, ledger = self.services.run, self.services.ledger
        if run is not None:
            for album_fact in self.album_facts:
                self.result.counts[album_fact.event_class.__name__] += 1
                run.record(album_fact.event_class, **album_fact.facts)
            self.album_facts = []
            if sync_token is not None:
                run.record(ev.SyncTokenAdvanced, zone=self.zone, sync_token=sync_token)
        if run is not None and run.pending_events:
            ledger.save(run, *aggregates.values())
        elif aggregates:
            ledger.save(*aggregates.values())
        self.services.crash.reach("discover.after_page_save")
        self.services.projection.catch_up(ledger)

    def _aggregates(self, plan: list[PlannedFact]) -> dict[str, Asset]:
        aggregates: dict[str, Asset] = {}
        run_id = self.services.run_id
        for fact in plan:
            self.result.counts[fact.event_class.__name__] += 1
            asset = aggregates.get(fact.record_name)
            identity = IcloudIdentity(self.account, self.zone, fact.record_name)
            if fact.event_class is ev.Discovered:
                asset = Asset.discover(identity, run_id, **fact.facts)
            else:
                if asset is None:
                    asset = self.services.ledger.get_asset(asset_id_for(identity))
                asset.record(fact.event_class, run_id, **fact.facts)
            aggregates[fact.record_name] = asset
        return aggregates

    def decide_albums(self, facts: list[AlbumFact]) -> None:
        """Album facts to record with the next page; later decisions see them at once."""
        apply_known(self.albums, facts)
        self.album_facts += facts

    def apply_scan_page(self, page: ScanPage, albums_of: dict[str, list[str]]) -> list[PlannedFact]:
        """A full scan's page: `albums_of` is every album's complete member list."""
        names = [a.record_name for a in page.assets] + [p.record_name for p in page.problems]
        known = self.known(names)
        plan: list[PlannedFact] = []
        for remote in page.assets:
            album_ids = normalized(albums_of.get(remote.record_name, ()))
            state = known.get(remote.record_name)
            plan += decide_for_remote(state, remote, album_ids)
            plan += [PlannedFact(remote.record_name, ev.AlbumsChanged, facts)
                     for facts in decide_membership(state, album_ids)]
        for problem in page.problems:
            plan += decide_for_problem(known.get(problem.record_name), problem)
        return plan

    def apply_change_page(
        self, page: ChangePage, pending: dict[str, dict[str, bool]]
    ) -> list[PlannedFact]:
        """A changes/zone page; `pending` holds memberships of assets not known yet (updated)."""
        deltas = merge_deltas(pending, membership_deltas(page.relations))
        names = [a.record_name for a in page.changed] + [p.record_name for p in page.problems]
        known = self.known(names + list(deltas))
        new = {a.record_name for a in page.changed if a.record_name not in known}
        split = decide_page_memberships(known, new, set(page.deleted_record_names), deltas)
        pending.clear()
        pending.update(split.pending)
        plan: list[PlannedFact] = []
        for remote in page.changed:
            album_ids = split.discovered_album_ids.get(remote.record_name, ())
            plan += decide_for_remote(known.get(remote.record_name), remote, album_ids)
        for problem in page.problems:
            plan += decide_for_problem(known.get(problem.record_name), problem)
        plan += [PlannedFact(name, ev.AlbumsChanged, {"album_ids": album_ids})
                 for name, album_ids in split.changed.items()]
        return plan

    def apply_deletions(self, record_names: Iterable[str], via: str) -> list[PlannedFact]:
        names = list(record_names)
        known = self.known(names)
        return [f for name in names for f in decide_for_deleted(known.get(name), name, via)]
