-- Repricing stored history after a price change runs in the background, one short
-- transaction per slice, so ingest never waits for more than a slice (README: Prices).
-- Each slice advances the job's cursor in the same transaction that changes the sessions
-- and their rollups, so a restart resumes exactly where the last commit stopped: no
-- session is repriced twice or skipped.
CREATE TABLE reprice_jobs (
    id TEXT PRIMARY KEY,
    -- What asked for it: "price gpt-4o", "import", "defaults".
    reason TEXT NOT NULL,
    -- JSON list of the models to reprice.
    models TEXT NOT NULL,
    -- Sessions that started at or after this (µs) are repriced.
    from_time BIGINT NOT NULL,
    -- Raw sessions are kept from here on; older rollup hours are repriced from token sums.
    raw_since BIGINT NOT NULL,
    -- 'sessions', then 'buckets', then 'done'.
    phase TEXT NOT NULL,
    -- Models are done one after another: the index in `models` of the current one, and
    -- its last session done (start time, id); in the buckets phase, the next hour to do.
    cursor_model BIGINT NOT NULL DEFAULT 0,
    cursor_time BIGINT NOT NULL,
    cursor_id TEXT NOT NULL DEFAULT '',
    sessions_total BIGINT NOT NULL,
    sessions_seen BIGINT NOT NULL DEFAULT 0,
    sessions_changed BIGINT NOT NULL DEFAULT 0,
    buckets_changed BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT,
    error TEXT
);
CREATE INDEX reprice_jobs_open ON reprice_jobs (phase, created_at);
-- A model's sessions in start order: the slices' scan.
CREATE INDEX idx_chat_telemetry_model_start ON chat_telemetry (model, start_time, id);
