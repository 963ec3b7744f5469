//! Sessions that should end without being told to. A live session with no event for
//! `live_timeout_minutes` is closed as failed with error "timed out", at the time of its
//! last event. A session built from OpenTelemetry spans ends once its root span has ended
//! and no span arrived for `otlp_quiet_ms`. Closes go through the ingest queue like any
//! `session.end`, so rollups, caches and the live stream agree; if several instances close
//! the same session, the first close wins and the rest change nothing.

use crate::state::AppState;
use omniops_core::clock::{Micros, MICROS_PER_MINUTE};
use omniops_core::events::{Event, EventKind, IngestEvent};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Sessions closed per pass at most.
const PER_PASS: i64 = 1_000;
/// Span-built sessions ended per pass at most; they end in bulk under load.
const SETTLE_PER_PASS: usize = 5_000;

/// Closes the silent sessions; returns how many it asked to close. A session built from
/// OpenTelemetry spans ends as its spans say (a success unless one failed): a trace whose
/// root span never arrived is not a failure of the chat.
pub async fn reap(state: &AppState) -> anyhow::Result<usize> {
    let now = state.now();
    let cutoff = now - i64::from(state.settings.live_timeout_minutes) * MICROS_PER_MINUTE;
    let stale = state.store.stale_live_sessions(cutoff, PER_PASS).await?;
    let events = stale
        .into_iter()
        .map(|(session_id, last_event_at, from_spans)| {
            let kind = if from_spans {
                EventKind::Settle { quiet_before: None }
            } else {
                EventKind::End {
                    success: false,
                    error: Some("timed out".to_string()),
                }
            };
            session_event(session_id, last_event_at, kind)
        })
        .collect();
    submit(state, events).await
}

/// Ends the span-built sessions whose root span has ended and which heard nothing for
/// `otlp_quiet_ms`. The writer checks the quiet period again, so a span that arrives
/// between this query and the commit keeps its session open.
pub async fn settle(state: &AppState) -> anyhow::Result<usize> {
    let quiet = i64::try_from(state.settings.otlp_quiet_ms).unwrap_or(i64::MAX / 1_000);
    let quiet_before = state.now() - quiet * 1_000;
    let limit = i64::try_from(SETTLE_PER_PASS).unwrap_or(i64::MAX);
    let ready = state.store.settling_sessions(quiet_before, limit).await?;
    let events = ready
        .into_iter()
        .map(|session_id| {
            let kind = EventKind::Settle {
                quiet_before: Some(quiet_before),
            };
            session_event(session_id, quiet_before, kind)
        })
        .collect();
    submit(state, events).await
}

fn session_event(session_id: String, at: Micros, kind: EventKind) -> Event {
    Event::Session(IngestEvent {
        session_id,
        event_id: None,
        at,
        kind,
    })
}

async fn submit(state: &AppState, events: Vec<Event>) -> anyhow::Result<usize> {
    let count = events.len();
    if count > 0 {
        state
            .ingest
            .submit(events, None)
            .await
            .map_err(|e| anyhow::anyhow!("closing sessions: {e}"))?;
    }
    Ok(count)
}

pub async fn run(state: AppState, stop: CancellationToken) {
    let mut ticker =
        tokio::time::interval(Duration::from_millis(state.settings.reaper_interval_ms));
    // Settling looks a few times per quiet period, and at least once a second.
    let settle_every = (state.settings.otlp_quiet_ms / 4).clamp(10, 1_000);
    let mut settle_ticker = tokio::time::interval(Duration::from_millis(settle_every));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => match reap(&state).await {
                Ok(0) => {}
                Ok(closed) => tracing::info!(closed, "closed live sessions that fell silent"),
                Err(error) => tracing::warn!(?error, "live-session reaper"),
            },
            _ = settle_ticker.tick() => loop {
                // A full pass means more are waiting: go on at once rather than next tick.
                match settle(&state).await {
                    Ok(ended) if ended == SETTLE_PER_PASS => continue,
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(?error, "settling OpenTelemetry sessions");
                        break;
                    }
                }
            },
        }
    }
}
