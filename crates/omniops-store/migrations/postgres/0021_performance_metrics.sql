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
