-- Sessions built from OpenTelemetry spans (POST /v1/traces) end on their own: once the
-- root span has ended and no span arrived for a quiet period. NULL for other sessions.
ALTER TABLE chat_telemetry ADD COLUMN otlp_received_at INTEGER;   -- when its latest span arrived
ALTER TABLE chat_telemetry ADD COLUMN otlp_root_end INTEGER;      -- end of its root span, once seen
ALTER TABLE chat_telemetry ADD COLUMN otlp_failure TEXT;       -- first failure among its spans

CREATE INDEX idx_chat_telemetry_settling ON chat_telemetry (otlp_received_at)
    WHERE end_time IS NULL AND otlp_root_end IS NOT NULL;
