// Conversations and analytics: rollup reads, the raw-row versions they are tested against,
// and missing-product requests.

use super::admin::delete_in_slices;
use super::ingest::split_sum;
use super::ingest::wide_sum;
use super::ingest::CHUNK;
use super::ingest_conversations::CONVERSATION_COUNTS;
use super::ingest_conversations::MESSAGE_COUNTS;
use super::DB;
use omniops_core::analytics::ConversationCounts;
use omniops_core::analytics::ConversationStats;
use omniops_core::analytics::MessageStats;
use omniops_core::clock::Micros;
use omniops_core::missing::ProductTally;
use omniops_core::window::Window;
use sqlx::Pool;
use sqlx::QueryBuilder;
use sqlx::Row;
use std::collections::HashMap;
use std::collections::HashSet;

/// Pushes the window's rows of the rollups `{prefix}_hourly` and `{prefix}_daily`, joined
/// by UNION ALL: whole days from the daily rollup, the edges from the hourly one. Each part
/// selects `columns(granularity)` where the bucket is in range and `filter` holds.
pub(crate) fn push_window_rows(
    q: &mut QueryBuilder<'static, DB>,
    prefix: &str,
    window: &Window,
    columns: impl Fn(&str) -> String,
    filter: impl Fn(&mut QueryBuilder<'static, DB>),
) {
    let split = window.split_days();
    let mut first = true;
    for (granularity, (start, end)) in [
        ("hourly", split.head),
        ("hourly", split.tail),
        ("daily", split.days),
    ] {
        if start >= end {
            continue;
        }
        if !first {
            q.push(" UNION ALL ");
        }
        first = false;
        q.push(format!(
            "SELECT {} FROM {prefix}_{granularity} WHERE bucket >= ",
            columns(granularity)
        ));
        q.push_bind(start)
            .push(" AND bucket < ")
            .push_bind(end)
            .push(" AND ");
        filter(q);
    }
}

/// `SELECT {select} FROM (the window's rollup rows of `scope`) r {tail}`.
pub(crate) fn rollup_window_query(
    prefix: &str,
    columns: &str,
    select: &str,
    tail: &str,
    window: &Window,
    scope: &str,
) -> QueryBuilder<'static, DB> {
    let mut q = QueryBuilder::<DB>::new(format!("SELECT {select} FROM ("));
    let scope = scope.to_string();
    push_window_rows(
        &mut q,
        prefix,
        window,
        |_| columns.to_string(),
        |q| {
            q.push("domain = ").push_bind(scope.clone());
        },
    );
    q.push(format!(") r {tail}"));
    q
}

/// [`split_sum`] of each column; column i is read with `wide_sum(row, 2 * i)`.
pub(crate) fn sums(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| split_sum(c))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn message_stats(
    pool: &Pool<DB>,
    window: &Window,
    scope: &str,
) -> sqlx::Result<MessageStats> {
    let mut q = rollup_window_query(
        "message_rollup",
        &MESSAGE_COUNTS.join(", "),
        &sums(&MESSAGE_COUNTS),
        "",
        window,
        scope,
    );
    let row = q.build().fetch_one(pool).await?;
    let at = |i: usize| wide_sum(&row, 2 * i);
    Ok(MessageStats {
        messages: at(0)?,
        user_messages: at(1)?,
        positive: at(2)?,
        negative: at(3)?,
        response_ms_sum: at(4)?,
        responses: at(5)?,
    })
}

pub async fn conversation_counts_of_window(
    pool: &Pool<DB>,
    window: &Window,
    scope: &str,
) -> sqlx::Result<ConversationCounts> {
    let mut q = rollup_window_query(
        "conversation_rollup",
        &CONVERSATION_COUNTS.join(", "),
        &sums(&CONVERSATION_COUNTS),
        "",
        window,
        scope,
    );
    let row = q.build().fetch_one(pool).await?;
    let at = |i: usize| wide_sum(&row, 2 * i);
    let mut languages = [0; 5];
    for (i, l) in languages.iter_mut().enumerate() {
        *l = at(3 + i)?;
    }
    Ok(ConversationCounts {
        conversations: at(0)?,
        with_user_messages: at(1)?,
        resolved: at(2)?,
        languages,
    })
}

pub async fn top_queries(
    pool: &Pool<DB>,
    window: &Window,
    scope: &str,
    limit: i64,
) -> sqlx::Result<Vec<(String, i64)>> {
    let mut q = rollup_window_query(
        "query_rollup",
        "query, count",
        "query, CAST(SUM(count) AS BIGINT) AS n",
        "GROUP BY query ORDER BY n DESC, query LIMIT ",
        window,
        scope,
    );
    q.push_bind(limit);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

pub(crate) fn scope_filter(
    q: &mut QueryBuilder<'_, DB>,
    window: &Window,
    domain: &str,
    time_column: &str,
) {
    q.push(format!(" WHERE {time_column} >= "))
        .push_bind(window.start);
    q.push(format!(" AND {time_column} < "))
        .push_bind(window.end);
    if !domain.is_empty() {
        q.push(" AND domain = ").push_bind(domain.to_string());
    }
}

pub async fn raw_conversation_count(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
) -> sqlx::Result<i64> {
    let mut q = QueryBuilder::<DB>::new("SELECT CAST(COUNT(*) AS BIGINT) FROM conversations");
    scope_filter(&mut q, window, domain, "created_at");
    q.build_query_scalar().fetch_one(pool).await
}

/// Newest first: (id, first user message, created_at).
pub async fn recent_conversations(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<(String, Option<String>, Micros)>> {
    let mut q =
        QueryBuilder::<DB>::new("SELECT id, first_user_message, created_at FROM conversations");
    scope_filter(&mut q, window, domain, "created_at");
    q.push(" ORDER BY created_at DESC, id LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

pub async fn raw_message_stats(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
) -> sqlx::Result<MessageStats> {
    let mut q = QueryBuilder::<DB>::new(
        "SELECT CAST(COUNT(*) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN role = 'user' THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN role = 'user' AND sentiment > 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN role = 'user' AND sentiment < 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(responses), 0) AS BIGINT), ".to_string() + &split_sum("response_ms_sum") + " FROM messages",
    );
    scope_filter(&mut q, window, domain, "created_at");
    let row = q.build().fetch_one(pool).await?;
    Ok(MessageStats {
        messages: row.try_get(0)?,
        user_messages: row.try_get(1)?,
        positive: row.try_get(2)?,
        negative: row.try_get(3)?,
        responses: row.try_get(4)?,
        response_ms_sum: wide_sum(&row, 5)?,
    })
}

pub async fn raw_conversation_stats(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
) -> sqlx::Result<ConversationStats> {
    let mut q = QueryBuilder::<DB>::new(
        "SELECT language, CAST(COUNT(*) AS BIGINT), \
         CAST(SUM(CASE WHEN resolved THEN 1 ELSE 0 END) AS BIGINT) FROM conversations",
    );
    scope_filter(&mut q, window, domain, "created_at");
    q.push(" AND user_message_count > 0 GROUP BY language");
    let rows = q.build().fetch_all(pool).await?;
    let mut stats = ConversationStats::default();
    for row in &rows {
        let count: i64 = row.try_get(1)?;
        stats.with_user_messages += count;
        stats.resolved += row.try_get::<i64, _>(2)?;
        stats.languages.push((row.try_get(0)?, count));
    }
    Ok(stats)
}

pub async fn raw_top_queries(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
    limit: i64,
) -> sqlx::Result<Vec<(String, i64)>> {
    let mut q =
        QueryBuilder::<DB>::new("SELECT query, CAST(COUNT(*) AS BIGINT) AS n FROM messages");
    scope_filter(&mut q, window, domain, "created_at");
    q.push(" AND role = 'user' GROUP BY query ORDER BY n DESC, query LIMIT ")
        .push_bind(limit);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Distinct queries of searches that found nothing, newest first. A window that ends now
/// reads each query's latest time; an older window groups the raw failed searches.
pub async fn failed_search_queries(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
    limit: i64,
    now: Micros,
) -> sqlx::Result<Vec<String>> {
    if window.end > now {
        return sqlx::query_scalar(
            "SELECT query FROM failed_queries WHERE domain = $1 AND last_at >= $2 AND last_at < $3 \
             ORDER BY last_at DESC, query LIMIT $4",
        )
        .bind(domain)
        .bind(window.start)
        .bind(window.end)
        .bind(limit)
        .fetch_all(pool)
        .await;
    }
    let mut q =
        QueryBuilder::<DB>::new("SELECT query, MAX(created_at) AS last FROM failed_searches");
    scope_filter(&mut q, window, domain, "created_at");
    q.push(" GROUP BY query ORDER BY last DESC, query LIMIT ")
        .push_bind(limit);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

/// Deletes conversations (and, by cascade, their messages) last active before `cutoff`,
/// and failed searches and product examples older than it: the same retention as raw sessions.
pub async fn delete_conversations_before(pool: &Pool<DB>, cutoff: Micros) -> sqlx::Result<u64> {
    let deleted = delete_in_slices(
        pool,
        "DELETE FROM conversations WHERE id IN (SELECT id FROM conversations WHERE updated_at < $1 LIMIT 1000)",
        cutoff,
    )
    .await?;
    for statement in [
        "DELETE FROM failed_searches WHERE created_at < $1",
        "DELETE FROM failed_queries WHERE last_at < $1",
        "DELETE FROM product_examples WHERE last_at < $1",
        "DELETE FROM webhook_deliveries WHERE created_at < $1 AND status <> 'pending'",
    ] {
        sqlx::query(statement).bind(cutoff).execute(pool).await?;
    }
    Ok(deleted)
}

/// Catalogue exclusion for rows `r` with `domain` and `product`: a product is missing in
/// a domain whose catalogue lacks it, matched by the same normalised name.
pub(crate) const NOT_IN_CATALOGUE: &str = "NOT EXISTS (SELECT 1 FROM structured_extractions x \
    WHERE x.extraction_type = 'products' AND x.domain = r.domain AND x.product_name = r.product)";

pub(crate) fn tallies_from_rows(
    rows: &[<DB as sqlx::Database>::Row],
) -> sqlx::Result<Vec<ProductTally>> {
    rows.iter()
        .map(|r| {
            Ok(ProductTally {
                product: r.try_get(0)?,
                requests: r.try_get(1)?,
                failed_searches: r.try_get(2)?,
                last_at: r.try_get(3)?,
            })
        })
        .collect()
}

/// `SELECT product, sums FROM (the window's product rollup rows that `filter` keeps) r
/// {tail} GROUP BY product`: whole days from the daily rollup, the edges from the hourly one.
pub(crate) fn product_rollup_query(
    window: &Window,
    filter: impl Fn(&mut QueryBuilder<'static, DB>),
    tail: &str,
) -> QueryBuilder<'static, DB> {
    let mut q = QueryBuilder::<DB>::new(
        "SELECT product, CAST(SUM(requests) AS BIGINT), CAST(SUM(failed_searches) AS BIGINT), MAX(last_at) FROM (",
    );
    push_window_rows(
        &mut q,
        "product_rollup",
        window,
        |_| "domain, product, requests, failed_searches, last_at".into(),
        filter,
    );
    q.push(format!(") r {tail} GROUP BY product"));
    q
}

/// Requests per product the catalogue lacks, from the product rollups (`domain` '' = all).
pub async fn product_tallies(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
) -> sqlx::Result<Vec<ProductTally>> {
    let scope = domain.to_string();
    if !domain.is_empty() {
        let mut q = product_rollup_query(
            window,
            |q| {
                q.push("domain = ").push_bind(scope.clone());
            },
            &format!("WHERE {NOT_IN_CATALOGUE}"),
        );
        return tallies_from_rows(&q.build().fetch_all(pool).await?);
    }
    // All domains: the all-domain rows, except for products some catalogue has (usually few),
    // which are summed again from the rows of the domains whose catalogue lacks them.
    let mut q = product_rollup_query(
        window,
        |q| {
            q.push("domain = ''");
        },
        "",
    );
    let mut tallies = tallies_from_rows(&q.build().fetch_all(pool).await?)?;
    let mut in_some_catalogue: HashSet<String> = HashSet::new();
    let names: Vec<&String> = tallies.iter().map(|t| &t.product).collect();
    for chunk in names.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "SELECT DISTINCT product_name FROM structured_extractions WHERE extraction_type = 'products' AND product_name IN (",
        );
        let mut list = q.separated(", ");
        for name in chunk {
            list.push_bind((*name).clone());
        }
        q.push(")");
        in_some_catalogue.extend(q.build_query_scalar::<String>().fetch_all(pool).await?);
    }
    if in_some_catalogue.is_empty() {
        return Ok(tallies);
    }
    tallies.retain(|t| !in_some_catalogue.contains(&t.product));
    let names: Vec<String> = in_some_catalogue.into_iter().collect();
    for chunk in names.chunks(CHUNK) {
        let mut q = product_rollup_query(
            window,
            |q| {
                q.push("domain <> '' AND product IN (");
                let mut list = q.separated(", ");
                for name in chunk {
                    list.push_bind(name.clone());
                }
                q.push(")");
            },
            &format!("WHERE {NOT_IN_CATALOGUE}"),
        );
        tallies.extend(tallies_from_rows(&q.build().fetch_all(pool).await?)?);
    }
    Ok(tallies)
}

/// The same tallies from raw rows: failed searches, and product questions of conversations
/// one of whose sessions searched and found nothing. Tests hold the rollups to this.
pub async fn raw_product_tallies(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
) -> sqlx::Result<Vec<ProductTally>> {
    let rows = sqlx::query(&format!(
        "SELECT product, CAST(COUNT(*) AS BIGINT), CAST(SUM(failed) AS BIGINT), MAX(created_at) FROM ( \
           SELECT product, created_at, domain, CAST(1 AS BIGINT) AS failed FROM failed_searches \
           WHERE product IS NOT NULL AND created_at >= $1 AND created_at < $2 AND ($3 = '' OR domain = $3) \
           UNION ALL \
           SELECT m.product, m.created_at, m.domain, CAST(0 AS BIGINT) FROM messages m \
           WHERE m.conversation_id IN (SELECT conversation_id FROM chat_telemetry \
             WHERE conversation_id IS NOT NULL AND end_time IS NOT NULL AND search_count > 0 AND total_results = 0) \
           AND m.role = 'user' AND m.product IS NOT NULL AND m.created_at >= $1 AND m.created_at < $2 \
           AND ($3 = '' OR m.domain = $3) \
         ) r WHERE {NOT_IN_CATALOGUE} GROUP BY product"
    ))
    .bind(window.start)
    .bind(window.end)
    .bind(domain)
    .fetch_all(pool)
    .await?;
    tallies_from_rows(&rows)
}

/// The newest distinct texts that asked for each of `products` (last asked within the
/// window, where the domain's catalogue lacks it), newest first.
pub async fn product_examples(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
    products: &[String],
    per_product: i64,
) -> sqlx::Result<HashMap<String, Vec<String>>> {
    let mut examples: HashMap<String, Vec<String>> = HashMap::new();
    if products.is_empty() {
        return Ok(examples);
    }
    // One index range per product; across domains the same text may repeat, so read more.
    let read = if domain.is_empty() {
        per_product * 4
    } else {
        per_product
    };
    let mut q = QueryBuilder::<DB>::new("");
    for (i, product) in products.iter().enumerate() {
        if i > 0 {
            q.push(" UNION ALL ");
        }
        q.push(
            "SELECT * FROM (SELECT product, text, last_at FROM product_examples r WHERE product = ",
        );
        q.push_bind(product.clone())
            .push(" AND last_at >= ")
            .push_bind(window.start);
        q.push(" AND last_at < ").push_bind(window.end);
        if !domain.is_empty() {
            q.push(" AND domain = ").push_bind(domain.to_string());
        }
        q.push(format!(
            " AND {NOT_IN_CATALOGUE} ORDER BY last_at DESC, text LIMIT "
        ));
        q.push_bind(read).push(") e");
    }
    let mut rows: Vec<(String, String, Micros)> = Vec::new();
    for r in q.build().fetch_all(pool).await? {
        rows.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
    }
    rows.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
    for (product, text, _) in rows {
        let list = examples.entry(product).or_default();
        if !list.contains(&text) && list.len() < usize::try_from(per_product).unwrap_or(0) {
            list.push(text);
        }
    }
    Ok(examples)
}

/// Per UTC day of the window (days with user messages only): (day, positive, negative,
/// user messages), from the hourly message rollup.
pub async fn sentiment_by_day(
    pool: &Pool<DB>,
    window: &Window,
    scope: &str,
) -> sqlx::Result<Vec<(Micros, i64, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT bucket - bucket % 86400000000 AS day, CAST(SUM(positive) AS BIGINT), CAST(SUM(negative) AS BIGINT), \
         CAST(SUM(user_messages) AS BIGINT) FROM message_rollup_hourly \
         WHERE domain = $1 AND bucket >= $2 AND bucket < $3 GROUP BY bucket - bucket % 86400000000 \
         HAVING SUM(user_messages) > 0 ORDER BY day",
    )
    .bind(scope)
    .bind(window.start)
    .bind(window.end)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect()
}

/// Requests per UTC day for each of `products` within the window: (product, day, requests),
/// counting only domains whose catalogue lacks the product (`domain` '' = all).
pub async fn product_daily_counts(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
    products: &[String],
) -> sqlx::Result<Vec<(String, Micros, i64)>> {
    if products.is_empty() {
        return Ok(Vec::new());
    }
    let mut q =
        QueryBuilder::<DB>::new("SELECT product, day, CAST(SUM(requests) AS BIGINT) FROM (");
    let day = |granularity: &str| {
        let day = if granularity == "hourly" {
            "bucket - bucket % 86400000000"
        } else {
            "bucket"
        };
        format!("domain, product, {day} AS day, requests")
    };
    let domain = domain.to_string();
    push_window_rows(&mut q, "product_rollup", window, day, |q| {
        if domain.is_empty() {
            q.push("domain <> ''");
        } else {
            q.push("domain = ").push_bind(domain.clone());
        }
        q.push(" AND product IN (");
        let mut list = q.separated(", ");
        for p in products {
            list.push_bind(p.clone());
        }
        q.push(")");
    });
    q.push(format!(
        ") r WHERE {NOT_IN_CATALOGUE} GROUP BY product, day ORDER BY product, day"
    ));
    let rows = q.build().fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}
