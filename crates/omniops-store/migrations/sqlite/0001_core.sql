-- Times are Unix epoch microseconds (UTC); money is whole nano-dollars (10^-9 USD) in
-- INTEGER, exact (SQLite's NUMERIC would be a float). JSON is stored as text.

-- The spec's chat_telemetry: one row per chat session, live (end_time IS NULL) or ended.
CREATE TABLE chat_telemetry (
    id TEXT PRIMARY KEY,                       -- UUIDv7, time-ordered
    session_id TEXT NOT NULL UNIQUE,           -- the client's session identifier
    model TEXT NOT NULL,                       -- AI model used
    domain TEXT NOT NULL,                      -- customer domain
    conversation_id TEXT,                      -- linked conversation, if any
    start_time INTEGER NOT NULL,               -- session start
    end_time INTEGER,                          -- session end; NULL while live
    duration_ms INTEGER,                       -- end_time - start_time in ms; NULL while live
    iterations INTEGER NOT NULL DEFAULT 0,     -- AI reasoning cycles
    search_count INTEGER NOT NULL DEFAULT 0,   -- searches performed
    total_results INTEGER NOT NULL DEFAULT 0,  -- sum of all search results
    searches TEXT NOT NULL DEFAULT '[]',       -- array of search operations
    input_tokens INTEGER NOT NULL DEFAULT 0,   -- includes cached and cache-write tokens
    cached_input_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,  -- includes reasoning tokens
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER GENERATED ALWAYS AS (input_tokens + output_tokens) VIRTUAL,
    cost_nanos INTEGER,                        -- cost in 10^-9 USD; NULL = unpriced model
    -- The spec's cost_usd as exact decimal text, derived with integer arithmetic.
    cost_usd TEXT GENERATED ALWAYS AS (CASE WHEN cost_nanos IS NULL THEN NULL ELSE
        (cost_nanos / 1000000000) || '.' || substr('000000000' || (cost_nanos % 1000000000), -9, 9) END) VIRTUAL,
    success BOOLEAN,                           -- NULL while live
    error TEXT,                                -- error message if failed
    logs TEXT NOT NULL DEFAULT '[]',           -- structured log entries
    metadata TEXT,                             -- client metadata (JSON object)
    last_event_at INTEGER NOT NULL,            -- last event seen (for the idle reaper)
    event_ids TEXT NOT NULL DEFAULT '[]',      -- ids of applied events: a repeat changes nothing
    created_at INTEGER NOT NULL                -- record creation time
);
CREATE INDEX idx_chat_telemetry_start_time ON chat_telemetry (start_time);
CREATE INDEX idx_chat_telemetry_domain_start ON chat_telemetry (domain, start_time);
CREATE INDEX idx_chat_telemetry_live ON chat_telemetry (start_time) WHERE end_time IS NULL;

-- Ended sessions summed per (hour, domain, model); a session counts in its start hour.
-- Rows with domain '' sum all domains and rows with model '' all models, so a window's
-- totals, per-model and per-domain figures read a few rows per bucket.
CREATE TABLE rollup_hourly (
    bucket INTEGER NOT NULL,
    domain TEXT NOT NULL,
    model TEXT NOT NULL,
    requests INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    unpriced INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    cost_nanos INTEGER NOT NULL,               -- priced sessions only
    duration_ms INTEGER NOT NULL,
    searches INTEGER NOT NULL,
    iterations INTEGER NOT NULL,
    PRIMARY KEY (bucket, domain, model)
) WITHOUT ROWID;

CREATE INDEX idx_rollup_hourly_trend ON rollup_hourly (domain, bucket) WHERE model = '';

-- The same per UTC day, so long windows read few rows.
CREATE TABLE rollup_daily (
    bucket INTEGER NOT NULL,
    domain TEXT NOT NULL,
    model TEXT NOT NULL,
    requests INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    unpriced INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    cost_nanos INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    searches INTEGER NOT NULL,
    iterations INTEGER NOT NULL,
    PRIMARY KEY (bucket, domain, model)
) WITHOUT ROWID;

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
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (model, effective_from)
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT,
    scope TEXT NOT NULL,                       -- ingest | read | admin
    domain TEXT,                               -- NULL = all domains
    key_hash TEXT NOT NULL UNIQUE,             -- SHA-256 of the key; the key itself is never stored
    prefix TEXT NOT NULL,                      -- first characters, to recognise a key in lists
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
