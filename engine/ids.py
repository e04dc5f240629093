"""Stable identities.

Invariant: an asset's aggregate id is a pure function of its iCloud identity (account, library
zone, CPLAsset record name), so discovering the same asset twice always names the same
aggregate, and a filename never takes part in identity (DESIGN.md §2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID, uuid5

# Fixed forever: changing it would orphan every ledger ever written.
PHOTOLEDGER_NAMESPACE = UUID("6f7c1f2e-3b0a-5d4e-9a51-2c8d6b0e4f17")

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class IcloudIdentity:
    """Where an asset lives in iCloud: the account, the library zone and the CPLAsset record."""

    account: str
    zone: str
    record_name: str

    def __post_init__(self) -> None:
        for name in ("account", "zone", "record_name"):
            if not getattr(self, name):
                raise ValueError(f"iCloud identity needs a non-empty {name}")

    @property
    def key(self) -> str:
        """Canonical text form; the account is case-folded because Apple IDs are."""
        return f"icloud:{self.account.casefold()}/{self.zone}/{self.record_name}"


def asset_id_for(identity: IcloudIdentity) -> UUID:
    """The aggregate id of the asset with this iCloud identity (uuid5, stable across runs)."""
    return uuid5(PHOTOLEDGER_NAMESPACE, identity.key)


def is_sha256_hex(value: str) -> bool:
    """True when value is a lower-case hex SHA-256 digest."""
    return bool(_SHA256_HEX.match(value))
