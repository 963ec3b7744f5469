// Missing products: conversations flagged when a session found nothing, the product
// rollups and examples written at ingest, and their reads.

use super::ingest::{begin_write, fetch_by_ids, Tx, CHUNK};
use super::rollups::push_window_rows;
use super::DB;
use crate::batch::{ProductCounts, ProductDelta};
use omniops_core::clock::{Micros, MICROS_PER_DAY};
use omniops_core::missing::ProductTally;
use omniops_core::needs::{count_needs, Need, NeedItem};
use omniops_core::window::Window;
use sqlx::{Pool, QueryBuilder, Row};
use std::collections::{HashMap, HashSet};

/// Marks those of `ids` that have a session which searched and found nothing, unless already
/// marked, and returns the product questions of the newly marked ones (this batch's included).
pub(crate) async fn flag_found_nothing(
    tx: &mut Tx<'_>,
    ids: &[String],
) -> sqlx::Result<Vec<NeedItem>> {
    let mut questions = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "UPDATE conversations SET found_nothing = TRUE WHERE NOT found_nothing AND EXISTS (\
             SELECT 1 FROM chat_telemetry t WHERE t.conversation_id = conversations.id \
             AND t.end_time IS NOT NULL AND t.search_count > 0 AND t.total_results = 0) AND id IN (",
        );
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(id.clone());
        }
        q.push(") RETURNING id");
        let flagged: Vec<String> = q
            .build_query_scalar()
            .persistent(chunk.len() == CHUNK)
            .fetch_all(&mut **tx)
            .await?;
        if flagged.is_empty() {
            continue;
        }
        let mut q = QueryBuilder::<DB>::new(
            "SELECT domain, conversation_id, product, content, created_at, FALSE FROM messages \
             WHERE role = 'user' AND product IS NOT NULL AND conversation_id IN (",
        );
        let mut list = q.separated(", ");
        for id in &flagged {
            list.push_bind(id.clone());
        }
        q.push(")");
        for row in q
            .build()
            .persistent(chunk.len() == CHUNK)
            .fetch_all(&mut **tx)
            .await?
        {
            questions.push(need_item_from_row(&row)?);
        }
    }
    Ok(questions)
}

pub(crate) async fn add_product_counts(
    tx: &mut Tx<'_>,
    table: &str,
    rows: &HashMap<(String, Micros, String), ProductCounts>,
) -> sqlx::Result<()> {
    let rows: Vec<_> = rows.iter().collect();
    for chunk in rows.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(format!(
            "INSERT INTO {table} (domain, bucket, product, requests, failed_searches, last_at) "
        ));
        q.push_values(chunk, |mut b, ((domain, bucket, product), c)| {
            b.push_bind(domain.clone())
                .push_bind(*bucket)
                .push_bind(product.clone())
                .push_bind(c.requests)
                .push_bind(c.failed_searches)
                .push_bind(c.last_at);
        });
        q.push(format!(
            " ON CONFLICT (domain, bucket, product) DO UPDATE SET requests = {table}.requests + excluded.requests, \
             failed_searches = {table}.failed_searches + excluded.failed_searches, \
             last_at = CASE WHEN excluded.last_at > {table}.last_at THEN excluded.last_at ELSE {table}.last_at END"
        ));
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// A demand item from a row of (domain, need key, product, text, time, failed search).
fn need_item_from_row(row: &<DB as sqlx::Database>::Row) -> sqlx::Result<NeedItem> {
    Ok(NeedItem {
        domain: row.try_get(0)?,
        key: row.try_get(1)?,
        product: row.try_get(2)?,
        text: row.try_get(3)?,
        at: row.try_get(4)?,
        failed_search: row.try_get(5)?,
    })
}

fn need_from_row(row: &<DB as sqlx::Database>::Row) -> sqlx::Result<Need> {
    Ok(Need {
        domain: row.try_get(0)?,
        key: row.try_get(1)?,
        product: row.try_get(2)?,
        first_at: row.try_get(3)?,
        failed_search: row.try_get(4)?,
    })
}

/// Counts demand items once per need (`omniops_core::needs`), against the needs stored for
/// their conversations, and adds what changed to the product rollups.
pub(crate) async fn add_needs(tx: &mut Tx<'_>, items: Vec<NeedItem>) -> sqlx::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let keys: HashSet<String> = items.iter().map(|i| i.key.clone()).collect();
    let keys: Vec<String> = keys.into_iter().collect();
    let select =
        "SELECT domain, need_key, product, first_at, failed_search FROM product_needs WHERE need_key IN (";
    let stored = fetch_by_ids(tx, select, &keys, None, need_from_row).await?;
    let changes = count_needs(stored, items);
    for chunk in changes.upserts.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO product_needs (domain, need_key, product, first_at, failed_search) ",
        );
        q.push_values(chunk, |mut b, n| {
            b.push_bind(n.domain.clone())
                .push_bind(n.key.clone())
                .push_bind(n.product.clone())
                .push_bind(n.first_at)
                .push_bind(n.failed_search);
        });
        q.push(" ON CONFLICT (domain, need_key, product) DO UPDATE SET failed_search = excluded.failed_search");
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    for gone in &changes.removed {
        sqlx::query(
            "DELETE FROM product_needs WHERE domain = $1 AND need_key = $2 AND product = $3",
        )
        .bind(&gone.domain)
        .bind(&gone.key)
        .bind(&gone.product)
        .execute(&mut **tx)
        .await?;
    }
    add_product_rollups(tx, &changes.delta).await
}

/// Counts the missing-product demand again, once per need, from the raw failed searches and
/// questions since `since` (a day boundary): the product rollups from `since` on are
/// replaced; older ones stay as they are (their raw rows may be gone). One transaction.
/// Returns the needs counted plus the rollup rows replaced: zero means no report changed.
pub async fn recount_product_demand(pool: &Pool<DB>, since: Micros) -> sqlx::Result<u64> {
    let mut tx = begin_write(pool).await?;
    sqlx::query("DELETE FROM product_needs")
        .execute(&mut *tx)
        .await?;
    let mut replaced = 0;
    for table in ["product_rollup_hourly", "product_rollup_daily"] {
        replaced += sqlx::query(&format!("DELETE FROM {table} WHERE bucket >= $1"))
            .bind(since)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    // A day at a time, in order, so memory stays bounded on a large installation; the needs
    // counted so far are in `product_needs`, where the next day's items find them.
    let newest: Option<Micros> = sqlx::query_scalar(
        "SELECT MAX(t) FROM (SELECT MAX(created_at) AS t FROM failed_searches \
         UNION ALL SELECT MAX(created_at) FROM messages) x",
    )
    .fetch_one(&mut *tx)
    .await?;
    let mut day = since;
    while newest.is_some_and(|newest| day <= newest) {
        let rows = sqlx::query(
            "SELECT domain, COALESCE(need_key, 's:' || session_id), product, query, created_at, TRUE \
             FROM failed_searches WHERE product IS NOT NULL AND created_at >= $1 AND created_at < $2 \
             UNION ALL \
             SELECT m.domain, m.conversation_id, m.product, m.content, m.created_at, FALSE FROM messages m \
             JOIN conversations c ON c.id = m.conversation_id \
             WHERE c.found_nothing AND m.role = 'user' AND m.product IS NOT NULL \
             AND m.created_at >= $1 AND m.created_at < $2",
        )
        .bind(day)
        .bind(day + MICROS_PER_DAY)
        .fetch_all(&mut *tx)
        .await?;
        let items = rows
            .iter()
            .map(need_item_from_row)
            .collect::<sqlx::Result<Vec<_>>>()?;
        add_needs(&mut tx, items).await?;
        day += MICROS_PER_DAY;
    }
    let needs: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM product_needs")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(u64::try_from(needs).unwrap_or(0) + replaced)
}

pub(crate) async fn add_product_rollups(tx: &mut Tx<'_>, delta: &ProductDelta) -> sqlx::Result<()> {
    add_product_counts(tx, "product_rollup_hourly", &delta.hourly).await?;
    add_product_counts(tx, "product_rollup_daily", &delta.daily).await?;
    let examples: Vec<_> = delta.examples.iter().collect();
    for chunk in examples.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO product_examples (domain, product, text, last_at) ",
        );
        q.push_values(chunk, |mut b, ((domain, product, text), at)| {
            b.push_bind(domain.clone())
                .push_bind(product.clone())
                .push_bind(text.clone())
                .push_bind(**at);
        });
        q.push(
            " ON CONFLICT (domain, product, text) DO UPDATE SET last_at = \
             CASE WHEN excluded.last_at > product_examples.last_at THEN excluded.last_at ELSE product_examples.last_at END",
        );
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Catalogue exclusion for rows `r` with `domain` and `product`: a product is missing in
/// a domain whose catalogue lacks it, matched by the same normalised name.
pub(crate) const NOT_IN_CATALOGUE: &str = "NOT EXISTS (SELECT 1 FROM structured_extractions x \
    WHERE x.extraction_type = 'products' AND x.removed_at IS NULL AND x.domain = r.domain AND x.product_name = r.product)";

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
    // A product whose needs all moved to a phrase sums to nothing.
    q.push(format!(
        ") r {tail} GROUP BY product HAVING SUM(requests) > 0"
    ));
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
    let names: Vec<&String> = tallies.iter().map(|t| &t.product).collect();
    let in_some_catalogue = in_some_catalogue(pool, &names).await?;
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
        tallies.extend(tallies_from_rows(
            &q.build()
                .persistent(chunk.len() == CHUNK)
                .fetch_all(pool)
                .await?,
        )?);
    }
    Ok(tallies)
}

/// Which of `names` some domain's catalogue has.
async fn in_some_catalogue(pool: &Pool<DB>, names: &[&String]) -> sqlx::Result<HashSet<String>> {
    let mut found = HashSet::new();
    for chunk in names.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "SELECT DISTINCT product_name FROM structured_extractions WHERE extraction_type = 'products' AND removed_at IS NULL AND product_name IN (",
        );
        let mut list = q.separated(", ");
        for name in chunk {
            list.push_bind((*name).clone());
        }
        q.push(")");
        found.extend(
            q.build_query_scalar::<String>()
                .persistent(chunk.len() == CHUNK)
                .fetch_all(pool)
                .await?,
        );
    }
    Ok(found)
}

/// The same tallies from raw rows: failed searches, and product questions of conversations
/// one of whose sessions searched and found nothing. Tests hold the rollups to this.
pub async fn raw_product_tallies(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
) -> sqlx::Result<Vec<ProductTally>> {
    // The needs from raw rows: items per (domain, conversation, product), a bare head noun
    // left out where its conversation names a phrase ending in it; each need in the window
    // of its first item.
    let rows = sqlx::query(&format!(
        "WITH items AS ( \
           SELECT domain, COALESCE(need_key, 's:' || session_id) AS k, product, created_at, CAST(1 AS BIGINT) AS failed \
           FROM failed_searches WHERE product IS NOT NULL \
           UNION ALL \
           SELECT m.domain, m.conversation_id, m.product, m.created_at, CAST(0 AS BIGINT) FROM messages m \
           WHERE m.conversation_id IN (SELECT conversation_id FROM chat_telemetry \
             WHERE conversation_id IS NOT NULL AND end_time IS NOT NULL AND search_count > 0 AND total_results = 0) \
           AND m.role = 'user' AND m.product IS NOT NULL \
         ), needs AS ( \
           SELECT i.domain, i.product, MIN(i.created_at) AS first_at, MAX(i.failed) AS failed FROM items i \
           WHERE i.product LIKE '% %' OR NOT EXISTS (SELECT 1 FROM items p WHERE p.domain = i.domain AND p.k = i.k \
             AND length(p.product) > length(i.product) \
             AND substr(p.product, length(p.product) - length(i.product)) = (' ' || i.product)) \
           GROUP BY i.domain, i.k, i.product \
         ) \
         SELECT product, CAST(COUNT(*) AS BIGINT), CAST(SUM(failed) AS BIGINT), MAX(first_at) FROM needs r \
         WHERE first_at >= $1 AND first_at < $2 AND ($3 = '' OR domain = $3) AND {NOT_IN_CATALOGUE} GROUP BY product"
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
    // One product's newest examples through its index: `product` bound, or (`None`) the
    // lateral join's `p.product`.
    let newest = |q: &mut QueryBuilder<'_, DB>, product: Option<&String>| {
        q.push("SELECT product, text, last_at FROM product_examples r WHERE product = ");
        match product {
            Some(product) => q.push_bind(product.clone()),
            None => q.push("p.product"),
        };
        q.push(" AND last_at >= ").push_bind(window.start);
        q.push(" AND last_at < ").push_bind(window.end);
        if !domain.is_empty() {
            q.push(" AND domain = ").push_bind(domain.to_string());
        }
        q.push(format!(
            " AND {NOT_IN_CATALOGUE} ORDER BY last_at DESC, text LIMIT "
        ));
        q.push_bind(read);
    };
    let mut q = QueryBuilder::<DB>::new("");
    if <DB as sqlx::Database>::NAME == "PostgreSQL" {
        // One subquery run per product (LATERAL). A UNION ALL of one subquery per product
        // took PostgreSQL 1.6 to 2.9 ms to plan for a page of products at 10M sessions, half
        // of the read, at each run until a connection's statement went generic (its sixth),
        // and every page size and domain is a statement of its own; this one takes 0.3 ms.
        q.push("SELECT e.product, e.text, e.last_at FROM (VALUES ");
        let mut list = q.separated(", ");
        for product in products {
            list.push("(")
                .push_bind_unseparated(product.clone())
                .push_unseparated(")");
        }
        q.push(") AS p(product) CROSS JOIN LATERAL (");
        newest(&mut q, None);
        q.push(") e");
    } else {
        for (i, product) in products.iter().enumerate() {
            if i > 0 {
                q.push(" UNION ALL ");
            }
            q.push("SELECT * FROM (");
            newest(&mut q, Some(product));
            q.push(") e");
        }
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
    if !domain.is_empty() {
        return daily_counts(pool, window, DailyScope::Domain(domain), products).await;
    }
    // All domains: the all-domain rows, except for products some catalogue has, which are
    // summed from the rows of the domains whose catalogue lacks them (as in the tallies).
    let names: Vec<&String> = products.iter().collect();
    let catalogued = in_some_catalogue(pool, &names).await?;
    let (per_domain, summed): (Vec<String>, Vec<String>) = products
        .iter()
        .cloned()
        .partition(|p| catalogued.contains(p));
    let mut rows = daily_counts(pool, window, DailyScope::AllDomains, &summed).await?;
    rows.extend(daily_counts(pool, window, DailyScope::EachDomain, &per_domain).await?);
    Ok(rows)
}

/// Whose product rollup rows [`daily_counts`] reads.
#[derive(Clone, Copy)]
enum DailyScope<'a> {
    /// One domain's, without the products its catalogue has.
    Domain(&'a str),
    /// Every domain's, each without the products its catalogue has.
    EachDomain,
    /// The all-domain rows (for products no catalogue has).
    AllDomains,
}

async fn daily_counts(
    pool: &Pool<DB>,
    window: &Window,
    scope: DailyScope<'_>,
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
    push_window_rows(&mut q, "product_rollup", window, day, |q| {
        match scope {
            DailyScope::Domain(d) => q.push("domain = ").push_bind(d.to_string()),
            DailyScope::AllDomains => q.push("domain = ''"),
            DailyScope::EachDomain => q.push("domain <> ''"),
        };
        q.push(" AND product IN (");
        let mut list = q.separated(", ");
        for p in products {
            list.push_bind(p.clone());
        }
        q.push(")");
    });
    let filter = match scope {
        DailyScope::AllDomains => String::new(),
        _ => format!("WHERE {NOT_IN_CATALOGUE}"),
    };
    q.push(format!(
        ") r {filter} GROUP BY product, day ORDER BY product, day"
    ));
    let rows = q.build().fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}
