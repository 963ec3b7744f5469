//! WooCommerce sync (README: WooCommerce): for each enabled store, products into the
//! catalogue and orders, through the REST API v3. The first sync reads everything, later
//! ones what was modified after the newest item seen. Items become ordinary ingest events
//! (an `extraction` per product, an `order` per order), checked and written like events
//! users send, so upserts are idempotent and sent events keep working beside the sync.

pub mod oauth;

use crate::state::AppState;
use omniops_core::events::{parse, Event};
use omniops_store::{DomainConfig, SyncOutcome};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};
use std::time::Duration;

/// Each request's timeout.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Items per page, WooCommerce's maximum.
const PER_PAGE: u32 = 100;
/// Pages per kind and sync at most (a million items); the rest waits for the next sync.
const MAX_PAGES: u32 = 10_000;
/// A page's body at most.
const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;
/// Answers `429` in a row before the sync gives up, and the longest `Retry-After` honoured.
const MAX_RETRIES: u32 = 3;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// A sync holds its store's lease this long past its latest page.
const LEASE_MICROS: i64 = 10 * 60 * 1_000_000;
/// Incremental syncs do not see deletions: a full one runs at least this often.
const FULL_SYNC_EVERY_MICROS: i64 = 24 * 3_600 * 1_000_000;

/// One store's sync, as `POST /api/dashboard/woocommerce/sync` answers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreSyncResult {
    pub domain: String,
    pub ok: bool,
    pub products: i64,
    pub orders: i64,
    /// Items the store sent that are not valid events (e.g. a product without a name).
    pub skipped: i64,
    pub error: Option<String>,
}

#[derive(Clone, Copy)]
enum Kind {
    Products,
    Orders,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Products => "products",
            Kind::Orders => "orders",
        }
    }
}

/// Syncs every enabled store (or only `domain`'s), one sync at a time across callers;
/// `full` reads everything even where an incremental sync would do.
pub async fn sync_stores(
    state: &AppState,
    domain: Option<&str>,
    full: bool,
) -> anyhow::Result<Vec<StoreSyncResult>> {
    let _turn = state.woocommerce_sync.lock().await;
    let stores: Vec<DomainConfig> = state
        .store
        .domain_configs()
        .await?
        .into_iter()
        .filter(|c| c.woocommerce_enabled && c.woocommerce_url.is_some())
        .filter(|c| domain.is_none_or(|d| d == c.domain))
        .collect();
    let mut results = Vec::with_capacity(stores.len());
    for config in stores {
        // Another instance on the same PostgreSQL may be syncing this store.
        let lease = Lease {
            domain: config.domain.clone(),
            owner: uuid::Uuid::new_v4().to_string(),
        };
        if !lease.renew(state).await? {
            results.push(StoreSyncResult::failed(
                &config.domain,
                "another instance is syncing this store".into(),
            ));
            continue;
        }
        let (result, outcome) = sync_store(state, &config, &lease, full).await;
        if let Some(error) = &result.error {
            tracing::warn!(domain = %config.domain, %error, "WooCommerce sync failed");
        }
        state
            .store
            .record_store_sync(&config.domain, &outcome, state.now())
            .await?;
        state
            .store
            .release_sync_lease(&lease.domain, &lease.owner)
            .await?;
        results.push(result);
    }
    state.generation.bump();
    Ok(results)
}

struct Lease {
    domain: String,
    owner: String,
}

impl Lease {
    /// Takes or extends the lease; false while another instance holds it.
    async fn renew(&self, state: &AppState) -> anyhow::Result<bool> {
        let now = state.now();
        state
            .store
            .take_sync_lease(&self.domain, &self.owner, now, now + LEASE_MICROS)
            .await
    }
}

impl StoreSyncResult {
    fn failed(domain: &str, error: String) -> StoreSyncResult {
        StoreSyncResult {
            domain: domain.to_string(),
            ok: false,
            products: 0,
            orders: 0,
            skipped: 0,
            error: Some(error),
        }
    }
}

async fn sync_store(
    state: &AppState,
    config: &DomainConfig,
    lease: &Lease,
    force_full: bool,
) -> (StoreSyncResult, SyncOutcome) {
    let mut result = StoreSyncResult::failed(&config.domain, String::new());
    let attempt = async {
        let (mut products_after, mut orders_after) =
            state.store.store_sync_cursors(&config.domain).await?;
        let last_full = state.store.last_full_sync(&config.domain).await?;
        let full =
            force_full || last_full.is_none_or(|at| state.now() - at >= FULL_SYNC_EVERY_MICROS);
        if full {
            (products_after, orders_after) = (None, None);
        }
        let products = sync_kind(state, config, lease, Kind::Products, products_after).await?;
        let orders = sync_kind(state, config, lease, Kind::Orders, orders_after).await?;
        if full {
            state
                .store
                .mark_removed_products(&config.domain, &products.names, state.now())
                .await?;
        }
        anyhow::Ok((products, orders, full))
    };
    match attempt.await {
        Ok((products, orders, full)) => {
            result.ok = true;
            result.error = None;
            result.products = products.stored;
            result.orders = orders.stored;
            result.skipped = products.skipped + orders.skipped;
            let outcome = SyncOutcome::Synced {
                products_after: products.newest,
                orders_after: orders.newest,
                products: products.stored,
                orders: orders.stored,
                full,
            };
            (result, outcome)
        }
        Err(error) => {
            let error = error.to_string();
            result.error = Some(error.clone());
            (result, SyncOutcome::Failed(error))
        }
    }
}

#[derive(Default)]
struct KindSync {
    /// The newest modification time seen: where the next sync resumes.
    newest: Option<String>,
    stored: i64,
    skipped: i64,
    /// The catalogue names of the products read.
    names: Vec<String>,
}

/// Reads every page of one kind modified after `after`, following `X-WP-TotalPages`, and
/// writes each page's items before the next is read.
async fn sync_kind(
    state: &AppState,
    config: &DomainConfig,
    lease: &Lease,
    kind: Kind,
    after: Option<String>,
) -> anyhow::Result<KindSync> {
    let mut sync = KindSync::default();
    let mut page = 1;
    let mut pages = 1;
    while page <= pages.min(MAX_PAGES) {
        let (items, total_pages) = fetch_page(state, config, kind, page, after.as_deref()).await?;
        pages = total_pages;
        let mut events = Vec::with_capacity(items.len());
        for item in &items {
            if let Some(modified) = item.get("date_modified_gmt").and_then(Value::as_str) {
                if sync.newest.as_deref().is_none_or(|n| n < modified) {
                    sync.newest = Some(modified.to_string());
                }
            }
            match to_event(kind, &config.domain, item, state.now()) {
                Some(event) => {
                    if let Event::Extraction(x) = &event {
                        sync.names.extend(x.product_name.clone());
                    }
                    events.push(event)
                }
                None => sync.skipped += 1,
            }
        }
        let sent = events.len() as i64;
        let rejected = state
            .ingest
            .submit(events, Some(config.domain.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("storing the {}: {e}", kind.path()))?;
        sync.stored += sent - rejected.len() as i64;
        sync.skipped += rejected.len() as i64;
        page += 1;
        if !lease.renew(state).await? {
            anyhow::bail!("the sync lease was lost to another instance");
        }
    }
    Ok(sync)
}

/// One page: its items and the store's page count.
async fn fetch_page(
    state: &AppState,
    config: &DomainConfig,
    kind: Kind,
    page: u32,
    after: Option<&str>,
) -> anyhow::Result<(Vec<Value>, u32)> {
    let base = format!(
        "{}/wp-json/wc/v3/{}",
        config
            .woocommerce_url
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/'),
        kind.path()
    );
    let mut params = vec![
        ("per_page".to_string(), PER_PAGE.to_string()),
        ("page".to_string(), page.to_string()),
        ("orderby".to_string(), "id".to_string()),
        ("order".to_string(), "asc".to_string()),
    ];
    if let Some(after) = after {
        params.push(("modified_after".to_string(), after.to_string()));
        params.push(("dates_are_gmt".to_string(), "true".to_string()));
    }
    let mut retries = 0;
    loop {
        let response = request(state, config, &base, &params).await?;
        let status = response.status();
        if status.as_u16() == 429 && retries < MAX_RETRIES {
            retries += 1;
            tokio::time::sleep(retry_after(&response)).await;
            continue;
        }
        if !status.is_success() {
            anyhow::bail!(
                "the store answered HTTP {} for {} page {page}",
                status.as_u16(),
                kind.path()
            );
        }
        let pages = response
            .headers()
            .get("x-wp-totalpages")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(1);
        let body = read_limited(response).await?;
        let items: Vec<Value> = serde_json::from_slice(&body).map_err(|_| {
            anyhow::anyhow!("the store's {} page {page} is not a JSON list", kind.path())
        })?;
        return Ok((items, pages));
    }
}

/// Basic auth over HTTPS; over plain HTTP, OAuth 1.0a signed query parameters (WooCommerce
/// refuses basic auth without TLS).
async fn request(
    state: &AppState,
    config: &DomainConfig,
    base: &str,
    params: &[(String, String)],
) -> anyhow::Result<reqwest::Response> {
    let key = config.consumer_key.as_deref().unwrap_or_default();
    let secret = config.consumer_secret.as_deref().unwrap_or_default();
    let https = base.starts_with("https://");
    let query: Vec<(String, String)> = if https {
        params.to_vec()
    } else {
        let nonce = format!("{:032x}", rand::random::<u128>());
        let timestamp = state.now() / 1_000_000;
        oauth::signed_params("GET", base, params, key, secret, &nonce, timestamp)
    };
    let mut builder = state.outbound.get(base)?.timeout(TIMEOUT).query(&query);
    if https {
        builder = builder.basic_auth(key, Some(secret));
    }
    builder.send().await.map_err(|e| {
        if e.is_timeout() {
            anyhow::anyhow!("the store did not answer within 5 s")
        } else {
            anyhow::anyhow!("could not connect to the store")
        }
    })
}

/// `Retry-After` in seconds (an HTTP date counts as the longest wait), at most 30 s.
fn retry_after(response: &reqwest::Response) -> Duration {
    let header = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok());
    match header.map(|v| v.trim().parse::<u64>()) {
        Some(Ok(secs)) => Duration::from_secs(secs).min(MAX_RETRY_AFTER),
        Some(Err(_)) => MAX_RETRY_AFTER,
        None => Duration::from_secs(1),
    }
}

async fn read_limited(mut response: reqwest::Response) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| anyhow::anyhow!("the store's answer broke off"))?
    {
        if body.len() + chunk.len() > MAX_PAGE_BYTES {
            anyhow::bail!("a page of the store's answer exceeds 16 MiB");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An order's total less its refunds (`refunds[].total`, which WooCommerce writes as
/// negative amounts), as decimal text; `None` when the total is not a number.
fn net_total(order: &Value) -> Option<String> {
    let number = |v: &Value| -> Option<Decimal> {
        match v {
            Value::String(s) => s.trim().parse().ok(),
            Value::Number(n) => n.to_string().parse().ok(),
            _ => None,
        }
    };
    let total = number(order.get("total")?)?;
    let refunded: Decimal = order
        .get("refunds")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|r| number(r.get("total")?))
                .map(|d| d.abs())
                .sum()
        })
        .unwrap_or_default();
    Some(
        (total - refunded)
            .max(Decimal::ZERO)
            .normalize()
            .to_string(),
    )
}

/// WooCommerce's GMT times have no zone: they are UTC.
fn utc(item: &Value, field: &str) -> Option<String> {
    item.get(field)
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(|t| format!("{t}Z"))
}

/// A product as an `extraction` event, an order as an `order` event; `None` when the item
/// is not a valid event (it is counted as skipped).
fn to_event(kind: Kind, domain: &str, item: &Value, now: i64) -> Option<Event> {
    let id = item
        .get("id")
        .map(|v| v.to_string().trim_matches('"').to_string())?;
    let line = match kind {
        Kind::Products => {
            let price = item
                .get("price")
                .and_then(Value::as_str)
                .filter(|p| !p.trim().is_empty());
            let categories: Vec<&str> = item
                .get("categories")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|c| c.get("name")?.as_str())
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "type": "extraction", "extraction_type": "products", "domain": domain,
                "timestamp": utc(item, "date_modified_gmt"),
                "data": {
                    "name": item.get("name"), "price": price, "sku": item.get("sku"),
                    "stock_status": item.get("stock_status"), "categories": categories,
                    "woocommerce_id": id,
                },
            })
        }
        Kind::Orders => json!({
            "type": "order", "domain": domain, "order_id": id,
            "total": net_total(item)?, "currency": item.get("currency"),
            "status": item.get("status"), "timestamp": utc(item, "date_created_gmt"),
        }),
    };
    parse(&line.to_string(), now).ok()
}
