"""The JSON bodies of the CloudKit Photos calls, shaped as pyicloud's Photos service sends them.

Invariants:
- Pure functions of their arguments: no I/O, no state.
- Listing pages use `startRank` (INT64) and `direction` (STRING) filters and a `resultsLimit`
  of two records per asset (each asset travels with its master); no `desiredKeys`, so every
  field comes back (including the edits, `resJPEGFull*` and `resVidFull*`, on the asset
  record). A caller that ever adds desiredKeys must name both, or edits go unseen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ZONE_TYPE = "REGULAR_CUSTOM_ZONE"
ASCENDING = "ASCENDING"


@dataclass(frozen=True)
class Listing:
    """A rank-ordered index of assets and the count index that goes with it."""

    name: str
    list_type: str
    count_index: str


LIBRARY = Listing(
    "library",
    "CPLAssetAndMasterByAssetDateWithoutHiddenOrDeleted",
    "CPLAssetByAssetDateWithoutHiddenOrDeleted",
)
HIDDEN = Listing("hidden", "CPLAssetAndMasterHiddenByAssetDate", "CPLAssetHiddenByAssetDate")
ALBUM_LIST_TYPE = "CPLContainerRelationLiveByAssetDate"
ALBUM_COUNT_INDEX = "CPLContainerRelationNotDeletedByAssetDate"


def zone_id(zone: str) -> dict[str, str]:
    return {"zoneName": zone, "zoneType": ZONE_TYPE}


def _string_filter(field_name: str, value: str) -> dict[str, Any]:
    return {
        "comparator": "EQUALS",
        "fieldName": field_name,
        "fieldValue": {"type": "STRING", "value": value},
    }


def list_page_body(
    zone: str,
    list_type: str,
    *,
    start_rank: int,
    assets_wanted: int,
    direction: str = ASCENDING,
    parent_id: str | None = None,
) -> dict[str, Any]:
    """One page of a rank-ordered listing, starting at `start_rank`."""
    filters = [
        _string_filter("direction", direction),
        {
            "comparator": "EQUALS",
            "fieldName": "startRank",
            "fieldValue": {"type": "INT64", "value": start_rank},
        },
    ]
    if parent_id is not None:
        filters.append(_string_filter("parentId", parent_id))
    return {
        "query": {"recordType": list_type, "filterBy": filters},
        "zoneID": zone_id(zone),
        "resultsLimit": assets_wanted * 2,
    }


def count_body(zone: str, index_id: str) -> dict[str, Any]:
    """The HyperionIndexCountLookup batch query for one index."""
    return {
        "batch": [
            {
                "resultsLimit": 1,
                "query": {
                    "recordType": "HyperionIndexCountLookup",
                    "filterBy": {
                        "fieldName": "indexCountID",
                        "comparator": "IN",
                        "fieldValue": {"type": "STRING_LIST", "value": [index_id]},
                    },
                },
                "zoneWide": True,
                "zoneID": zone_id(zone),
            }
        ]
    }


def indexing_state_body(zone: str) -> dict[str, Any]:
    query = {"recordType": "CheckIndexingState"}
    return {"query": query, "zoneID": zone_id(zone), "resultsLimit": 1}


def album_list_body(zone: str, parent_id: str | None, continuation: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {"recordType": "CPLAlbumByPositionLive"}
    if parent_id is not None:
        query["filterBy"] = [_string_filter("parentId", parent_id)]
    body: dict[str, Any] = {"query": query, "zoneID": zone_id(zone)}
    if continuation is not None:
        body["continuationMarker"] = continuation
    return body


def lookup_body(zone: str, record_names: list[str]) -> dict[str, Any]:
    return {"records": [{"recordName": name} for name in record_names], "zoneID": zone_id(zone)}


def changes_body(zone: str, sync_token: str | None) -> dict[str, Any]:
    zone_request: dict[str, Any] = {"zoneID": zone_id(zone), "reverse": False}
    if sync_token is not None:
        zone_request["syncToken"] = sync_token
    return {"zones": [zone_request]}
