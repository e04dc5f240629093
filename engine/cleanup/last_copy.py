"""The last copy is watched: a damaged NAS copy, and the alarm when it is the only one left.

Invariants:
- `is_sole_copy` is a pure predicate of an asset's state: once the asset is deleted from
  iCloud (by photoledger, or by someone else) and its local copy was compressed or removed,
  the NAS copy is the only full-quality original (projections.last_copy.SOLE_COPY_SQL is its
  SQL twin).
- Damage is a NAS copy recorded mismatched (damaged or missing) and not repaired since. On a
  sole copy it is the alarm (LastCopyDamagedError, exit 18); any other damage is
  NasMismatchedError (exit 17). Both are decided from the ledger after a run, so they hold
  for as long as the damage does and never for a copy already repaired.
- A `backup-damaged` notification goes out once per damage: DamageAlarmRaised is recorded
  only after the notification was delivered (or no channel is configured), and another is due
  only after a repair (NasVerified clears it) or when a damage already told about becomes a
  last-copy one. A notification that failed is tried again by the next run.
- Every message names what to do: the exact `photoledger recover` command and the last day
  it can work, or, once Recently Deleted is over, that the NAS copy must be restored from
  elsewhere. Time comes in as `now`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from engine import events as ev
from engine.asset import MediaState
from engine.errors import LastCopyDamagedError, NasMismatchedError, PhotoledgerError
from engine.notify import Notification, Notifier
from engine.services import Services
from projections.last_copy import damaged_nas_copies

LAST_COPY, DAMAGED = "last-copy", "damaged"
DETAILED_ASSETS = 10  # a notification names this many assets; the rest are counted


def is_sole_copy(state: MediaState) -> bool:
    """The NAS copy is the only full-quality copy: gone from iCloud, local copy degraded."""
    # bool(): a state read from the projection may carry SQLite's 0/1 for a flag.
    is_deleted = state.deletion_state == "deleted" or bool(state.is_remote_deleted)
    is_local_degraded = (
        state.compression_tier is not None or state.local_removed_at_utc is not None
    )
    return is_deleted and is_local_degraded


@dataclass(frozen=True)
class NasDamage:
    """One asset whose NAS copy is damaged or missing, as the user must hear of it."""

    asset_id: str  # hex
    nas_relpath: str
    is_last_copy: bool
    is_deleted: bool  # gone from iCloud (photoledger's deletion, or someone else's)
    local_copy: str  # "compressed", "removed" or "intact"
    recoverable_until_utc: datetime | None
    detected_at_utc: datetime | None
    told: str | None  # the level already notified (DamageAlarmRaised), None: never
    is_refetch_pending: bool = False  # backup-nas asked iCloud for it (RefetchRequested)

    @property
    def level(self) -> str:
        return LAST_COPY if self.is_last_copy else DAMAGED

    @property
    def is_due(self) -> bool:
        """Not told yet, or told as plain damage and now a last copy."""
        return self.told is None or (self.is_last_copy and self.told != LAST_COPY)


def decide_damage(asset_id: str, state: MediaState) -> NasDamage | None:
    """The asset's NAS damage, or None when its NAS copy is not recorded damaged."""
    if state.nas_status != "mismatched" or state.sha256 is None:
        return None
    local = ("removed" if state.local_removed_at_utc is not None
             else "compressed" if state.compression_tier is not None else "intact")
    return NasDamage(
        asset_id=UUID(asset_id).hex,
        nas_relpath=state.nas_relpath or state.local_relpath or state.record_name,
        is_last_copy=is_sole_copy(state),
        is_deleted=state.deletion_state in ("deleted", "requested")
        or bool(state.is_remote_deleted),
        local_copy=local,
        recoverable_until_utc=state.recoverable_until_utc,
        detected_at_utc=state.nas_mismatched_at_utc,
        told=state.nas_damage_alarm,
        is_refetch_pending=bool(state.refetch_resources),
    )


def describe_damage(d: NasDamage, now: datetime) -> str:
    """One line: what is wrong, why it matters, and the command (or step) that fixes it."""
    if not d.is_deleted:
        fix = ("no local copy holds the downloaded bytes: `photoledger download` fetches them "
               "again, then `photoledger backup-nas` repairs it (`photoledger run` does both)"
               if d.is_refetch_pending else "`photoledger backup-nas` repairs it from a good copy")
        return (f"the NAS copy of {d.nas_relpath} is damaged or missing; iCloud still has the "
                f"asset: {fix}")
    what = (f"the NAS copy of {d.nas_relpath} is damaged or missing"
            + (f" and it is the only full-quality copy left (deleted from iCloud, local copy "
               f"{d.local_copy})" if d.is_last_copy else
               "; the asset is deleted from iCloud and only the local copy is left"))
    prefix = "ALARM: " if d.is_last_copy else ""
    return f"{prefix}{what}: {_remedy(d, now)}"


def _remedy(d: NasDamage, now: datetime) -> str:
    command = f"`photoledger recover {d.asset_id}`"
    until = d.recoverable_until_utc
    if until is None:  # deleted outside photoledger: the ledger does not know since when
        return (f"{command} brings it back if iCloud's Recently Deleted still holds it (30 days "
                "from that deletion); otherwise restore the NAS copy from elsewhere")
    if until > now:
        return (f"run {command} by {until:%Y-%m-%d} (iCloud's Recently Deleted keeps it until "
                f"{until:%Y-%m-%d %H:%M} UTC); it re-downloads the asset and repairs the NAS copy")
    return (f"iCloud's Recently Deleted let it go on {until:%Y-%m-%d}: the NAS copy must be "
            "restored from elsewhere (another backup of the NAS)")


def decide_damage_error(damages: list[NasDamage], now: datetime) -> PhotoledgerError | None:
    """The exit a run must end with: the alarm (18) before plain damage (17), else None."""
    last = [d for d in damages if d.is_last_copy]
    if last:
        more = f" (and {len(last) - 1} more last copies)" if len(last) > 1 else ""
        return LastCopyDamagedError(describe_damage(last[0], now) + more)
    if damages:
        more = f" (and {len(damages) - 1} more)" if len(damages) > 1 else ""
        return NasMismatchedError(describe_damage(damages[0], now) + more)
    return None


def plan_damage_notification(due: list[NasDamage], now: datetime) -> Notification:
    """One `backup-damaged` notification for every damage not told yet (last copies first)."""
    last = sum(d.is_last_copy for d in due)
    head = describe_damage(due[0], now)
    summary = head if len(due) == 1 else f"{len(due)} NAS copies damaged or missing; {head}"
    details = {
        "last_copies": str(last),
        "damaged": str(len(due)),
        "assets": " ".join(d.asset_id for d in due[:DETAILED_ASSETS]),
        "nas_relpaths": " ".join(d.nas_relpath for d in due[:DETAILED_ASSETS]),
    }
    recoverable = [d.asset_id for d in due if d.is_deleted]
    if recoverable:
        details["recover_command"] = "photoledger recover " + " ".join(
            recoverable[:DETAILED_ASSETS])
    deadline = min((d.recoverable_until_utc for d in due if d.recoverable_until_utc is not None
                    and d.recoverable_until_utc > now), default=None)
    if deadline is not None:
        details["recoverable_until_utc"] = deadline.isoformat()
    return Notification("backup-damaged", summary, details)


@dataclass
class DamageReport:
    """The damage the ledger holds after a run, and what was told about it."""

    damages: list[NasDamage] = field(default_factory=list)
    notified: int = 0
    problems: list[str] = field(default_factory=list)  # notification failures (warnings)


def execute_damage_alarms(
    services: Services, send: Callable[[Notification], list[str]]
) -> DamageReport:
    """Notify (`send`: engine.notify.Notifier.send) every damage not told yet, then record
    DamageAlarmRaised for each of them. Runs inside a writer, after the run's own facts."""
    services.projection.catch_up(services.ledger)
    now = services.clock()
    report = DamageReport()
    for asset_id, state in damaged_nas_copies(services.projection):
        damage = decide_damage(asset_id, state)
        if damage is not None:
            report.damages.append(damage)
    due = [d for d in report.damages if d.is_due]
    if not due:
        return report
    report.problems = send(plan_damage_notification(due, now))
    if report.problems:  # not delivered: the next run tries again
        return report
    assets = []
    for d in due:
        asset = services.ledger.get_asset(UUID(d.asset_id))
        asset.record(ev.DamageAlarmRaised, services.run_id, timestamp=now,
                     nas_relpath=d.nas_relpath, detected_at_utc=d.detected_at_utc or now,
                     is_last_copy=d.is_last_copy)
        assets.append(asset)
    services.ledger.save(*assets)
    services.projection.catch_up(services.ledger)
    report.notified = len(due)
    return report


def notify_damage(services: Services, warn: Callable[[str], None]) -> DamageReport:
    """`execute_damage_alarms` through the configured channels (this process's environment,
    as every notification); a delivery that failed is a warning, tried again next run."""
    notifier = Notifier(services.config.settings.notify, dict(os.environ))
    report = execute_damage_alarms(services, notifier.send)
    for problem in report.problems:
        warn(problem)
    return report


def raise_for_damage(report: DamageReport, now: datetime, *, alarm_only: bool = False) -> None:
    """LastCopyDamagedError (18) for a damaged last copy, else NasMismatchedError (17) for
    any damage held (unless `alarm_only`: the caller has its own codes to raise first)."""
    error = decide_damage_error(report.damages, now)
    if error is not None and (not alarm_only or isinstance(error, LastCopyDamagedError)):
        raise error
