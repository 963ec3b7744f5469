-- Rollups keyed by (domain, bucket, model): one domain's rows (or the all-domains rows,
-- domain '') of a window are contiguous, so a read no longer walks every domain's
-- per-model rows of each bucket (at 10M sessions, 50 domains and 10 models, a one-day
-- read scanned 13,500 rows for the 1,500 it used).

ALTER TABLE rollup_hourly DROP CONSTRAINT rollup_hourly_pkey;
ALTER TABLE rollup_hourly ADD PRIMARY KEY (domain, bucket, model);
ALTER TABLE rollup_daily DROP CONSTRAINT rollup_daily_pkey;
ALTER TABLE rollup_daily ADD PRIMARY KEY (domain, bucket, model);
DROP INDEX idx_rollup_hourly_trend;

-- Every domain's totals (model '') by bucket, with their counters: the all-domains read
-- of per-domain figures and the domain picker.
CREATE INDEX idx_rollup_hourly_totals ON rollup_hourly (bucket, domain) INCLUDE (requests, successes, failures, unpriced, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, duration_ms, searches, iterations) WHERE model = '';
CREATE INDEX idx_rollup_daily_totals ON rollup_daily (bucket, domain) INCLUDE (requests, successes, failures, unpriced, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, duration_ms, searches, iterations) WHERE model = '';
-- The trend and the spend of a period read a domain's totals per hour.
CREATE INDEX idx_rollup_hourly_trend ON rollup_hourly (domain, bucket) INCLUDE (requests, cost_nanos) WHERE model = '';
-- Retention (by bucket) and repricing beyond raw retention (by model and bucket).
CREATE INDEX idx_rollup_hourly_bucket ON rollup_hourly (bucket, model);
CREATE INDEX idx_rollup_daily_bucket ON rollup_daily (bucket, model);
