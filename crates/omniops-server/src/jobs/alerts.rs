//! Budget alert evaluation: after committed batches that end sessions (at most once a
//! second) and every minute, against `queries::monitoring::Spend`. Each level of an alert
//! fires once per period — the store enforces it, so several instances evaluating at once
//! still fire it once — and fired alerts go to the live stream of every instance.

use crate::alerting::{evaluate, event_json};
use crate::live::LiveMessage;
use crate::state::AppState;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Evaluations at most this often.
const MIN_GAP: Duration = Duration::from_secs(1);

async fn evaluate_and_publish(state: &AppState) {
    match evaluate(state).await {
        Ok(fired) if !fired.is_empty() => {
            let messages: Vec<LiveMessage> = fired
                .iter()
                .map(|e| LiveMessage {
                    event: "alert.fired",
                    domain: e.domain.clone(),
                    data: event_json(e).to_string(),
                })
                .collect();
            for e in &fired {
                tracing::warn!(domain = %e.domain, alert_type = %e.alert_type, level = %e.level, spend_nanos = e.spend_nanos, "budget alert fired");
            }
            state.live.publish_messages(&messages);
            state.live.announce_messages(&state.store, &messages).await;
        }
        Ok(_) => {}
        Err(error) => tracing::error!(?error, "budget alert evaluation"),
    }
}

pub async fn run(state: AppState, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
            () = state.alert_wakeup.notified() => {}
        }
        evaluate_and_publish(&state).await;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(MIN_GAP) => {}
        }
    }
}
