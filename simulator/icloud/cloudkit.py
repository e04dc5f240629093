"""The CloudKit Photos container endpoints, served from a PhotoLibraryState.

Invariants:
- `handle` answers every op under the library's lock, so a page, its count and its sync token
  describe one consistent moment.
- Success bodies never carry top-level reason/error/errorMessage/errorReason (pyicloud's
  session would raise on them); errors that Apple reports per record or per zone stay inside
  their record or zone entry inside a 200 answer.
- List pages hold `resultsLimit // 2` items (an asset plus its master each; a user-album page
  also carries each item's CPLContainerRelation) in rank order, see indexes.py; a master is
  sent once per page even when several of the page's assets share it.
- A sync token pyicloud did not get from this library (another zone or epoch, or older than
  the compaction horizon) makes changes/zone answer, inside the zone entry, serverErrorCode
  BAD_REQUEST with reason "client knowledge differs from server knowledge"; pyicloud raises
  CloudKitApiError for it and a client falls back to a full scan.
- A Shared Library (`SharedSync-<UUID>`) lists in the private database for its owner, and in
  the shared database (with the owner's ownerRecordName) for a participant; each zone answers
  only in its own database, and a shared-database request must name the zone's owner
  (zoneID.ownerRecordName), else ZONE_NOT_FOUND, as CloudKit does. Shared Libraries hold no
  user albums (CPLAlbumByPositionLive answers no records there).
- desiredKeys is ignored: records always carry every field.
- Content bytes and the realities tests aim at records (refusals, damaged fields, content
  twins) are served by serving.py and realities.py; this class only routes to them.
"""

from __future__ import annotations

from typing import Any, cast

from simulator.icloud.contract import ContentBlob, RequestContext
from simulator.icloud.indexes import (
    CONTAINER,
    LIST_TYPES,
    SMART,
    Entry,
    IndexCache,
    decide_count_key,
    select_page,
)
from simulator.icloud.library import (
    PRIMARY_ZONE,
    PhotoLibraryState,
    UnknownRecordError,
    Zone,
)
from simulator.icloud.malformed import MALFORM_KINDS, MalformHow
from simulator.icloud.modify import execute_modify
from simulator.icloud.realities import add_content_twin, corrupt_field
from simulator.icloud.records import (
    Record,
    find_record,
    render_album,
    render_asset,
    render_by_name,
    render_master,
    render_relation,
    tombstone,
    typed,
)
from simulator.icloud.serving import blob_for_token, content_address

Answer = tuple[int, dict[str, Any]]
DEFAULT_RESULTS_LIMIT = 200
TOKEN_REJECTED_REASON = "client knowledge differs from server knowledge"


def _error(status: int, code: str, reason: str) -> Answer:
    return status, {"serverErrorCode": code, "reason": reason}


def _filters(query: dict[str, Any]) -> dict[str, Any]:
    raw = query.get("filterBy") or []
    items = raw if isinstance(raw, list) else [raw]
    return {
        str(f.get("fieldName")): (f.get("fieldValue") or {}).get("value")
        for f in items
        if isinstance(f, dict)
    }


class CloudKitPhotoDatabase:
    """A `PhotoDatabase` and `RealityControls` (contract.py) over one simulated library."""

    def __init__(self, state: PhotoLibraryState) -> None:
        self.state = state
        self.indexes = IndexCache(state)
        self._ops = {
            "records/query": self._query,
            "internal/records/query/batch": self._batch_count,
            "records/lookup": self._lookup,
            "records/modify": self._modify,
            "changes/zone": self._changes_zone,
        }

    def is_indexing_finished(self) -> bool:
        return self.state.is_indexing_done

    def handle(self, database: str, op: str, body: dict[str, Any], ctx: RequestContext) -> Answer:
        with self.state.lock:
            if op == "zones/list":
                return 200, self._zones_list(database)
            if op == "changes/database":
                return 200, self._changes_database(database)
            handler = self._ops.get(op)
            if handler is None:
                return _error(400, "BAD_REQUEST", f"unknown operation {op}")
            if not all(self._is_in(database, z) for z in _zone_ids(body)):
                return _error(404, "ZONE_NOT_FOUND", f"zone does not exist in the {database} "
                              "database")
            return handler(body, ctx)

    def _is_in(self, database: str, zone_id: dict[str, Any]) -> bool:
        """Whether the zone a request names answers in `database` (unknown zones pass: the
        handlers answer them as before)."""
        zone = self.state.zone(str(zone_id.get("zoneName") or PRIMARY_ZONE))
        if zone is None:
            return database == "private"
        if zone.database != database:
            return False
        return database == "private" or zone_id.get("ownerRecordName") == zone.owner_record_name

    def _zone_of(self, body: dict[str, Any]) -> Zone | None:
        zone_id = body.get("zoneID") or {}
        return self.state.zone(str(zone_id.get("zoneName") or PRIMARY_ZONE))

    # --- zones --------------------------------------------------------------------------------

    def _zones_list(self, database: str) -> dict[str, Any]:
        zones = [
            {"zoneID": z.zone_id(), "syncToken": z.log.token_for(), "atomic": True}
            for z in self.state.zones.values()
            if z.database == database
        ]
        return {"zones": zones}

    def _changes_database(self, database: str) -> dict[str, Any]:
        zones = [{"zoneID": z.zone_id()} for z in self.state.zones.values()
                 if z.database == database]
        total = sum(z.log.seq for z in self.state.zones.values())
        return {"zones": zones, "moreComing": False, "syncToken": f"db-{self.state.epoch}-{total}"}

    # --- queries --------------------------------------------------------------------------------

    def _query(self, body: dict[str, Any], ctx: RequestContext) -> Answer:
        zone = self._zone_of(body)
        if zone is None:
            return _error(404, "ZONE_NOT_FOUND", "zone does not exist")
        query = body.get("query") or {}
        record_type = str(query.get("recordType", ""))
        filters = _filters(query)
        if record_type == "CheckIndexingState":
            records = [self._indexing_record()]
        elif record_type == "CPLAlbumByPositionLive":
            records = self._albums(zone, filters.get("parentId"))
        elif record_type in LIST_TYPES:
            records = self._list_page(
                zone,
                record_type,
                filters,
                int(body.get("resultsLimit") or DEFAULT_RESULTS_LIMIT),
                ctx,
            )
        else:
            return _error(400, "BAD_REQUEST", f"unknown query recordType {record_type}")
        return 200, {"records": records, "syncToken": zone.log.token_for()}

    def _indexing_record(self) -> Record:
        state = "FINISHED" if self.state.is_indexing_done else "RUNNING"
        progress = 100 if self.state.is_indexing_done else 42
        return {
            "recordName": "_checkIndexingState",
            "recordType": "CheckIndexingState",
            "fields": {"state": typed("STRING", state), "progress": typed("INT64", progress)},
        }

    def _albums(self, zone: Zone, parent_id: object) -> list[Record]:
        wanted = parent_id if isinstance(parent_id, str) and parent_id else None
        albums = [a for a in zone.albums.values() if a.parent_id == wanted and not a.is_deleted]
        albums.sort(key=lambda a: (a.position, a.record_name))
        return [render_album(zone, a) for a in albums]

    def _list_page(
        self,
        zone: Zone,
        record_type: str,
        filters: dict[str, Any],
        results_limit: int,
        ctx: RequestContext,
    ) -> list[Record]:
        kind = LIST_TYPES[record_type]
        argument = ""
        if kind == SMART:
            argument = str(filters.get("smartAlbum") or "").upper()
        elif kind == CONTAINER:
            argument = str(filters.get("parentId") or "")
        entries = self.indexes.get(zone, (kind, argument))
        wanted_name = filters.get("recordName")
        if isinstance(wanted_name, str):
            page = [e for e in entries if _entry_has_name(e, wanted_name)][:1]
        else:
            is_descending = str(filters.get("direction") or "ASCENDING").upper() == "DESCENDING"
            page = select_page(
                entries,
                int(filters.get("startRank") or 0),
                is_descending,
                max(1, results_limit // 2),
            )
        return self._render_page(zone, page, ctx)

    def _render_page(self, zone: Zone, page: list[Entry], ctx: RequestContext) -> list[Record]:
        records: list[Record] = []
        sent_masters: set[str] = set()
        for entry in page:
            if entry.relation is not None:
                records.append(render_relation(zone, entry.relation))
            master = zone.masters[entry.asset.master_name]
            if master.record_name not in sent_masters:
                sent_masters.add(master.record_name)
                records.append(render_master(self.state, zone, master, ctx))
            records.append(render_asset(self.state, zone, entry.asset, ctx))
        return records

    def _batch_count(self, body: dict[str, Any], _ctx: RequestContext) -> Answer:
        answers = []
        for item in body.get("batch") or []:
            zone = self._zone_of(item) or self.state.primary()
            ids = _filters(item.get("query") or {}).get("indexCountID") or []
            records = []
            for index_count_id in ids if isinstance(ids, list) else [ids]:
                key = decide_count_key(str(index_count_id))
                count = len(self.indexes.get(zone, key)) if key is not None else 0
                records.append(
                    {
                        "recordName": str(index_count_id),
                        "recordType": "HyperionIndexCountLookup",
                        "fields": {"itemCount": typed("INT64", count)},
                    }
                )
            answers.append({"records": records, "syncToken": zone.log.token_for()})
        return 200, {"batch": answers}

    def _lookup(self, body: dict[str, Any], ctx: RequestContext) -> Answer:
        zone = self._zone_of(body)
        if zone is None:
            return _error(404, "ZONE_NOT_FOUND", "zone does not exist")
        records: list[Record] = []
        for item in body.get("records") or []:
            name = str((item or {}).get("recordName", ""))
            found = find_record(self.state, zone, name, ctx)
            records.append(
                found
                or {
                    "recordName": name,
                    "serverErrorCode": "NOT_FOUND",
                    "reason": "Record not found",
                }
            )
        return 200, {"records": records, "syncToken": zone.log.token_for()}

    def _modify(self, body: dict[str, Any], ctx: RequestContext) -> Answer:
        zone = self._zone_of(body)
        if zone is None:
            return _error(404, "ZONE_NOT_FOUND", "zone does not exist")
        return 200, execute_modify(self.state, zone, body, ctx)

    # --- changes ----------------------------------------------------------------------------

    def _changes_zone(self, body: dict[str, Any], ctx: RequestContext) -> Answer:
        limit = max(1, int(body.get("resultsLimit") or DEFAULT_RESULTS_LIMIT))
        return 200, {
            "zones": [
                self._zone_changes(request, limit, ctx) for request in body.get("zones") or []
            ]
        }

    def _zone_changes(self, request: dict[str, Any], limit: int, ctx: RequestContext) -> Record:
        zone_id = request.get("zoneID") or {}
        zone = self.state.zone(str(zone_id.get("zoneName") or ""))
        if zone is None:
            return {
                "zoneID": zone_id,
                "serverErrorCode": "ZONE_NOT_FOUND",
                "reason": "zone does not exist",
            }
        token = request.get("syncToken")
        since = 0 if not token else zone.log.parse_token(str(token))
        if since is None:
            return {
                "zoneID": zone.zone_id(),
                "serverErrorCode": "BAD_REQUEST",
                "reason": TOKEN_REJECTED_REASON,
            }
        if self._is_empty_page_due(zone, since):
            return {
                "zoneID": zone.zone_id(),
                "records": [],
                "moreComing": True,
                "syncToken": zone.log.token_for(since),
            }
        wanted_types = request.get("desiredRecordTypes")
        walk = zone.log.changes_since(since, limit)
        records = [
            render_by_name(self.state, zone, record_type, name, ctx) or tombstone(zone, name)
            for record_type, name in walk.keys
            if not wanted_types or record_type in wanted_types or name in zone.gone
        ]
        return {
            "zoneID": zone.zone_id(),
            "records": records,
            "moreComing": walk.is_more_coming,
            "syncToken": zone.log.token_for(walk.next_seq),
        }

    def _is_empty_page_due(self, zone: Zone, since: int) -> bool:
        """Apple sometimes answers a page with no records and moreComing true; so do we."""
        every = self.state.empty_change_page_every
        if every <= 0 or since >= zone.log.seq:
            return False
        self.state.changes_calls += 1
        return self.state.changes_calls % every == 0

    # --- content and realities ------------------------------------------------------------------

    def content(self, token: str) -> ContentBlob | None:
        return blob_for_token(self.state, token)

    def content_address(self, record_name: str, resource: str) -> tuple[str, str] | None:
        try:
            return content_address(self.state, record_name, resource)
        except UnknownRecordError:
            return None

    def corrupt_field(self, record_name: str, field: str, how: str) -> str | None:
        if how not in MALFORM_KINDS:
            raise ValueError(f"unknown damage {how!r}; one of {', '.join(MALFORM_KINDS)}")
        try:
            return corrupt_field(self.state, record_name, field, cast(MalformHow, how))
        except UnknownRecordError:
            return None

    def add_content_twin(self, asset_name: str, declared_delta_bytes: int) -> str | None:
        try:
            return add_content_twin(
                self.state, asset_name, declared_delta_bytes=declared_delta_bytes
            )
        except UnknownRecordError:
            return None


def _zone_ids(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every zoneID a request names: its own, its batch items' and its zone requests'."""
    nested = any(isinstance(body.get(key), list) for key in ("batch", "zones"))
    found = [body.get("zoneID") or {}] if "zoneID" in body or not nested else []
    for key in ("batch", "zones"):
        items = body.get(key)
        found += [i.get("zoneID") or {} for i in items if isinstance(i, dict)] if isinstance(
            items, list) else []
    return [z for z in found if isinstance(z, dict)]


def _entry_has_name(entry: Entry, name: str) -> bool:
    return entry.asset.record_name == name or (
        entry.relation is not None and entry.relation.record_name == name
    )


__all__ = ["CloudKitPhotoDatabase"]
