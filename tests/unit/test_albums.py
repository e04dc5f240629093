"""Albums as facts: listings and change pages decided against the ledger, memberships, paths."""

from __future__ import annotations

import msgspec

from engine import events as ev
from engine.albums import (
    KnownAlbum,
    album_path,
    album_paths_for,
    apply_deltas,
    apply_known,
    decide_albums_listed,
    decide_albums_removed,
    decide_membership,
    decide_page_memberships,
    membership_deltas,
    merge_deltas,
)
from engine.asset import MediaState
from engine.icloud.model import AlbumRelation, RemoteAlbum

ZONE = "PrimarySync"


def remote(album_id: str, name: str, parent: str | None = None, folder: bool = False) -> RemoteAlbum:
    return RemoteAlbum(record_name=album_id, name=name, parent_id=parent, is_folder=folder,
                       change_tag="t")


def known(album_id: str, name: str, parent: str | None = None, folder: bool = False,
          removed: bool = False) -> KnownAlbum:
    return KnownAlbum(album_id=album_id, name=name, parent_id=parent, is_folder=folder,
                      is_removed=removed)


LIBRARY = {
    "F1": known("F1", "Trips", folder=True),
    "F2": known("F2", "2021", "F1", folder=True),
    "A1": known("A1", "Lisbon", "F2"),
    "A2": known("A2", "Family"),
    "A3": known("A3", "Gone", removed=True),
}


def test_a_listing_as_known_decides_nothing() -> None:
    listed = [remote(k.album_id, k.name, k.parent_id, k.is_folder)
              for k in LIBRARY.values() if not k.is_removed]
    assert decide_albums_listed(ZONE, LIBRARY, listed, complete=True) == []


def test_new_renamed_moved_and_revived_albums_are_seen() -> None:
    listed = [
        remote("F1", "Trips", folder=True), remote("F2", "2021", "F1", folder=True),
        remote("A1", "Lisboa", "F2"),  # renamed
        remote("A2", "Family", "F1"),  # moved into a folder
        remote("A3", "Gone"),  # listed again
        remote("A4", "New"),
    ]
    facts = decide_albums_listed(ZONE, LIBRARY, listed, complete=True)
    assert [(f.event_class, f.facts["album_id"]) for f in facts] == [
        (ev.AlbumSeen, "A1"), (ev.AlbumSeen, "A2"), (ev.AlbumSeen, "A3"), (ev.AlbumSeen, "A4"),
    ]
    assert facts[0].facts == {"zone": ZONE, "album_id": "A1", "name": "Lisboa",
                              "parent_id": "F2", "is_folder": False}


def test_only_a_complete_listing_concludes_an_album_is_gone() -> None:
    listed = [remote("F1", "Trips", folder=True), remote("A2", "Family")]
    partial = decide_albums_listed(ZONE, LIBRARY, listed, complete=False)
    assert partial == []
    complete = decide_albums_listed(ZONE, LIBRARY, listed, complete=True)
    assert [(f.event_class, f.facts) for f in complete] == [
        (ev.AlbumRemoved, {"zone": ZONE, "album_id": "A1"}),
        (ev.AlbumRemoved, {"zone": ZONE, "album_id": "F2"}),
    ]  # A3 was removed already: not again


def test_removals_name_only_albums_the_ledger_holds_alive() -> None:
    names = ["ASSET-1", "A1-IN-X", "A2", "A3", "A2", "nothing"]
    facts = decide_albums_removed(ZONE, LIBRARY, names)
    assert [f.facts["album_id"] for f in facts] == ["A2"]


def test_decided_facts_update_what_later_pages_know() -> None:
    albums = dict(LIBRARY)
    apply_known(albums, decide_albums_listed(ZONE, albums, [remote("A4", "New", "F1")],
                                             complete=False))
    apply_known(albums, decide_albums_removed(ZONE, albums, ["A2"]))
    assert albums["A4"] == known("A4", "New", "F1")
    assert albums["A2"].is_removed
    assert decide_albums_removed(ZONE, albums, ["A2"]) == []


def test_paths_join_folders_and_keep_a_slash_inside_a_name_apart() -> None:
    albums = {**LIBRARY, "A5": known("A5", "AC/DC live", "F1")}
    assert album_path("A1", albums) == "Trips/2021/Lisbon"
    assert album_path("A5", albums) == "Trips/AC\u2215DC live"
    assert album_path("F2", albums) == "Trips/2021"
    assert album_path("A3", albums) is None  # removed
    assert album_path("nope", albums) is None


def test_a_removed_folder_lends_its_name_and_a_cycle_ends() -> None:
    albums = {
        "F1": known("F1", "Old", folder=True, removed=True),
        "A1": known("A1", "Kept", "F1"),
        "C1": known("C1", "Loop", "C2", folder=True),
        "C2": known("C2", "Back", "C1", folder=True),
        "A2": known("A2", "Inside", "C1"),
    }
    assert album_path("A1", albums) == "Old/Kept"
    assert album_path("A2", albums) == "Back/Loop/Inside"


def test_sidecar_paths_skip_removed_unknown_and_left_out_albums() -> None:
    albums = {**LIBRARY, "DP": known("DP", "DeletePending")}
    paths = album_paths_for(["A2", "A1", "A3", "DP", "zz", "A1"], albums,
                            leave_out=frozenset({"DeletePending"}))
    assert paths == ("Family", "Trips/2021/Lisbon")


def test_membership_is_a_set_and_frozen_after_a_deletion() -> None:
    state = MediaState(record_name="R", album_ids=("B", "A"))
    assert decide_membership(state, ["A", "B", "A"]) == []
    assert decide_membership(state, ["A"]) == [{"album_ids": ("A",)}]
    assert decide_membership(None, ["A"]) == []
    gone = msgspec.structs.replace(state, is_remote_deleted=True)
    deleted = msgspec.structs.replace(state, deletion_state="deleted")
    assert decide_membership(gone, []) == decide_membership(deleted, []) == []


def test_a_pages_relations_split_by_what_the_ledger_knows() -> None:
    relations = [
        AlbumRelation(asset_record_name="K", album_id="A1", is_member=True),
        AlbumRelation(asset_record_name="K", album_id="A2", is_member=False),
        AlbumRelation(asset_record_name="N", album_id="A1", is_member=True),
        AlbumRelation(asset_record_name="U", album_id="A2", is_member=True),
        AlbumRelation(asset_record_name="G", album_id="A2", is_member=False),
        AlbumRelation(asset_record_name="S", album_id="A1", is_member=True),
        AlbumRelation(asset_record_name="F", album_id="A1", is_member=False),
    ]
    states = {
        "K": MediaState(album_ids=("A2",)),
        "G": MediaState(album_ids=("A2",)),
        "S": MediaState(album_ids=("A1",)),  # already there: nothing to record
        "F": MediaState(album_ids=("A1",), deletion_state="deleted"),  # frozen
    }
    split = decide_page_memberships(states, {"N"}, {"G"}, membership_deltas(relations))
    assert split.discovered_album_ids == {"N": ("A1",)}
    assert split.changed == {"K": ("A1",)}
    assert split.pending == {"U": {"A2": True}}


def test_the_later_page_wins_album_by_album() -> None:
    merged = merge_deltas({"X": {"A1": True, "A2": True}}, {"X": {"A1": False}, "Y": {"A3": True}})
    assert merged == {"X": {"A1": False, "A2": True}, "Y": {"A3": True}}
    assert apply_deltas(("A1", "A9"), merged["X"]) == ("A2", "A9")
