-- Browser sessions of the dashboard: a login with an API key sets a random cookie; only its
-- SHA-256 is stored. A session acts with its key's scope and domain, and ends with the key.
CREATE TABLE dashboard_sessions (
    token_hash TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,                  -- sent back with every state-changing form
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX idx_dashboard_sessions_expires ON dashboard_sessions (expires_at);
