use crate::state::AppState;
use omniops_core::missing::{build_missing_products, MissingProductsReport, MAX_EXAMPLES};
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
