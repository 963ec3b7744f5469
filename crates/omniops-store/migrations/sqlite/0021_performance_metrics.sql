-- The Performance tab's metrics, kept in rollups at ingest (README: analytics): answers and
-- the answers a negative user reply contradicted; escalated conversations. Conversations
-- and messages stored before count as neither (no answers, no escalations).
ALTER TABLE conversations ADD COLUMN escalated BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE messages ADD COLUMN contradicts BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE message_rollup_hourly ADD COLUMN answers BIGINT NOT NULL DEFAULT 0;
ALTER TABLE message_rollup_hourly ADD COLUMN contradicted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE message_rollup_daily ADD COLUMN answers BIGINT NOT NULL DEFAULT 0;
ALTER TABLE message_rollup_daily ADD COLUMN contradicted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversation_rollup_hourly ADD COLUMN escalated BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversation_rollup_daily ADD COLUMN escalated BIGINT NOT NULL DEFAULT 0;

-- First-contact resolution and users: a conversation's customer (from its metadata) and
-- whether a later conversation of the same customer started within 24 h.
ALTER TABLE conversations ADD COLUMN customer_id TEXT;
ALTER TABLE conversations ADD COLUMN followed_up BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX idx_conversations_customer ON conversations (domain, customer_id, created_at)
    WHERE customer_id IS NOT NULL;
ALTER TABLE conversation_rollup_hourly ADD COLUMN first_contact_resolved BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversation_rollup_daily ADD COLUMN first_contact_resolved BIGINT NOT NULL DEFAULT 0;
-- Customers per hour of their conversations' starts, kept as long as rollups: a window's
-- users are the distinct customers of its hours.
CREATE TABLE customer_hours (
    domain TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (domain, bucket, customer_id)
);
CREATE INDEX idx_customer_hours_bucket ON customer_hours (bucket);
