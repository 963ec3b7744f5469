-- The spec's conversations and messages, with what each message contributes computed once
-- at ingest (sentiment, top-query form, response time), and the running state of each
-- conversation (first question, resolution, language).
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,                        -- the client's conversation_id
    domain TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    metadata TEXT,
    first_user_message TEXT,                    -- first 100 characters
    message_count INTEGER NOT NULL DEFAULT 0,
    user_message_count INTEGER NOT NULL DEFAULT 0,
    pending_count INTEGER NOT NULL DEFAULT 0,        -- user messages awaiting an answer
    pending_sum TEXT NOT NULL DEFAULT '0',      -- sum of their times (may exceed 64 bits)
    last_user_answered BOOLEAN NOT NULL DEFAULT FALSE,
    last_user_negative BOOLEAN NOT NULL DEFAULT FALSE,
    resolved BOOLEAN NOT NULL DEFAULT FALSE,
    hits_es INTEGER NOT NULL DEFAULT 0,
    hits_fr INTEGER NOT NULL DEFAULT 0,
    hits_de INTEGER NOT NULL DEFAULT 0,
    non_latin_letters INTEGER NOT NULL DEFAULT 0,
    letters INTEGER NOT NULL DEFAULT 0,
    language TEXT NOT NULL DEFAULT 'en',
    message_ids TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX idx_conversations_created ON conversations (created_at);
CREATE INDEX idx_conversations_domain_created ON conversations (domain, created_at);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,                        -- UUIDv7
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id TEXT,                            -- the client's id, if given
    domain TEXT NOT NULL,
    role TEXT NOT NULL,                         -- user | assistant
    content TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    metadata TEXT,
    sentiment INTEGER NOT NULL DEFAULT 0,            -- 1 positive, -1 negative, 0 neutral
    query TEXT,                                 -- user messages: lowercased, folded, 50 chars
    product TEXT,                               -- user messages: the product asked for, normalised
    response_ms_sum INTEGER NOT NULL DEFAULT 0,      -- assistant messages: waits of the questions answered
    responses INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_messages_created ON messages (created_at);
CREATE INDEX idx_messages_domain_created ON messages (domain, created_at);
CREATE INDEX idx_messages_conversation ON messages (conversation_id, created_at);

-- Searches that found nothing: the analytics' failedSearches and missing products.
CREATE TABLE failed_searches (
    session_id TEXT NOT NULL,
    domain TEXT NOT NULL,
    query TEXT NOT NULL,                        -- lowercased, whitespace folded
    product TEXT,                               -- the product asked for, normalised
    created_at INTEGER NOT NULL
);
CREATE INDEX idx_failed_searches_created ON failed_searches (created_at);
CREATE INDEX idx_failed_searches_domain_created ON failed_searches (domain, created_at);

-- Each failed query's latest time, per domain and for all domains (''): the newest distinct
-- failed queries of a window that ends now are the first rows of this index.
CREATE TABLE failed_queries (
    domain TEXT NOT NULL,
    query TEXT NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (domain, query)
);
CREATE INDEX idx_failed_queries_last ON failed_queries (domain, last_at);
