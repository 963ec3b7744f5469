//! Live sessions that fall silent: one with no event for `live_timeout_minutes` is closed as
//! failed with error "timed out", at the time of its last event. The close goes through the
//! ingest queue like any `session.end`, so rollups, caches and the live stream agree; if
//! several instances close the same session, the first close wins and the rest change
//! nothing.

use crate::state::AppState;
use omniops_core::clock::{to_rfc3339, MICROS_PER_MINUTE};
use omniops_core::events::parse;
use serde_json::json;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Sessions closed per pass at most.
const PER_PASS: i64 = 1_000;

/// Closes the silent sessions; returns how many it asked to close.
pub async fn reap(state: &AppState) -> anyhow::Result<usize> {
    let now = state.now();
    let cutoff = now - i64::from(state.settings.live_timeout_minutes) * MICROS_PER_MINUTE;
    let stale = state.store.stale_live_sessions(cutoff, PER_PASS).await?;
    if stale.is_empty() {
        return Ok(0);
    }
    let mut events = Vec::with_capacity(stale.len());
    for (session_id, last_event_at) in &stale {
        let raw = json!({"type": "session.end", "session_id": session_id, "success": false,
                         "error": "timed out", "timestamp": to_rfc3339(*last_event_at)});
        match parse(&raw.to_string(), now) {
            Ok(event) => events.push(event),
            Err(reason) => tracing::error!(%session_id, %reason, "reaper event"),
        }
    }
    let count = events.len();
    state
        .ingest
        .submit(events)
        .await
        .map_err(|e| anyhow::anyhow!("closing silent sessions: {e}"))?;
    Ok(count)
}

pub async fn run(state: AppState, stop: CancellationToken) {
    let mut ticker =
        tokio::time::interval(Duration::from_millis(state.settings.reaper_interval_ms));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => match reap(&state).await {
                Ok(0) => {}
                Ok(closed) => tracing::info!(closed, "closed live sessions that fell silent"),
                Err(error) => tracing::warn!(?error, "live-session reaper"),
            },
        }
    }
}
