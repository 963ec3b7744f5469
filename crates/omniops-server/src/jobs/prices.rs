//! Keeps every instance's price table current: after new shipped defaults, the models
//! whose price changed are queued for repricing (`jobs::repricing` does it in the
//! background); on PostgreSQL, a price change made through any instance is announced with
//! `NOTIFY omniops_prices` and each instance reloads, and every minute they reload anyway
//! in case a notification was lost.

use crate::state::AppState;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub use crate::state::PRICES_CHANNEL;

pub async fn run(state: AppState, stop: CancellationToken) {
    match state
        .store
        .queue_pending_reprice(state.raw_retention_cutoff(), state.now())
        .await
    {
        Ok(Some(job)) => {
            tracing::info!(
                models = job.models.len(),
                sessions = job.sessions_total,
                "new default prices: history is repriced in the background"
            );
            state.reprice_wakeup.notify_one();
        }
        Ok(None) => {}
        Err(error) => tracing::error!(
            ?error,
            "queueing the repricing after new default prices failed; it is retried at the next start"
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
        state.generation.bump();
        if let Err(error) = state.store.reload_prices().await {
            tracing::warn!(?error, "reloading prices");
        }
    }
}
