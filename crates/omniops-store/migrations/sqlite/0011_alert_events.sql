-- When each budget alert speaks: at which percentages of its threshold (default 80 and
-- 100), and every alert that fired — at most once per alert, period and level, which the
-- primary key enforces even with several instances evaluating at once.
ALTER TABLE cost_alerts ADD COLUMN notify_at TEXT NOT NULL DEFAULT '[80,100]';

CREATE TABLE alert_events (
    domain TEXT NOT NULL,                       -- '' for all domains
    alert_type TEXT NOT NULL,                   -- daily | monthly
    period_start INTEGER NOT NULL,                   -- the UTC day or month it belongs to
    level TEXT NOT NULL,                        -- a percentage ("80", "100") or "projected"
    spend_nanos INTEGER NOT NULL,
    threshold_nanos INTEGER NOT NULL,
    projected_date TEXT,                        -- projected: the day the threshold is crossed
    fired_at INTEGER NOT NULL,
    PRIMARY KEY (domain, alert_type, period_start, level)
);
CREATE INDEX idx_alert_events_fired ON alert_events (fired_at);
