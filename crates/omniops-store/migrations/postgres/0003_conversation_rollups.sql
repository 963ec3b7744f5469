-- Rollups of messages (by message time) and conversations (by start time) per hour and per
-- UTC day and domain; domain '' sums all domains. Conversation rows change as later
-- messages change a conversation's resolution or language.
CREATE TABLE message_rollup_hourly (
    bucket BIGINT NOT NULL,
    domain TEXT NOT NULL,
    messages BIGINT NOT NULL,
    user_messages BIGINT NOT NULL,
    positive BIGINT NOT NULL,
    negative BIGINT NOT NULL,
    response_ms_sum BIGINT NOT NULL,
    responses BIGINT NOT NULL,
    PRIMARY KEY (domain, bucket)
);
CREATE TABLE message_rollup_daily (
    bucket BIGINT NOT NULL,
    domain TEXT NOT NULL,
    messages BIGINT NOT NULL,
    user_messages BIGINT NOT NULL,
    positive BIGINT NOT NULL,
    negative BIGINT NOT NULL,
    response_ms_sum BIGINT NOT NULL,
    responses BIGINT NOT NULL,
    PRIMARY KEY (domain, bucket)
);
CREATE TABLE conversation_rollup_hourly (
    bucket BIGINT NOT NULL,
    domain TEXT NOT NULL,
    conversations BIGINT NOT NULL,
    with_user_messages BIGINT NOT NULL,
    resolved BIGINT NOT NULL,
    lang_en BIGINT NOT NULL,
    lang_es BIGINT NOT NULL,
    lang_fr BIGINT NOT NULL,
    lang_de BIGINT NOT NULL,
    lang_other BIGINT NOT NULL,
    PRIMARY KEY (domain, bucket)
);
CREATE TABLE conversation_rollup_daily (
    bucket BIGINT NOT NULL,
    domain TEXT NOT NULL,
    conversations BIGINT NOT NULL,
    with_user_messages BIGINT NOT NULL,
    resolved BIGINT NOT NULL,
    lang_en BIGINT NOT NULL,
    lang_es BIGINT NOT NULL,
    lang_fr BIGINT NOT NULL,
    lang_de BIGINT NOT NULL,
    lang_other BIGINT NOT NULL,
    PRIMARY KEY (domain, bucket)
);
-- User messages per top-query form.
CREATE TABLE query_rollup_hourly (
    domain TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    query TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (domain, bucket, query)
);
CREATE TABLE query_rollup_daily (
    domain TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    query TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (domain, bucket, query)
);
