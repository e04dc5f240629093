#!/usr/bin/env python3
"""The container's HEALTHCHECK: `photoledger status --json` answers and the last run is recent.

Invariants: exit 0 (healthy) only when `photoledger status --json` exits 0 within its timeout
and the most recent run either finished or started less than PHOTOLEDGER_HEALTH_MAX_AGE seconds
ago (default 10800: the default one-hour `watch` interval plus a long run), or is still in
progress and started less than PHOTOLEDGER_HEALTH_MAX_RUN seconds ago (default 172800: a first
download of a large library takes a day or more). Anything else exits 1 with a one-line reason.
Run as root with PUID set (Docker runs health checks as root in this image, whose ENV sets
PUID), it first drops to PUID/PGID, so the check never leaves a root-owned file in the library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

DEFAULT_MAX_AGE = 3 * 3600
DEFAULT_MAX_RUN = 48 * 3600
STATUS_TIMEOUT = 90


def _seconds(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip().isdigit() else default


def _drop_root() -> None:
    if os.geteuid() != 0 or "PUID" not in os.environ:
        return
    uid, gid = _seconds("PUID", 1000), _seconds("PGID", 1000)
    os.setgroups([gid])
    os.setgid(gid)
    os.setuid(uid)
    os.umask(int(os.environ.get("UMASK", "022"), 8))


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def verdict(last_run: dict[str, Any] | None, now: datetime, max_age: int, max_run: int) -> str:
    """'' when healthy, else the reason."""
    if not last_run:
        return "no run recorded yet"
    started = _parse(last_run.get("started_at_utc"))
    finished = _parse(last_run.get("finished_at_utc"))
    if finished is not None:
        age = (now - finished).total_seconds()
        if age > max_age:
            return f"the last run ({last_run.get('command')}) finished {int(age)} s ago"
        return ""
    if started is None:
        return "the last run has no start time"
    age = (now - started).total_seconds()
    if age > max_run:
        return f"the last run ({last_run.get('command')}) started {int(age)} s ago, not finished"
    return ""


def main() -> int:
    _drop_root()
    try:
        proc = subprocess.run(
            ["photoledger", "--no-progress", "status", "--json"],
            capture_output=True,
            text=True,
            timeout=STATUS_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"unhealthy: photoledger status --json: {exc}")
        return 1
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"unhealthy: status exited {proc.returncode}: {reason}")
        return 1
    try:
        last_run = json.loads(proc.stdout).get("last_run")
    except (ValueError, AttributeError) as exc:
        print(f"unhealthy: status --json printed no JSON object: {exc}")
        return 1
    reason = verdict(
        last_run,
        datetime.now(UTC),
        _seconds("PHOTOLEDGER_HEALTH_MAX_AGE", DEFAULT_MAX_AGE),
        _seconds("PHOTOLEDGER_HEALTH_MAX_RUN", DEFAULT_MAX_RUN),
    )
    if reason:
        print(f"unhealthy: {reason}")
        return 1
    print(f"healthy: last run {last_run['command']} ({last_run.get('outcome')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
