-- The spec's structured_extractions: scraped products, FAQs and contact data. A product's
-- name is also kept normalised (case, plural) to tell which requested products exist.
CREATE TABLE structured_extractions (
    id TEXT PRIMARY KEY,
    domain TEXT NOT NULL,
    extraction_type TEXT NOT NULL,              -- products | faq | contact
    data TEXT NOT NULL,                         -- JSON
    product_name TEXT,                          -- products: normalised name
    price TEXT,                                 -- products: decimal text, if given
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_extractions_product ON structured_extractions (extraction_type, domain, product_name);

-- Conversations with a session that searched and found nothing: few, so a small index.
CREATE INDEX idx_chat_telemetry_found_nothing ON chat_telemetry (conversation_id)
    WHERE conversation_id IS NOT NULL AND end_time IS NOT NULL AND search_count > 0 AND total_results = 0;
