"""Several accounts in one config: the merge, the refusals, the choice, the passwords, the exit
code of a pass over all of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.accounts import merge, password_variable
from engine.config import load_accounts, load_config
from engine.errors import AccountChoiceError, ConfigError, ExitCode, PhotoledgerError
from engine.icloud.credentials import find_password
from engine.notify import Notification
from engine.pipeline.accounts_run import AccountOutcome, accounts_json, name_notifications, worst
from engine.pipeline.summary import RunSummary, StageResult
from engine.secrets import ICLOUD_PASSWORD, file_values, is_secret_name
from simulator.serve import SimulatorOptions, extra_account_options

TWO = """\
library:
  folder_structure: "{:%Y/%m}"
  file_mode: "0640"
icloud:
  session_dir: ./session
nas:
  max_verify_age_days: 20
download:
  resources: [original, live_video]
accounts:
  - name: alice
    icloud: {username: alice@example.com}
    library: {root: ./alice}
    nas: {root: ./nas/alice}
  - name: bob
    icloud:
      username: bob@example.com
      twofa_retry_after_hours: 2
    library:
      root: ./bob
      folder_structure: "{:%Y}"
    download:
      resources: [original]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "photoledger.yaml"
    path.write_text(text)
    return path


def refusal(tmp_path: Path, text: str, error: type[PhotoledgerError] = ConfigError) -> str:
    with pytest.raises(error) as caught:
        load_accounts(write(tmp_path, text), {})
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_accounts_inherit_the_top_level_and_override_their_own_keys(tmp_path: Path) -> None:
    alice, bob = load_accounts(write(tmp_path, TWO), {})
    assert (alice.account, bob.account) == ("alice", "bob")
    assert alice.library_root == tmp_path / "alice" and bob.library_root == tmp_path / "bob"
    assert alice.state_dir != bob.state_dir
    assert alice.settings.library.folder_structure == "{:%Y/%m}"  # inherited
    assert bob.settings.library.folder_structure == "{:%Y}"  # overridden, key by key:
    assert bob.settings.library.file_mode == "0640"  # the rest of the section still inherited
    assert bob.settings.icloud.session_dir == "./session"
    assert bob.settings.icloud.twofa_retry_after_hours == 2
    assert alice.settings.icloud.twofa_retry_after_hours == 24  # the default
    assert alice.nas_root() == tmp_path / "nas" / "alice" and bob.nas_root() is None
    assert alice.settings.nas.max_verify_age_days == bob.settings.nas.max_verify_age_days == 20
    assert alice.settings.download.resources == ("original", "live_video")
    assert bob.settings.download.resources == ("original",)  # a list replaces, never merges
    assert bob.where("library.root") == f"{tmp_path / 'photoledger.yaml'} line 20: " \
        "library.root (account bob)"
    assert alice.where("nas.max_verify_age_days").endswith("line 7: nas.max_verify_age_days "
                                                           "(account alice)")
    assert merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"c": 3}, "d": [2]}) == \
        {"a": {"b": 1, "c": 3}, "d": [2]}


def test_a_config_without_accounts_loads_as_it_always_did(tmp_path: Path) -> None:
    text = "library:\n  root: ./lib\nicloud:\n  username: j@x.com\n  session_dir: ./s\n"
    (config,) = load_accounts(write(tmp_path, text), {})
    assert config.account is None and config.password_variables == (ICLOUD_PASSWORD,)
    assert config.where("library.root").endswith("line 2: library.root")
    assert load_config(tmp_path / "photoledger.yaml", {}) == config
    with pytest.raises(AccountChoiceError, match="no `accounts:` list"):
        load_config(tmp_path / "photoledger.yaml", {}, "alice")


def test_choosing_an_account(tmp_path: Path) -> None:
    path = write(tmp_path, TWO)
    with pytest.raises(AccountChoiceError) as caught:
        load_config(path, {})
    assert caught.value.exit_code == ExitCode.USAGE
    assert "2 accounts: alice, bob" in str(caught.value) and "--account" in str(caught.value)
    assert load_config(path, {}, "BOB").account == "bob"  # names are case-insensitive
    assert load_config(path, {"PHOTOLEDGER_ACCOUNT": "alice"}).account == "alice"
    (only,) = load_accounts(path, {}, "alice")
    assert only.account == "alice"
    with pytest.raises(AccountChoiceError, match=r"--account carol: no such account; the "
                       r"config has 2 accounts: alice, bob"):
        load_accounts(path, {}, "carol")
    one = TWO.split("  - name: bob", maxsplit=1)[0]
    assert load_config(write(tmp_path, one), {}).account == "alice"  # the only one: no choice


@pytest.mark.parametrize(("change", "needle"), [
    (("./bob", "./alice"), "accounts alice and bob share a folder: alice's library.root "
     "{tmp}/alice is bob's library.root {tmp}/alice; each account needs its own"),
    (("./bob", "./alice/bob"), "alice's library.root {tmp}/alice holds bob's library.root"),
    (("root: ./bob", "root: ./nas/alice/photos"), "holds bob's library.root"),
    (("      resources: [original]\n", "      resources: [original]\n    nas: {root: ./nas/alice}\n"),
     "alice's nas.root {tmp}/nas/alice is bob's nas.root"),
    (("    nas: {root: ./nas/alice}\n", "    google: {outbox: ./out}\n"
      "    ledger: {url: 'postgresql://p@db/x'}\n"), None),
])
def test_two_accounts_never_share_a_folder(
    tmp_path: Path, change: tuple[str, str], needle: str | None
) -> None:
    text = TWO.replace(*change)
    if needle is None:  # alice alone has an outbox and a ledger server: nothing shared
        assert len(load_accounts(write(tmp_path, text), {})) == 2
        return
    message = refusal(tmp_path, text)
    assert needle.format(tmp=tmp_path) in message, message
    assert message.startswith(f"{tmp_path / 'photoledger.yaml'}: accounts alice and bob ")


def test_two_accounts_never_share_a_ledger_or_an_outbox(tmp_path: Path) -> None:
    shared = "ledger:\n  url: postgresql://p@db.lan/photos\n"
    assert "accounts alice and bob have the same ledger.url" in refusal(tmp_path, shared + TWO)
    outbox = TWO.replace("library:\n      root: ./bob", "google: {outbox: ./out}\n    library:\n"
                         "      root: ./bob").replace("nas: {root: ./nas/alice}",
                                                      "google: {outbox: ./out/alice}")
    assert "alice's google.outbox" in refusal(tmp_path, outbox)
    same_folder = outbox.replace("outbox: ./out}", "outbox: ./outb}")
    assert "the same Syncthing folder 'photoledger-outbox'" in refusal(tmp_path, same_folder)


@pytest.mark.parametrize(("change", "needle"), [
    (("  - name: bob", "  - name: Alice"), "line 15: accounts[1].name: 'Alice' is already the "
     "name of accounts[0] ('alice'); account names must be unique"),
    (("  - name: bob", "  - name: ali_ce\n  - name: ali-ce"), "'ali-ce' is already the name"),
    (("  - name: bob", "  - name: bob smith"), "'bob smith' is not a usable account name"),
    (("  - name: bob", "  - name: file"), "not `file`"),
    (("  - name: bob\n", "  - icloud: {username: x@y.z}\n"), "accounts[1].name: missing required"),
    (("  - name: bob\n", "  - just a string\n  - name: bob\n"), "accounts[1]: must be a mapping"),
    (("      username: bob@example.com\n", ""), "icloud.username: missing required value "
     "(account bob)"),
    (("      folder_structure:", "      folder_structur:"), "line 21: library.folder_structur: "
     "unknown key"),
    (("    icloud: {username: alice@example.com}", "    icloud: {username: a@b.c, password: x}"),
     "icloud.password: secrets are never read"),
])
def test_account_mistakes_are_one_line(
    tmp_path: Path, change: tuple[str, str], needle: str
) -> None:
    message = refusal(tmp_path, TWO.replace(*change))
    assert needle in message, message


def test_an_empty_accounts_list_is_refused(tmp_path: Path) -> None:
    assert "accounts: must be a list of accounts" in refusal(tmp_path, "accounts: []\n")


def test_each_account_has_its_own_password_variable(tmp_path: Path) -> None:
    path = write(tmp_path, TWO)
    alice, bob = load_accounts(path, {})
    assert alice.password_variables == ("PHOTOLEDGER_ICLOUD_PASSWORD_ALICE",)
    assert password_variable("my-mum") == "PHOTOLEDGER_ICLOUD_PASSWORD_MY_MUM"
    # The unnamed variable would be sent for every Apple ID: refused for several, not for one.
    with pytest.raises(ConfigError) as caught:
        load_accounts(path, {ICLOUD_PASSWORD: "unnamed-secret-1"})
    message = str(caught.value)
    assert "PHOTOLEDGER_ICLOUD_PASSWORD_ALICE, PHOTOLEDGER_ICLOUD_PASSWORD_BOB" in message
    chosen = load_config(path, {ICLOUD_PASSWORD: "unnamed-secret-1"}, "bob")
    assert chosen.password_variables == ("PHOTOLEDGER_ICLOUD_PASSWORD_BOB", ICLOUD_PASSWORD)
    environ = {ICLOUD_PASSWORD: "unnamed-secret-2", "PHOTOLEDGER_ICLOUD_PASSWORD_BOB": "bob-secret-3"}
    dotenv = tmp_path / ".env"
    dotenv.write_text("PHOTOLEDGER_ICLOUD_PASSWORD_ALICE=alice-secret-4\n")

    def found(env: dict[str, str], variables: tuple[str, ...]) -> str | None:
        return find_password("x", environ=env, dotenv_path=dotenv,
                             keyring_lookup=lambda _u: "keyring-secret-5", variables=variables)

    assert found(environ, chosen.password_variables) == "bob-secret-3"  # its own first
    assert found({ICLOUD_PASSWORD: "unnamed-secret-2"}, chosen.password_variables) == "unnamed-secret-2"
    assert found(environ, alice.password_variables) == "alice-secret-4"  # then .env, before the keyring
    assert found({}, bob.password_variables) == "keyring-secret-5"  # never the unnamed one when several
    assert found({ICLOUD_PASSWORD: "unnamed-secret-2"}, bob.password_variables) == "keyring-secret-5"
    with pytest.raises(ConfigError, match="both PHOTOLEDGER_ICLOUD_PASSWORD_BOB and"):
        load_accounts(path, {"PHOTOLEDGER_ICLOUD_PASSWORD_BOB": "bob-secret-6",
                             "PHOTOLEDGER_ICLOUD_PASSWORD_BOB_FILE": str(dotenv)})


def test_account_password_variables_are_secrets(tmp_path: Path) -> None:
    secret = tmp_path / "bob.txt"
    secret.write_text("bobs-secret\n")
    assert is_secret_name("PHOTOLEDGER_ICLOUD_PASSWORD_BOB")
    assert is_secret_name("PHOTOLEDGER_ICLOUD_PASSWORD_BOB_FILE")
    assert not is_secret_name("PHOTOLEDGER_ACCOUNT")
    assert "bobs-secret" in file_values({"PHOTOLEDGER_ICLOUD_PASSWORD_BOB_FILE": str(secret)})


def _outcome(name: str, code: ExitCode) -> AccountOutcome:
    if code == ExitCode.OK:
        return AccountOutcome(name, summary=RunSummary())
    if code == ExitCode.LOCKED:
        error = PhotoledgerError("locked")
        error.exit_code = code
        return AccountOutcome(name, error=error)
    summary = RunSummary(stages=[StageResult("discover", "failed", "no", int(code))])
    return AccountOutcome(name, summary=summary)


def test_the_worst_account_decides_the_exit_code() -> None:
    ok, auth = _outcome("a", ExitCode.OK), _outcome("b", ExitCode.AUTH_FAILED)
    nas, locked = _outcome("c", ExitCode.NAS_UNAVAILABLE), _outcome("d", ExitCode.LOCKED)
    alarm = _outcome("e", ExitCode.LAST_COPY_DAMAGED)
    attention = AccountOutcome("f", summary=RunSummary(notifications=[
        Notification("quarantined", "1 asset newly quarantined")]))
    assert worst([ok, ok]) is None
    assert worst([ok, attention]) is attention
    assert worst([attention, auth, nas]) is auth  # between failures: the first account
    assert worst([nas, auth]) is nas
    assert worst([ok, locked]) is locked
    assert worst([auth, alarm, nas]) is alarm  # the alarm outranks every failure
    assert ok.line() == "account a: exit 0 (OK), done"
    assert auth.line() == "account b: exit 10 (AUTH_FAILED), discover failed: no"
    assert locked.line() == "account d: exit 4 (LOCKED), locked"
    data = accounts_json([ok, locked, auth])
    assert data["exit_code"] == ExitCode.LOCKED
    assert [a["account"] for a in data["accounts"]] == ["a", "d", "b"]
    assert data["accounts"][1]["error"] == "locked" and data["accounts"][1]["stages"] == []
    assert data["accounts"][2]["exit_code"] == ExitCode.AUTH_FAILED


def test_notifications_name_their_account() -> None:
    summary = RunSummary(notifications=[Notification("run-failed", "discover failed: no",
                                                     {"stage": "discover"})])
    name_notifications(summary, "bob")
    (sent,) = summary.notifications
    assert sent.summary == "bob: discover failed: no"
    assert dict(sent.details) == {"stage": "discover", "account": "bob"}


def test_the_simulator_serves_more_accounts_each_with_its_own_library() -> None:
    options = SimulatorOptions(accounts=3, seed=7)
    extras = extra_account_options(options)
    assert [(o.username, o.password, o.seed) for o in extras] == [
        ("demo2@photoledger.test", "photoledger-simulator-2", 8),
        ("demo3@photoledger.test", "photoledger-simulator-3", 9),
    ]
    assert extra_account_options(SimulatorOptions()) == []


def test_one_apple_id_may_feed_two_libraries(tmp_path: Path) -> None:
    text = TWO.replace("bob@example.com", "alice@example.com")
    alice, bob = load_accounts(write(tmp_path, text), {})
    assert alice.settings.icloud.username == bob.settings.icloud.username
    assert alice.state_dir != bob.state_dir
