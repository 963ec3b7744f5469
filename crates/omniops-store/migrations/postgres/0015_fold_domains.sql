-- Domains are normalised where they enter (README: Domains): trimmed and lowercased, and
-- internationalised host names IDNA-mapped. Data stored before, under case variants such as
-- `Shop.Example`, is folded into its lowercase domain here, rollups included: counters are
-- added, latest times kept, and of rows that cannot be added (orders, alerts, settings) the
-- one already under the lowercase name wins, else the first variant. (Generated; one block
-- per table.)

UPDATE api_keys SET domain = lower(trim(domain)) WHERE domain <> lower(trim(domain));
UPDATE chat_telemetry SET domain = lower(trim(domain)) WHERE domain <> lower(trim(domain));
UPDATE conversations SET domain = lower(trim(domain)) WHERE domain <> lower(trim(domain));
UPDATE failed_searches SET domain = lower(trim(domain)) WHERE domain <> lower(trim(domain));
UPDATE messages SET domain = lower(trim(domain)) WHERE domain <> lower(trim(domain));
UPDATE scraped_pages SET domain = lower(trim(domain)) WHERE domain <> lower(trim(domain));
UPDATE structured_extractions SET domain = lower(trim(domain)) WHERE domain <> lower(trim(domain));
UPDATE webhook_deliveries SET domain = lower(trim(domain)) WHERE domain <> lower(trim(domain));

-- rollup_hourly
CREATE TEMPORARY TABLE fold_rollup_hourly AS SELECT lower(trim(domain)) AS domain, bucket, model, SUM(requests) AS requests, SUM(successes) AS successes, SUM(failures) AS failures, SUM(unpriced) AS unpriced, SUM(input_tokens) AS input_tokens, SUM(cached_input_tokens) AS cached_input_tokens, SUM(cache_write_tokens) AS cache_write_tokens, SUM(output_tokens) AS output_tokens, SUM(reasoning_tokens) AS reasoning_tokens, SUM(cost_nanos) AS cost_nanos, SUM(duration_ms) AS duration_ms, SUM(searches) AS searches, SUM(iterations) AS iterations
    FROM rollup_hourly WHERE domain <> lower(trim(domain)) GROUP BY lower(trim(domain)), bucket, model;
DELETE FROM rollup_hourly WHERE domain <> lower(trim(domain));
INSERT INTO rollup_hourly (domain, bucket, model, requests, successes, failures, unpriced, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, duration_ms, searches, iterations)
    SELECT domain, bucket, model, requests, successes, failures, unpriced, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, duration_ms, searches, iterations FROM fold_rollup_hourly WHERE TRUE
    ON CONFLICT (domain, bucket, model) DO UPDATE SET requests = rollup_hourly.requests + excluded.requests, successes = rollup_hourly.successes + excluded.successes, failures = rollup_hourly.failures + excluded.failures, unpriced = rollup_hourly.unpriced + excluded.unpriced, input_tokens = rollup_hourly.input_tokens + excluded.input_tokens, cached_input_tokens = rollup_hourly.cached_input_tokens + excluded.cached_input_tokens, cache_write_tokens = rollup_hourly.cache_write_tokens + excluded.cache_write_tokens, output_tokens = rollup_hourly.output_tokens + excluded.output_tokens, reasoning_tokens = rollup_hourly.reasoning_tokens + excluded.reasoning_tokens, cost_nanos = rollup_hourly.cost_nanos + excluded.cost_nanos, duration_ms = rollup_hourly.duration_ms + excluded.duration_ms, searches = rollup_hourly.searches + excluded.searches, iterations = rollup_hourly.iterations + excluded.iterations;
DROP TABLE fold_rollup_hourly;

-- rollup_daily
CREATE TEMPORARY TABLE fold_rollup_daily AS SELECT lower(trim(domain)) AS domain, bucket, model, SUM(requests) AS requests, SUM(successes) AS successes, SUM(failures) AS failures, SUM(unpriced) AS unpriced, SUM(input_tokens) AS input_tokens, SUM(cached_input_tokens) AS cached_input_tokens, SUM(cache_write_tokens) AS cache_write_tokens, SUM(output_tokens) AS output_tokens, SUM(reasoning_tokens) AS reasoning_tokens, SUM(cost_nanos) AS cost_nanos, SUM(duration_ms) AS duration_ms, SUM(searches) AS searches, SUM(iterations) AS iterations
    FROM rollup_daily WHERE domain <> lower(trim(domain)) GROUP BY lower(trim(domain)), bucket, model;
DELETE FROM rollup_daily WHERE domain <> lower(trim(domain));
INSERT INTO rollup_daily (domain, bucket, model, requests, successes, failures, unpriced, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, duration_ms, searches, iterations)
    SELECT domain, bucket, model, requests, successes, failures, unpriced, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, duration_ms, searches, iterations FROM fold_rollup_daily WHERE TRUE
    ON CONFLICT (domain, bucket, model) DO UPDATE SET requests = rollup_daily.requests + excluded.requests, successes = rollup_daily.successes + excluded.successes, failures = rollup_daily.failures + excluded.failures, unpriced = rollup_daily.unpriced + excluded.unpriced, input_tokens = rollup_daily.input_tokens + excluded.input_tokens, cached_input_tokens = rollup_daily.cached_input_tokens + excluded.cached_input_tokens, cache_write_tokens = rollup_daily.cache_write_tokens + excluded.cache_write_tokens, output_tokens = rollup_daily.output_tokens + excluded.output_tokens, reasoning_tokens = rollup_daily.reasoning_tokens + excluded.reasoning_tokens, cost_nanos = rollup_daily.cost_nanos + excluded.cost_nanos, duration_ms = rollup_daily.duration_ms + excluded.duration_ms, searches = rollup_daily.searches + excluded.searches, iterations = rollup_daily.iterations + excluded.iterations;
DROP TABLE fold_rollup_daily;

-- message_rollup_hourly
CREATE TEMPORARY TABLE fold_message_rollup_hourly AS SELECT lower(trim(domain)) AS domain, bucket, SUM(messages) AS messages, SUM(user_messages) AS user_messages, SUM(positive) AS positive, SUM(negative) AS negative, SUM(response_ms_sum) AS response_ms_sum, SUM(responses) AS responses
    FROM message_rollup_hourly WHERE domain <> lower(trim(domain)) GROUP BY lower(trim(domain)), bucket;
DELETE FROM message_rollup_hourly WHERE domain <> lower(trim(domain));
INSERT INTO message_rollup_hourly (domain, bucket, messages, user_messages, positive, negative, response_ms_sum, responses)
    SELECT domain, bucket, messages, user_messages, positive, negative, response_ms_sum, responses FROM fold_message_rollup_hourly WHERE TRUE
    ON CONFLICT (domain, bucket) DO UPDATE SET messages = message_rollup_hourly.messages + excluded.messages, user_messages = message_rollup_hourly.user_messages + excluded.user_messages, positive = message_rollup_hourly.positive + excluded.positive, negative = message_rollup_hourly.negative + excluded.negative, response_ms_sum = message_rollup_hourly.response_ms_sum + excluded.response_ms_sum, responses = message_rollup_hourly.responses + excluded.responses;
DROP TABLE fold_message_rollup_hourly;

-- message_rollup_daily
CREATE TEMPORARY TABLE fold_message_rollup_daily AS SELECT lower(trim(domain)) AS domain, bucket, SUM(messages) AS messages, SUM(user_messages) AS user_messages, SUM(positive) AS positive, SUM(negative) AS negative, SUM(response_ms_sum) AS response_ms_sum, SUM(responses) AS responses
    FROM message_rollup_daily WHERE domain <> lower(trim(domain)) GROUP BY lower(trim(domain)), bucket;
DELETE FROM message_rollup_daily WHERE domain <> lower(trim(domain));
INSERT INTO message_rollup_daily (domain, bucket, messages, user_messages, positive, negative, response_ms_sum, responses)
    SELECT domain, bucket, messages, user_messages, positive, negative, response_ms_sum, responses FROM fold_message_rollup_daily WHERE TRUE
    ON CONFLICT (domain, bucket) DO UPDATE SET messages = message_rollup_daily.messages + excluded.messages, user_messages = message_rollup_daily.user_messages + excluded.user_messages, positive = message_rollup_daily.positive + excluded.positive, negative = message_rollup_daily.negative + excluded.negative, response_ms_sum = message_rollup_daily.response_ms_sum + excluded.response_ms_sum, responses = message_rollup_daily.responses + excluded.responses;
DROP TABLE fold_message_rollup_daily;

-- conversation_rollup_hourly
CREATE TEMPORARY TABLE fold_conversation_rollup_hourly AS SELECT lower(trim(domain)) AS domain, bucket, SUM(conversations) AS conversations, SUM(with_user_messages) AS with_user_messages, SUM(resolved) AS resolved, SUM(lang_en) AS lang_en, SUM(lang_es) AS lang_es, SUM(lang_fr) AS lang_fr, SUM(lang_de) AS lang_de, SUM(lang_other) AS lang_other
    FROM conversation_rollup_hourly WHERE domain <> lower(trim(domain)) GROUP BY lower(trim(domain)), bucket;
DELETE FROM conversation_rollup_hourly WHERE domain <> lower(trim(domain));
INSERT INTO conversation_rollup_hourly (domain, bucket, conversations, with_user_messages, resolved, lang_en, lang_es, lang_fr, lang_de, lang_other)
    SELECT domain, bucket, conversations, with_user_messages, resolved, lang_en, lang_es, lang_fr, lang_de, lang_other FROM fold_conversation_rollup_hourly WHERE TRUE
    ON CONFLICT (domain, bucket) DO UPDATE SET conversations = conversation_rollup_hourly.conversations + excluded.conversations, with_user_messages = conversation_rollup_hourly.with_user_messages + excluded.with_user_messages, resolved = conversation_rollup_hourly.resolved + excluded.resolved, lang_en = conversation_rollup_hourly.lang_en + excluded.lang_en, lang_es = conversation_rollup_hourly.lang_es + excluded.lang_es, lang_fr = conversation_rollup_hourly.lang_fr + excluded.lang_fr, lang_de = conversation_rollup_hourly.lang_de + excluded.lang_de, lang_other = conversation_rollup_hourly.lang_other + excluded.lang_other;
DROP TABLE fold_conversation_rollup_hourly;

-- conversation_rollup_daily
CREATE TEMPORARY TABLE fold_conversation_rollup_daily AS SELECT lower(trim(domain)) AS domain, bucket, SUM(conversations) AS conversations, SUM(with_user_messages) AS with_user_messages, SUM(resolved) AS resolved, SUM(lang_en) AS lang_en, SUM(lang_es) AS lang_es, SUM(lang_fr) AS lang_fr, SUM(lang_de) AS lang_de, SUM(lang_other) AS lang_other
    FROM conversation_rollup_daily WHERE domain <> lower(trim(domain)) GROUP BY lower(trim(domain)), bucket;
DELETE FROM conversation_rollup_daily WHERE domain <> lower(trim(domain));
INSERT INTO conversation_rollup_daily (domain, bucket, conversations, with_user_messages, resolved, lang_en, lang_es, lang_fr, lang_de, lang_other)
    SELECT domain, bucket, conversations, with_user_messages, resolved, lang_en, lang_es, lang_fr, lang_de, lang_other FROM fold_conversation_rollup_daily WHERE TRUE
    ON CONFLICT (domain, bucket) DO UPDATE SET conversations = conversation_rollup_daily.conversations + excluded.conversations, with_user_messages = conversation_rollup_daily.with_user_messages + excluded.with_user_messages, resolved = conversation_rollup_daily.resolved + excluded.resolved, lang_en = conversation_rollup_daily.lang_en + excluded.lang_en, lang_es = conversation_rollup_daily.lang_es + excluded.lang_es, lang_fr = conversation_rollup_daily.lang_fr + excluded.lang_fr, lang_de = conversation_rollup_daily.lang_de + excluded.lang_de, lang_other = conversation_rollup_daily.lang_other + excluded.lang_other;
DROP TABLE fold_conversation_rollup_daily;

-- duration_rollup_hourly
CREATE TEMPORARY TABLE fold_duration_rollup_hourly AS SELECT lower(trim(domain)) AS domain, bucket, le_index, SUM(count) AS count
    FROM duration_rollup_hourly WHERE domain <> lower(trim(domain)) GROUP BY lower(trim(domain)), bucket, le_index;
DELETE FROM duration_rollup_hourly WHERE domain <> lower(trim(domain));
INSERT INTO duration_rollup_hourly (domain, bucket, le_index, count)
    SELECT domain, bucket, le_index, count FROM fold_duration_rollup_hourly WHERE TRUE
    ON CONFLICT (domain, bucket, le_index) DO UPDATE SET count = duration_rollup_hourly.count + excluded.count;
DROP TABLE fold_duration_rollup_hourly;

-- duration_rollup_daily
CREATE TEMPORARY TABLE fold_duration_rollup_daily AS SELECT lower(trim(domain)) AS domain, bucket, le_index, SUM(count) AS count
    FROM duration_rollup_daily WHERE domain <> lower(trim(domain)) GROUP BY lower(trim(domain)), bucket, le_index;
DELETE FROM duration_rollup_daily WHERE domain <> lower(trim(domain));
INSERT INTO duration_rollup_daily (domain, bucket, le_index, count)
    SELECT domain, bucket, le_index, count FROM fold_duration_rollup_daily WHERE TRUE
    ON CONFLICT (domain, bucket, le_index) DO UPDATE SET count = duration_rollup_daily.count + excluded.count;
DROP TABLE fold_duration_rollup_daily;

-- query_rollup_hourly
CREATE TEMPORARY TABLE fold_query_rollup_hourly AS SELECT lower(trim(domain)) AS domain, bucket, query, SUM(count) AS count
    FROM query_rollup_hourly WHERE domain <> lower(trim(domain)) GROUP BY lower(trim(domain)), bucket, query;
DELETE FROM query_rollup_hourly WHERE domain <> lower(trim(domain));
INSERT INTO query_rollup_hourly (domain, bucket, query, count)
    SELECT domain, bucket, query, count FROM fold_query_rollup_hourly WHERE TRUE
    ON CONFLICT (domain, bucket, query) DO UPDATE SET count = query_rollup_hourly.count + excluded.count;
DROP TABLE fold_query_rollup_hourly;

-- query_rollup_daily
CREATE TEMPORARY TABLE fold_query_rollup_daily AS SELECT lower(trim(domain)) AS domain, bucket, query, SUM(count) AS count
    FROM query_rollup_daily WHERE domain <> lower(trim(domain)) GROUP BY lower(trim(domain)), bucket, query;
DELETE FROM query_rollup_daily WHERE domain <> lower(trim(domain));
INSERT INTO query_rollup_daily (domain, bucket, query, count)
    SELECT domain, bucket, query, count FROM fold_query_rollup_daily WHERE TRUE
    ON CONFLICT (domain, bucket, query) DO UPDATE SET count = query_rollup_daily.count + excluded.count;
DROP TABLE fold_query_rollup_daily;

-- product_rollup_hourly
CREATE TEMPORARY TABLE fold_product_rollup_hourly AS SELECT lower(trim(domain)) AS domain, bucket, product, SUM(requests) AS requests, SUM(failed_searches) AS failed_searches, MAX(last_at) AS last_at
    FROM product_rollup_hourly WHERE domain <> lower(trim(domain)) GROUP BY lower(trim(domain)), bucket, product;
DELETE FROM product_rollup_hourly WHERE domain <> lower(trim(domain));
INSERT INTO product_rollup_hourly (domain, bucket, product, requests, failed_searches, last_at)
    SELECT domain, bucket, product, requests, failed_searches, last_at FROM fold_product_rollup_hourly WHERE TRUE
    ON CONFLICT (domain, bucket, product) DO UPDATE SET requests = product_rollup_hourly.requests + excluded.requests, failed_searches = product_rollup_hourly.failed_searches + excluded.failed_searches, last_at = GREATEST(product_rollup_hourly.last_at, excluded.last_at);
DROP TABLE fold_product_rollup_hourly;

-- product_rollup_daily
CREATE TEMPORARY TABLE fold_product_rollup_daily AS SELECT lower(trim(domain)) AS domain, bucket, product, SUM(requests) AS requests, SUM(failed_searches) AS failed_searches, MAX(last_at) AS last_at
    FROM product_rollup_daily WHERE domain <> lower(trim(domain)) GROUP BY lower(trim(domain)), bucket, product;
DELETE FROM product_rollup_daily WHERE domain <> lower(trim(domain));
INSERT INTO product_rollup_daily (domain, bucket, product, requests, failed_searches, last_at)
    SELECT domain, bucket, product, requests, failed_searches, last_at FROM fold_product_rollup_daily WHERE TRUE
    ON CONFLICT (domain, bucket, product) DO UPDATE SET requests = product_rollup_daily.requests + excluded.requests, failed_searches = product_rollup_daily.failed_searches + excluded.failed_searches, last_at = GREATEST(product_rollup_daily.last_at, excluded.last_at);
DROP TABLE fold_product_rollup_daily;

-- product_examples
CREATE TEMPORARY TABLE fold_product_examples AS SELECT lower(trim(domain)) AS domain, product, text, MAX(last_at) AS last_at
    FROM product_examples WHERE domain <> lower(trim(domain)) GROUP BY lower(trim(domain)), product, text;
DELETE FROM product_examples WHERE domain <> lower(trim(domain));
INSERT INTO product_examples (domain, product, text, last_at)
    SELECT domain, product, text, last_at FROM fold_product_examples WHERE TRUE
    ON CONFLICT (domain, product, text) DO UPDATE SET last_at = GREATEST(product_examples.last_at, excluded.last_at);
DROP TABLE fold_product_examples;

-- failed_queries
CREATE TEMPORARY TABLE fold_failed_queries AS SELECT lower(trim(domain)) AS domain, query, MAX(last_at) AS last_at
    FROM failed_queries WHERE domain <> lower(trim(domain)) GROUP BY lower(trim(domain)), query;
DELETE FROM failed_queries WHERE domain <> lower(trim(domain));
INSERT INTO failed_queries (domain, query, last_at)
    SELECT domain, query, last_at FROM fold_failed_queries WHERE TRUE
    ON CONFLICT (domain, query) DO UPDATE SET last_at = GREATEST(failed_queries.last_at, excluded.last_at);
DROP TABLE fold_failed_queries;

-- unpriced_seen
CREATE TEMPORARY TABLE fold_unpriced_seen AS SELECT lower(trim(domain)) AS domain, model, MIN(first_seen) AS first_seen
    FROM unpriced_seen WHERE domain <> lower(trim(domain)) GROUP BY lower(trim(domain)), model;
DELETE FROM unpriced_seen WHERE domain <> lower(trim(domain));
INSERT INTO unpriced_seen (domain, model, first_seen)
    SELECT domain, model, first_seen FROM fold_unpriced_seen WHERE TRUE
    ON CONFLICT (domain, model) DO UPDATE SET first_seen = LEAST(unpriced_seen.first_seen, excluded.first_seen);
DROP TABLE fold_unpriced_seen;

-- abandoned_carts
DELETE FROM abandoned_carts WHERE domain <> lower(trim(domain))
    AND EXISTS (SELECT 1 FROM abandoned_carts AS o WHERE o.domain = lower(trim(abandoned_carts.domain)) AND o.cart_id = abandoned_carts.cart_id);
DELETE FROM abandoned_carts WHERE domain <> lower(trim(domain))
    AND EXISTS (SELECT 1 FROM abandoned_carts AS o WHERE o.domain <> lower(trim(o.domain))
        AND lower(trim(o.domain)) = lower(trim(abandoned_carts.domain)) AND o.domain < abandoned_carts.domain AND o.cart_id = abandoned_carts.cart_id);
UPDATE abandoned_carts SET domain = lower(trim(domain)) WHERE domain <> lower(trim(domain));

-- alert_events
DELETE FROM alert_events WHERE domain <> lower(trim(domain))
    AND EXISTS (SELECT 1 FROM alert_events AS o WHERE o.domain = lower(trim(alert_events.domain)) AND o.alert_type = alert_events.alert_type AND o.period_start = alert_events.period_start AND o.level = alert_events.level);
DELETE FROM alert_events WHERE domain <> lower(trim(domain))
    AND EXISTS (SELECT 1 FROM alert_events AS o WHERE o.domain <> lower(trim(o.domain))
        AND lower(trim(o.domain)) = lower(trim(alert_events.domain)) AND o.domain < alert_events.domain AND o.alert_type = alert_events.alert_type AND o.period_start = alert_events.period_start AND o.level = alert_events.level);
UPDATE alert_events SET domain = lower(trim(domain)) WHERE domain <> lower(trim(domain));

-- cost_alerts
DELETE FROM cost_alerts WHERE domain <> lower(trim(domain))
    AND EXISTS (SELECT 1 FROM cost_alerts AS o WHERE o.domain = lower(trim(cost_alerts.domain)) AND o.alert_type = cost_alerts.alert_type);
DELETE FROM cost_alerts WHERE domain <> lower(trim(domain))
    AND EXISTS (SELECT 1 FROM cost_alerts AS o WHERE o.domain <> lower(trim(o.domain))
        AND lower(trim(o.domain)) = lower(trim(cost_alerts.domain)) AND o.domain < cost_alerts.domain AND o.alert_type = cost_alerts.alert_type);
UPDATE cost_alerts SET domain = lower(trim(domain)) WHERE domain <> lower(trim(domain));

-- domain_config
DELETE FROM domain_config WHERE domain <> lower(trim(domain))
    AND EXISTS (SELECT 1 FROM domain_config AS o WHERE o.domain = lower(trim(domain_config.domain)) );
DELETE FROM domain_config WHERE domain <> lower(trim(domain))
    AND EXISTS (SELECT 1 FROM domain_config AS o WHERE o.domain <> lower(trim(o.domain))
        AND lower(trim(o.domain)) = lower(trim(domain_config.domain)) AND o.domain < domain_config.domain );
UPDATE domain_config SET domain = lower(trim(domain)) WHERE domain <> lower(trim(domain));

-- orders
DELETE FROM orders WHERE domain <> lower(trim(domain))
    AND EXISTS (SELECT 1 FROM orders AS o WHERE o.domain = lower(trim(orders.domain)) AND o.order_id = orders.order_id);
DELETE FROM orders WHERE domain <> lower(trim(domain))
    AND EXISTS (SELECT 1 FROM orders AS o WHERE o.domain <> lower(trim(o.domain))
        AND lower(trim(o.domain)) = lower(trim(orders.domain)) AND o.domain < orders.domain AND o.order_id = orders.order_id);
UPDATE orders SET domain = lower(trim(domain)) WHERE domain <> lower(trim(domain));

-- scrape_jobs
DELETE FROM scrape_jobs WHERE domain <> lower(trim(domain))
    AND EXISTS (SELECT 1 FROM scrape_jobs AS o WHERE o.domain = lower(trim(scrape_jobs.domain)) AND o.url = scrape_jobs.url);
DELETE FROM scrape_jobs WHERE domain <> lower(trim(domain))
    AND EXISTS (SELECT 1 FROM scrape_jobs AS o WHERE o.domain <> lower(trim(o.domain))
        AND lower(trim(o.domain)) = lower(trim(scrape_jobs.domain)) AND o.domain < scrape_jobs.domain AND o.url = scrape_jobs.url);
UPDATE scrape_jobs SET domain = lower(trim(domain)) WHERE domain <> lower(trim(domain));
