//! Syncs the enabled WooCommerce stores (`woocommerce::sync_stores`) every
//! `woocommerce_sync_minutes`, the first time one interval after start.

use crate::state::AppState;
use crate::woocommerce::sync_stores;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn run(state: AppState, stop: CancellationToken) {
    let every = Duration::from_secs(u64::from(state.settings.woocommerce_sync_minutes) * 60);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {
                if let Err(error) = sync_stores(&state, None, false).await {
                    tracing::error!(?error, "WooCommerce sync failed");
                }
            }
        }
    }
}
