"""Recently Deleted on the simulator's own clock: how long a soft-deleted asset stays recoverable.

Invariants:
- The simulated clock is the wall clock plus an offset that only ever grows (`advance`); a test
  or a `photoledger simulator` user moves it with `PhotoLibraryState.advance_clock` or
  `POST /_sim/clock` (control.py). It stamps deletions and decides purges, nothing else.
- An asset is purged once more than 30 simulated days have passed since its deletion, counted
  from no earlier than the clock's start: a generated library (whose dates are fixed in 2025)
  keeps its Recently Deleted items until simulated time has moved 30 days, whatever the real
  date is.
- Download URL expiry runs on the server's request clock, which this clock does not move.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

RECENTLY_DELETED_DAYS = 30
DAY_MS = 86_400_000
RETENTION_MS = RECENTLY_DELETED_DAYS * DAY_MS


def wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class SimClock:
    """The library's notion of now: the wall clock, moved forward by `advance`."""

    wall: Callable[[], int] = wall_ms
    offset_ms: int = 0
    started_ms: int = field(init=False)

    def __post_init__(self) -> None:
        self.started_ms = self.wall()

    def now_ms(self) -> int:
        return self.wall() + self.offset_ms

    def advance(self, seconds: float) -> int:
        """Move forward by `seconds` (never back); returns the new now in ms."""
        if not seconds >= 0:  # also refuses NaN
            raise ValueError(f"the simulated clock only moves forward, not by {seconds} s")
        self.offset_ms += round(seconds * 1000)
        return self.now_ms()

    def purge_at_ms(self, deleted_at_ms: int) -> int:
        """When an asset deleted at `deleted_at_ms` leaves Recently Deleted for good."""
        return max(deleted_at_ms, self.started_ms) + RETENTION_MS

    def is_purge_due(self, deleted_at_ms: int) -> bool:
        return self.now_ms() > self.purge_at_ms(deleted_at_ms)
