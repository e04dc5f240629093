"""PyicloudPort against the iCloud simulator over real HTTP: the real pyicloud logs in, the
adapter pages CloudKit, follows changes and downloads content through the redirect adapter."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ExitCode
from engine.icloud.adapter import PyicloudPort
from engine.icloud.factory import build_port_for
from engine.icloud.model import ADJUSTED, RemoteAsset
from engine.icloud.port import (
    AuthenticationError,
    ContentError,
    LibraryIndexingError,
    SyncTokenExpiredError,
    ThrottledError,
    TwoFactorRequiredError,
    UrlExpiredError,
    WebAccessDeniedError,
)
from engine.icloud.retry import RetryPolicy
from simulator.icloud.cloudkit import CloudKitPhotoDatabase
from simulator.icloud.faults import ContentFault, ThrottleRule
from simulator.icloud.library import PRIMARY_ZONE, PhotoLibraryState
from simulator.icloud.rows import (
    AlbumRow,
    AssetRow,
    MasterRow,
    MediaKind,
    RelationRow,
    relation_name,
)
from simulator.icloud.server import SimulatorServer
from tests.sim import PASSWORD, USERNAME, start_simulator

ZONE = PRIMARY_ZONE


def add_photo(state: PhotoLibraryState, index: int) -> str:
    stamp = 1_500_000_000_000 + index * 60_000
    master = MasterRow(
        record_name=f"M{index:05d}",
        zone=ZONE,
        kind=MediaKind.JPEG_PHOTO,
        filename=f"IMG_{index:04d}.JPG",
        sizes_bytes=(5_000 + index, 1_000, 100),
        width=400,
        height=300,
        change_tag=state.next_tag(),
        created_ms=stamp,
        modified_ms=stamp,
    )
    asset = AssetRow(
        record_name=f"A{index:05d}",
        master_name=master.record_name,
        zone=ZONE,
        asset_date_ms=stamp,
        added_date_ms=stamp,
        tz_offset_s=0,
        change_tag=state.next_tag(),
        created_ms=stamp,
        modified_ms=stamp,
    )
    state.add_asset(asset, master)
    return asset.record_name


def make_state(count: int) -> PhotoLibraryState:
    state = PhotoLibraryState(seed=7, owner_record_name="_owner", epoch="e1")
    for index in range(count):
        add_photo(state, index)
    return state


class HookedDatabase:
    """The simulator's CloudKit database, with a hook that may rewrite or react to answers."""

    def __init__(
        self,
        inner: CloudKitPhotoDatabase,
        hook: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.inner = inner
        self.hook = hook
        self.ops: list[str] = []
        self._lock = threading.Lock()

    def handle(self, database: str, op: str, body: dict[str, Any], ctx: Any) -> Any:
        with self._lock:
            self.ops.append(op)
        status, payload = self.inner.handle(database, op, body, ctx)
        if self.hook is not None:
            self.hook(op, payload)
        return status, payload

    def content(self, token: str) -> Any:
        return self.inner.content(token)

    def is_indexing_finished(self) -> bool:
        return self.inner.is_indexing_finished()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fast_policy(sleeps: Sleeps | None = None, attempts: int = 4) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=attempts,
        max_total_s=600.0,
        base_delay_s=0.001,
        max_delay_s=0.01,
        sleep=sleeps if sleeps is not None else (lambda _s: None),
    )


def make_port(
    server: SimulatorServer,
    session_dir: Path,
    *,
    password: str | None = PASSWORD,
    code_source: Callable[[str], str] | None = None,
    policy: RetryPolicy | None = None,
) -> PyicloudPort:
    return build_port_for(
        username=USERNAME,
        session_dir=session_dir,
        dotenv_path=None,
        endpoint=server.base_url,
        password_prompt=None,
        code_source=code_source,
        environ={"PHOTOLEDGER_ICLOUD_PASSWORD": password} if password else {},
        policy=policy or fast_policy(),
        keyring_lookup=None,
    )


@pytest.fixture
def state() -> PhotoLibraryState:
    return make_state(12)


@pytest.fixture
def server(state: PhotoLibraryState) -> Iterator[SimulatorServer]:
    with start_simulator(CloudKitPhotoDatabase(state)) as running:
        yield running


def all_assets(port: PyicloudPort, workers: int = 1) -> list[RemoteAsset]:
    return [asset for page in port.scan_pages(ZONE, workers=workers) for asset in page.assets]


def assert_private_session_files(session_dir: Path) -> None:
    assert stat.S_IMODE(session_dir.stat().st_mode) == 0o700
    files = list(session_dir.iterdir())
    assert {p.suffix for p in files} == {".session", ".cookiejar"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    session_file = next(p for p in files if p.suffix == ".session")
    assert json.loads(session_file.read_text())["session_token"]
    jar = next(p for p in files if p.suffix == ".cookiejar").read_text()
    assert jar.startswith("#LWP-Cookies-2.0")
    assert "X-APPLE-WEBAUTH-TOKEN" in jar


# --- login ------------------------------------------------------------------------------------


def test_login_then_session_reuse_costs_one_call(server: SimulatorServer, tmp_path: Path) -> None:
    first = make_port(server, tmp_path / "s")
    first.login()
    assert first.calls.login == 4  # authorize, signin/init, signin/complete, accountLogin
    assert first.calls.cloudkit == 0
    assert_private_session_files(tmp_path / "s")
    again = make_port(server, tmp_path / "s", password=None)
    again.login()
    assert again.calls.login == 1  # validate only; no password needed
    assert again.count_assets(ZONE) == 12


@pytest.mark.parametrize("mode", ["device", "sms"])
def test_2fa_with_a_code_then_reuse_without_one(tmp_path: Path, mode: str) -> None:
    with start_simulator(CloudKitPhotoDatabase(make_state(3)), two_factor=mode) as server:
        methods: list[str] = []

        def code_source(method: str) -> str:
            methods.append(method)
            return server.pending_code(USERNAME) or ""

        make_port(server, tmp_path / "s", code_source=code_source).login()
        assert methods == [("sms" if mode == "sms" else "trusted_device")]
        assert server.requests.count(path_prefix="/appleauth/auth/2sv/trust") == 1
        reused = make_port(server, tmp_path / "s", password=None)
        reused.login()
        assert reused.calls.login == 1
        assert len(all_assets(reused)) == 3


def test_2fa_without_a_code_source_says_run_login(tmp_path: Path) -> None:
    with start_simulator(CloudKitPhotoDatabase(make_state(1)), two_factor="device") as server:
        with pytest.raises(TwoFactorRequiredError, match="photoledger login") as caught:
            make_port(server, tmp_path / "s").login()
        assert caught.value.exit_code == ExitCode.AUTH_FAILED
        assert "\n" not in str(caught.value)


def test_a_wrong_2fa_code_is_an_authentication_error(tmp_path: Path) -> None:
    with (
        start_simulator(CloudKitPhotoDatabase(make_state(1)), two_factor="sms") as server,
        pytest.raises(AuthenticationError, match="rejected the 2FA code"),
    ):
        make_port(server, tmp_path / "s", code_source=lambda _m: "000001").login()


def test_wrong_password_exits_10(server: SimulatorServer, tmp_path: Path) -> None:
    with pytest.raises(AuthenticationError, match="wrong password") as caught:
        make_port(server, tmp_path / "s", password="nope").login()
    assert caught.value.exit_code == ExitCode.AUTH_FAILED == 10


def test_no_password_and_no_session_is_one_clear_error(
    server: SimulatorServer, tmp_path: Path
) -> None:
    with pytest.raises(AuthenticationError, match="PHOTOLEDGER_ICLOUD_PASSWORD"):
        make_port(server, tmp_path / "s", password=None).login()


def test_throttled_signin_is_retried_with_backoff(server: SimulatorServer, tmp_path: Path) -> None:
    server.faults.throttle_signin(times=2)
    sleeps = Sleeps()
    port = make_port(server, tmp_path / "s", policy=fast_policy(sleeps))
    port.login()
    assert port.calls.retries == 2
    assert len(sleeps) == 2


def test_throttling_that_never_ends_is_throttled_error(
    server: SimulatorServer, tmp_path: Path
) -> None:
    server.faults.throttle_signin(times=50)
    with pytest.raises(ThrottledError) as caught:
        make_port(server, tmp_path / "s", policy=fast_policy(attempts=3)).login()
    assert caught.value.exit_code == ExitCode.ICLOUD_UNAVAILABLE
    assert server.requests.count(path_prefix="/appleauth/auth/signin/init") == 3


def test_unreachable_icloud_is_one_line_error(tmp_path: Path) -> None:
    port = build_port_for(
        username=USERNAME,
        session_dir=tmp_path / "s",
        dotenv_path=None,
        endpoint="http://127.0.0.1:9",  # discard port: nothing listens
        password_prompt=None,
        code_source=None,
        environ={"PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD},
        policy=fast_policy(attempts=2),
        keyring_lookup=None,
    )
    with pytest.raises(Exception, match="cannot reach iCloud") as caught:
        port.login()
    assert getattr(caught.value, "exit_code", None) == ExitCode.ICLOUD_UNAVAILABLE


def test_web_access_denied(tmp_path: Path) -> None:
    with (
        start_simulator(CloudKitPhotoDatabase(make_state(1)), web_access_denied=True) as server,
        pytest.raises(WebAccessDeniedError, match="Advanced Data Protection"),
    ):
        all_assets(make_port(server, tmp_path / "s"))


def test_library_still_indexing(
    state: PhotoLibraryState, server: SimulatorServer, tmp_path: Path
) -> None:
    state.set_indexing_finished(False)
    with pytest.raises(LibraryIndexingError):
        all_assets(make_port(server, tmp_path / "s"))


# --- scanning ---------------------------------------------------------------------------------


def test_parallel_scan_yields_every_asset_once_and_keeps_session_files_valid(
    tmp_path: Path,
) -> None:
    state = make_state(730)
    with start_simulator(CloudKitPhotoDatabase(state)) as server:
        port = make_port(server, tmp_path / "s")
        pages = list(port.scan_pages(ZONE, workers=4))
        names = [a.record_name for page in pages for a in page.assets]
        assert len(names) == 730
        assert set(names) == {f"A{i:05d}" for i in range(730)}
        assert len(pages) >= 8
        first = next(a for page in pages for a in page.assets if a.record_name == "A00007")
        assert first.filename == "IMG_0007.JPG"
        assert first.original is not None
        assert first.original.size_bytes == 5_007
        assert_private_session_files(tmp_path / "s")


def test_session_expiry_mid_scan_logs_in_again(tmp_path: Path) -> None:
    state = make_state(250)
    holder: dict[str, SimulatorServer] = {}
    queries = {"n": 0}

    def expire_after_second_page(op: str, _payload: dict[str, Any]) -> None:
        if op == "records/query":
            queries["n"] += 1
            if queries["n"] == 3:
                holder["server"].expire_sessions()

    database = HookedDatabase(CloudKitPhotoDatabase(state), expire_after_second_page)
    with start_simulator(database) as server:
        holder["server"] = server
        port = make_port(server, tmp_path / "s")
        port.login()
        logins_before = port.calls.login
        names = {a.record_name for a in all_assets(port, workers=1)}
        assert len(names) == 250
        assert port.calls.login > logins_before  # a re-login happened
        assert server.requests.count(status=421) >= 1


def test_assets_added_during_a_scan_are_not_missed(tmp_path: Path) -> None:
    state = make_state(250)
    queries = {"n": 0}

    def insert_older_photos_after_the_first_page(op: str, _payload: dict[str, Any]) -> None:
        if op == "records/query":
            queries["n"] += 1
            if queries["n"] == 2:  # the indexing check, then the first page
                for index in range(-5, 0):  # older dates: every later rank shifts by 5
                    add_photo(state, index)

    database = HookedDatabase(
        CloudKitPhotoDatabase(state), insert_older_photos_after_the_first_page
    )
    with start_simulator(database) as server:
        names = [a.record_name for a in all_assets(make_port(server, tmp_path / "s"))]
    assert len(names) == len(set(names)) == 255


def test_a_malformed_record_costs_only_itself(tmp_path: Path) -> None:
    def corrupt(op: str, payload: dict[str, Any]) -> None:
        for record in payload.get("records") or []:
            if record.get("recordName") == "M00003":
                record["fields"]["resOriginalRes"]["value"]["size"] = "lots"
            if record.get("recordName") == "M00005":
                record["fields"]["filenameEnc"] = {"type": "ENCRYPTED_BYTES", "value": "%%bad%%"}

    database = HookedDatabase(CloudKitPhotoDatabase(make_state(10)), corrupt)
    with start_simulator(database) as server:
        pages = list(make_port(server, tmp_path / "s").scan_pages(ZONE, workers=1))
    assets = {a.record_name: a for page in pages for a in page.assets}
    problems = [p for page in pages for p in page.problems]
    assert len(assets) == 9
    assert [(p.record_name, p.reason) for p in problems] == [("A00003", "malformed_record")]
    assert assets["A00005"].filename_status == "undecodable"


def test_lookup_gives_fresh_records(server: SimulatorServer, tmp_path: Path) -> None:
    port = make_port(server, tmp_path / "s")
    page = port.lookup_assets(ZONE, ["A00001", "A00002", "NOPE"])
    assert sorted(a.record_name for a in page.assets) == ["A00001", "A00002"]
    assert [(p.record_name, p.reason) for p in page.problems] == [("NOPE", "not_found")]


def test_albums_and_their_members(
    state: PhotoLibraryState, server: SimulatorServer, tmp_path: Path
) -> None:
    tag = state.next_tag
    state.put_album(AlbumRow("F1", ZONE, "Trips", 3, 1, tag(), 1, 1))
    state.put_album(AlbumRow("AL1", ZONE, "Paris", 0, 2, tag(), 1, 1, parent_id="F1"))
    for position, asset in enumerate(["A00002", "A00004"]):
        state.put_relation(
            RelationRow(relation_name(asset, "AL1"), ZONE, asset, "AL1", position, tag(), 1, 1)
        )
    port = make_port(server, tmp_path / "s")
    albums = {a.name: a for a in port.list_albums(ZONE)}
    assert set(albums) == {"Trips", "Paris"}
    assert albums["Trips"].is_folder
    assert albums["Paris"].parent_id == "F1"
    assert sorted(port.album_member_ids(ZONE, albums["Paris"])) == ["A00002", "A00004"]


# --- changes ----------------------------------------------------------------------------------


def test_changes_after_add_edit_delete_then_nothing_costs_one_call(
    state: PhotoLibraryState, server: SimulatorServer, tmp_path: Path
) -> None:
    port = make_port(server, tmp_path / "s")
    token = port.zone_sync_token(ZONE)
    added = add_photo(state, 100)
    state.edit_asset("A00001")
    state.delete_asset("A00002")
    state.expunge_asset("A00003")
    pages = list(port.changes_since(ZONE, token))
    changed = {a.record_name: a for page in pages for a in page.changed}
    deleted = {name for page in pages for name in page.deleted_record_names}
    assert set(changed) == {added, "A00001"}
    assert changed["A00001"].version(ADJUSTED) is not None
    assert {"A00002", "A00003"} <= deleted
    newest = pages[-1].sync_token
    assert not pages[-1].more_coming
    before = port.calls.cloudkit
    assert list(port.changes_since(ZONE, newest)) == []
    assert port.calls.cloudkit - before <= 2


def test_expired_token_raises_sync_token_expired(
    state: PhotoLibraryState, server: SimulatorServer, tmp_path: Path
) -> None:
    port = make_port(server, tmp_path / "s")
    token = port.zone_sync_token(ZONE)
    add_photo(state, 200)
    state.compact_change_history()
    with pytest.raises(SyncTokenExpiredError):
        list(port.changes_since(ZONE, token))


# --- content ----------------------------------------------------------------------------------


def _original_url(port: PyicloudPort, name: str) -> tuple[str, int]:
    [asset] = port.lookup_assets(ZONE, [name]).assets
    assert asset.original is not None
    assert asset.original.download_url is not None
    return asset.original.download_url, asset.original.size_bytes


def test_download_and_range_resume(server: SimulatorServer, tmp_path: Path) -> None:
    port = make_port(server, tmp_path / "s")
    url, size = _original_url(port, "A00004")
    with port.open_content(url) as whole:
        assert whole.status == 200
        assert whole.total_size_bytes == size
        data = b"".join(whole.iter_chunks(1024))
    assert len(data) == size
    with port.open_content(url, start_byte=1000) as rest:
        assert rest.status == 206
        assert rest.total_size_bytes == size
        assert b"".join(rest.iter_chunks(1024)) == data[1000:]
    assert port.calls.content == 2


def test_throttled_download_is_retried_and_a_cut_body_is_content_error(
    server: SimulatorServer, tmp_path: Path
) -> None:
    port = make_port(server, tmp_path / "s")
    url, size = _original_url(port, "A00004")
    server.faults.add_throttle(ThrottleRule(status=503, times=2, kind="content"))
    with port.open_content(url) as response:
        assert len(b"".join(response.iter_chunks(512))) == size
    assert port.calls.retries == 2
    server.faults.add_content_fault(ContentFault(mode="cut", fraction=0.5))
    with pytest.raises(ContentError), port.open_content(url) as response:
        b"".join(response.iter_chunks(512))


def test_expired_url_is_url_expired_error(tmp_path: Path) -> None:
    options = {"server_options": {"url_ttl_s": -60.0}}
    with start_simulator(CloudKitPhotoDatabase(make_state(2)), **options) as server:
        port = make_port(server, tmp_path / "s")
        url, _ = _original_url(port, "A00001")
        with pytest.raises(UrlExpiredError), port.open_content(url):
            pass
