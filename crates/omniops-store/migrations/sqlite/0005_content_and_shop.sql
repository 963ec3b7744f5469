-- The spec's scraped_pages and page_embeddings (chunk previews; vectors live elsewhere),
-- scrape jobs, and shop data: abandoned carts and orders. Money is whole nano-units of the
-- row's currency.
CREATE TABLE scraped_pages (
    id TEXT PRIMARY KEY,                        -- derived from domain and url
    url TEXT NOT NULL,
    domain TEXT NOT NULL,
    content TEXT,
    content_length INTEGER NOT NULL,                 -- characters
    embedding_count INTEGER NOT NULL DEFAULT 0,
    scraped_at INTEGER NOT NULL
);
CREATE INDEX idx_scraped_pages_domain ON scraped_pages (domain, scraped_at);
CREATE INDEX idx_scraped_pages_scraped ON scraped_pages (scraped_at);

CREATE TABLE page_embeddings (
    page_id TEXT NOT NULL REFERENCES scraped_pages (id) ON DELETE CASCADE,
    chunk_index INTEGER NOT NULL,
    content_preview TEXT,
    PRIMARY KEY (page_id, chunk_index)
);

CREATE TABLE scrape_jobs (
    domain TEXT NOT NULL,
    url TEXT NOT NULL,
    status TEXT NOT NULL,                       -- queued | running | done | failed
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (domain, url)
);

CREATE TABLE abandoned_carts (
    domain TEXT NOT NULL,
    cart_id TEXT NOT NULL,
    value_nanos INTEGER NOT NULL,
    currency TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (domain, cart_id)
);
CREATE INDEX idx_abandoned_carts_created ON abandoned_carts (created_at);

CREATE TABLE orders (
    domain TEXT NOT NULL,
    order_id TEXT NOT NULL,
    total_nanos INTEGER NOT NULL,
    currency TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (domain, order_id)
);
CREATE INDEX idx_orders_created ON orders (created_at);
