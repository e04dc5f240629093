"""Adopted files are compared with iCloud's bytes before the gate lets their asset go.

An icloudpd tree of the simulator's library, one file holding other bytes at the right size,
is adopted by `import-existing`; the assets are backed up and moved to DeletePending by a
photoledger that did not yet compare adopted files (the gate's adoption check patched out,
as a ledger from before it). `delete plan` blocks every adopted asset with the reason; the
CLI's `download --compare-adopted` then streams each adopted file once (counted at the
simulator), writes nothing for those that match, moves the wrong one to Quarantine/ and
fetches iCloud's bytes; a 404 leaves one asset unconfirmed (exit 16) until the next time.
A plain `download` fetches nothing adopted; `run` compares the assets old enough to go.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from commands import cli
from engine.cleanup import gate
from engine.errors import ExitCode, PhotoledgerError
from tests.cleanup_world import CleanupWorld, configure_cleanup, open_cleanup_world
from tests.commands.test_import_existing import Ran, token_of
from tests.icloudpd_tree import IcloudpdTree, write_icloudpd_tree
from tests.scenarios.fault_world import content_histories, files_on_disk
from tests.sim import PASSWORD


def invoke(cw: CleanupWorld, *args: str) -> Ran:
    env = {"TZ": "UTC", "PHOTOLEDGER_ICLOUD_ENDPOINT": cw.world.server.base_url,
           "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
    result = CliRunner().invoke(cli, ["--config", str(cw.config_path), "--no-progress", *args],
                                env=env)
    if isinstance(result.exception, PhotoledgerError):
        return Ran(int(result.exception.exit_code), result.output + str(result.exception))
    return Ran(result.exit_code, result.output)


def fast_retries(config_path: Path) -> None:
    text = config_path.read_text()
    assert text.count("  retry_delay_s: 1.0\n") == 1
    config_path.write_text(text.replace("  retry_delay_s: 1.0\n", "  retry_delay_s: 0.05\n"))


def flip_keep_size(path: Path) -> None:
    """Other bytes at the same size: what a tool that checks nothing may leave."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def originals(tree: IcloudpdTree) -> list[tuple[str, str]]:
    """(record name, relpath) of every original in the tree, in a stable order."""
    return sorted((name, files["original"]) for name, files in tree.files.items()
                  if "original" in files)


def blocked_codes(cw: CleanupWorld) -> dict[str, list[str]]:
    plan = cw.plan()
    return {b.label: [str(block) for block in b.blocks] for b in plan.blocked}


def test_download_confirms_adopted_files_and_refetches_the_wrong_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_cleanup_world(tmp_path, assets=10, seed=3, require=["nas"]) as cw:
        world = cw.world
        fast_retries(cw.config_path)
        world.discover()
        tree = write_icloudpd_tree(world.state, tmp_path / "icloudpd")
        (victim_name, victim), (refused_name, _refused) = originals(tree)[:2]
        flip_keep_size(tree.root / victim)
        wrong_bytes = (tree.root / victim).read_bytes()
        ran = invoke(cw, "import-existing", str(tree.root))
        assert ran.exit_code == 0, ran.output
        assert "compare the adopted files with iCloud's bytes in `photoledger run` once " \
            "their assets may leave iCloud" in ran.output
        cw.backup_nas()
        with monkeypatch.context() as patch:  # a photoledger from before the comparison
            patch.setattr(gate, "_adoption_blocks", lambda _state: [])
            moved = cw.album_move().moved
        assert len(moved) == len(tree.files)

        before = blocked_codes(cw)
        assert len(before) == len(moved) and not cw.plan().entries
        assert all(any(b.startswith("adopted-unconfirmed: the local copy (") and
                       "not yet compared with iCloud's bytes" in b for b in blocks)
                   for blocks in before.values()), before

        plain = invoke(cw, "download", "--dry-run")
        assert "would compare" not in plain.output, plain.output  # download fetches no adopted
        dry = invoke(cw, "download", "--dry-run", "--compare-adopted")
        compared = [line for line in dry.output.splitlines()
                    if line.startswith("would compare with iCloud's bytes ")]
        assert len(compared) == len(tree.relpaths()), dry.output

        library_paths = {r.relpath for name in tree.files
                         for r in cw.state(name).resources_downloaded}
        assert len(library_paths) == len(tree.relpaths())
        adopted_files = {r: os.stat(world.root / r) for r in library_paths if r != victim}
        on_disk = files_on_disk(world)
        mark = len(world.server.requests.entries())
        world.server.refuse_content(refused_name, "original", status=404, times=1)
        throttled_name = originals(tree)[2][0]
        world.server.refuse_content(throttled_name, "original", status=503, times=2)
        first = invoke(cw, "download", "--compare-adopted")

        assert first.exit_code == ExitCode.ASSETS_FAILED, first.output
        assert "could not be compared with iCloud's bytes" in first.output
        assert "1 not iCloud's" in first.output and "moved to Quarantine/" in first.output
        histories = content_histories(world, mark)
        tokens = {token_of(world, name, key): relpath for name, files in tree.files.items()
                  for key, relpath in files.items()}
        assert set(histories) == set(tokens), "every adopted file streamed, nothing else"
        victim_token = token_of(world, victim_name, "original")
        refused_token = token_of(world, refused_name, "original")
        assert histories.pop(victim_token) == [200, 200]  # compared, then downloaded
        assert histories.pop(refused_token) == [404]
        # 503 twice: retried by the download stage's own retries, then compared
        assert histories.pop(token_of(world, throttled_name, "original")) == [503, 503, 200]
        assert "AdoptionConfirmed" in cw.topics_of(throttled_name)
        assert all(statuses == [200] for statuses in histories.values()), histories
        for relpath, seen in adopted_files.items():  # a confirmed file is never rewritten
            now = os.stat(world.root / relpath)
            assert (now.st_ino, now.st_mtime_ns, now.st_size) == (
                seen.st_ino, seen.st_mtime_ns, seen.st_size), relpath
        quarantined = f"Quarantine/{victim}"
        assert (world.root / quarantined).read_bytes() == wrong_bytes
        assert (world.root / victim).read_bytes() != wrong_bytes
        assert (world.root / victim).stat().st_size == len(wrong_bytes)
        new_files = {f for f in files_on_disk(world) - on_disk if not f.endswith(".xmp")}
        assert new_files == {quarantined}
        topics = cw.topics_of(victim_name)
        assert topics.count("AdoptionDisproved") == 1 and "AdoptionConfirmed" not in topics
        assert cw.state(victim_name).sha256 != cw.state(refused_name).sha256

        cw.backup_nas()  # the victim's NAS copy held the adopted bytes: copied again
        assert (cw.nas_root / victim).read_bytes() == (world.root / victim).read_bytes()
        after = blocked_codes(cw)
        assert set(after) == {cw.state(refused_name).local_relpath}, after
        assert any(b.startswith("adopted-unconfirmed") for b in next(iter(after.values())))

        again = invoke(cw, "download", "--compare-adopted")
        assert again.exit_code == 0, again.output
        assert "1 confirmed, 0 not iCloud's" in again.output
        plan = cw.plan()
        assert not plan.blocked and len(plan.entries) == len(moved)
        victim_entry = next(e for e in plan.entries if e.record_name == victim_name)
        assert victim_entry.sha256 == cw.state(victim_name).sha256
        nothing = invoke(cw, "download", "--dry-run", "--compare-adopted")
        assert "would compare" not in nothing.output


def test_import_existing_confirm_compares_at_once(tmp_path: Path) -> None:
    with open_cleanup_world(tmp_path, assets=6, seed=5, require=["nas"]) as cw:
        world = cw.world
        world.discover()
        tree = write_icloudpd_tree(world.state, tmp_path / "icloudpd")
        victim_name, victim = originals(tree)[-1]
        flip_keep_size(tree.root / victim)
        dry = invoke(cw, "import-existing", "--confirm", "--dry-run", str(tree.root))
        assert dry.exit_code == 0 and "would then compare the" in dry.output
        assert "Quarantine" not in files_on_disk(world) and world.server.requests.entries()
        mark = len(world.server.requests.entries())
        ran = invoke(cw, "import-existing", "--confirm", str(tree.root))
        assert ran.exit_code == 0, ran.output
        files = sum(line.startswith("adopt ") for line in ran.output.splitlines()) - 1
        assert files > 3, ran.output
        assert f"{files - 1} files confirmed, 1 not iCloud's" in ran.output
        assert f"moved to Quarantine/{victim}" in ran.output
        assert len(content_histories(world, mark)) == files  # one stream each (+ the refetch)
        assert (world.root / f"Quarantine/{victim}").exists()
        assert cw.state(victim_name).adoption_disproved == ()
        nothing = invoke(cw, "download", "--dry-run", "--compare-adopted")
        assert "would compare" not in nothing.output, nothing.output  # all compared


def test_run_compares_only_the_adopted_files_old_enough_to_leave_icloud(tmp_path: Path) -> None:
    """`download` fetches nothing adopted; `run` streams the adopted files of the assets past
    cleanup.keep_recent_days once each, and leaves the recent ones alone."""
    with open_cleanup_world(tmp_path, assets=6, seed=5, require=["nas"]) as cw:
        world = cw.world
        world.discover()
        tree = write_icloudpd_tree(world.state, tmp_path / "icloudpd")
        assert invoke(cw, "import-existing", str(tree.root)).exit_code == 0
        taken = sorted((cw.state(name).captured_at_utc, name) for name in tree.files)
        assert None not in {when for when, _ in taken}
        now = datetime.now(UTC)
        middle = taken[len(taken) // 2][0]
        keep_days = (now - middle).days  # the older half may leave iCloud, the rest is recent
        configure_cleanup(cw.library, keep_recent_days=keep_days)
        cutoff = now - timedelta(days=keep_days)
        due = {name for when, name in taken if when < cutoff}
        assert due and due != set(tree.files), (keep_days, taken)

        tokens = {name: {token_of(world, name, key) for key in cw.state(name).adoption_unconfirmed}
                  for name in tree.files}  # the files import-existing adopted
        adopted = set().union(*tokens.values())
        assert all(tokens.values())
        mark = len(world.server.requests.entries())
        plain = invoke(cw, "download")  # fetches what the tree lacked, nothing adopted
        assert plain.exit_code == 0, plain.output
        assert not set(content_histories(world, mark)) & adopted
        mark = len(world.server.requests.entries())
        ran = invoke(cw, "run")
        assert ran.exit_code in (ExitCode.OK, ExitCode.NEEDS_ATTENTION), ran.output
        streamed = content_histories(world, mark)
        for name in tree.files:
            if name in due:
                assert all(streamed.get(t) == [200] for t in tokens[name]), name
                assert "AdoptionConfirmed" in cw.topics_of(name)
            else:
                assert not tokens[name] & set(streamed), name
                assert "AdoptionConfirmed" not in cw.topics_of(name)
