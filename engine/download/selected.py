"""The download work list under the selection (engine.selection): what this pass fetches.

Invariants:
- Read-only: the projection's `download` work list, narrowed by the selection scope, then by
  `until_found`, then cut to `limit`; the run and its dry run both take it from here, so
  `--dry-run` lists exactly what the run would fetch.
- Chosen assets (`asset_ids`: recover, a NAS repair) are fetched whatever the selection says.
- `until_found` (icloudpd's): walking the selected library newest first, the pass stops
  after N assets in a row that need nothing; the assets needing something before that point
  are the pass's. Older gaps wait for a pass without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.download.options import DownloadOptions
from engine.selection_scope import SelectionScope, selection_scope
from engine.services import Services
from projections.selection import library_newest_first
from projections.worklists import worklist


@dataclass(frozen=True)
class SelectedWork:
    """The asset ids to fetch (work-list order: oldest capture first) and what was left out."""

    asset_ids: list[str]
    not_selected: int  # assets of the work list the selection leaves out (or until_found)
    scope: SelectionScope | None  # None: chosen assets, no selection applied


def selected_worklist(services: Services, options: DownloadOptions) -> SelectedWork:
    """The assets this download pass works on."""
    if options.asset_ids is not None:
        only = options.asset_ids
        ids = [i for i in worklist(services.projection, "download") if i in only]
        return SelectedWork(ids, 0, None)
    listed = worklist(services.projection, "download")
    scope = selection_scope(services, options.local_tz)
    states = services.projection.states_of(set(listed))
    chosen = [i for i in listed if i in states and scope.reason(states[i]) is None]
    if scope.selection.until_found is not None:
        newest = [
            i for i, s in library_newest_first(services.projection) if scope.reason(s) is None
        ]
        kept = until_found(newest, set(chosen), scope.selection.until_found)
        chosen = [i for i in chosen if i in kept]
    limited = chosen[: options.limit] if options.limit is not None else chosen
    return SelectedWork(limited, len(listed) - len(chosen), scope)


def until_found(newest_first: Sequence[str], wanted: set[str], streak: int) -> set[str]:
    """The `wanted` ids met before `streak` ids in a row that are not wanted (newest first)."""
    kept: set[str] = set()
    run = 0
    for asset_id in newest_first:
        if asset_id in wanted:
            kept.add(asset_id)
            run = 0
            continue
        run += 1
        if run >= streak:
            break
    return kept

