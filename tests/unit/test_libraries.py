"""Libraries: naming and resolving them, routing CloudKit calls to their database, the gate's
Shared Library rule, and identity when two zones hold the same record name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.cleanup.gate import decide_album_move
from engine.config import load_config
from engine.errors import ConfigError, NotFoundError, UnknownZoneError
from engine.icloud.zones import RemoteLibrary, ZoneRouter, parse_zones, with_owner
from engine.ids import IcloudIdentity
from engine.libraries import library_folder, library_names, resolve_libraries, selection_words
from engine.selection import NO_SELECTION
from projections.assets import resolve_asset
from tests import factories
from tests.factories import discover, make_library, new_run
from tests.unit.test_cleanup_gate import NOW, ready_asset, settings

S1 = "SharedSync-1A2B3C4D-0000-4000-8000-000000000001"
S2 = "SharedSync-9F8E7D6C-0000-4000-8000-000000000002"
ONE = [RemoteLibrary("PrimarySync", "private"), RemoteLibrary(S1, "shared", "_owner")]
TWO = [*ONE, RemoteLibrary(S2, "private")]


@pytest.mark.parametrize(("words", "zones"), [
    ((), ("PrimarySync",)),
    (("personal",), ("PrimarySync",)),
    (("Personal Library",), ("PrimarySync",)),
    (("shared",), (S1,)),
    (("SHARED LIBRARY",), (S1,)),
    ((S1.lower(),), (S1,)),
    ((S1.removeprefix("SharedSync-"),), (S1,)),  # the UUID alone
    (("all",), ("PrimarySync", S1)),
    (("shared", "all", "PrimarySync"), (S1, "PrimarySync")),  # user's order, each once
])
def test_a_library_is_named_by_id_name_or_all(words: tuple[str, ...], zones: tuple[str, ...]
                                              ) -> None:
    assert resolve_libraries(words, ONE) == zones


def test_several_shared_libraries_are_numbered_and_a_bare_shared_is_ambiguous() -> None:
    assert library_names(TWO) == {"PrimarySync": "Personal Library", S1: "Shared Library 1",
                                  S2: "Shared Library 2"}
    assert resolve_libraries(["Shared Library 2"], TWO) == (S2,)
    with pytest.raises(UnknownZoneError, match="names 2 Shared Libraries") as caught:
        resolve_libraries(["shared"], TWO)
    assert f"Shared Library 2 ({S2})" in str(caught.value)
    with pytest.raises(UnknownZoneError) as caught:
        resolve_libraries(["Holidays"], ONE, source="--library")
    message = str(caught.value)
    assert message.startswith("--library: 'Holidays' is not a Photos library")
    assert "Personal Library (PrimarySync)" in message and f"Shared Library ({S1})" in message
    assert "\n" not in message


def test_words_library_folders_and_zone_answers() -> None:
    assert selection_words("PrimarySync, shared ,") == ("PrimarySync", "shared")
    assert selection_words(["all"]) == ("all",)
    assert library_folder("PrimarySync") == "PrimarySync"
    assert library_folder(S1) == "SharedSync-1A2B3C4D"
    answer = {"zones": [
        {"zoneID": {"zoneName": "PrimarySync", "ownerRecordName": "_me"}, "syncToken": "t1"},
        {"zoneID": {"zoneName": S2}, "deleted": True},
        {"zoneID": "junk"}, "junk",
    ]}
    assert parse_zones(answer, "private") == [RemoteLibrary("PrimarySync", "private", "_me", "t1")]


class FakeDatabase:
    def __init__(self, zones: list[dict[str, Any]]) -> None:
        self.zones = zones
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def post(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((op, body))
        return {"zones": self.zones} if op == "zones/list" else {"records": []}


def test_calls_go_to_the_zones_database_with_its_owner() -> None:
    private = FakeDatabase([{"zoneID": {"zoneName": "PrimarySync"}}])
    shared = FakeDatabase([{"zoneID": {"zoneName": S1, "ownerRecordName": "_sharer"}}])
    router = ZoneRouter(private, shared)
    router.post("PrimarySync", "records/query", {"zoneID": {"zoneName": "PrimarySync"}})
    assert [op for op, _ in private.calls] == ["records/query"]  # no listing for PrimarySync
    body = {"batch": [{"zoneID": {"zoneName": S1}, "query": {}}]}
    router.post(S1, "internal/records/query/batch", body)
    router.post(S1, "records/query", {"zoneID": {"zoneName": S1}})
    sent = [b for op, b in shared.calls if op != "zones/list"]
    assert sent[0]["batch"][0]["zoneID"] == {"zoneName": S1, "ownerRecordName": "_sharer"}
    assert sent[1]["zoneID"]["ownerRecordName"] == "_sharer"
    assert "ownerRecordName" not in body["batch"][0]["zoneID"]  # the caller's body is kept
    assert [op for op, _ in shared.calls].count("zones/list") == 1  # remembered
    assert with_owner({"records": []}, "_x") == {"records": []}


def test_the_gate_keeps_shared_library_assets_unless_the_config_allows_them() -> None:
    asset = ready_asset()
    state = msgspec.structs.replace(asset.state, zone=S1)
    [block] = decide_album_move(state, NOW, settings(), NO_SELECTION)
    assert block.code == "shared-library" and "every participant" in block.detail
    assert "cleanup.include_shared_library" in block.detail
    assert decide_album_move(state, NOW, settings(include_shared_library=True), NO_SELECTION) \
        == decide_album_move(asset.state, NOW, settings(), NO_SELECTION)


def test_one_record_name_in_two_zones_is_two_assets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = make_library(tmp_path)
    run = new_run()
    first = discover(run, 7)
    monkeypatch.setattr(factories, "IcloudIdentity",
                        lambda account, _zone, name: IcloudIdentity(account, S1, name))
    second = discover(run, 7)  # the same record name (and facts), in the Shared Library
    assert second.state.record_name == first.state.record_name and first.id != second.id
    ledger = library.open_ledger()
    projection = library.open_projection()
    try:
        ledger.save(run, first, second)
        projection.catch_up(ledger)
        states = projection.states_of({first.id.hex, second.id.hex})
        assert {s.zone for s in states.values()} == {"PrimarySync", S1}
        with pytest.raises(NotFoundError, match="names 2 assets"):
            resolve_asset(projection, first.state.record_name, library.config.library_root)
    finally:
        projection.close()
        ledger.close()


def test_config_takes_a_library_list_and_the_library_folder_token(tmp_path: Path) -> None:
    (tmp_path / "library").mkdir()
    base = ("library:\n  root: ./library\n  folder_structure: \"{library}/{:%Y/%m}\"\n"
            "icloud:\n  username: jdoe@example.com\n  session_dir: ./session\n")
    path = tmp_path / "photoledger.yaml"
    path.write_text(base + "  library: [PrimarySync, Shared Library]\n")
    config = load_config(path)
    assert selection_words(config.settings.icloud.library) == ("PrimarySync", "Shared Library")
    assert config.settings.cleanup.include_shared_library is False
    assert config.for_library(S1).settings.icloud.library == S1
    assert config.settings.icloud.library == "PrimarySync, Shared Library"  # frozen, unchanged
    path.write_text(base + "  library: [PrimarySync, 7]\n")
    with pytest.raises(ConfigError, match=r"icloud\.library"):
        load_config(path)
