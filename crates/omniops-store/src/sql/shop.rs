// The content index and shop data.
use super::rollups::{split_sum, wide_sum};
use super::DB;
use crate::SyncOutcome;
use omniops_core::clock::Micros;
use omniops_core::shop::{CurrencyTotal, ScrapedInputs, ShopInputs, StoreSync};
use omniops_core::window::Window;
use sqlx::{Pool, Row};

/// Pages (scraped in `window`, if given) and scrape jobs waiting or running.
pub async fn scraped_inputs(
    pool: &Pool<DB>,
    window: Option<&Window>,
    scope: &str,
) -> sqlx::Result<ScrapedInputs> {
    let (start, end) = window.map_or((i64::MIN, i64::MAX), |w| (w.start, w.end));
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT), MAX(scraped_at), CAST(COALESCE(SUM(content_length), 0) AS BIGINT), \
         CAST(COALESCE(SUM(embedding_count), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN embedding_count > 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COUNT(DISTINCT domain) AS BIGINT) \
         FROM scraped_pages WHERE scraped_at >= $1 AND scraped_at < $2 AND ($3 = '' OR domain = $3)",
    )
    .bind(start)
    .bind(end)
    .bind(scope)
    .fetch_one(pool)
    .await?;
    let top_domains = sqlx::query_scalar(
        "SELECT domain FROM scraped_pages WHERE scraped_at >= $1 AND scraped_at < $2 AND ($3 = '' OR domain = $3) \
         GROUP BY domain ORDER BY COUNT(*) DESC, domain LIMIT 5",
    )
    .bind(start)
    .bind(end)
    .bind(scope)
    .fetch_all(pool)
    .await?;
    let queued_jobs = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM scrape_jobs WHERE status IN ('queued', 'running') \
         AND ($1 = '' OR domain = $1)",
    )
    .bind(scope)
    .fetch_one(pool)
    .await?;
    Ok(ScrapedInputs {
        pages: row.try_get(0)?,
        last_scraped: row.try_get(1)?,
        content_length_sum: row.try_get(2)?,
        embeddings: row.try_get(3)?,
        pages_with_embeddings: row.try_get(4)?,
        unique_domains: row.try_get(5)?,
        top_domains,
        queued_jobs,
    })
}

/// Rows of the window per currency; `filter` narrows them further (SQL, or empty).
pub(crate) async fn currency_totals(
    pool: &Pool<DB>,
    table: &str,
    amount: &str,
    filter: &str,
    window: &Window,
    scope: &str,
) -> sqlx::Result<Vec<CurrencyTotal>> {
    let rows = sqlx::query(&format!(
        "SELECT currency, CAST(COUNT(*) AS BIGINT), {} FROM {table} \
         WHERE created_at >= $1 AND created_at < $2 AND ($3 = '' OR domain = $3){filter} GROUP BY currency ORDER BY currency",
        split_sum(amount)
    ))
    .bind(window.start)
    .bind(window.end)
    .bind(scope)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CurrencyTotal {
                currency: r.try_get(0)?,
                count: r.try_get(1)?,
                nanos: wide_sum(r, 2)?,
            })
        })
        .collect()
}

/// Orders that are revenue (`omniops_core::shop::REVENUE_STATUSES`, or no status).
const REVENUE: &str = " AND (status IS NULL OR status IN ('processing', 'completed'))";

/// The sync state of the configured, enabled stores that were synced at least once.
pub async fn store_syncs(pool: &Pool<DB>, scope: &str) -> sqlx::Result<Vec<StoreSync>> {
    let rows = sqlx::query(
        "SELECT s.domain, s.last_success_at, s.last_error, s.last_error_at, s.products_synced, \
         s.orders_synced FROM woocommerce_sync s JOIN domain_config c ON c.domain = s.domain \
         WHERE c.woocommerce_enabled AND ($1 = '' OR s.domain = $1) ORDER BY s.domain",
    )
    .bind(scope)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StoreSync {
                domain: r.try_get(0)?,
                last_success_at: r.try_get(1)?,
                last_error: r.try_get(2)?,
                last_error_at: r.try_get(3)?,
                products_synced: r.try_get(4)?,
                orders_synced: r.try_get(5)?,
            })
        })
        .collect()
}

/// Records a sync's outcome: on success the cursors to resume from and the rows it
/// brought; on failure the error, leaving the cursors where the last good sync left them.
pub async fn record_store_sync(
    pool: &Pool<DB>,
    domain: &str,
    outcome: &SyncOutcome,
    at: Micros,
) -> sqlx::Result<()> {
    match outcome {
        SyncOutcome::Synced {
            products_after,
            orders_after,
            products,
            orders,
            full,
        } => {
            sqlx::query(
                "INSERT INTO woocommerce_sync (domain, products_after, orders_after, last_success_at, products_synced, orders_synced, last_full_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (domain) DO UPDATE SET \
                 last_full_at = COALESCE(excluded.last_full_at, woocommerce_sync.last_full_at), \
                 products_after = COALESCE(excluded.products_after, woocommerce_sync.products_after), \
                 orders_after = COALESCE(excluded.orders_after, woocommerce_sync.orders_after), \
                 last_success_at = excluded.last_success_at, \
                 products_synced = woocommerce_sync.products_synced + excluded.products_synced, \
                 orders_synced = woocommerce_sync.orders_synced + excluded.orders_synced",
            )
            .bind(domain)
            .bind(products_after)
            .bind(orders_after)
            .bind(at)
            .bind(products)
            .bind(orders)
            .bind(full.then_some(at))
            .execute(pool)
            .await?;
        }
        SyncOutcome::Failed(error) => {
            sqlx::query(
                "INSERT INTO woocommerce_sync (domain, last_error, last_error_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (domain) DO UPDATE SET last_error = excluded.last_error, last_error_at = excluded.last_error_at",
            )
            .bind(domain)
            .bind(error)
            .bind(at)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

/// Takes the store's sync lease for `owner` until `until`, if no other owner holds it past
/// `now`; `true` when taken (renewing one's own lease also returns `true`).
pub async fn take_sync_lease(
    pool: &Pool<DB>,
    domain: &str,
    owner: &str,
    now: Micros,
    until: Micros,
) -> sqlx::Result<bool> {
    let taken = sqlx::query(
        "INSERT INTO woocommerce_sync (domain, lease_owner, lease_until) VALUES ($1, $2, $3) \
         ON CONFLICT (domain) DO UPDATE SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until \
         WHERE woocommerce_sync.lease_until IS NULL OR woocommerce_sync.lease_until < $4 \
         OR woocommerce_sync.lease_owner = excluded.lease_owner RETURNING domain",
    )
    .bind(domain)
    .bind(owner)
    .bind(until)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    Ok(taken.is_some())
}

pub async fn release_sync_lease(pool: &Pool<DB>, domain: &str, owner: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE woocommerce_sync SET lease_owner = NULL, lease_until = NULL \
         WHERE domain = $1 AND lease_owner = $2",
    )
    .bind(domain)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(())
}

/// After a full sync: the domain's synced products (those with a `woocommerce_id`) whose
/// name the store no longer has leave the catalogue. Returns how many.
pub async fn mark_removed_products(
    pool: &Pool<DB>,
    domain: &str,
    kept: &[String],
    now: Micros,
) -> sqlx::Result<u64> {
    let rows = sqlx::query(
        "SELECT id, product_name FROM structured_extractions WHERE domain = $1 \
         AND extraction_type = 'products' AND removed_at IS NULL AND data LIKE '%\"woocommerce_id\"%'",
    )
    .bind(domain)
    .fetch_all(pool)
    .await?;
    let kept: std::collections::HashSet<&str> = kept.iter().map(String::as_str).collect();
    let mut removed = 0;
    for row in rows {
        let name: Option<String> = row.try_get(1)?;
        if name.as_deref().is_some_and(|n| kept.contains(n)) {
            continue;
        }
        removed += sqlx::query("UPDATE structured_extractions SET removed_at = $1 WHERE id = $2")
            .bind(now)
            .bind(row.try_get::<String, _>(0)?)
            .execute(pool)
            .await?
            .rows_affected();
    }
    Ok(removed)
}

/// When the store's last full sync ran.
pub async fn last_full_sync(pool: &Pool<DB>, domain: &str) -> sqlx::Result<Option<Micros>> {
    let at: Option<Option<Micros>> =
        sqlx::query_scalar("SELECT last_full_at FROM woocommerce_sync WHERE domain = $1")
            .bind(domain)
            .fetch_optional(pool)
            .await?;
    Ok(at.flatten())
}

/// Where a store's incremental sync resumes: (products, orders) modified after.
pub async fn store_sync_cursors(
    pool: &Pool<DB>,
    domain: &str,
) -> sqlx::Result<(Option<String>, Option<String>)> {
    let row =
        sqlx::query("SELECT products_after, orders_after FROM woocommerce_sync WHERE domain = $1")
            .bind(domain)
            .fetch_optional(pool)
            .await?;
    match row {
        Some(r) => Ok((r.try_get(0)?, r.try_get(1)?)),
        None => Ok((None, None)),
    }
}

/// The catalogue (all of it), and orders and abandoned carts of the window.
pub async fn shop_inputs(
    pool: &Pool<DB>,
    window: &Window,
    scope: &str,
) -> sqlx::Result<ShopInputs> {
    let products = sqlx::query(
        "SELECT product_name, price FROM structured_extractions \
         WHERE extraction_type = 'products' AND removed_at IS NULL AND ($1 = '' OR domain = $1)",
    )
    .bind(scope)
    .fetch_all(pool)
    .await?;
    let mut names = std::collections::HashSet::new();
    let mut prices = Vec::new();
    for row in &products {
        names.insert(row.try_get::<Option<String>, _>(0)?);
        if let Some(price) = row.try_get::<Option<String>, _>(1)? {
            prices.extend(price.parse::<rust_decimal::Decimal>().ok());
        }
    }
    let all_orders = currency_totals(pool, "orders", "total_nanos", "", window, scope).await?;
    let configured_stores = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM domain_config WHERE woocommerce_enabled \
         AND woocommerce_url IS NOT NULL AND ($1 = '' OR domain = $1)",
    )
    .bind(scope)
    .fetch_one(pool)
    .await?;
    let domains = sqlx::query_scalar(
        "SELECT domain FROM structured_extractions WHERE extraction_type = 'products' AND removed_at IS NULL AND ($1 = '' OR domain = $1) \
         UNION SELECT domain FROM orders WHERE ($1 = '' OR domain = $1) \
         UNION SELECT domain FROM abandoned_carts WHERE ($1 = '' OR domain = $1) ORDER BY 1",
    )
    .bind(scope)
    .fetch_all(pool)
    .await?;
    Ok(ShopInputs {
        unique_products: names.len() as i64,
        products_indexed: products.len() as i64,
        prices,
        total_orders: all_orders.iter().map(|o| o.count).sum(),
        orders: currency_totals(pool, "orders", "total_nanos", REVENUE, window, scope).await?,
        carts: currency_totals(pool, "abandoned_carts", "value_nanos", "", window, scope).await?,
        domains,
        configured_stores,
        stores: store_syncs(pool, scope).await?,
    })
}
