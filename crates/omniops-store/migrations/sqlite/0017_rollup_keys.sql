-- Rollups keyed by (domain, bucket, model): one domain's rows (or the all-domains rows,
-- domain '') of a window are contiguous, so a read no longer walks every domain's
-- per-model rows of each bucket (at 10M sessions, 50 domains and 10 models, a one-day
-- read scanned 13,500 rows for the 1,500 it used).

CREATE TABLE rollup_hourly_keyed (
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
    PRIMARY KEY (domain, bucket, model)
) WITHOUT ROWID;
INSERT INTO rollup_hourly_keyed (bucket, domain, model, requests, successes, failures, unpriced, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, duration_ms, searches, iterations) SELECT bucket, domain, model, requests, successes, failures, unpriced, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, duration_ms, searches, iterations FROM rollup_hourly;
DROP TABLE rollup_hourly;
ALTER TABLE rollup_hourly_keyed RENAME TO rollup_hourly;

CREATE TABLE rollup_daily_keyed (
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
    PRIMARY KEY (domain, bucket, model)
) WITHOUT ROWID;
INSERT INTO rollup_daily_keyed (bucket, domain, model, requests, successes, failures, unpriced, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, duration_ms, searches, iterations) SELECT bucket, domain, model, requests, successes, failures, unpriced, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, duration_ms, searches, iterations FROM rollup_daily;
DROP TABLE rollup_daily;
ALTER TABLE rollup_daily_keyed RENAME TO rollup_daily;

-- Every domain's totals (model '') by bucket, with their counters: the all-domains read
-- of per-domain figures and the domain picker.
CREATE INDEX idx_rollup_hourly_totals ON rollup_hourly (bucket, domain, requests, successes, failures, unpriced, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, duration_ms, searches, iterations) WHERE model = '';
CREATE INDEX idx_rollup_daily_totals ON rollup_daily (bucket, domain, requests, successes, failures, unpriced, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, duration_ms, searches, iterations) WHERE model = '';
-- The trend and the spend of a period read a domain's totals per hour.
CREATE INDEX idx_rollup_hourly_trend ON rollup_hourly (domain, bucket, requests, cost_nanos) WHERE model = '';
-- Retention (by bucket) and repricing beyond raw retention (by model and bucket).
CREATE INDEX idx_rollup_hourly_bucket ON rollup_hourly (bucket, model);
CREATE INDEX idx_rollup_daily_bucket ON rollup_daily (bucket, model);
