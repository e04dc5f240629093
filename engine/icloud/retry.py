"""Bounded retries with exponential backoff and full jitter, honouring Retry-After.

Invariants:
- An operation is tried at most `max_attempts` times, and no wait starts that would end after
  `max_total_s` from the first try: a retry loop always ends.
- Only a TransientError is retried; anything else propagates at once.
- The wait before retry n (n >= 1) is uniform in [0, min(max_delay_s, base_delay_s * 2**(n-1))]
  ("full jitter"), raised to the server's Retry-After when it asked for longer.
- Clock, sleep and randomness are passed in, so tests run with no real waiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


class TransientError(Exception):
    """A failure worth retrying: throttled (429/503), dropped connection, truncated body."""

    def __init__(self, message: str, *, kind: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind  # "throttled", "unavailable" or "network"
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry; the defaults suit Apple's throttling (minutes, not hours)."""

    max_attempts: int = 6
    max_total_s: float = 300.0
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)

    def plan_delay_s(self, retry_number: int, retry_after_s: float | None) -> float:
        """The wait before retry `retry_number` (1-based)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (retry_number - 1)))
        delay = self.rng.uniform(0.0, ceiling)
        if retry_after_s is not None and retry_after_s > delay:
            delay = retry_after_s
        return delay


def execute_with_retry(
    policy: RetryPolicy,
    operation: Callable[[], T],
    *,
    on_retry: Callable[[TransientError, float], None] | None = None,
) -> T:
    """Run `operation`, retrying TransientError; the last one is re-raised when out of budget."""
    started_at = policy.clock()
    attempt = 1
    while True:
        try:
            return operation()
        except TransientError as exc:
            if attempt >= policy.max_attempts:
                raise
            delay_s = policy.plan_delay_s(attempt, exc.retry_after_s)
            if policy.clock() + delay_s - started_at > policy.max_total_s:
                raise
            if on_retry is not None:
                on_retry(exc, delay_s)
            policy.sleep(delay_s)
            attempt += 1


def parse_retry_after_s(value: str | None) -> float | None:
    """Retry-After in seconds (only the delta-seconds form; an HTTP date is ignored)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
