-- Ended sessions per response-time bucket (see DURATION_BOUNDS_MS: ≤250 ms, ≤500 ms, ≤1 s,
-- ≤2 s, ≤3 s, ≤5 s, ≤8 s, ≤13 s, ≤20 s, ≤30 s, ≤60 s, slower), per hour and per UTC day of
-- the session's start, per domain and for all domains (''): response-time percentiles
-- without reading raw sessions.
CREATE TABLE duration_rollup_hourly (
    domain TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    le_index BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (domain, bucket, le_index)
);
CREATE TABLE duration_rollup_daily (
    domain TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    le_index BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (domain, bucket, le_index)
);

-- Sessions stored before this migration (those still within raw retention).
CREATE TEMPORARY TABLE durations_before AS
    SELECT domain, start_time, CASE
        WHEN (end_time - start_time) / 1000 <= 250 THEN 0 WHEN (end_time - start_time) / 1000 <= 500 THEN 1
        WHEN (end_time - start_time) / 1000 <= 1000 THEN 2 WHEN (end_time - start_time) / 1000 <= 2000 THEN 3
        WHEN (end_time - start_time) / 1000 <= 3000 THEN 4 WHEN (end_time - start_time) / 1000 <= 5000 THEN 5
        WHEN (end_time - start_time) / 1000 <= 8000 THEN 6 WHEN (end_time - start_time) / 1000 <= 13000 THEN 7
        WHEN (end_time - start_time) / 1000 <= 20000 THEN 8 WHEN (end_time - start_time) / 1000 <= 30000 THEN 9
        WHEN (end_time - start_time) / 1000 <= 60000 THEN 10 ELSE 11 END AS le_index
    FROM chat_telemetry WHERE end_time IS NOT NULL;
INSERT INTO duration_rollup_hourly (domain, bucket, le_index, count)
    SELECT domain, start_time - start_time % 3600000000, le_index, COUNT(*) FROM durations_before
    GROUP BY domain, start_time - start_time % 3600000000, le_index;
INSERT INTO duration_rollup_daily (domain, bucket, le_index, count)
    SELECT domain, start_time - start_time % 86400000000, le_index, COUNT(*) FROM durations_before
    GROUP BY domain, start_time - start_time % 86400000000, le_index;
INSERT INTO duration_rollup_hourly (domain, bucket, le_index, count)
    SELECT '', bucket, le_index, SUM(count) FROM duration_rollup_hourly GROUP BY bucket, le_index;
INSERT INTO duration_rollup_daily (domain, bucket, le_index, count)
    SELECT '', bucket, le_index, SUM(count) FROM duration_rollup_daily GROUP BY bucket, le_index;
DROP TABLE durations_before;
