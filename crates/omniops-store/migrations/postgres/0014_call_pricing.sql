-- Each model call is priced on its own (its context and service tier); a session's cost is
-- the exact sum of its calls'. The calls are kept with the session so that a price change
-- can reprice them: JSON, one object per call (at, tokens by kind, service tier "st", the
-- context size "above" whose rates applied, cost in nano-dollars). '[]' for sessions sent
-- as totals, which are priced at the base rates.
ALTER TABLE chat_telemetry ADD COLUMN calls TEXT NOT NULL DEFAULT '[]';
-- The price entry (model@effective-date) the calls were priced with; NULL when unpriced.
ALTER TABLE chat_telemetry ADD COLUMN price_ref TEXT;

-- Prices gain one-hour cache writes, tiers (context size and/or service tier, JSON) and
-- where they came from: shipped defaults, an import, or a user (never overridden).
ALTER TABLE model_prices ADD COLUMN cache_write_1h TEXT;
ALTER TABLE model_prices ADD COLUMN tiers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE model_prices ADD COLUMN origin TEXT NOT NULL DEFAULT 'user';
UPDATE model_prices SET origin = 'default'
    WHERE source LIKE 'LiteLLM%' OR source LIKE 'Langfuse%';

-- The first session of a model without a price, per domain: the live stream announces it
-- once (a unique row, so also across instances).
CREATE TABLE unpriced_seen (
    model TEXT NOT NULL,
    domain TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (model, domain)
);
