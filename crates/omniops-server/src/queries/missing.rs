use crate::state::AppState;
use omniops_core::missing::{build_missing_products, MissingProductsReport, MAX_EXAMPLES};
use omniops_core::money::Rounded;
use omniops_core::window::Window;

/// Ranks the window's product tallies, then reads examples for the listed page only.
pub async fn missing_products_report(
    state: &AppState,
    window: &Window,
    domain: Option<&str>,
    page: i64,
    limit: i64,
) -> anyhow::Result<MissingProductsReport> {
    let tallies = state.store.product_tallies(window, domain).await?;
    let mut report = build_missing_products(window, tallies, page, limit);
    let products = report.page_products();
    let examples = state
        .store
        .product_examples(window, domain, &products, MAX_EXAMPLES as i64)
        .await?;
    report.set_examples(examples);
    Ok(report)
}

/// Days the forecast looks ahead.
pub const FORECAST_DAYS: usize = 7;

/// One product's requests per day over the window and the trend through them.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductDemand {
    pub name: String,
    /// Requests per day added by the trend.
    pub per_day_change: Rounded,
    /// Expected requests over the next [`FORECAST_DAYS`] days.
    pub next_7_days: Rounded,
    /// Each UTC day the window touches, then the days ahead (`requests` null there).
    pub daily: Vec<DemandDay>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DemandDay {
    pub day: String,
    pub requests: Option<i64>,
    pub fitted: Rounded,
}

/// The DemandForecastCard's data for `products`: requests per UTC day of the window (zero
/// where none) and a least-squares line through them, extended [`FORECAST_DAYS`] days.
pub async fn demand_forecast(
    state: &AppState,
    window: &Window,
    domain: Option<&str>,
    products: &[String],
) -> anyhow::Result<Vec<ProductDemand>> {
    use omniops_core::clock::{floor_day, to_rfc3339, MICROS_PER_DAY};
    let rows = state
        .store
        .product_daily_counts(window, domain, products)
        .await?;
    let first_day = floor_day(window.start);
    let days =
        usize::try_from((floor_day(window.end - 1) - first_day) / MICROS_PER_DAY + 1).unwrap_or(0);
    let number = |d: rust_decimal::Decimal| omniops_core::money::json_number(d, 1);
    Ok(products
        .iter()
        .map(|name| {
            let mut counts = vec![0i64; days];
            for (product, day, requests) in &rows {
                let index = usize::try_from((day - first_day) / MICROS_PER_DAY).ok();
                if let (true, Some(slot)) = (product == name, index.and_then(|i| counts.get_mut(i)))
                {
                    *slot += requests;
                }
            }
            let forecast = omniops_core::forecast::linear_forecast(&counts, FORECAST_DAYS);
            let daily = forecast
                .fitted
                .iter()
                .enumerate()
                .map(|(i, fitted)| DemandDay {
                    day: to_rfc3339(first_day + i as i64 * MICROS_PER_DAY)[..10].to_string(),
                    requests: counts.get(i).copied(),
                    fitted: number(*fitted),
                })
                .collect();
            ProductDemand {
                name: name.clone(),
                per_day_change: number(forecast.per_day_change),
                next_7_days: number(forecast.next_total),
                daily,
            }
        })
        .collect())
}

/// Once per installation: demand stored before each need was counted once (README:
/// analytics) is counted again from the raw rows still in retention, from the first whole
/// day of it; older product rollups stay as they are.
pub async fn recount_demand_once(state: &AppState) -> anyhow::Result<()> {
    const DONE: &str = "product_needs_recounted_from";
    if state.store.setting(DONE).await?.is_some() {
        return Ok(());
    }
    let since = omniops_core::clock::floor_day(state.raw_retention_cutoff())
        + omniops_core::clock::MICROS_PER_DAY;
    let changed = state.store.recount_product_demand(since).await?;
    let since = omniops_core::clock::to_rfc3339(since);
    state.store.put_setting(DONE, &since).await?;
    // A recount that changed no row leaves every report as it was.
    if changed > 0 {
        state.generation.bump();
    }
    tracing::info!(changed, %since, "missing-product demand counted again, once per need");
    Ok(())
}
