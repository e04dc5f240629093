"""The simulator's transport seen by plain HTTP clients: routing, Range, expiry, faults, keep-alive."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pyicloud.exceptions import PyiCloudAPIResponseException, PyiCloudServiceUnavailable
from urllib3.exceptions import ProtocolError

from simulator.icloud.contract import CKDATABASE_HOST, CONTAINER_PATH, CONTENT_HOST
from simulator.icloud.faults import ContentFault, ThrottleRule
from simulator.icloud.server import ORIGINAL_HOST_HEADER, SimulatorServer
from tests.sim import BytesBlob, TinyPhotoDatabase, ZeroBlob, connect_pyicloud, start_simulator

PHOTO = bytes(range(256)) * 400  # 102,400 bytes, every offset distinguishable
OTHER = b"other photo bytes" * 100
FAR_FUTURE_S = 4_000_000_000


@pytest.fixture
def server() -> Iterator[SimulatorServer]:
    blobs = {"tokA": BytesBlob(PHOTO), "tokB": BytesBlob(OTHER), "big": ZeroBlob(40 * 2**20)}
    with start_simulator(TinyPhotoDatabase(blobs)) as running:
        yield running


def _content_url(server: SimulatorServer, token: str, expiry_s: float = FAR_FUTURE_S) -> str:
    return f"{server.base_url}/B/{token}/%24%7Bf%7D?o=Ax&v=1&z=p&e={int(expiry_s)}&r=1"


def _get(url: str, session: requests.Session | None = None, **headers: str) -> requests.Response:
    client = session or requests
    return client.get(url, headers={ORIGINAL_HOST_HEADER: CONTENT_HOST, **headers}, stream=True)


def _read_all_it_sends(response: requests.Response) -> bytes:
    """Every byte the server sent before it closed the connection."""
    received = bytearray()
    try:
        for chunk in response.raw.stream(8192, decode_content=False):
            received.extend(chunk)
    except ProtocolError:
        pass  # urllib3 notices the short body: exactly the point of these faults
    return bytes(received)


def test_whole_body_with_length_and_type(server: SimulatorServer) -> None:
    response = _get(_content_url(server, "tokA"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert int(response.headers["Content-Length"]) == len(PHOTO)
    assert response.content == PHOTO
    assert server.requests.count(kind="content", status=200) == 1


@pytest.mark.parametrize(
    ("header", "start", "end_exclusive"),
    [
        ("bytes=1000-", 1000, len(PHOTO)),
        ("bytes=10-19", 10, 20),
        ("bytes=-100", len(PHOTO) - 100, len(PHOTO)),
    ],
)
def test_range_requests_give_206(
    server: SimulatorServer, header: str, start: int, end_exclusive: int
) -> None:
    response = _get(_content_url(server, "tokA"), Range=header)
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{end_exclusive - 1}/{len(PHOTO)}"
    assert int(response.headers["Content-Length"]) == end_exclusive - start
    assert response.content == PHOTO[start:end_exclusive]


def test_range_past_the_end_is_416(server: SimulatorServer) -> None:
    response = _get(_content_url(server, "tokA"), Range=f"bytes={len(PHOTO)}-")
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(PHOTO)}"


def test_expired_url_is_410_and_a_fresh_one_serves(server: SimulatorServer) -> None:
    assert _get(_content_url(server, "tokA", expiry_s=time.time() - 1)).status_code == 410
    assert _get(_content_url(server, "tokA", expiry_s=time.time() + 60)).status_code == 200


def test_expiry_follows_the_server_clock() -> None:
    now = [1_000.0]
    options = {"clock": lambda: now[0]}
    db = TinyPhotoDatabase({"t": BytesBlob(b"x" * 10)})
    with start_simulator(db, server_options=options) as server:
        url = _content_url(server, "t", expiry_s=1_500)
        assert _get(url).status_code == 200
        now[0] = 1_501.0
        assert _get(url).status_code == 410


def test_unknown_token_is_404(server: SimulatorServer) -> None:
    assert _get(_content_url(server, "nope")).status_code == 404


def test_missing_original_host_header_is_400(server: SimulatorServer) -> None:
    response = requests.get(_content_url(server, "tokA"))
    assert response.status_code == 400
    assert server.requests.count() == 0


def test_cut_body_sends_fewer_bytes_than_announced_then_recovers(server: SimulatorServer) -> None:
    server.faults.add_content_fault(ContentFault("cut", times=1, fraction=0.25))
    response = _get(_content_url(server, "tokA"))
    assert int(response.headers["Content-Length"]) == len(PHOTO)
    received = _read_all_it_sends(response)
    assert received == PHOTO[: len(PHOTO) // 4]
    assert _get(_content_url(server, "tokA")).content == PHOTO  # times=1: transient


def test_cut_body_applies_to_a_range_too(server: SimulatorServer) -> None:
    server.faults.add_content_fault(ContentFault("cut", times=1, fraction=0.5))
    response = _get(_content_url(server, "tokA"), Range="bytes=100-299")
    assert int(response.headers["Content-Length"]) == 200
    assert _read_all_it_sends(response) == PHOTO[100:200]


def test_drop_closes_before_any_body_byte(server: SimulatorServer) -> None:
    server.faults.add_content_fault(ContentFault("drop", times=1))
    response = _get(_content_url(server, "tokA"))
    assert int(response.headers["Content-Length"]) == len(PHOTO)
    assert _read_all_it_sends(response) == b""


def test_overlong_announces_more_than_it_sends(server: SimulatorServer) -> None:
    server.faults.add_content_fault(ContentFault("overlong", times=1, extra_bytes=777))
    response = _get(_content_url(server, "tokA"))
    assert int(response.headers["Content-Length"]) == len(PHOTO) + 777
    assert _read_all_it_sends(response) == PHOTO


def test_content_fault_token_filter_spares_other_tokens(server: SimulatorServer) -> None:
    server.faults.add_content_fault(ContentFault("cut", times=1, fraction=0.1, token="tokB"))
    assert _get(_content_url(server, "tokA")).content == PHOTO
    assert len(_read_all_it_sends(_get(_content_url(server, "tokB")))) == len(OTHER) // 10


def test_a_cut_body_through_requests_raises(server: SimulatorServer) -> None:
    server.faults.add_content_fault(ContentFault("cut", times=1, fraction=0.5))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _get(_content_url(server, "tokA")).content  # noqa: B018


def test_large_body_streams_completely(server: SimulatorServer) -> None:
    response = _get(_content_url(server, "big"))
    total = sum(len(chunk) for chunk in response.iter_content(1 << 20))
    assert total == 40 * 2**20


def test_bandwidth_paces_the_body(server: SimulatorServer) -> None:
    server.faults.set_bandwidth(200_000)
    began = time.monotonic()
    assert _get(_content_url(server, "tokA")).content == PHOTO
    elapsed_s = time.monotonic() - began
    assert elapsed_s >= 0.45  # 102,400 bytes at 200 kB/s is 0.51 s
    server.faults.set_bandwidth(None)
    began = time.monotonic()
    _get(_content_url(server, "tokA")).content  # noqa: B018
    assert time.monotonic() - began < 0.45  # faster than the pacing would allow


def test_keep_alive_reuses_one_connection(server: SimulatorServer) -> None:
    with requests.Session() as session:
        for _ in range(5):
            assert _get(_content_url(server, "tokA"), session).content == PHOTO
    assert server.connections_accepted == 1


def test_429_with_retry_after_for_a_counted_number_of_requests(server: SimulatorServer) -> None:
    server.faults.add_throttle(ThrottleRule(429, times=2, kind="content", retry_after_s=7))
    first, second, third = (_get(_content_url(server, "tokA")) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "7"
    assert server.requests.count(status=429) == 2


def test_throttle_by_path_prefix_only_hits_that_path(
    tmp_path: Path, server: SimulatorServer
) -> None:
    api = connect_pyicloud(server, cookie_dir=tmp_path)
    prefix = f"{CONTAINER_PATH}private/zones/list"
    server.faults.add_throttle(ThrottleRule(503, times=1, path_prefix=prefix, retry_after_s=3))
    base = f"{api.get_webservice_url('ckdatabasews')}{CONTAINER_PATH}private"
    assert api.session.post(f"{base}/records/query", params=api.params, json={}).ok
    with pytest.raises(PyiCloudAPIResponseException) as caught:
        api.session.post(f"{base}/zones/list", params=api.params, json={})
    assert caught.value.code == 503
    assert api.session.post(f"{base}/zones/list", params=api.params, json={}).ok


def test_cloudkit_429_reaches_pyicloud_with_its_code(
    tmp_path: Path, server: SimulatorServer
) -> None:
    api = connect_pyicloud(server, cookie_dir=tmp_path)
    server.faults.add_throttle(ThrottleRule(429, times=1, kind="cloudkit", retry_after_s=1))
    with pytest.raises(PyiCloudServiceUnavailable) as caught:
        api.photos  # noqa: B018 - the indexing-state query is throttled
    cause = caught.value.__cause__
    assert isinstance(cause, PyiCloudAPIResponseException)
    assert cause.code == 429
    assert api.photos is not None  # times=1: the next attempt goes through


def test_latency_applies_to_api_calls_not_content(tmp_path: Path, server: SimulatorServer) -> None:
    server.faults.set_latency(0.6)
    began = time.monotonic()
    connect_pyicloud(server, cookie_dir=tmp_path)  # four login calls
    assert time.monotonic() - began >= 2.4
    began = time.monotonic()
    _get(_content_url(server, "tokA")).content  # noqa: B018
    assert time.monotonic() - began < 0.55  # less than one call's latency


def test_cloudkit_without_a_session_cookie_is_421(server: SimulatorServer) -> None:
    url = f"{server.base_url}{CONTAINER_PATH}private/records/query"
    response = requests.post(url, json={}, headers={ORIGINAL_HOST_HEADER: CKDATABASE_HOST})
    assert response.status_code == 421
    assert server.accounts["jdoe@example.com"].database.calls == []  # type: ignore[attr-defined]


def test_cloudkit_ops_with_slashes_reach_the_database(
    tmp_path: Path, server: SimulatorServer
) -> None:
    api = connect_pyicloud(server, cookie_dir=tmp_path)
    base = f"{api.get_webservice_url('ckdatabasews')}{CONTAINER_PATH}"
    api.session.post(f"{base}shared/internal/records/query/batch", params=api.params, json={})
    database = server.accounts["jdoe@example.com"].database
    assert database.calls == [("shared", "internal/records/query/batch")]  # type: ignore[attr-defined]


def test_faults_over_http_for_another_process(server: SimulatorServer) -> None:
    control = f"{server.base_url}/_sim/faults"
    payload = {
        "latency_s": 0.0,
        "throttles": [{"status": 503, "times": 1, "kind": "content"}],
        "content": [{"mode": "cut", "times": 1, "fraction": 0.5}],
    }
    assert requests.post(control, json=payload).status_code == 200
    assert requests.get(control).json()["throttles"][0]["status"] == 503
    throttled = _get(_content_url(server, "tokA"))
    assert throttled.status_code == 503
    assert "text/html" in throttled.headers["Content-Type"]
    assert len(_read_all_it_sends(_get(_content_url(server, "tokA")))) == len(PHOTO) // 2
    assert requests.post(control, json={"content": [{"mode": "melt"}]}).status_code == 400
    assert requests.post(control, json={"clear": True}).json()["throttles"] == []
    assert server.requests.count(path_prefix="/_sim") == 0


def test_expire_sessions_over_http(tmp_path: Path, server: SimulatorServer) -> None:
    api = connect_pyicloud(server, cookie_dir=tmp_path)
    expired = requests.post(f"{server.base_url}/_sim/expire_sessions", json={"status": 421})
    assert expired.json() == {"expired": 1}
    with pytest.raises(PyiCloudAPIResponseException):
        api.photos  # noqa: B018


def test_request_log_counts_and_resets(tmp_path: Path, server: SimulatorServer) -> None:
    connect_pyicloud(server, cookie_dir=tmp_path)
    _get(_content_url(server, "tokA")).content  # noqa: B018
    assert server.requests.count(kind="login") == 4
    assert server.requests.count(kind="content") == 1
    server.requests.reset()
    assert server.requests.count() == 0


def test_simulator_command_serves_until_stopped(tmp_path: Path) -> None:
    from simulator.serve import SimulatorOptions, run_simulator

    lines: list[str] = []
    stop = threading.Event()
    options = SimulatorOptions(assets=0, two_factor="sms")
    worker = threading.Thread(
        target=run_simulator,
        args=(options, lines.append, stop, lambda _options: TinyPhotoDatabase()),
    )
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while not any(line.startswith("PHOTOLEDGER_ICLOUD_ENDPOINT=") for line in lines):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        endpoint = next(x for x in lines if x.startswith("PHOTOLEDGER_ICLOUD_ENDPOINT="))
        base_url = endpoint.split("=", 1)[1]
        assert f"username: {options.username}" in lines
        code_url = next(x for x in lines if "/_sim/code" in x).split("at ", 1)[1]
        assert requests.get(code_url).json() == {"code": None}  # no login started yet
        assert requests.get(f"{base_url}/_sim/faults").status_code == 200
    finally:
        stop.set()
        worker.join(timeout=5)
    assert not worker.is_alive()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{base_url}/_sim/faults", timeout=2)


def test_simulator_command_with_the_generated_library(tmp_path: Path) -> None:
    pytest.importorskip("simulator.icloud.generator")
    from simulator.serve import SimulatorOptions, build_server, generate_database

    options = SimulatorOptions(assets=5)
    with build_server(options, generate_database(options)) as server:
        api = connect_pyicloud(server, options.username, options.password, tmp_path)
        assert len(list(api.photos.all)) == 5
