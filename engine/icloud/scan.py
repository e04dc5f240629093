"""A full scan of rank-ordered listings, pages fetched in parallel and yielded as they complete.

Invariants:
- The listing is cut into ASCENDING rank windows of `page_size` assets from the count; at most
  `2 * workers` windows are in flight, so memory does not grow with the library (only the set
  of record names already yielded does: it is what removes the duplicates that overlapping
  windows produce, pitfall 11).
- A window that comes back short (shared masters, a record limit) is continued from where it
  stopped; an empty answer ends the window.
- Every asset is yielded at most once per scan; so is every problem.
- After the last page the count is read again. If it changed (assets added or deleted during
  the scan shift the ranks, so a window may have missed an asset), the listing is walked once
  more and only assets not yet seen are yielded. Anything that changes after that is caught by
  `changes_since` from a sync token the caller took before the scan.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from engine.icloud.model import ScanPage

_LOG = logging.getLogger(__name__)

FetchWindow = Callable[[int, int], tuple[ScanPage, int]]
"""(start_rank, assets_wanted) -> (page, number of asset records Apple returned)."""


@dataclass(frozen=True)
class Window:
    start_rank: int
    end_rank: int  # exclusive


def plan_windows(count: int, page_size: int) -> deque[Window]:
    """Consecutive windows covering ranks [0, count)."""
    return deque(
        Window(start, min(start + page_size, count)) for start in range(0, count, page_size)
    )


class SeenNames:
    """Record names already yielded in this scan (assets and problems separately)."""

    def __init__(self) -> None:
        self.assets: set[str] = set()
        self.problems: set[str] = set()

    def keep_new(self, page: ScanPage) -> ScanPage:
        assets = tuple(a for a in page.assets if a.record_name not in self.assets)
        self.assets.update(a.record_name for a in assets)
        problems = tuple(
            p for p in page.problems if p.record_name not in self.problems | self.assets
        )
        self.problems.update(p.record_name for p in problems)
        return ScanPage(assets=assets, problems=problems)


def scan_windows(
    fetch: FetchWindow, count: int, *, page_size: int, workers: int, seen: SeenNames
) -> Iterator[ScanPage]:
    """Yield the new assets of every window of a listing of `count` assets."""
    windows = plan_windows(count, page_size)
    max_in_flight = max(1, workers) * 2
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="icloud-scan") as pool:
        pending: dict[Future[tuple[ScanPage, int]], Window] = {}
        try:
            while windows or pending:
                while windows and len(pending) < max_in_flight:
                    window = windows.popleft()
                    size = window.end_rank - window.start_rank
                    pending[pool.submit(fetch, window.start_rank, size)] = window
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    window = pending.pop(future)
                    page, returned = future.result()
                    rest = plan_rest(window, returned)
                    if rest is not None:
                        windows.append(rest)
                    fresh = seen.keep_new(page)
                    if fresh.assets or fresh.problems:
                        yield fresh
        finally:
            for future in pending:
                future.cancel()


def plan_rest(window: Window, returned: int) -> Window | None:
    """The part of a window still to fetch after an answer holding `returned` assets."""
    if returned <= 0:
        return None
    next_start = window.start_rank + returned
    return Window(next_start, window.end_rank) if next_start < window.end_rank else None


def scan_listing(
    fetch: FetchWindow,
    count_assets: Callable[[], int],
    *,
    page_size: int,
    workers: int,
    seen: SeenNames,
) -> Iterator[ScanPage]:
    """Scan a listing, then walk it once more if its count changed meanwhile."""
    count_before = count_assets()
    yield from scan_windows(fetch, count_before, page_size=page_size, workers=workers, seen=seen)
    count_after = count_assets()
    if count_after != count_before:
        _LOG.info(
            "the listing changed during the scan (%d -> %d assets); walking it again",
            count_before,
            count_after,
        )
        yield from scan_windows(fetch, count_after, page_size=page_size, workers=workers, seen=seen)
