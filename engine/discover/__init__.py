"""The discover stage: what iCloud holds, recorded as facts (decisions, pages, the stage entry).

`engine.discover.decisions` holds the pure decisions and is re-exported here, so
`from engine.discover import remote_facts` keeps working; the stage entry is
`engine.discover.stage.run_discover` (imported from there, not here: the decisions must stay
importable without the services).
"""

from engine.discover.decisions import (
    PlannedFact,
    decide_for_deleted,
    decide_for_problem,
    decide_for_remote,
    decide_metadata,
    discovered_facts,
    known_metadata,
    metadata_facts,
    plan_missing_after_full_scan,
    problem_facts,
    remote_facts,
)

__all__ = [
    "PlannedFact", "decide_for_deleted", "decide_for_problem", "decide_for_remote",
    "decide_metadata", "discovered_facts", "known_metadata", "metadata_facts",
    "plan_missing_after_full_scan", "problem_facts", "remote_facts",
]
