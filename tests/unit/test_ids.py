"""Identity: the aggregate id is a stable function of the iCloud identity, never a filename."""

from __future__ import annotations

from uuid import UUID

import pytest

from engine.ids import IcloudIdentity, asset_id_for


def test_asset_id_is_stable_across_processes() -> None:
    # Pinned: changing the namespace or key format would orphan every existing ledger.
    identity = IcloudIdentity("jdoe@example.com", "PrimarySync", "AbC-123")
    assert asset_id_for(identity) == UUID("f4e4127b-f5ab-5af4-9260-f000a2f0477b")


def test_apple_id_case_does_not_change_identity() -> None:
    a = IcloudIdentity("JDoe@Example.com", "PrimarySync", "R1")
    b = IcloudIdentity("jdoe@example.com", "PrimarySync", "R1")
    assert asset_id_for(a) == asset_id_for(b)


@pytest.mark.parametrize(
    "other",
    [
        IcloudIdentity("jdoe@example.com", "SharedSync-1", "R1"),
        IcloudIdentity("jdoe@example.com", "PrimarySync", "r1"),
        IcloudIdentity("other@example.com", "PrimarySync", "R1"),
    ],
)
def test_each_part_of_the_identity_matters(other: IcloudIdentity) -> None:
    base = IcloudIdentity("jdoe@example.com", "PrimarySync", "R1")
    assert asset_id_for(base) != asset_id_for(other)


@pytest.mark.parametrize("field", ["account", "zone", "record_name"])
def test_identity_parts_must_not_be_empty(field: str) -> None:
    parts = {"account": "a@b.c", "zone": "PrimarySync", "record_name": "R1", field: ""}
    with pytest.raises(ValueError, match=field):
        IcloudIdentity(**parts)
