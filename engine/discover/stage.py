"""The discover stage: record what iCloud holds (a full scan first, then `changes/zone` deltas).

Invariants:
- Every page is saved in one ledger transaction together with the sync token that page brings
  (incremental), so a kill at any point resumes exactly: nothing lost, nothing twice
  (engine.discover.pages).
- A full scan stores the token read BEFORE it started; changes made during the scan are read
  again next time and are no-ops when already recorded (decisions compare remote facts).
- Only a complete full scan may conclude that a record is gone from iCloud (or an album).
- Albums: a full scan lists every album and folder and every album's members; deltas bring
  CPLAlbum and CPLContainerRelation changes. Album facts (AlbumSeen, AlbumRemoved) go on this
  run and are saved in the same transaction as the page that brought them. A membership
  change for an asset not yet known is kept for the later pages of the walk; one still
  unmatched at its end is counted (`unmatched_memberships`) and left to the next full scan.
- The run ends with one StageCompleted("discover") holding the fact counts and the calls.
- Progress: how many records iCloud will list is not known up front, so the stage never
  calls `started`; each record listed is one `asset_done("ok", record name)`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from engine.albums import decide_albums_listed, decide_albums_removed
from engine.discover.decisions import plan_missing_after_full_scan
from engine.discover.pages import DiscoverResult, PageWriter
from engine.icloud.model import ChangePage, RemoteAlbum, ScanPage
from engine.icloud.port import IcloudPort, SyncTokenExpiredError
from engine.reporting import Reporter
from engine.services import Services
from projections.discover import alive_record_names, stored_sync_token

__all__ = ["DiscoverOptions", "DiscoverResult", "album_membership", "run_discover"]


@dataclass(frozen=True)
class DiscoverOptions:
    zone: str = "PrimarySync"
    workers: int = 4  # pages fetched in parallel during a full scan
    force_full: bool = False  # scan everything even with a stored sync token


def run_discover(
    services: Services, port: IcloudPort, options: DiscoverOptions, reporter: Reporter
) -> DiscoverResult:
    """Log in, then read deltas from the stored token, or scan everything when there is none."""
    started = time.monotonic()
    result = DiscoverResult()
    port.login()
    reporter.started("discover", None)  # how many records iCloud holds is known at the end
    account = services.config.settings.icloud.username
    writer = PageWriter(services, account, options.zone, result)
    token = None if options.force_full else stored_sync_token(services.projection, options.zone)
    if token is not None:
        try:
            _incremental(port, writer, token, reporter)
        except SyncTokenExpiredError:
            result.mode = "full (token rejected)"
            _full_scan(port, writer, options, reporter)
    else:
        result.mode = "full"
        _full_scan(port, writer, options, reporter)
    result.login_calls, result.cloudkit_calls = port.calls.login, port.calls.cloudkit
    result.elapsed_s = time.monotonic() - started
    _record_completion(services, result)
    return result


def _incremental(port: IcloudPort, writer: PageWriter, token: str, reporter: Reporter) -> None:
    zone = writer.zone
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
        writer.result.sync_token = page.sync_token
        listed = [a.record_name for a in page.changed] + list(page.deleted_record_names)
        _count_page(writer.result, listed, reporter)
    if pending:
        writer.result.counts["unmatched_memberships"] = len(pending)


def _full_scan(
    port: IcloudPort, writer: PageWriter, options: DiscoverOptions, reporter: Reporter
) -> None:
    zone = options.zone
    token_before = port.zone_sync_token(zone)
    albums = port.list_albums(zone)
    writer.decide_albums(decide_albums_listed(zone, writer.albums, albums, complete=True))
    albums_of = album_membership(port, zone, albums)
    seen: set[str] = set()
    page: ScanPage
    for page in port.scan_pages(zone, workers=options.workers):
        listed = [a.record_name for a in page.assets] + [p.record_name for p in page.problems]
        seen.update(listed)
        writer.save(writer.apply_scan_page(page, albums_of))
        _count_page(writer.result, listed, reporter)
    missing = plan_missing_after_full_scan(alive_record_names(writer.services.projection, zone),
                                           seen)
    writer.save(writer.apply_deletions(missing, "full scan"), token_before)
    writer.result.sync_token = token_before


def _count_page(result: DiscoverResult, listed: list[str], reporter: Reporter) -> None:
    result.pages += 1
    result.listed += len(listed)
    for record_name in listed:
        reporter.asset_done("ok", record_name)


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


def _record_completion(services: Services, result: DiscoverResult) -> None:
    counts = dict(result.counts) | {"listed": result.listed, "pages": result.pages,
                                    "login_calls": result.login_calls,
                                    "cloudkit_calls": result.cloudkit_calls}
    services.record_stage_completed("discover", dict(sorted(counts.items())))
