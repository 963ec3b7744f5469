-- Missing-product demand counts each (conversation, product) need once (README: analytics):
-- the needs counted so far, each in the rollup bucket of its first time. A failed search
-- belongs to its session's conversation, or to the session itself when it has none.
CREATE TABLE product_needs (
    domain TEXT NOT NULL,
    need_key TEXT NOT NULL,                     -- conversation id, or 's:' and the session id
    product TEXT NOT NULL,
    first_at BIGINT NOT NULL,
    failed_search BOOLEAN NOT NULL,             -- one of its items was a failed search
    PRIMARY KEY (domain, need_key, product)
);
CREATE INDEX idx_product_needs_key ON product_needs (need_key);
CREATE INDEX idx_product_needs_first ON product_needs (first_at);

ALTER TABLE failed_searches ADD COLUMN need_key TEXT;
UPDATE failed_searches SET need_key = COALESCE(
    (SELECT t.conversation_id FROM chat_telemetry t WHERE t.session_id = failed_searches.session_id),
    's:' || session_id);
