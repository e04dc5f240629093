-- Every asset with a recorded failure or in quarantine, with its last error (newest first);
-- a partly downloaded asset also names the resources it still lacks (its error says why).
-- "Has a problem" is the projection's own definition (projections/worklists.py).

-- section: failures
SELECT
    m.asset_id,
    m.record_name,
    m.filename,
    m.local_relpath,
    m.quarantine_reason,
    NULLIF(m.missing, '') AS missing_resources,
    m.last_error,
    m.last_error_at_utc,
    m.download_failures,
    (SELECT arg_min(w.stage, w.stage_order) FROM worklists AS w WHERE w.asset_id = m.asset_id)
        AS waiting_for
FROM media AS m
WHERE m.has_problem
ORDER BY m.last_error_at_utc DESC NULLS LAST, m.asset_id
