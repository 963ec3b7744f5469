-- Raw sessions are partitioned by week of start_time (native declarative partitioning), so
-- retention drops whole weeks instead of deleting rows (README: Retention). Weeks start on
-- Monday 00:00 UTC; partitions are named by that day, e.g. chat_telemetry_w20261130.
-- Rows of a week without a partition (backfills older than the retention) land in the
-- default partition, whose rows retention deletes one by one.
--
-- A unique index on a partitioned table must include the partition key, so session_id is
-- kept unique across weeks by chat_telemetry_keys: a writer inserts a session's key before
-- the session (a second writer of the same new session waits, then sees the conflict).

ALTER TABLE chat_telemetry RENAME TO chat_telemetry_unpartitioned;

CREATE TABLE chat_telemetry (
    id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    model TEXT NOT NULL,
    domain TEXT NOT NULL,
    conversation_id TEXT,
    start_time BIGINT NOT NULL,
    end_time BIGINT,
    duration_ms BIGINT,
    iterations BIGINT NOT NULL DEFAULT 0,
    search_count BIGINT NOT NULL DEFAULT 0,
    total_results BIGINT NOT NULL DEFAULT 0,
    searches TEXT NOT NULL DEFAULT '[]',
    input_tokens BIGINT NOT NULL DEFAULT 0,
    cached_input_tokens BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens BIGINT NOT NULL DEFAULT 0,
    total_tokens BIGINT GENERATED ALWAYS AS (input_tokens + output_tokens) STORED,
    cost_nanos BIGINT,
    cost_usd NUMERIC(20, 9) GENERATED ALWAYS AS (cost_nanos::numeric / 1000000000) STORED,
    success BOOLEAN,
    error TEXT,
    logs TEXT NOT NULL DEFAULT '[]',
    metadata TEXT,
    last_event_at BIGINT NOT NULL,
    event_ids TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    otlp_received_at BIGINT,
    otlp_root_end BIGINT,
    otlp_failure TEXT,
    calls TEXT NOT NULL DEFAULT '[]',
    price_ref TEXT
) PARTITION BY RANGE (start_time);

CREATE TABLE chat_telemetry_default PARTITION OF chat_telemetry DEFAULT
    WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.01,
          autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0.02);

CREATE TABLE chat_telemetry_keys (session_id TEXT PRIMARY KEY);

-- The Monday 00:00 UTC (µs) of the week holding `t` (1970-01-01 was a Thursday).
CREATE FUNCTION chat_telemetry_week(t BIGINT) RETURNS BIGINT LANGUAGE sql IMMUTABLE AS $$
    SELECT ((t - 345600000000) - ((t - 345600000000) % 604800000000 + 604800000000) % 604800000000)
        + 345600000000
$$;

-- Creates the partition of the week starting at `week_start`, unless it exists or the
-- default partition holds rows of that week (they stay there). True when created.
CREATE FUNCTION chat_telemetry_add_week(week_start BIGINT) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
DECLARE
    name TEXT := 'chat_telemetry_w'
        || to_char(to_timestamp(week_start / 1000000) AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN FALSE;
    END IF;
    IF EXISTS (SELECT 1 FROM chat_telemetry_default
               WHERE start_time >= week_start AND start_time < week_start + 604800000000) THEN
        RETURN FALSE;
    END IF;
    -- Live sessions are updated many times: room for HOT updates, and vacuum soon after
    -- bursts so the partial index of live sessions does not fill with dead entries.
    EXECUTE format('CREATE TABLE %I PARTITION OF chat_telemetry FOR VALUES FROM (%s) TO (%s) '
        'WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.01, '
        'autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0.02)',
        name, week_start, week_start + 604800000000);
    RETURN TRUE;
EXCEPTION WHEN duplicate_table THEN
    -- Another instance created it first.
    RETURN FALSE;
END
$$;

-- Drops the week partitions that end at or before `cutoff` and hold no live session, with
-- their sessions' keys. Returns the number of sessions dropped.
CREATE FUNCTION chat_telemetry_drop_before(cutoff BIGINT) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    part RECORD;
    live BOOLEAN;
    n BIGINT;
    total BIGINT := 0;
BEGIN
    FOR part IN
        SELECT c.oid::regclass AS rel,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''?(-?[0-9]+)''?\)'))[1]::BIGINT AS upper
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'chat_telemetry'::regclass
        ORDER BY 2
    LOOP
        CONTINUE WHEN part.upper IS NULL OR part.upper > cutoff;
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE end_time IS NULL)', part.rel) INTO live;
        -- A session still running keeps its week until it ends (the reaper ends it).
        CONTINUE WHEN live;
        EXECUTE format('DELETE FROM chat_telemetry_keys k USING %s p WHERE k.session_id = p.session_id', part.rel);
        GET DIAGNOSTICS n = ROW_COUNT;
        EXECUTE format('DROP TABLE %s', part.rel);
        total := total + n;
    END LOOP;
    RETURN total;
END
$$;

-- A partition for every week that holds sessions, then the rows, then the indexes (built
-- once over the copied rows, faster than maintained row by row).
SELECT chat_telemetry_add_week(w)
    FROM (SELECT DISTINCT chat_telemetry_week(start_time) AS w FROM chat_telemetry_unpartitioned) weeks;

INSERT INTO chat_telemetry (id, session_id, model, domain, conversation_id, start_time,
    end_time, duration_ms, iterations, search_count, total_results, searches, input_tokens,
    cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos,
    success, error, logs, metadata, last_event_at, event_ids, created_at, otlp_received_at,
    otlp_root_end, otlp_failure, calls, price_ref)
SELECT id, session_id, model, domain, conversation_id, start_time,
    end_time, duration_ms, iterations, search_count, total_results, searches, input_tokens,
    cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos,
    success, error, logs, metadata, last_event_at, event_ids, created_at, otlp_received_at,
    otlp_root_end, otlp_failure, calls, price_ref
FROM chat_telemetry_unpartitioned;

INSERT INTO chat_telemetry_keys (session_id) SELECT session_id FROM chat_telemetry_unpartitioned;

DROP TABLE chat_telemetry_unpartitioned;

ALTER TABLE chat_telemetry ADD PRIMARY KEY (id, start_time);
CREATE INDEX idx_chat_telemetry_session ON chat_telemetry (session_id);
CREATE INDEX idx_chat_telemetry_start_time ON chat_telemetry (start_time);
CREATE INDEX idx_chat_telemetry_domain_start ON chat_telemetry (domain, start_time);
CREATE INDEX idx_chat_telemetry_live ON chat_telemetry (start_time) WHERE end_time IS NULL;
CREATE INDEX idx_chat_telemetry_found_nothing ON chat_telemetry (conversation_id)
    WHERE conversation_id IS NOT NULL AND end_time IS NOT NULL AND search_count > 0 AND total_results = 0;
CREATE INDEX idx_chat_telemetry_settling ON chat_telemetry (otlp_received_at)
    WHERE end_time IS NULL AND otlp_root_end IS NOT NULL;
CREATE INDEX idx_chat_telemetry_model_start ON chat_telemetry (model, start_time, id);
ANALYZE chat_telemetry;
