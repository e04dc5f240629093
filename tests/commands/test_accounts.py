"""Two Apple IDs in one config, against `photoledger simulator --accounts 2` (run_simulator):
`init` and `run` go through both, each library gets exactly its own account's files, one
account's failure never stops the other, and `--account` picks one for every command."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from engine.config import load_config
from engine.crashpoints import CrashPoints
from engine.errors import ExitCode
from engine.ledger import open_ledger
from engine.lock import WriterLock
from simulator.icloud.cloudkit import CloudKitPhotoDatabase
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.serve import SimulatorOptions, run_simulator
from tests.factories import run_cli

TINY_SCALE = 0.002
CONFIG = """\
library:
  folder_structure: "{{:%Y/%m}}"
icloud:
  session_dir: ./session
accounts:
  - name: alice
    icloud: {{username: {alice}}}
    library: {{root: ./alice}}
    nas: {{root: ./nas/alice}}
  - name: bob
    icloud: {{username: {bob}}}
    library: {{root: ./bob}}
    nas: {{root: ./nas/bob}}
"""


@dataclass
class TwoAccounts:
    endpoint: str
    users: dict[str, tuple[str, str]]  # account name -> (username, password)
    databases: dict[str, CloudKitPhotoDatabase]  # account name -> its iCloud library
    config_path: Path

    def env(self, **passwords: str) -> dict[str, str]:
        """The endpoint and each account's own password variable (right unless given)."""
        env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": self.endpoint}
        for name, (_user, password) in self.users.items():
            env[f"PHOTOLEDGER_ICLOUD_PASSWORD_{name.upper()}"] = passwords.get(name, password)
        return env

    def cli(self, args: list[str], **passwords: str) -> tuple[int, str, str]:
        result = run_cli(["--no-progress", *args], self.config_path, env=self.env(**passwords),
                         timeout=300)
        return result.returncode, result.stdout, result.stderr


@contextmanager
def two_accounts(tmp_path: Path) -> Iterator[TwoAccounts]:
    """`photoledger simulator --accounts 2` in a thread (tiny generated libraries)."""
    databases: list[CloudKitPhotoDatabase] = []

    def tiny(options: SimulatorOptions) -> CloudKitPhotoDatabase:
        databases.append(generate_library(GeneratorSpec(
            assets=8, seed=options.seed, include_malformed=False, shared_assets=0,
            size_scale=TINY_SCALE)))
        return databases[-1]

    lines: list[str] = []
    stop = threading.Event()
    options = SimulatorOptions(accounts=2, seed=5)
    worker = threading.Thread(target=run_simulator, args=(options, lines.append, stop, tiny))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while not any(line.startswith("also: ") for line in lines):
            assert time.monotonic() < deadline and worker.is_alive(), lines
            time.sleep(0.02)
        endpoint = next(x for x in lines if x.startswith("PHOTOLEDGER_ICLOUD_ENDPOINT="))
        also = next(x for x in lines if x.startswith("also: ")).split()
        users = {"alice": (options.username, options.password),
                 "bob": (also[2].rstrip(","), also[4])}
        path = tmp_path / "photoledger.yaml"
        path.write_text(CONFIG.format(alice=users["alice"][0], bob=users["bob"][0]))
        for name in users:
            (tmp_path / "nas" / name).mkdir(parents=True)
        yield TwoAccounts(endpoint.split("=", 1)[1], users, dict(zip(users, databases, strict=True)), path)
    finally:
        stop.set()
        worker.join(timeout=10)


def library_facts(world: TwoAccounts, name: str) -> tuple[set[str], set[str], set[str]]:
    """(accounts its ledger names, record names, every downloaded path) of one library."""
    config = load_config(world.config_path, {}, name)
    ledger = open_ledger(config.state_dir, None, CrashPoints())
    try:
        ids = {raw.originator_id for raw in ledger.iter_all() if raw.topic == "Discovered"}
        states = [ledger.get_asset(UUID(i)).state for i in ids]
        paths = {e.local_relpath for i in ids for e in ledger.events_of(UUID(i))
                 if type(e).__name__ == "Downloaded"}
    finally:
        ledger.close()
    return {s.account for s in states}, {s.record_name for s in states}, paths


def media_on_disk(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and ".photoledger" not in p.parts and p.suffix.lower() != ".xmp"}


def test_run_goes_through_both_accounts_and_one_failure_never_stops_the_other(
    tmp_path: Path,
) -> None:
    with two_accounts(tmp_path) as world:
        code, out, err = world.cli(["init"])
        assert code == 0, err
        assert out.count(".db created\n") == 2 and "next: `photoledger --account bob status`" in out

        # alice's password is wrong: bob still runs to the end; the exit code is alice's.
        code, out, err = world.cli(["run", "--json"], alice="wrong password")
        assert code == ExitCode.AUTH_FAILED, err
        summary = json.loads(out)
        alice, bob = summary["accounts"]
        assert (alice["account"], bob["account"]) == ("alice", "bob")
        assert summary["exit_code"] == alice["exit_code"] == ExitCode.AUTH_FAILED
        assert bob["exit_code"] == ExitCode.OK, bob
        stages = {s["stage"]: s["status"] for s in bob["stages"]}
        assert stages["download"] == stages["backup-nas"] == "ok"
        assert "PHOTOLEDGER_ICLOUD_PASSWORD_ALICE" in alice["stages"][0]["detail"]
        assert err.startswith("photoledger: error: account alice: discover failed: ")
        assert err.count("\n") == 1
        assert media_on_disk(tmp_path / "alice") == set()
        bob_user = world.users["bob"][0]
        assert library_facts(world, "alice")[0] == set()

        # Both right, but bob's NAS is gone (not mounted): alice completes, bob's code is 12.
        (tmp_path / "nas" / "bob").rename(tmp_path / "unmounted")
        code, out, err = world.cli(["run"])
        assert code == ExitCode.NAS_UNAVAILABLE, err
        assert "run: account alice" in out and "run: account bob" in out
        assert "account alice: exit 0 (OK), done" in out
        assert "account bob: exit 12 (NAS_UNAVAILABLE), backup-nas failed: " in out
        assert err.startswith("photoledger: error: account bob: backup-nas failed: ")

        # Each library holds exactly its own account's files; the ledgers are separate.
        for name, database in world.databases.items():
            accounts, records, paths = library_facts(world, name)
            assert accounts == {world.users[name][0]}
            own = set(database.state.primary().assets)
            other = set(world.databases["bob" if name == "alice" else "alice"]
                        .state.primary().assets)
            assert records and records <= own and not records & other
            assert media_on_disk(tmp_path / name) == paths and paths
        assert library_facts(world, "bob")[0] == {bob_user}
        nas_files = media_on_disk(tmp_path / "nas" / "alice") - {".photoledger-nas"}
        assert nas_files == library_facts(world, "alice")[2]

        # --account: only that account runs (the JSON keeps the accounts shape).
        (tmp_path / "unmounted").rename(tmp_path / "nas" / "bob")
        code, out, err = world.cli(["--account", "bob", "run", "--json"])
        assert code == ExitCode.OK, err
        assert [a["account"] for a in json.loads(out)["accounts"]] == ["bob"]

        # An error before any stage (alice's library locked by another process) is alice's
        # outcome; bob still runs.
        with WriterLock(tmp_path / "alice" / ".photoledger" / "writer.lock", "backup-nas"):
            code, out, err = world.cli(["run", "--json"])
        alice, bob = json.loads(out)["accounts"]
        assert code == alice["exit_code"] == ExitCode.LOCKED, err
        assert alice["stages"] == [] and "library is locked by" in alice["error"]
        assert bob["exit_code"] == ExitCode.OK and bob["stages"]


def test_commands_for_one_account_need_account(tmp_path: Path) -> None:
    with two_accounts(tmp_path) as world:
        assert world.cli(["init"])[0] == 0
        code, out, err = world.cli(["status"])
        assert code == ExitCode.USAGE and out == ""
        assert err == ("photoledger: error: the config has 2 accounts: alice, bob: choose one "
                       "with --account NAME (or PHOTOLEDGER_ACCOUNT); `run`, `watch` and `init` "
                       "go through all\n")
        code, out, err = world.cli(["--account", "bob", "status"])
        assert code == 0 and "0 assets" in out, err
        code, _out, err = world.cli(["--account", "carol", "download"])
        assert code == ExitCode.USAGE
        assert "--account carol: no such account; the config has 2 accounts: alice, bob" in err
        # The unnamed password would go to both Apple IDs: refused when both run.
        result = run_cli(["run"], world.config_path,
                         env={"PHOTOLEDGER_ICLOUD_PASSWORD": "x",
                              "PHOTOLEDGER_ICLOUD_ENDPOINT": world.endpoint})
        assert result.returncode == ExitCode.CONFIG
        assert "PHOTOLEDGER_ICLOUD_PASSWORD_ALICE, PHOTOLEDGER_ICLOUD_PASSWORD_BOB" in \
            result.stderr
        # With one account chosen it is that account's password.
        alice_user, alice_password = world.users["alice"]
        result = run_cli(["--account", "alice", "discover"], world.config_path,
                         env={"PHOTOLEDGER_ICLOUD_PASSWORD": alice_password,
                              "PHOTOLEDGER_ICLOUD_ENDPOINT": world.endpoint})
        assert result.returncode == 0, result.stderr
        # watch: a cycle goes through both; the failing account's code ends it.
        code, out, err = world.cli(["watch", "--interval", "0", "--cycles", "1"],
                                   bob="wrong password")
        assert code == ExitCode.AUTH_FAILED, err
        assert "cycle 1: account alice: exit 0 (OK), done" in out
        assert "cycle 1: account bob: exit 10 (AUTH_FAILED)" in out
        assert "watch stopped after 1 runs" in out
        assert err.startswith("photoledger: error: the last cycle failed: account bob: ")
        assert alice_user
