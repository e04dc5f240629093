"""kill -9 while `photoledger download` compares adopted files with iCloud's bytes, then rerun:
each adopted file confirmed or disproved once, the wrong one moved aside once and downloaded
once, no half file, and every invariant of tests/reliability/invariants.py (every library file
named by an event, the quarantined one included; the projection equal to a replay).

The simulator runs in this process; `photoledger download` runs as a real subprocess. The
library adopted an icloudpd tree (import-existing) in which one original holds other bytes
at the right size, so the download stage has nothing to download and only compares.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from uuid import UUID

import pytest

from engine import events as ev
from engine.crashpoints import CRASH_ENV
from tests.commands.test_import_existing import run_import
from tests.commands.test_import_existing_confirm import flip_keep_size, originals
from tests.factories import run_cli
from tests.icloudpd_tree import write_icloudpd_tree
from tests.reliability.invariants import assert_invariants, assert_no_temp_files
from tests.scenarios.fault_world import World, asset_id, open_world
from tests.sim import PASSWORD

ADOPTION_CRASH_TESTS: dict[str, str] = {
    "adoption.mid_stream": "iCloud's bytes of an adopted file half hashed: nothing recorded",
    "adoption.after_quarantine_before_save": "the wrong file moved aside, its fact not saved",
}


def download(world: World, crash_at: str = "") -> tuple[int, str]:
    env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": world.server.base_url, "TZ": "UTC",
           "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD, CRASH_ENV: crash_at}
    result = run_cli(["--no-progress", "download", "--compare-adopted"], world.library.config_path, env=env,
                     timeout=300)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("point", sorted(ADOPTION_CRASH_TESTS))
def test_kill_while_comparing_adopted_files_then_rerun_records_each_once(
    tmp_path: Path, point: str
) -> None:
    with open_world(tmp_path, assets=8, seed=3) as world:
        world.discover()
        tree = write_icloudpd_tree(world.state, tmp_path / "icloudpd")
        victim_name, victim = originals(tree)[0]
        flip_keep_size(tree.root / victim)
        wrong = (tree.root / victim).read_bytes()
        assert run_import(world, tree.root).files_adopted == len(tree.relpaths())

        code, output = download(world, crash_at=point)
        assert code == -signal.SIGKILL, output
        code, output = download(world)
        assert code == 0, output

        ledger = world.library.open_ledger()
        try:
            topics: dict[str, Counter[str]] = {}
            for raw in ledger.iter_all():
                topics.setdefault(raw.topic, Counter())[raw.originator_id] += 1
            adopted = {asset_id(name).hex for name in tree.files}
            assert set(topics["AdoptionConfirmed"]) == adopted - {asset_id(victim_name).hex}
            assert set(topics["AdoptionConfirmed"].values()) == {1}
            assert topics["AdoptionDisproved"] == Counter({asset_id(victim_name).hex: 1})
            victim_events = ledger.events_of(asset_id(victim_name))
            provenances = [e.provenance for e in victim_events
                           if isinstance(e, ev.Downloaded) and e.resource == "original"]
            assert provenances == ["adopted", "downloaded"]
            disproved = next(e for e in victim_events if isinstance(e, ev.AdoptionDisproved))
            assert disproved.quarantine_relpath == f"Quarantine/{victim}"
            for aggregate in adopted:
                state = ledger.get_asset(UUID(aggregate)).state
                assert state.adoption_unconfirmed == state.adoption_disproved == ()
        finally:
            ledger.close()
        assert_invariants(world.library, tmp_path / "scratch")  # the quarantined file included
        assert (world.root / f"Quarantine/{victim}").read_bytes() == wrong
        assert (world.root / victim).read_bytes() != wrong
        assert not list((world.root / "Quarantine").rglob("*.1"))  # moved once
        assert_no_temp_files(world.root)
