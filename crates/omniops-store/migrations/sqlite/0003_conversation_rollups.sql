-- Rollups of messages (by message time) and conversations (by start time) per hour and per
-- UTC day and domain; domain '' sums all domains. Conversation rows change as later
-- messages change a conversation's resolution or language.
CREATE TABLE message_rollup_hourly (
    bucket INTEGER NOT NULL,
    domain TEXT NOT NULL,
    messages INTEGER NOT NULL,
    user_messages INTEGER NOT NULL,
    positive INTEGER NOT NULL,
    negative INTEGER NOT NULL,
    response_ms_sum INTEGER NOT NULL,
    responses INTEGER NOT NULL,
    PRIMARY KEY (domain, bucket)
) WITHOUT ROWID;
CREATE TABLE message_rollup_daily (
    bucket INTEGER NOT NULL,
    domain TEXT NOT NULL,
    messages INTEGER NOT NULL,
    user_messages INTEGER NOT NULL,
    positive INTEGER NOT NULL,
    negative INTEGER NOT NULL,
    response_ms_sum INTEGER NOT NULL,
    responses INTEGER NOT NULL,
    PRIMARY KEY (domain, bucket)
) WITHOUT ROWID;
CREATE TABLE conversation_rollup_hourly (
    bucket INTEGER NOT NULL,
    domain TEXT NOT NULL,
    conversations INTEGER NOT NULL,
    with_user_messages INTEGER NOT NULL,
    resolved INTEGER NOT NULL,
    lang_en INTEGER NOT NULL,
    lang_es INTEGER NOT NULL,
    lang_fr INTEGER NOT NULL,
    lang_de INTEGER NOT NULL,
    lang_other INTEGER NOT NULL,
    PRIMARY KEY (domain, bucket)
) WITHOUT ROWID;
CREATE TABLE conversation_rollup_daily (
    bucket INTEGER NOT NULL,
    domain TEXT NOT NULL,
    conversations INTEGER NOT NULL,
    with_user_messages INTEGER NOT NULL,
    resolved INTEGER NOT NULL,
    lang_en INTEGER NOT NULL,
    lang_es INTEGER NOT NULL,
    lang_fr INTEGER NOT NULL,
    lang_de INTEGER NOT NULL,
    lang_other INTEGER NOT NULL,
    PRIMARY KEY (domain, bucket)
) WITHOUT ROWID;
-- User messages per top-query form.
CREATE TABLE query_rollup_hourly (
    domain TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    query TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (domain, bucket, query)
) WITHOUT ROWID;
CREATE TABLE query_rollup_daily (
    domain TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    query TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (domain, bucket, query)
) WITHOUT ROWID;
