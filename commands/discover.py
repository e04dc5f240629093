"""`photoledger discover`: record what iCloud holds (full scan first, then `changes/zone` deltas).

Invariants:
- Every page is saved in one ledger transaction together with the sync token that page brings
  (incremental) so a kill at any point resumes exactly: nothing lost, nothing twice.
- A full scan stores the token read BEFORE it started; changes made during the scan are read
  again next time and are no-ops when already recorded (decisions compare remote facts).
- Only a complete full scan may conclude that a record is gone from iCloud (or an album).
- Albums: a full scan lists every album and folder and every album's members; deltas bring
  CPLAlbum and CPLContainerRelation changes. Album facts (AlbumSeen, AlbumRemoved) go on this
  run and are saved in the same transaction as the page that brought them. A membership
  change for an asset not yet known is kept for the later pages of the walk; one still
  unmatched at its end is counted (`unmatched_memberships`) and left to the next full scan.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import click

from commands.context import Deps, Settings, open_icloud, open_writer
from commands.output import console, print_json, progress_bar
from engine import events as ev
from engine.albums import (
    AlbumFact,
    KnownAlbum,
    apply_known,
    decide_albums_listed,
    decide_albums_removed,
    decide_membership,
    decide_page_memberships,
    membership_deltas,
    merge_deltas,
    normalized,
)
from engine.asset import Asset, MediaState
from engine.config import load_config
from engine.discover import (
    PlannedFact,
    decide_for_deleted,
    decide_for_problem,
    decide_for_remote,
    plan_missing_after_full_scan,
)
from engine.icloud.model import ChangePage, RemoteAlbum, ScanPage
from engine.icloud.port import IcloudPort, SyncTokenExpiredError
from engine.ids import IcloudIdentity, asset_id_for
from projections.albums import known_albums


@dataclass(frozen=True)
class DiscoverOptions:
    zone: str = "PrimarySync"
    workers: int = 4
    force_full: bool = False


@dataclass
class DiscoverSummary:
    """What one discover run found and what it cost."""

    mode: str = "incremental"  # "full", "incremental" or "full (token rejected)"
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    listed: int = 0
    pages: int = 0
    login_calls: int = 0
    cloudkit_calls: int = 0
    sync_token: str | None = None
    elapsed_s: float = 0.0


class _PageWriter:
    """Turns decisions into events and saves each page atomically (with its token, if any)."""

    def __init__(self, deps: Deps, account: str, zone: str, summary: DiscoverSummary) -> None:
        self.deps, self.account, self.zone, self.summary = deps, account, zone, summary
        self.albums: dict[str, KnownAlbum] = known_albums(deps.projection, zone)
        self.album_facts: list[AlbumFact] = []  # decided, saved with the next page

    def asset_id(self, record_name: str) -> str:
        return asset_id_for(IcloudIdentity(self.account, self.zone, record_name)).hex

    def known(self, record_names: Iterable[str]) -> dict[str, MediaState]:
        by_id = {self.asset_id(name): name for name in record_names}
        states = self.deps.projection.states_of(set(by_id))
        return {by_id[asset_id]: state for asset_id, state in states.items()}

    def save(self, plan: list[PlannedFact], sync_token: str | None = None) -> None:
        aggregates = self._aggregates(plan)
        run = self.deps.run
        if run is not None:
            for album_fact in self.album_facts:
                self.summary.counts[album_fact.event_class.__name__] += 1
                run.record(album_fact.event_class, **album_fact.facts)
            self.album_facts = []
            if sync_token is not None:
                run.record(ev.SyncTokenAdvanced, zone=self.zone, sync_token=sync_token)
        if run is not None and run.pending_events:
            self.deps.ledger.save(run, *aggregates.values())
        elif aggregates:
            self.deps.ledger.save(*aggregates.values())
        self.deps.crash.reach("discover.after_page_save")
        self.deps.projection.catch_up(self.deps.ledger)

    def _aggregates(self, plan: list[PlannedFact]) -> dict[str, Asset]:
        aggregates: dict[str, Asset] = {}
        for fact in plan:
            self.summary.counts[fact.event_class.__name__] += 1
            asset = aggregates.get(fact.record_name)
            if fact.event_class is ev.Discovered:
                identity = IcloudIdentity(self.account, self.zone, fact.record_name)
                asset = Asset.discover(identity, self.deps.run_id, **fact.facts)
            else:
                if asset is None:
                    identity = IcloudIdentity(self.account, self.zone, fact.record_name)
                    asset = self.deps.ledger.get_asset(asset_id_for(identity))
                asset.record(fact.event_class, self.deps.run_id, **fact.facts)
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


def run_discover(
    deps: Deps, port: IcloudPort, options: DiscoverOptions, advance: Callable[[int], None]
) -> DiscoverSummary:
    """Log in, then read deltas from the stored token, or scan everything when there is none."""
    started = time.monotonic()
    summary = DiscoverSummary()
    port.login()
    writer = _PageWriter(deps, deps.config.settings.icloud.username, options.zone, summary)
    token = None if options.force_full else stored_sync_token(deps, options.zone)
    if token is not None:
        try:
            _incremental(port, writer, options.zone, token, advance)
        except SyncTokenExpiredError:
            summary.mode = "full (token rejected)"
            _full_scan(port, writer, options, advance)
    else:
        summary.mode = "full"
        _full_scan(port, writer, options, advance)
    summary.login_calls, summary.cloudkit_calls = port.calls.login, port.calls.cloudkit
    summary.elapsed_s = time.monotonic() - started
    _record_completion(deps, summary)
    return summary


def stored_sync_token(deps: Deps, zone: str) -> str | None:
    """The last token discovery consumed for this zone (from the runs projection)."""
    rows = deps.projection.query("SELECT sync_token FROM sync_tokens WHERE zone = ?", (zone,))
    return str(rows[0][0]) if rows else None


def _incremental(
    port: IcloudPort, writer: _PageWriter, zone: str, token: str, advance: Callable[[int], None]
) -> None:
    page: ChangePage
    pending: dict[str, dict[str, bool]] = {}
    for page in port.changes_since(zone, token):
        writer.decide_albums(decide_albums_listed(zone, writer.albums, page.albums,
                                                  complete=False))
        removed = (*page.removed_album_ids, *page.deleted_record_names)
        writer.decide_albums(decide_albums_removed(zone, writer.albums, removed))
        plan = writer.apply_change_page(page, pending)
        plan += writer.apply_deletions(page.deleted_record_names, "changes/zone")
        writer.save(plan, page.sync_token)
        writer.summary.sync_token = page.sync_token
        writer.summary.pages += 1
        writer.summary.listed += len(page.changed) + len(page.deleted_record_names)
        advance(len(page.changed) + len(page.deleted_record_names))
    if pending:
        writer.summary.counts["unmatched_memberships"] = len(pending)


def _full_scan(
    port: IcloudPort, writer: _PageWriter, options: DiscoverOptions,
    advance: Callable[[int], None],
) -> None:
    zone = options.zone
    token_before = port.zone_sync_token(zone)
    albums = port.list_albums(zone)
    writer.decide_albums(decide_albums_listed(zone, writer.albums, albums, complete=True))
    albums_of = album_membership(port, zone, albums)
    seen: set[str] = set()
    page: ScanPage
    for page in port.scan_pages(zone, workers=options.workers):
        seen.update(a.record_name for a in page.assets)
        seen.update(p.record_name for p in page.problems)
        writer.save(writer.apply_scan_page(page, albums_of))
        writer.summary.pages += 1
        writer.summary.listed += len(page.assets) + len(page.problems)
        advance(len(page.assets) + len(page.problems))
    alive = writer.deps.projection.query(
        "SELECT record_name FROM media WHERE zone = ? AND NOT is_remote_deleted "
        "AND deletion_state IS NULL",
        (zone,),
    )
    missing = plan_missing_after_full_scan((row[0] for row in alive), seen)
    writer.save(writer.apply_deletions(missing, "full scan"), token_before)
    writer.summary.sync_token = token_before


def album_membership(
    port: IcloudPort, zone: str, albums: list[RemoteAlbum]
) -> dict[str, list[str]]:
    """Asset record name -> the user albums (record names) that hold it."""
    albums_of: dict[str, list[str]] = defaultdict(list)
    for album in albums:
        if album.is_folder:
            continue
        for record_name in port.album_member_ids(zone, album):
            albums_of[record_name].append(album.record_name)
    return albums_of


def _record_completion(deps: Deps, summary: DiscoverSummary) -> None:
    run = deps.run
    if run is None:
        return
    counts = dict(summary.counts) | {"listed": summary.listed, "pages": summary.pages,
                                     "login_calls": summary.login_calls,
                                     "cloudkit_calls": summary.cloudkit_calls}
    run.record(ev.StageCompleted, stage="discover", counts_json=json.dumps(counts, sort_keys=True))
    deps.ledger.save(run)


@click.command("discover")
@click.option("--full", "force_full", is_flag=True,
              help="Scan the whole library even when a sync token is stored (an audit: records "
                   "edits and deletions the deltas might have missed).")
@click.option("--workers", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Pages fetched in parallel during a full scan.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def command(settings: Settings, force_full: bool, workers: int, as_json: bool) -> None:
    """Record what iCloud holds: new assets, edits and deletions.

    The first run scans the whole library page by page (pages fetched in parallel). Later runs
    read only what changed since the stored CloudKit sync token; a run with no change costs at
    most two CloudKit calls after login. A rejected token falls back to a full scan.
    """
    config = load_config(settings.config_path)
    options = DiscoverOptions(
        zone=config.settings.icloud.library, workers=workers, force_full=force_full
    )
    with open_writer(config, settings, "discover") as deps, open_icloud(config) as port:
        total = None
        with progress_bar("discovering", total, settings.show_progress) as advance:
            summary = run_discover(deps, port, options, advance)
    if as_json:
        print_json({**summary.__dict__, "counts": dict(summary.counts)})
        return
    show_summary(summary)


def show_summary(summary: DiscoverSummary) -> None:
    """One readable block at the end of a run."""
    counts = summary.counts
    console.print(
        f"discover ({summary.mode}): {summary.listed} records listed in {summary.pages} pages; "
        f"{counts.get('Discovered', 0)} new, {counts.get('RemoteChanged', 0)} changed, "
        f"{counts.get('RemoteDeleted', 0)} gone from iCloud, "
        f"{counts.get('Quarantined', 0)} quarantined; {summary.cloudkit_calls} CloudKit calls "
        f"after {summary.login_calls} login calls; {summary.elapsed_s:.1f} s",
        markup=False,
    )
