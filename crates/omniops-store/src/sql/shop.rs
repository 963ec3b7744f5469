// The content index and shop data.
use super::rollups::{split_sum, wide_sum};
use super::DB;
use omniops_core::shop::{CurrencyTotal, ScrapedInputs, ShopInputs};
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

pub(crate) async fn currency_totals(
    pool: &Pool<DB>,
    table: &str,
    amount: &str,
    window: &Window,
    scope: &str,
) -> sqlx::Result<Vec<CurrencyTotal>> {
    let rows = sqlx::query(&format!(
        "SELECT currency, CAST(COUNT(*) AS BIGINT), {} FROM {table} \
         WHERE created_at >= $1 AND created_at < $2 AND ($3 = '' OR domain = $3) GROUP BY currency ORDER BY currency",
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

/// The catalogue (all of it), and orders and abandoned carts of the window.
pub async fn shop_inputs(
    pool: &Pool<DB>,
    window: &Window,
    scope: &str,
) -> sqlx::Result<ShopInputs> {
    let products = sqlx::query(
        "SELECT product_name, price FROM structured_extractions \
         WHERE extraction_type = 'products' AND ($1 = '' OR domain = $1)",
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
    let domains = sqlx::query_scalar(
        "SELECT domain FROM structured_extractions WHERE extraction_type = 'products' AND ($1 = '' OR domain = $1) \
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
        orders: currency_totals(pool, "orders", "total_nanos", window, scope).await?,
        carts: currency_totals(pool, "abandoned_carts", "value_nanos", window, scope).await?,
        domains,
    })
}
