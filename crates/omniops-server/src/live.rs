//! The live stream: `GET /api/live`, Server-Sent Events. The writer publishes each
//! committed batch's live-session changes on a broadcast channel; each connection filters
//! them by its domain, adds a periodic summary, fired budget alerts and models seen
//! without a price (`unpriced.model`), and gets a `resync`
//! (a fresh summary) when it fell behind.

use crate::auth::Principal;
use crate::queries::telemetry::telemetry_report;
use crate::request::{self, Params};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::stream::{self, Stream};
use omniops_core::clock::to_rfc3339;
use omniops_core::money::format_nanos;
use omniops_core::window::Window;
use omniops_store::{LiveChange, LiveKind};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast;

/// Seconds between summaries on each connection.
pub const SUMMARY_SECONDS: u64 = 15;

/// One published change, with the domain it belongs to (for filtering).
#[derive(Debug, Clone)]
pub struct LiveMessage {
    pub event: &'static str,
    pub domain: String,
    pub data: String,
}

pub struct LiveHub {
    sender: broadcast::Sender<LiveMessage>,
    /// This process, to tell its own notifications from other instances'.
    origin: String,
}

impl Default for LiveHub {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(1024);
        LiveHub {
            sender,
            origin: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// The PostgreSQL channel that carries live changes between instances.
pub const NOTIFY_CHANNEL: &str = "omniops_live";
/// PostgreSQL refuses notification payloads of 8,000 bytes or more.
const MAX_PAYLOAD: usize = 7_000;

fn event_name(name: &str) -> Option<&'static str> {
    [
        "session.started",
        "session.updated",
        "session.ended",
        "alert.fired",
        "unpriced.model",
    ]
    .into_iter()
    .find(|n| *n == name)
}

fn messages(changes: &[LiveChange]) -> Vec<LiveMessage> {
    changes
        .iter()
        .map(|c| {
            let event = match c.kind {
                LiveKind::Started => "session.started",
                LiveKind::Updated => "session.updated",
                LiveKind::Ended => "session.ended",
            };
            let data = json!({
                "sessionId": c.session_id, "domain": c.domain, "model": c.model,
                "startTime": to_rfc3339(c.start_time), "inputTokens": c.input_tokens,
                "outputTokens": c.output_tokens,
                "cost": c.cost_nanos.map(|n| format_nanos(i128::from(n), 6)),
                "unpriced": c.cost_nanos.is_none(), "success": c.success,
            });
            LiveMessage {
                event,
                domain: c.domain.clone(),
                data: data.to_string(),
            }
        })
        .collect()
}

/// `unpriced.model`: a model's first session without a price in a domain.
pub fn unpriced_messages(
    pairs: &[(String, String)],
    at: omniops_core::clock::Micros,
) -> Vec<LiveMessage> {
    pairs
        .iter()
        .map(|(model, domain)| LiveMessage {
            event: "unpriced.model",
            domain: domain.clone(),
            data: json!({"model": model, "domain": domain, "at": to_rfc3339(at)}).to_string(),
        })
        .collect()
}

impl LiveHub {
    pub fn subscribe(&self) -> broadcast::Receiver<LiveMessage> {
        self.sender.subscribe()
    }

    /// Publishes a committed batch's changes to this process's subscribers.
    pub fn publish(&self, changes: &[LiveChange]) {
        if self.sender.receiver_count() > 0 {
            self.publish_messages(&messages(changes));
        }
    }

    pub fn publish_messages(&self, messages: &[LiveMessage]) {
        for message in messages {
            let _ = self.sender.send(message.clone());
        }
    }

    /// On a shared database, also tells the other instances about a batch's changes.
    pub async fn announce(&self, store: &omniops_store::Store, changes: &[LiveChange]) {
        if store.is_shared() && !changes.is_empty() {
            self.announce_messages(store, &messages(changes)).await;
        }
    }

    /// On a shared database, tells the other instances (PostgreSQL NOTIFY), in payloads
    /// under the size limit.
    pub async fn announce_messages(&self, store: &omniops_store::Store, all: &[LiveMessage]) {
        if !store.is_shared() {
            return;
        }
        let mut batch: Vec<Value> = Vec::new();
        let mut size = 0;
        for (i, m) in all.iter().enumerate() {
            let item = json!([m.event, m.domain, m.data]);
            size += item.to_string().len();
            batch.push(item);
            if size > MAX_PAYLOAD / 2 || i + 1 == all.len() {
                let payload = json!({"o": self.origin, "m": batch}).to_string();
                if payload.len() < 8_000 {
                    if let Err(error) = store.notify(NOTIFY_CHANNEL, &payload).await {
                        tracing::warn!(?error, "announcing live changes to other instances");
                    }
                } else {
                    tracing::warn!(bytes = payload.len(), "live change too large to announce");
                }
                batch.clear();
                size = 0;
            }
        }
    }

    /// Another instance's announced changes, for this process's subscribers.
    pub fn receive_remote(&self, payload: &str, generation: &crate::queries::cache::Generation) {
        let Ok(value) = serde_json::from_str::<Value>(payload) else {
            tracing::warn!("unreadable live notification");
            return;
        };
        if value["o"].as_str() == Some(self.origin.as_str()) {
            return;
        }
        generation.bump();
        for item in value["m"].as_array().into_iter().flatten() {
            let (Some(event), Some(domain), Some(data)) = (
                item[0].as_str().and_then(event_name),
                item[1].as_str(),
                item[2].as_str(),
            ) else {
                continue;
            };
            let _ = self.sender.send(LiveMessage {
                event,
                domain: domain.to_string(),
                data: data.to_string(),
            });
        }
    }
}

/// Live sessions and their running cost now, for the connection's domain.
async fn summary(state: &AppState, domain: Option<&str>) -> anyhow::Result<String> {
    let window = Window::last_days(1, state.now())?;
    let report = telemetry_report(state, &window, domain).await?;
    Ok(json!({
        "activeSessions": report.live.active_sessions,
        "currentCost": report.live.current_cost,
        "requests24h": report.overview.total_requests,
        "cost24h": report.cost.total,
        "errorRate": report.overview.error_rate,
        "at": to_rfc3339(state.now()),
    })
    .to_string())
}

struct Connection {
    state: AppState,
    domain: Option<String>,
    receiver: broadcast::Receiver<LiveMessage>,
    ticker: tokio::time::Interval,
    pending: VecDeque<(&'static str, String)>,
}

impl Connection {
    async fn tick(&mut self) {
        match summary(&self.state, self.domain.as_deref()).await {
            Ok(data) => self.pending.push_back(("summary", data)),
            Err(e) => tracing::error!(error = ?e, "live summary"),
        }
    }

    /// The next event to send: (name, JSON data).
    async fn next(&mut self) -> (&'static str, String) {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return event;
            }
            tokio::select! {
                // Summaries first: they are rare, and must not starve.
                biased;
                _ = self.ticker.tick() => self.tick().await,
                message = self.receiver.recv() => match message {
                    Ok(m) if self.domain.as_ref().is_none_or(|d| *d == m.domain) => {
                        return (m.event, m.data);
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "live subscriber fell behind; resync");
                        let data = summary(&self.state, self.domain.as_deref()).await.unwrap_or_else(|_| "{}".into());
                        return ("resync", data);
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await;
                    }
                },
            }
        }
    }
}

/// `GET /api/live?domain=`: the stream. The first event is a summary.
#[utoipa::path(get, path = "/api/live", tag = "dashboard",
    params(("domain" = Option<String>, Query, description = "one customer domain")),
    responses((status = 200, description = "Server-sent events: summary, session.started/updated/ended, alert.fired, unpriced.model, resync",
        content_type = "text/event-stream"), crate::api::errors::Common))]
pub async fn stream(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    let params = match crate::api::params(query) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let domain = match request::domain(&params).and_then(|d| principal.resolve_domain(d)) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let connection = Connection {
        receiver: state.live.subscribe(),
        ticker: tokio::time::interval(Duration::from_secs(SUMMARY_SECONDS)),
        state,
        domain,
        pending: VecDeque::new(),
    };
    let events = stream::unfold(connection, |mut c| async move {
        let stopping = c.state.stopping.clone();
        tokio::select! {
            () = stopping.cancelled() => None,
            (name, data) = c.next() => Some((Ok::<Event, Infallible>(Event::default().event(name).data(data)), c)),
        }
    });
    sse(events).into_response()
}

fn sse(
    events: impl Stream<Item = Result<Event, Infallible>> + Send + 'static,
) -> impl IntoResponse {
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::IngestQueue;
    use omniops_core::clock::ManualClock;
    use std::sync::Arc;

    fn change(id: usize) -> LiveChange {
        LiveChange {
            kind: LiveKind::Started,
            session_id: format!("s{id}"),
            domain: "shop.example".into(),
            model: "gpt-4".into(),
            start_time: 0,
            input_tokens: 0,
            output_tokens: 0,
            cost_nanos: Some(0),
            success: None,
        }
    }

    #[tokio::test]
    async fn a_subscriber_that_fell_behind_gets_a_resync() {
        let db = omniops_testkit::TestDb::sqlite().await;
        let (queue, _receiver) = IngestQueue::new(1);
        let clock = Arc::new(ManualClock::at(1_795_000_000_000_000));
        let state = AppState::new(
            db.store.clone(),
            crate::Settings::default(),
            clock,
            queue,
            None,
        );
        let mut connection = Connection {
            receiver: state.live.subscribe(),
            ticker: tokio::time::interval(Duration::from_secs(3600)),
            state: state.clone(),
            domain: None,
            pending: VecDeque::new(),
        };
        // More changes than the channel holds, before the subscriber reads any.
        let changes: Vec<LiveChange> = (0..1_100).map(change).collect();
        state.live.publish(&changes);
        // The first summary and the resync, in whichever order the timer fires.
        let first = connection.next().await;
        let second = connection.next().await;
        let mut names = [first.0, second.0];
        names.sort();
        assert_eq!(names, ["resync", "summary"]);
        let resync = if first.0 == "resync" {
            &first.1
        } else {
            &second.1
        };
        let summary: serde_json::Value = serde_json::from_str(resync).expect("json");
        assert_eq!(summary["activeSessions"], 0);
        // Then the newest changes follow, oldest of those first.
        let (name, data) = connection.next().await;
        assert_eq!(name, "session.started");
        assert!(data.contains("\"sessionId\":\"s76\""), "{data}");
    }
}
