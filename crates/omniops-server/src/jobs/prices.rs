//! Keeps every instance's price table current: after new shipped defaults, the models
//! whose price changed are repriced once (in the background, so the server answers
//! meanwhile); on PostgreSQL, a price change made through any instance is announced with
//! `NOTIFY omniops_prices` and each instance reloads, and every minute they reload anyway
//! in case a notification was lost.

use crate::state::AppState;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub use crate::state::PRICES_CHANNEL;

pub async fn run(state: AppState, stop: CancellationToken) {
    match state
        .store
        .run_pending_reprice(state.raw_retention_cutoff())
        .await
    {
        Ok(report) if !report.models.is_empty() => {
            tracing::info!(
                models = report.models.len(),
                sessions = report.sessions,
                buckets = report.buckets,
                "new default prices: history repriced"
            );
        }
        Ok(_) => {}
        Err(error) => tracing::error!(
            ?error,
            "repricing after new default prices failed; it is retried at the next start"
        ),
    }
    if !state.store.is_shared() {
        return;
    }
    let (sender, mut incoming) = tokio::sync::mpsc::channel::<String>(16);
    state.store.listen(PRICES_CHANNEL, sender);
    let period = Duration::from_secs(60);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            received = incoming.recv() => if received.is_none() { return },
            _ = ticker.tick() => {}
        }
        if let Err(error) = state.store.reload_prices().await {
            tracing::warn!(?error, "reloading prices");
        }
    }
}
