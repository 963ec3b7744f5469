-- Customer domains and their WooCommerce connection. The consumer key and secret are needed
-- to call the store, so they are stored; the API never returns them.
CREATE TABLE domain_config (
    domain TEXT PRIMARY KEY,
    woocommerce_url TEXT,
    woocommerce_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    consumer_key TEXT,
    consumer_secret TEXT,
    updated_at BIGINT NOT NULL
);

-- Settings changed through the API, over the configured ones (e.g. retention_days).
CREATE TABLE app_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
