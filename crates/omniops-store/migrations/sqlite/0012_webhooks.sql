-- Alert delivery by webhook: each alert may name a URL (JSON, or Slack's {"text"}), signed
-- as Standard Webhooks do with a secret of its own. Deliveries are rows, so a pending one
-- survives a restart and is retried with backoff; they are also the delivery log.
ALTER TABLE cost_alerts ADD COLUMN webhook_url TEXT;
ALTER TABLE cost_alerts ADD COLUMN slack BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cost_alerts ADD COLUMN webhook_secret TEXT;

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,                        -- also the webhook-id header
    domain TEXT NOT NULL,
    alert_type TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    secret TEXT NOT NULL,
    status TEXT NOT NULL,                       -- pending | delivered | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
