-- Budget alerts set through POST /api/monitoring/chat (set-alert): one per domain ('' for
-- all domains) and period type. Thresholds are whole nano-dollars.
CREATE TABLE cost_alerts (
    domain TEXT NOT NULL,
    alert_type TEXT NOT NULL,                   -- daily | monthly
    threshold_nanos BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (domain, alert_type)
);
