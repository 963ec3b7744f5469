//! `/api/dashboard/scraped` and `/api/dashboard/woocommerce`: the content index and shop data,
//! from ingested events only — never estimates.

use crate::clock::{to_rfc3339, Micros};
use crate::money::Rounded;
use crate::money::{json_number, nanos_to_usd, percentage, ratio};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrapedInputs {
    pub pages: i64,
    pub last_scraped: Option<Micros>,
    pub content_length_sum: i64,
    pub embeddings: i64,
    pub pages_with_embeddings: i64,
    pub unique_domains: i64,
    /// Top 5 domains by page count.
    pub top_domains: Vec<String>,
    pub queued_jobs: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScrapedReport {
    pub total_pages: i64,
    /// `null` until a page was scraped.
    pub last_updated: Option<String>,
    pub queued_jobs: i64,
    pub statistics: ScrapedStatistics,
    pub domains: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScrapedStatistics {
    pub unique_domains: i64,
    pub total_embeddings: i64,
    pub avg_content_length: i64,
    pub embedding_coverage: Rounded,
}

pub fn build_scraped(i: ScrapedInputs) -> ScrapedReport {
    ScrapedReport {
        total_pages: i.pages,
        last_updated: i.last_scraped.map(to_rfc3339),
        queued_jobs: i.queued_jobs,
        statistics: ScrapedStatistics {
            unique_domains: i.unique_domains,
            total_embeddings: i.embeddings,
            avg_content_length: ratio(i128::from(i.content_length_sum), i128::from(i.pages))
                .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
                .to_i64()
                .unwrap_or(0),
            // Pages with at least one embedding, of all pages.
            embedding_coverage: percentage(
                i128::from(i.pages_with_embeddings),
                i128::from(i.pages),
            ),
        },
        domains: i.top_domains,
    }
}

/// Orders or carts of one currency: how many, and their amount in nano-units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyTotal {
    pub currency: String,
    pub count: i64,
    pub nanos: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShopInputs {
    pub unique_products: i64,
    pub products_indexed: i64,
    pub prices: Vec<Decimal>,
    /// Orders of the window, whatever their status.
    pub total_orders: i64,
    /// Revenue orders of the window (README: WooCommerce), per currency.
    pub orders: Vec<CurrencyTotal>,
    pub carts: Vec<CurrencyTotal>,
    pub domains: Vec<String>,
    /// Stores configured and enabled.
    pub configured_stores: i64,
    /// The sync state of each of them that was synced at least once.
    pub stores: Vec<StoreSync>,
}

/// Where a store's sync stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSync {
    pub domain: String,
    pub last_success_at: Option<Micros>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Micros>,
    pub products_synced: i64,
    pub orders_synced: i64,
}

impl StoreSync {
    /// The last attempt failed.
    pub fn failing(&self) -> bool {
        self.last_error_at.is_some() && self.last_error_at > self.last_success_at
    }
}

/// A store's sync as the report shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreStatus {
    pub domain: String,
    /// `active` or `error`.
    pub status: &'static str,
    pub last_sync: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub products_synced: i64,
    pub orders_synced: i64,
}

/// WooCommerce order statuses that are revenue; refunded, cancelled, failed, pending and
/// on-hold orders are not. An order sent without a status counts (README: WooCommerce).
pub const REVENUE_STATUSES: [&str; 2] = ["processing", "completed"];

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WooCommerceReport {
    pub total_products: i64,
    pub total_orders: i64,
    /// In `currency`, the currency most orders use; other currencies are in `revenueByCurrency`.
    pub revenue: Rounded,
    pub currency: Option<String>,
    pub revenue_by_currency: Vec<CurrencyAmount>,
    pub abandoned_carts: AbandonedCarts,
    pub statistics: ShopStatistics,
    /// `error` when a store's last sync failed; `active` after a good sync or with shop
    /// data sent as events; else `not_configured`.
    pub status: &'static str,
    /// The newest failure among failing stores, and when it happened.
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// The newest good sync of any store.
    pub last_sync: Option<String>,
    pub stores: Vec<StoreStatus>,
    pub domains: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CurrencyAmount {
    pub currency: String,
    pub count: i64,
    pub amount: Rounded,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AbandonedCarts {
    pub count: i64,
    pub value: Rounded,
    pub currency: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShopStatistics {
    pub avg_product_price: Rounded,
    pub configured_domains: i64,
    pub products_indexed: i64,
}

fn amount(nanos: i64) -> Rounded {
    json_number(nanos_to_usd(i128::from(nanos)), 2)
}

/// The currency with most entries (ties by code) and its total.
fn main_currency(totals: &[CurrencyTotal]) -> Option<&CurrencyTotal> {
    totals.iter().max_by(|a, b| {
        a.count
            .cmp(&b.count)
            .then_with(|| b.currency.cmp(&a.currency))
    })
}

pub fn build_woocommerce(i: ShopInputs) -> WooCommerceReport {
    let main_order = main_currency(&i.orders);
    let main_cart = main_currency(&i.carts);
    let price_sum: Decimal = i.prices.iter().sum();
    let avg_price = if i.prices.is_empty() {
        Decimal::ZERO
    } else {
        price_sum / Decimal::from(i.prices.len())
    };
    let has_data = i.products_indexed > 0 || i.total_orders > 0 || !i.carts.is_empty();
    let newest_failure = i
        .stores
        .iter()
        .filter(|s| s.failing())
        .max_by_key(|s| s.last_error_at);
    let last_sync = i.stores.iter().filter_map(|s| s.last_success_at).max();
    let status = match (newest_failure, has_data || last_sync.is_some()) {
        (Some(_), _) => "error",
        (None, true) => "active",
        (None, false) => "not_configured",
    };
    WooCommerceReport {
        total_products: i.unique_products,
        total_orders: i.total_orders,
        revenue: amount(main_order.map_or(0, |o| o.nanos)),
        currency: main_order.map(|o| o.currency.clone()),
        revenue_by_currency: i
            .orders
            .iter()
            .map(|o| CurrencyAmount {
                currency: o.currency.clone(),
                count: o.count,
                amount: amount(o.nanos),
            })
            .collect(),
        abandoned_carts: AbandonedCarts {
            count: i.carts.iter().map(|c| c.count).sum(),
            value: amount(main_cart.map_or(0, |c| c.nanos)),
            currency: main_cart.map(|c| c.currency.clone()),
        },
        statistics: ShopStatistics {
            avg_product_price: json_number(avg_price, 2),
            configured_domains: i.configured_stores,
            products_indexed: i.products_indexed,
        },
        status,
        last_error: newest_failure.and_then(|s| s.last_error.clone()),
        last_error_at: newest_failure.and_then(|s| s.last_error_at).map(to_rfc3339),
        last_sync: last_sync.map(to_rfc3339),
        stores: i
            .stores
            .iter()
            .map(|s| StoreStatus {
                domain: s.domain.clone(),
                status: if s.failing() { "error" } else { "active" },
                last_sync: s.last_success_at.map(to_rfc3339),
                last_error: s.last_error.clone(),
                last_error_at: s.last_error_at.map(to_rfc3339),
                products_synced: s.products_synced,
                orders_synced: s.orders_synced,
            })
            .collect(),
        domains: i.domains,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scraped_coverage_and_averages() {
        let report = build_scraped(ScrapedInputs {
            pages: 3,
            last_scraped: Some(0),
            content_length_sum: 1_000,
            embeddings: 7,
            pages_with_embeddings: 2,
            unique_domains: 2,
            top_domains: vec!["a".into(), "b".into()],
            queued_jobs: 1,
        });
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["statistics"]["avgContentLength"], 333);
        assert_eq!(json["statistics"]["embeddingCoverage"].to_string(), "66.7");
        assert_eq!(json["lastUpdated"], "1970-01-01T00:00:00Z");
        let empty = serde_json::to_value(build_scraped(ScrapedInputs::default())).expect("json");
        assert_eq!(empty["lastUpdated"], serde_json::Value::Null);
        assert_eq!(empty["statistics"]["embeddingCoverage"].to_string(), "0.0");
    }

    #[test]
    fn shop_without_data_is_not_configured() {
        let report = serde_json::to_value(build_woocommerce(ShopInputs::default())).expect("json");
        assert_eq!(report["status"], "not_configured");
        assert_eq!(report["revenue"].to_string(), "0.0");
        assert_eq!(report["currency"], serde_json::Value::Null);
    }
}
