use crate::state::AppState;
use omniops_core::missing::{build_missing_products, MissingProductsReport};
use omniops_core::window::Window;

pub async fn missing_products_report(
    state: &AppState,
    window: &Window,
    domain: Option<&str>,
    page: i64,
    limit: i64,
) -> anyhow::Result<MissingProductsReport> {
    let requests = state.store.product_requests(window, domain).await?;
    Ok(build_missing_products(window, requests, page, limit))
}
