"""Which adopted files still wait for a comparison with iCloud's bytes: the confirmation work
list of the download stage (engine.download.adoption).

Invariant: exactly the assets iCloud still holds, not quarantined, with a resource adopted
by `import-existing` and not yet confirmed (engine.asset: `adoption_unconfirmed`), oldest
capture first; nothing else is compared, and a confirmed one leaves the list by its fact.
"""

from __future__ import annotations

from projections.media import MediaProjection
from projections.worklists import IN_ICLOUD_SQL

ADOPTION_WORKLIST_WHERE = (
    f"{IN_ICLOUD_SQL} AND quarantine_reason IS NULL AND adoption_unconfirmed <> '[]'"
)


def adoption_worklist(projection: MediaProjection) -> list[str]:
    """Asset ids (hex) whose adopted files wait for a comparison, oldest capture first."""
    rows = projection._con.execute(
        f"SELECT asset_id FROM media WHERE {ADOPTION_WORKLIST_WHERE} "
        "ORDER BY captured_at_utc, asset_id"
    )
    return [row[0] for row in rows]

