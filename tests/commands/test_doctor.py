"""`photoledger doctor` against a real Syncthing pair: each dangerous set-up is one line with
its fix and a refusing exit code; a healthy set-up passes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import ExitCode
from engine.google.doctor import Finding, doctor_exit_code, run_doctor
from tests.factories import Library, make_library
from tests.syncthing_pair import (
    SyncthingPair,
    run_photoledger,
    running_syncthing_pair,
    syncthing_pair_in,
    wire_library,
)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[SyncthingPair]:
    with syncthing_pair_in(tmp_path) as running:
        yield running


@pytest.fixture
def wired(tmp_path: Path, pair: SyncthingPair) -> Library:
    return wire_library(make_library(tmp_path), pair)


def dangers(findings: list[Finding]) -> list[str]:
    return [f.line() for f in findings if f.severity == "danger"]


def patch_folder(pair: SyncthingPair, **fields: object) -> None:
    pair.server.rest(f"/rest/config/folders/{pair.folder_id}", "PATCH", fields)


def test_healthy_setup_has_no_danger_and_exits_0(wired: Library, pair: SyncthingPair) -> None:
    result = run_photoledger(["doctor"], wired.config_path)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(line.startswith("ok: ") for line in lines)
    assert any("send-only" in line for line in lines)
    assert any("is connected" in line for line in lines)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"type": "sendreceive"}, "is sendreceive, not send-only"),
        ({"type": "receiveonly"}, "is receiveonly, not send-only"),
        ({"ignoreDelete": True}, "has ignoreDelete set"),
    ],
)
def test_unsafe_folder_settings_are_dangers(
    wired: Library, pair: SyncthingPair, fields: dict[str, object], expected: str
) -> None:
    patch_folder(pair, **fields)

    findings = run_doctor(wired.config, os.environ)

    found = dangers(findings)
    assert len(found) == 1 and expected in found[0] and "; fix: " in found[0]
    assert doctor_exit_code(findings) == ExitCode.SYNCTHING_UNSAFE


def test_folder_not_shared_with_the_pixel_is_a_danger(wired: Library, pair: SyncthingPair) -> None:
    patch_folder(pair, devices=[{"deviceID": pair.server.device_id}])

    found = dangers(run_doctor(wired.config, os.environ))

    assert any("not shared with the Pixel" in line for line in found)


@pytest.mark.parametrize("what", ["library", "NAS folder"])
def test_library_or_nas_inside_a_shared_folder_is_a_danger(
    tmp_path: Path, pair: SyncthingPair, what: str
) -> None:
    library = make_library(tmp_path)
    nas = tmp_path / "nas"
    nas.mkdir()
    text = library.config_path.read_text().replace("  root: null", f'  root: "{nas}"', 1)
    library.config_path.write_text(text)
    library = wire_library(library, pair)
    shared = library.config.library_root.parent if what == "library" else nas
    pair.server.rest("/rest/config/folders", "POST", {
        "id": "everything", "path": str(shared), "type": "sendreceive",
        "devices": [{"deviceID": pair.server.device_id}],
    })

    found = dangers(run_doctor(library.config, os.environ))

    assert any(f"the {what}" in line and "everything" in line for line in found), found


def test_a_pixel_that_never_connected_is_a_danger(tmp_path: Path) -> None:
    with running_syncthing_pair(tmp_path / "st", connect=False) as pair:
        library = wire_library(make_library(tmp_path), pair)

        findings = run_doctor(library.config, os.environ)

    assert any("has never connected" in line for line in dangers(findings))


def test_a_pixel_offline_now_is_only_a_warning(wired: Library, pair: SyncthingPair) -> None:
    pair.stop_pixel()

    findings = run_doctor(wired.config, os.environ)

    assert dangers(findings) == []
    assert any(f.severity == "warning" and "not connected now" in f.message for f in findings)
    assert doctor_exit_code(findings) == ExitCode.OK


def test_wrong_api_key_exits_13_with_the_fix(tmp_path: Path, pair: SyncthingPair) -> None:
    library = wire_library(make_library(tmp_path), pair, syncthing_config=None)

    result = run_photoledger(
        ["doctor"], library.config_path, env={"PHOTOLEDGER_SYNCTHING_API_KEY": "wrong"}
    )

    assert result.returncode == ExitCode.SYNCTHING_UNAVAILABLE
    assert "danger: Syncthing at" in result.stdout
    assert "refused the API key (HTTP 403)" in result.stdout
    assert "PHOTOLEDGER_SYNCTHING_API_KEY" in result.stdout
    assert "wrong" not in result.stdout  # the key itself is never shown
    assert result.stderr.startswith("photoledger: error: 1 dangerous finding(s) above")


def test_unreachable_syncthing_and_missing_settings(tmp_path: Path) -> None:
    library = make_library(tmp_path)

    findings = run_doctor(library.config, {"PHOTOLEDGER_SYNCTHING_API_KEY": "k"})

    found = dangers(findings)
    assert any("google.outbox is not set" in line for line in found)
    assert any("google.pixel_device_id is not set" in line for line in found)
    assert any("not answering" in line for line in found)
    assert doctor_exit_code(findings) == ExitCode.SYNCTHING_UNAVAILABLE


def test_outbox_at_another_path_is_a_danger(tmp_path: Path, pair: SyncthingPair) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    library = wire_library(make_library(tmp_path), pair, outbox=str(elsewhere))

    found = dangers(run_doctor(library.config, os.environ))

    assert len(found) == 1 and "but google.outbox is" in found[0]


def test_doctor_help() -> None:
    result = run_photoledger(["doctor", "--help"])
    assert result.returncode == 0 and "ignoreDelete" in result.stdout
