-- Times are Unix epoch microseconds (UTC); money is whole nano-dollars (10^-9 USD) in
-- BIGINT, exact (cost_usd is derived from it). JSON is stored as text.

-- The spec's chat_telemetry: one row per chat session, live (end_time IS NULL) or ended.
CREATE TABLE chat_telemetry (
    id TEXT PRIMARY KEY,                       -- UUIDv7, time-ordered
    session_id TEXT NOT NULL UNIQUE,           -- the client's session identifier
    model TEXT NOT NULL,                       -- AI model used
    domain TEXT NOT NULL,                      -- customer domain
    conversation_id TEXT,                      -- linked conversation, if any
    start_time BIGINT NOT NULL,               -- session start
    end_time BIGINT,                          -- session end; NULL while live
    duration_ms BIGINT,                       -- end_time - start_time in ms; NULL while live
    iterations BIGINT NOT NULL DEFAULT 0,     -- AI reasoning cycles
    search_count BIGINT NOT NULL DEFAULT 0,   -- searches performed
    total_results BIGINT NOT NULL DEFAULT 0,  -- sum of all search results
    searches TEXT NOT NULL DEFAULT '[]',       -- array of search operations
    input_tokens BIGINT NOT NULL DEFAULT 0,   -- includes cached and cache-write tokens
    cached_input_tokens BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,  -- includes reasoning tokens
    reasoning_tokens BIGINT NOT NULL DEFAULT 0,
    total_tokens BIGINT GENERATED ALWAYS AS (input_tokens + output_tokens) STORED,
    cost_nanos BIGINT,                        -- cost in 10^-9 USD; NULL = unpriced model
    cost_usd NUMERIC(20, 9) GENERATED ALWAYS AS (cost_nanos::numeric / 1000000000) STORED,
    success BOOLEAN,                           -- NULL while live
    error TEXT,                                -- error message if failed
    logs TEXT NOT NULL DEFAULT '[]',           -- structured log entries
    metadata TEXT,                             -- client metadata (JSON object)
    last_event_at BIGINT NOT NULL,            -- last event seen (for the idle reaper)
    event_ids TEXT NOT NULL DEFAULT '[]',      -- ids of applied events: a repeat changes nothing
    created_at BIGINT NOT NULL                -- record creation time
);
-- Live sessions are updated many times: room for HOT updates, and vacuum soon after bursts
-- so the partial index of live sessions does not fill with dead entries.
ALTER TABLE chat_telemetry SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0.02);
CREATE INDEX idx_chat_telemetry_start_time ON chat_telemetry (start_time);
CREATE INDEX idx_chat_telemetry_domain_start ON chat_telemetry (domain, start_time);
CREATE INDEX idx_chat_telemetry_live ON chat_telemetry (start_time) WHERE end_time IS NULL;

-- Ended sessions summed per (hour, domain, model); a session counts in its start hour.
-- Rows with domain '' sum all domains and rows with model '' all models, so a window's
-- totals, per-model and per-domain figures read a few rows per bucket.
CREATE TABLE rollup_hourly (
    bucket BIGINT NOT NULL,
    domain TEXT NOT NULL,
    model TEXT NOT NULL,
    requests BIGINT NOT NULL,
    successes BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    unpriced BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    reasoning_tokens BIGINT NOT NULL,
    cost_nanos BIGINT NOT NULL,               -- priced sessions only
    duration_ms BIGINT NOT NULL,
    searches BIGINT NOT NULL,
    iterations BIGINT NOT NULL,
    PRIMARY KEY (bucket, domain, model)
);

CREATE INDEX idx_rollup_hourly_trend ON rollup_hourly (domain, bucket) WHERE model = '';

-- The same per UTC day, so long windows read few rows.
CREATE TABLE rollup_daily (
    bucket BIGINT NOT NULL,
    domain TEXT NOT NULL,
    model TEXT NOT NULL,
    requests BIGINT NOT NULL,
    successes BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    unpriced BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    reasoning_tokens BIGINT NOT NULL,
    cost_nanos BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    searches BIGINT NOT NULL,
    iterations BIGINT NOT NULL,
    PRIMARY KEY (bucket, domain, model)
);

-- Prices in USD per 1M tokens, as exact decimal text.
CREATE TABLE model_prices (
    model TEXT NOT NULL,
    effective_from TEXT NOT NULL,              -- YYYY-MM-DD, UTC
    aliases TEXT NOT NULL DEFAULT '[]',
    pattern TEXT,
    input TEXT NOT NULL,
    cached_input TEXT,
    cache_write TEXT,
    output TEXT NOT NULL,
    reasoning TEXT,
    source TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (model, effective_from)
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT,
    scope TEXT NOT NULL,                       -- ingest | read | admin
    domain TEXT,                               -- NULL = all domains
    key_hash TEXT NOT NULL UNIQUE,             -- SHA-256 of the key; the key itself is never stored
    prefix TEXT NOT NULL,                      -- first characters, to recognise a key in lists
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
