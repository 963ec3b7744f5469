use crate::state::AppState;
use omniops_core::shop::{build_scraped, build_woocommerce, ScrapedReport, WooCommerceReport};
use omniops_core::window::Window;

pub async fn scraped_report(
    state: &AppState,
    window: Option<&Window>,
    domain: Option<&str>,
) -> anyhow::Result<ScrapedReport> {
    Ok(build_scraped(
        state.store.scraped_inputs(window, domain).await?,
    ))
}

pub async fn woocommerce_report(
    state: &AppState,
    window: &Window,
    domain: Option<&str>,
) -> anyhow::Result<WooCommerceReport> {
    Ok(build_woocommerce(
        state.store.shop_inputs(window, domain).await?,
    ))
}
