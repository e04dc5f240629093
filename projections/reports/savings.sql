-- What compression and iCloud deletion have saved, and where the bytes are now.
-- Compression sizes cover every file of an asset (still and live-photo video): "before" is
-- the size before the first re-encode, "after" the size after the latest one.
-- iCloud bytes freed by deletion are still recoverable from Recently Deleted until
-- recoverable_until_utc (after $now), or freed for good; a recovered asset counts in neither.

-- section: totals
SELECT
    COUNT(*) FILTER (WHERE compression_tier IS NOT NULL) AS compressed_assets,
    COALESCE(SUM(size_bytes_before_compression), 0) AS bytes_before,
    COALESCE(SUM(size_bytes_after_compression), 0) AS bytes_after,
    COALESCE(SUM(size_bytes_before_compression - size_bytes_after_compression), 0)
        AS compression_saved_bytes,
    COUNT(*) FILTER (WHERE deletion_state = 'deleted') AS deleted_from_icloud,
    COALESCE(SUM(icloud_size_bytes)
        FILTER (WHERE deletion_state = 'deleted'), 0) AS icloud_freed_bytes,
    COUNT(*) FILTER (WHERE deletion_state = 'deleted' AND recoverable_until_utc > $now)
        AS recoverable_assets,
    COALESCE(SUM(icloud_size_bytes)
        FILTER (WHERE deletion_state = 'deleted' AND recoverable_until_utc > $now), 0)
        AS recoverable_bytes,
    -- when the last of them leaves Recently Deleted (NULL: none left there)
    MAX(recoverable_until_utc)
        FILTER (WHERE deletion_state = 'deleted' AND recoverable_until_utc > $now)
        AS recoverable_until_utc,
    COALESCE(SUM(icloud_size_bytes)
        FILTER (WHERE deletion_state = 'deleted' AND recoverable_until_utc <= $now), 0)
        AS freed_for_good_bytes
FROM media

-- section: storage
-- Bytes of the original as downloaded (plus its live-photo video), and the local copy now.
SELECT
    COALESCE(SUM(COALESCE(size_bytes_after_compression, downloaded_size_bytes
        + CASE WHEN live_video_sha256 IS NOT NULL
               THEN COALESCE(live_video_declared_size_bytes, 0) ELSE 0 END))
        FILTER (WHERE sha256 IS NOT NULL AND local_removed_at_utc IS NULL), 0) AS local_bytes,
    COALESCE(SUM(downloaded_size_bytes + CASE WHEN live_video_sha256 IS NOT NULL
               THEN COALESCE(live_video_declared_size_bytes, 0) ELSE 0 END)
        FILTER (WHERE nas_status IN ('copied', 'verified', 'incomplete')), 0) AS nas_bytes,
    COALESCE(SUM(downloaded_size_bytes + CASE WHEN live_video_sha256 IS NOT NULL
               THEN COALESCE(live_video_declared_size_bytes, 0) ELSE 0 END)
        FILTER (WHERE google_status IN ('staged', 'verified')), 0) AS outbox_staged_bytes,
    -- in iCloud now: as `status` counts it (engine.asset_state.is_in_icloud)
    COALESCE(SUM(icloud_size_bytes)
        FILTER (WHERE NOT is_remote_deleted
                AND COALESCE(deletion_state, '') NOT IN ('requested', 'deleted')), 0)
        AS icloud_bytes
FROM media

-- section: by_tier
SELECT
    compression_tier AS tier,
    COUNT(*) AS assets,
    SUM(size_bytes_before_compression) AS bytes_before,
    SUM(size_bytes_after_compression) AS bytes_after,
    SUM(size_bytes_before_compression - size_bytes_after_compression) AS saved_bytes
FROM media
WHERE compression_tier IS NOT NULL
GROUP BY compression_tier
ORDER BY compression_tier

-- section: by_year
SELECT
    CAST(year(captured_at_utc) AS INTEGER) AS year,
    COUNT(*) AS assets,
    SUM(size_bytes_before_compression) AS bytes_before,
    SUM(size_bytes_after_compression) AS bytes_after,
    SUM(size_bytes_before_compression - size_bytes_after_compression) AS saved_bytes
FROM media
WHERE compression_tier IS NOT NULL
GROUP BY ALL
ORDER BY year NULLS FIRST

-- section: by_kind
SELECT
    kind,
    COUNT(*) AS assets,
    SUM(size_bytes_before_compression) AS bytes_before,
    SUM(size_bytes_after_compression) AS bytes_after,
    SUM(size_bytes_before_compression - size_bytes_after_compression) AS saved_bytes
FROM media
WHERE compression_tier IS NOT NULL
GROUP BY kind
ORDER BY kind

-- section: over_time
-- Per month: compression savings (dated by each asset's latest re-encode) and iCloud bytes
-- freed (dated by the deletion), with running totals.
WITH monthly AS (
    SELECT strftime(compressed_at_utc, '%Y-%m') AS month,
           size_bytes_before_compression - size_bytes_after_compression AS saved,
           0 AS freed
    FROM media WHERE compression_tier IS NOT NULL
    UNION ALL
    SELECT strftime(deleted_at_utc, '%Y-%m'), 0,
           icloud_size_bytes
    FROM media WHERE deletion_state = 'deleted'
), per_month AS (
    SELECT month, SUM(saved) AS compression_saved_bytes, SUM(freed) AS icloud_freed_bytes
    FROM monthly GROUP BY month
)
SELECT
    month,
    compression_saved_bytes,
    icloud_freed_bytes,
    SUM(compression_saved_bytes) OVER (ORDER BY month) AS compression_saved_total,
    SUM(icloud_freed_bytes) OVER (ORDER BY month) AS icloud_freed_total
FROM per_month
ORDER BY month
