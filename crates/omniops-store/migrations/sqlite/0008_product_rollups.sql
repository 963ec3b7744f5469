-- Missing products read from rollups instead of the window's raw requests. A request is a
-- failed search with a product, or a user question naming a product in a conversation one
-- of whose sessions searched and found nothing; `found_nothing` marks such a conversation
-- once, when its earlier questions are counted (later ones are counted as they arrive).
-- Rows are per domain and for all domains (''); whether a product is missing depends on the
-- domain's catalogue, so products some catalogue has are summed from their domains' rows.
ALTER TABLE conversations ADD COLUMN found_nothing BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE product_rollup_hourly (
    domain TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    product TEXT NOT NULL,
    requests INTEGER NOT NULL,
    failed_searches INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (domain, bucket, product)
) WITHOUT ROWID;
CREATE INDEX idx_product_rollup_hourly_product ON product_rollup_hourly (product, bucket);
CREATE TABLE product_rollup_daily (
    domain TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    product TEXT NOT NULL,
    requests INTEGER NOT NULL,
    failed_searches INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (domain, bucket, product)
) WITHOUT ROWID;

CREATE INDEX idx_product_rollup_daily_product ON product_rollup_daily (product, bucket);

-- Each distinct text that asked for a product, with its latest time: a product's examples
-- are the first rows of the index.
CREATE TABLE product_examples (
    domain TEXT NOT NULL,
    product TEXT NOT NULL,
    text TEXT NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (domain, product, text)
);
CREATE INDEX idx_product_examples_recent ON product_examples (product, last_at);

-- What was stored before this migration.
UPDATE conversations SET found_nothing = TRUE WHERE id IN (SELECT conversation_id FROM chat_telemetry
    WHERE conversation_id IS NOT NULL AND end_time IS NOT NULL AND search_count > 0 AND total_results = 0);
CREATE TEMPORARY TABLE product_requests_before AS
    SELECT domain, product, query AS text, created_at, 1 AS failed FROM failed_searches WHERE product IS NOT NULL
    UNION ALL
    SELECT m.domain, m.product, m.content, m.created_at, 0 FROM messages m JOIN conversations c ON c.id = m.conversation_id
    WHERE c.found_nothing AND m.role = 'user' AND m.product IS NOT NULL;
INSERT INTO product_rollup_hourly (domain, bucket, product, requests, failed_searches, last_at)
    SELECT domain, created_at - created_at % 3600000000, product, COUNT(*), SUM(failed), MAX(created_at)
    FROM product_requests_before GROUP BY domain, created_at - created_at % 3600000000, product;
INSERT INTO product_rollup_daily (domain, bucket, product, requests, failed_searches, last_at)
    SELECT domain, created_at - created_at % 86400000000, product, COUNT(*), SUM(failed), MAX(created_at)
    FROM product_requests_before GROUP BY domain, created_at - created_at % 86400000000, product;
INSERT INTO product_rollup_hourly (domain, bucket, product, requests, failed_searches, last_at)
    SELECT '', bucket, product, SUM(requests), SUM(failed_searches), MAX(last_at) FROM product_rollup_hourly GROUP BY bucket, product;
INSERT INTO product_rollup_daily (domain, bucket, product, requests, failed_searches, last_at)
    SELECT '', bucket, product, SUM(requests), SUM(failed_searches), MAX(last_at) FROM product_rollup_daily GROUP BY bucket, product;
INSERT INTO product_examples (domain, product, text, last_at)
    SELECT domain, product, text, MAX(created_at) FROM product_requests_before GROUP BY domain, product, text;
DROP TABLE product_requests_before;
