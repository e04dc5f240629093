"""PyicloudPort: the IcloudPort on top of the real pyicloud (login) and raw CloudKit calls.

Invariants:
- Login, session files and 2FA go through pyicloud (login.py); CloudKit pages are fetched raw
  (ckclient.py) and parsed by the tolerant parser (records.py), so one bad record costs one
  RecordProblem, never a page.
- `calls` counts every HTTP request by kind at the adapter level; a run that finds no change
  costs one CloudKit call (`changes/zone`) after login (a zone other than PrimarySync: two
  `zones/list` more, once per port, to learn its database; engine.icloud.zones).
- Every call goes to the database of its zone (ZoneRouter): a Shared Library joined as a
  participant is read, changed and deleted from in the shared database.
- An asset whose master is not in its page is completed with one `records/lookup` per page; it
  becomes a "missing_master" problem only if Apple does not know the master either.
- `lookup_assets` tells the three states of an asset apart: in the Library (is_deleted False),
  in Recently Deleted (is_deleted True), gone for good (no asset; a "not_found" problem).
- `recover_asset` reads the asset's tag with a lookup and writes isDeleted=0 with it, and only
  when the lookup shows it in Recently Deleted: 1 call when there is nothing to do, 2 otherwise.
- A zone the account does not have (a wrong `icloud.library`) is a configuration error
  (UnknownZoneError, exit 3) naming every zone the account has, never "try again later".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from functools import partial
from typing import Any

from engine.errors import UnknownZoneError
from engine.icloud.changes import iter_change_pages
from engine.icloud.ckclient import CloudKitClient
from engine.icloud.content import ContentClient
from engine.icloud.login import IcloudLogin
from engine.icloud.model import ChangePage, RecordProblem, RemoteAlbum, ScanPage
from engine.icloud.mutations import (
    ALREADY_THERE,
    add_to_album_body,
    create_album_body,
    record_errors,
    recover_body,
    relation_name,
    saved_change_tag,
    soft_delete_body,
)
from engine.icloud.port import (
    CallCounts,
    ChangeTagConflictError,
    ContentResponse,
    IcloudError,
    LibraryIndexingError,
    RecordRefusedError,
    RecoverOutcome,
)
from engine.icloud.queries import (
    ALBUM_COUNT_INDEX,
    ALBUM_LIST_TYPE,
    HIDDEN,
    LIBRARY,
    Listing,
    album_list_body,
    count_body,
    indexing_state_body,
    list_page_body,
    lookup_body,
)
from engine.icloud.record_fields import envelope_str, flag_value, str_value
from engine.icloud.records import (
    ASSET_TYPE,
    SortedRecords,
    build_assets,
    missing_master_names,
    parse_album,
    sort_records,
)
from engine.icloud.scan import SeenNames, scan_listing
from engine.icloud.zones import PRIMARY_ZONE, RemoteLibrary, ZoneRouter
from engine.libraries import unknown_zone_message

PAGE_SIZE = 100  # assets per page: Apple's own page size (200 records with their masters)
LOOKUP_BATCH = 200
ALBUM_BATCH = 100  # relations per records/modify call


class PyicloudPort:
    """iCloud Photos for one account, as the stages see it."""

    def __init__(
        self,
        login: IcloudLogin,
        cloudkit: CloudKitClient,
        content: ContentClient,
        calls: CallCounts,
        *,
        page_size: int = PAGE_SIZE,
        shared: CloudKitClient | None = None,
    ) -> None:
        self.calls = calls
        self._login = login
        self._router = ZoneRouter(cloudkit, shared or CloudKitClient(login, database="shared"))
        self._content = content
        self._page_size = page_size

    def login(self) -> None:
        self._login.login()

    def list_libraries(self) -> list[RemoteLibrary]:
        """The account's Photos libraries (zones/list on the private and shared databases)."""
        return self._router.libraries()

    def zone_sync_token(self, zone: str) -> str:
        listed = (self._router.list_zones("private") if zone == PRIMARY_ZONE
                  else self._router.libraries())
        found = next((lib for lib in listed if lib.zone == zone), None)
        if found is None:
            everything = listed if zone != PRIMARY_ZONE else self._router.libraries()
            raise UnknownZoneError(unknown_zone_message(zone, everything))
        if not found.sync_token:
            raise IcloudError(f"iCloud listed no sync token for the Photos zone {zone}")
        return found.sync_token

    def count_assets(self, zone: str) -> int:
        return self._count(zone, LIBRARY.count_index)

    def count_index(self, zone: str, index_id: str) -> int:
        """iCloud's count of one index (a smart folder's, `<index>:<album id>` an album's)."""
        return self._count(zone, index_id)

    def scan_pages(self, zone: str, *, workers: int) -> Iterator[ScanPage]:
        """Every asset of the library (hidden ones too), page by page, each once."""
        self._require_indexed(zone)
        seen = SeenNames()
        for listing in (LIBRARY, HIDDEN):
            yield from scan_listing(
                partial(self._fetch_window, zone, listing),
                partial(self._count, zone, listing.count_index),
                page_size=self._page_size,
                workers=workers,
                seen=seen,
            )

    def changes_since(self, zone: str, sync_token: str) -> Iterator[ChangePage]:
        return iter_change_pages(
            partial(self._router.post, zone), zone, sync_token, self._lookup_records
        )

    def lookup_assets(self, zone: str, record_names: list[str]) -> ScanPage:
        """Fresh records (and download URLs) for these assets."""
        sorted_records = sort_records(zone, self._lookup_records(zone, record_names))
        return self._complete_page(zone, sorted_records)

    def list_albums(self, zone: str) -> list[RemoteAlbum]:
        albums: list[RemoteAlbum] = []
        parents: list[str | None] = [None]
        visited: set[str | None] = set()
        while parents:
            parent = parents.pop()
            if parent in visited:
                continue
            visited.add(parent)
            for record in self._album_records(zone, parent):
                album = parse_album(record)
                if album is not None:
                    albums.append(album)
                    if album.is_folder:
                        parents.append(album.record_name)
        return albums

    def album_member_ids(self, zone: str, album: RemoteAlbum) -> Iterator[str]:
        """CPLAsset record names in an album, each once, in ascending rank order."""
        seen: set[str] = set()
        start = 0
        while True:
            body = list_page_body(
                zone,
                ALBUM_LIST_TYPE,
                start_rank=start,
                assets_wanted=self._page_size,
                parent_id=album.record_name,
            )
            answer = self._router.post(zone, "records/query", body)
            names = _member_names(answer.get("records"))
            if not names:
                return
            start += len(names)
            for name in names:
                if name not in seen:
                    seen.add(name)
                    yield name

    def album_relations_present(
        self, zone: str, album: RemoteAlbum, record_names: list[str]
    ) -> set[str]:
        """Those of these assets whose relation record to the album exists.

        Album listings leave hidden photos out, so membership of an asset a listing does not
        show is asked of the relation record itself.
        """
        by_relation = {relation_name(name, album.record_name): name for name in record_names}
        present: set[str] = set()
        for record in self._lookup_records(zone, list(by_relation)):
            name = envelope_str(record, "recordName") if isinstance(record, dict) else None
            if name in by_relation and not record.get("serverErrorCode") and not (
                record.get("deleted") is True or flag_value(record, "isDeleted")
            ):
                present.add(by_relation[name])
        return present

    def album_count(self, zone: str, album: RemoteAlbum) -> int:
        return self._count(zone, f"{ALBUM_COUNT_INDEX}:{album.record_name}")

    def open_content(
        self, url: str, *, start_byte: int = 0
    ) -> AbstractContextManager[ContentResponse]:
        return self._content.open(url, start_byte=start_byte)

    def close(self) -> None:
        self._content.close()

    def find_or_create_album(self, zone: str, name: str) -> RemoteAlbum:
        """The top-level user album called `name`; created (as pyicloud does) when missing."""
        albums = self.list_albums(zone)
        for album in albums:
            if album.name == name and album.parent_id is None and not album.is_folder:
                return album
        position = max((0, *(a.position for a in albums))) + 1
        record_name, body = create_album_body(zone, name, position)
        answer = self._router.post(zone, "records/modify", body)
        refused = record_errors(answer).get(record_name)
        if refused is not None:
            raise RecordRefusedError(f"iCloud refused to create album {name!r}: {refused[0]}")
        return RemoteAlbum(
            record_name=record_name, name=name, parent_id=None, is_folder=False, change_tag="",
            position=position,
        )

    def add_to_album(
        self, zone: str, album: RemoteAlbum, record_names: list[str]
    ) -> dict[str, str]:
        """Add assets to an album; returns the refused ones (already a member is not refused)."""
        refused: dict[str, str] = {}
        for start in range(0, len(record_names), ALBUM_BATCH):
            batch = record_names[start : start + ALBUM_BATCH]
            body = add_to_album_body(zone, album.record_name, batch)
            answer = self._router.post(zone, "records/modify", body)
            errors = record_errors(answer)
            for name in batch:
                code, reason = errors.get(relation_name(name, album.record_name), ("", ""))
                if code and code != ALREADY_THERE:
                    refused[name] = f"{code} {reason}".rstrip()
        return refused

    def soft_delete(self, zone: str, record_name: str, change_tag: str) -> None:
        """Move one asset to Recently Deleted; CONFLICT when `change_tag` is not current."""
        body = soft_delete_body(zone, record_name, change_tag)
        answer = self._router.post(zone, "records/modify", body)
        refused = record_errors(answer).get(record_name)
        if refused is None:
            return
        code, reason = refused
        if code == "CONFLICT":
            raise ChangeTagConflictError(
                f"iCloud refused the delete of {record_name}: it changed since it was checked "
                f"(CONFLICT {reason})".rstrip()
            )
        raise RecordRefusedError(f"iCloud refused the delete of {record_name}: {code} {reason}")

    def recover_asset(self, zone: str, record_name: str) -> RecoverOutcome:
        """Bring one asset back from Recently Deleted; see RecoverKind for the outcomes."""
        record = self._asset_record(zone, record_name)
        if record is None or flag_value(record, "isExpunged"):
            return RecoverOutcome(kind="gone", record_name=record_name)
        tag = envelope_str(record, "recordChangeTag") or ""
        if not flag_value(record, "isDeleted"):
            return RecoverOutcome(kind="not-deleted", record_name=record_name, change_tag=tag)
        answer = self._router.post(zone, "records/modify", recover_body(zone, record_name, tag))
        refused = record_errors(answer).get(record_name)
        if refused is None:
            new_tag = saved_change_tag(answer, record_name)
            return RecoverOutcome(kind="recovered", record_name=record_name, change_tag=new_tag)
        code, reason = refused
        if code == "CONFLICT":
            return RecoverOutcome(
                kind="conflict", record_name=record_name, change_tag=tag, detail=reason
            )
        if code == "NOT_FOUND":  # purged between the lookup and the write
            return RecoverOutcome(kind="gone", record_name=record_name, detail=reason)
        raise RecordRefusedError(f"iCloud refused the recovery of {record_name}: {code} {reason}")

    def _asset_record(self, zone: str, record_name: str) -> dict[str, Any] | None:
        """The CPLAsset as iCloud holds it now, or None when iCloud no longer knows it."""
        for record in self._lookup_records(zone, [record_name]):
            if not isinstance(record, dict) or record.get("recordName") != record_name:
                continue
            code = record.get("serverErrorCode")
            if code == "NOT_FOUND" or record.get("deleted") is True:
                return None
            if code is not None:
                raise RecordRefusedError(
                    f"iCloud refused the lookup of {record_name}: {code} {record.get('reason')}"
                )
            if record.get("recordType") != ASSET_TYPE:
                raise RecordRefusedError(f"{record_name} is not a photo (CPLAsset) in iCloud")
            return record
        # Apple answers every name it is asked for; a silent answer is not proof of a purge.
        raise IcloudError(f"iCloud's lookup did not answer for {record_name}")

    def _require_indexed(self, zone: str) -> None:
        data = self._router.post(zone, "records/query", indexing_state_body(zone))
        records = data.get("records") or []
        state = str_value(records[0], "state") if records else None
        if state != "FINISHED":
            raise LibraryIndexingError(
                f"iCloud Photos is still indexing this library (state {state or 'unknown'}); "
                "run again later"
            )

    def _count(self, zone: str, index_id: str) -> int:
        data = self._router.post(
            zone, "internal/records/query/batch", count_body(zone, index_id)
        )
        try:
            value = data["batch"][0]["records"][0]["fields"]["itemCount"]["value"]
            return max(0, int(value))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise IcloudError(f"iCloud sent an unreadable asset count for {index_id}") from exc

    def _fetch_window(
        self, zone: str, listing: Listing, start: int, wanted: int
    ) -> tuple[ScanPage, int]:
        body = list_page_body(zone, listing.list_type, start_rank=start, assets_wanted=wanted)
        answer = self._router.post(zone, "records/query", body)
        sorted_records = sort_records(zone, answer.get("records"))
        return self._complete_page(zone, sorted_records), len(sorted_records.assets)

    def _complete_page(self, zone: str, sorted_records: SortedRecords) -> ScanPage:
        missing = missing_master_names(sorted_records)
        masters = dict(sorted_records.masters)
        problems: list[RecordProblem] = list(sorted_records.problems)
        if missing:
            found = sort_records(zone, self._lookup_records(zone, missing))
            masters.update(found.masters)
        assets, asset_problems = build_assets(zone, sorted_records.assets, masters)
        return ScanPage(assets=tuple(assets), problems=tuple(problems + asset_problems))

    def _lookup_records(self, zone: str, record_names: list[str]) -> list[Any]:
        records: list[Any] = []
        for start in range(0, len(record_names), LOOKUP_BATCH):
            batch = record_names[start : start + LOOKUP_BATCH]
            body = lookup_body(zone, batch)
            answer = self._router.post(zone, "records/lookup", body).get("records")
            records.extend(answer if isinstance(answer, list) else [])
        return records

    def _album_records(self, zone: str, parent: str | None) -> Iterator[Any]:
        continuation: str | None = None
        while True:
            body = album_list_body(zone, parent, continuation)
            data = self._router.post(zone, "records/query", body)
            records = data.get("records")
            yield from records if isinstance(records, list) else []
            marker = data.get("continuationMarker")
            if not isinstance(marker, str) or not marker or marker == continuation:
                return
            continuation = marker


def _member_names(records: Any) -> list[str]:
    """Asset names of one album page: CPLAsset records, or relations' itemId."""
    names: dict[str, None] = {}
    for record in records if isinstance(records, list) else []:
        kind = record.get("recordType") if isinstance(record, dict) else None
        if kind == "CPLAsset":
            name = envelope_str(record, "recordName")
        elif kind == "CPLContainerRelation":
            name = str_value(record, "itemId")
        else:
            continue
        if name:
            names[name] = None
    return list(names)
