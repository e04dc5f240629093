"""The last copy is watched: `is_sole_copy` and its SQL twin, the damage decisions and their
messages, and the folds of Recovered and DamageAlarmRaised (pure: states and times in)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from engine import events as ev
from engine import resources as res
from engine.asset import MediaState, fold_fact
from engine.cleanup.last_copy import (
    decide_damage,
    decide_damage_error,
    describe_damage,
    is_sole_copy,
    plan_damage_notification,
)
from engine.cleanup.recover import decide_recover_action, decide_recovered_fact
from engine.crashpoints import CrashPoints
from engine.download.plan import StreamResult, decide_refetched_bytes
from engine.errors import ExitCode
from engine.icloud.port import RecoverOutcome
from projections.last_copy import SOLE_COPY_SQL, deleted_bytes
from projections.media import MediaProjection, insert_rows, state_to_row

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
SHA = "a" * 64


def _fold(state: MediaState, event_class: type[ev.AssetEvent], **facts: object) -> None:
    fact = event_class(originator_id=uuid4(), originator_version=state.version + 1,
                       timestamp=facts.pop("timestamp", NOW), run_id="0" * 32, **facts)
    fold_fact(state, event_class, fact, state.version + 1)


def downloaded_state() -> MediaState:
    state = MediaState(record_name="R1", zone="PrimarySync", declared_size_bytes=10,
                       remote_checksum="c1", item_type="public.jpeg", remote_change_tag="t1")
    _fold(state, ev.Downloaded, local_relpath="2024/01/01/IMG.JPG", size_bytes=10, sha256=SHA,
          checksum="c1")
    return state


def deleted_state(*, local: str = "removed", until: datetime = NOW + timedelta(days=10)
                  ) -> MediaState:
    state = downloaded_state()
    state.nas_status, state.nas_relpath = "mismatched", "2024/01/01/IMG.JPG"
    state.deletion_state, state.recoverable_until_utc = "deleted", until
    if local == "removed":
        state.local_removed_at_utc = NOW - timedelta(days=1)
    elif local == "compressed":
        state.compression_tier = "heavy"
    return state


COMBOS = list(itertools.product(
    (None, "requested", "deleted", "failed"), (False, True), (None, "light"), (None, NOW)))


def test_is_sole_copy_and_its_sql_twin_agree(tmp_path: Path) -> None:
    projection = MediaProjection(tmp_path / "media.db", CrashPoints())
    try:
        states = {}
        for i, (deletion, remote, tier, removed) in enumerate(COMBOS):
            states[f"{i:032x}"] = MediaState(
                deletion_state=deletion, is_remote_deleted=remote, compression_tier=tier,
                local_removed_at_utc=removed)
        insert_rows(projection._con, (state_to_row(i, s) for i, s in states.items()))
        rows = projection._con.execute(f"SELECT asset_id FROM media WHERE {SOLE_COPY_SQL}")
        by_sql = {row[0] for row in rows}
    finally:
        projection.close()
    assert by_sql == {i for i, s in states.items() if is_sole_copy(s)}
    assert 0 < len(by_sql) < len(states)
    # a state read back from SQLite may hold 0/1 for a flag: the verdict is a bool all the same
    assert is_sole_copy(MediaState(is_remote_deleted=0, compression_tier="x")) is False  # type: ignore[arg-type]


def test_a_damaged_last_copy_names_the_recover_command_and_its_last_day() -> None:
    damage = decide_damage("1" * 32, deleted_state())
    assert damage is not None and damage.is_last_copy and damage.is_due

    message = describe_damage(damage, NOW)

    assert message.startswith("ALARM: the NAS copy of 2024/01/01/IMG.JPG")
    assert "local copy removed" in message
    assert f"`photoledger recover {'1' * 32}` by 2025-06-11" in message
    error = decide_damage_error([damage], NOW)
    assert error is not None and error.exit_code == ExitCode.LAST_COPY_DAMAGED


def test_past_recently_deleted_the_nas_copy_must_be_restored_from_elsewhere() -> None:
    damage = decide_damage("1" * 32, deleted_state(local="compressed", until=NOW - timedelta(1)))
    assert damage is not None

    message = describe_damage(damage, NOW)

    assert "let it go on 2025-05-31" in message and "restored from elsewhere" in message
    assert "photoledger recover" not in message


def test_plain_damage_is_17_and_an_intact_local_copy_is_not_the_last() -> None:
    alive = downloaded_state()
    alive.nas_status = "mismatched"
    deleted_intact = deleted_state(local="intact")
    damages = [decide_damage("1" * 32, alive), decide_damage("2" * 32, deleted_intact)]
    assert all(d is not None and not d.is_last_copy for d in damages)

    error = decide_damage_error([d for d in damages if d is not None], NOW)

    assert error is not None and error.exit_code == ExitCode.NAS_MISMATCHED
    assert "backup-nas" in str(error) and "(and 1 more)" in str(error)
    assert decide_damage("3" * 32, downloaded_state()) is None  # not damaged: nothing


def test_an_alarm_is_told_once_until_repaired_and_again_when_it_escalates() -> None:
    state = deleted_state(local="intact")
    _fold(state, ev.DamageAlarmRaised, nas_relpath="x", detected_at_utc=NOW, is_last_copy=False)
    damage = decide_damage("1" * 32, state)
    assert damage is not None and not damage.is_due  # told as plain damage

    state.local_removed_at_utc = NOW  # now the NAS copy is the last one: tell again
    escalated = decide_damage("1" * 32, state)
    assert escalated is not None and escalated.is_due
    notification = plan_damage_notification([escalated], NOW)
    assert notification.event == "backup-damaged"
    assert notification.details["recover_command"] == f"photoledger recover {'1' * 32}"

    _fold(state, ev.DamageAlarmRaised, nas_relpath="x", detected_at_utc=NOW, is_last_copy=True)
    _fold(state, ev.NasVerified, sha256=SHA, method="reread", files=(
        ev.ResourceHash(key="original", sha256=SHA),))
    assert state.nas_damage_alarm is None and state.nas_mismatched_at_utc is None  # repaired


def test_recovered_clears_the_deletion_and_asks_for_every_resource_again() -> None:
    state = deleted_state()
    state.album_moved_at_utc = NOW - timedelta(days=3)

    _fold(state, ev.Recovered, remote_change_tag="t2", is_reconciled=False)

    assert (state.deletion_state, state.recoverable_until_utc, state.album_moved_at_utc) == (
        None, None, None)
    assert state.remote_change_tag == "t2" and state.recovered_at_utc == NOW
    assert state.refetch_resources == ("original",) == state.missing_resources
    assert res.downloaded(state, "original") is not None  # the old download stays: its sha256
    assert decide_recover_action(state) == "finish"

    _fold(state, ev.Downloaded, local_relpath="2024/01/01/IMG.JPG", size_bytes=10, sha256=SHA,
          checksum="c1")

    assert state.refetch_resources == () == state.missing_resources
    assert state.local_removed_at_utc is None and state.compression_tier is None
    assert state.downloaded_change_tag == "t2"


def test_a_purge_observed_ends_recently_deleted_and_is_no_deletion_by_someone_else() -> None:
    state = deleted_state()
    _fold(state, ev.RemoteDeleted, observed_via="recover: no longer in Recently Deleted")

    assert state.recoverable_until_utc == NOW and not state.is_remote_deleted
    damage = decide_damage("1" * 32, state)
    assert damage is not None
    assert "restored from elsewhere" in describe_damage(damage, NOW + timedelta(seconds=1))


@pytest.mark.parametrize(("kind", "expected"), [
    ("recovered", ("recovered", False)), ("not-deleted", ("reconciled", True)),
    ("gone", ("gone", None)), ("conflict", ("conflict", None)),
])
def test_what_icloud_answered_becomes_at_most_one_recovered(
    kind: str, expected: tuple[str, bool | None]
) -> None:
    state = deleted_state()
    outcome, facts = decide_recovered_fact(
        state, RecoverOutcome(kind=kind, record_name="R1", change_tag="t9"))  # type: ignore[arg-type]

    assert outcome == expected[0]
    assert (facts["is_reconciled"] if facts else None) == expected[1]
    assert decide_recover_action(state) == "ask-icloud"


def test_refetched_bytes_must_be_the_recorded_ones() -> None:
    same = StreamResult(status="complete", size_bytes=10, sha256=SHA)
    other = StreamResult(status="complete", size_bytes=10, sha256="b" * 64)

    assert decide_refetched_bytes(SHA, same).outcome == "ok"
    assert decide_refetched_bytes("", other).outcome == "ok"  # not a re-download
    verdict = decide_refetched_bytes(SHA, other)
    assert (verdict.outcome, verdict.reason) == ("quarantined", "recovered_bytes_differ")


def test_deleted_bytes_are_split_by_the_end_of_recently_deleted(tmp_path: Path) -> None:
    projection = MediaProjection(tmp_path / "media.db", CrashPoints())
    try:
        rows = []
        for i, days in enumerate((5, 20, -3)):
            state = MediaState(deletion_state="deleted", icloud_size_bytes=100 * (i + 1),
                               recoverable_until_utc=NOW + timedelta(days=days))
            rows.append(state_to_row(f"{i:032x}", state))
        insert_rows(projection._con, rows)

        split = deleted_bytes(projection, NOW)
    finally:
        projection.close()
    assert (split.recoverable_assets, split.recoverable_bytes) == (2, 300)
    assert (split.freed_for_good_assets, split.freed_for_good_bytes) == (1, 300)
    assert split.recoverable_until_last_utc == NOW + timedelta(days=20)
    assert split.recoverable_until_first_utc == NOW + timedelta(days=5)
