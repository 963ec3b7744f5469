-- WooCommerce stores are synced (README: WooCommerce): an order keeps the shop's status,
-- which decides whether it is revenue (NULL: sent without one, counted as revenue).
ALTER TABLE orders ADD COLUMN status TEXT;

-- Per configured store: where the incremental sync resumes (the newest modification time
-- seen, as WooCommerce writes it), the last good sync and the last failure.
CREATE TABLE woocommerce_sync (
    domain TEXT PRIMARY KEY,
    products_after TEXT,
    orders_after TEXT,
    last_success_at BIGINT,
    last_error TEXT,
    last_error_at BIGINT,
    products_synced BIGINT NOT NULL DEFAULT 0,
    orders_synced BIGINT NOT NULL DEFAULT 0,
    -- The last full sync (everything, not only what changed): it finds removed products.
    last_full_at BIGINT,
    -- One instance syncs a store at a time: the one holding the lease until it ends.
    lease_owner TEXT,
    lease_until BIGINT
);

-- A product a full sync no longer found in its store: kept, but out of the catalogue.
ALTER TABLE structured_extractions ADD COLUMN removed_at BIGINT;
