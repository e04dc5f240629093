-- What each stage still has to do, and why items are stuck. Stage membership is computed with
-- the stages' own work-list queries (projections/worklists.py); gate reasons come from the
-- deletion gate itself (engine/cleanup/gate.py) when the reports file is built.

-- section: stages
SELECT
    s.stage,
    COUNT(m.asset_id) AS waiting,
    COALESCE(SUM(COALESCE(m.downloaded_size_bytes, m.declared_size_bytes)), 0) AS waiting_bytes,
    MIN(m.captured_at_utc) AS oldest_captured_at_utc,
    arg_min(m.filename, m.captured_at_utc) AS oldest_filename,
    COUNT(m.asset_id) FILTER (WHERE m.has_problem) AS with_problems
FROM stages AS s
LEFT JOIN worklists AS w ON w.stage = s.stage
LEFT JOIN media AS m ON m.asset_id = w.asset_id
GROUP BY s.stage, s.stage_order
ORDER BY s.stage_order

-- section: stuck
-- Problems (failures, quarantine) by the first stage the asset waits for, then gate blocks.
WITH first_stage AS (
    SELECT w.asset_id, arg_min(w.stage, w.stage_order) AS stage, MIN(w.stage_order) AS o
    FROM worklists AS w GROUP BY w.asset_id
), problems AS (
    SELECT
        COALESCE(f.stage, 'download') AS stage,
        COALESCE(f.o, 0) AS stage_order,
        CASE WHEN m.quarantine_reason IS NOT NULL THEN 'quarantined: ' || m.quarantine_reason
             WHEN m.sha256 IS NOT NULL AND m.missing <> ''
                 THEN 'partly downloaded, missing ' || m.missing || ': '
                      || split_part(m.last_error, ':', 1)
             ELSE 'failed: ' || split_part(m.last_error, ':', 1) END AS reason,
        m.asset_id,
        COALESCE(m.downloaded_size_bytes, m.declared_size_bytes) AS size_bytes
    FROM media AS m LEFT JOIN first_stage AS f ON f.asset_id = m.asset_id
    WHERE m.has_problem
), blocked AS (
    SELECT b.stage, s.stage_order, 'gate: ' || b.code AS reason, b.asset_id,
           COALESCE(m.downloaded_size_bytes, m.declared_size_bytes) AS size_bytes
    FROM gate_blocks AS b
    JOIN stages AS s ON s.stage = b.stage
    JOIN media AS m ON m.asset_id = b.asset_id
)
SELECT stage, reason, COUNT(DISTINCT asset_id) AS assets, SUM(size_bytes) AS size_bytes
FROM (SELECT * FROM problems UNION ALL SELECT * FROM blocked)
GROUP BY stage, stage_order, reason
ORDER BY stage_order, assets DESC, reason
