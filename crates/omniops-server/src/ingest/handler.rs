use super::SubmitError;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::request::read_body;
use crate::request::require_json;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use omniops_core::events::{parse, Event, EventError, EventKind};
use omniops_store::batch::Rejections;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
pub const MAX_EVENTS: usize = 10_000;

#[derive(Deserialize)]
struct IngestBody<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IngestAnswer {
    pub accepted: usize,
    pub rejected: Vec<RejectedEvent>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RejectedEvent {
    pub index: usize,
    pub error: String,
    /// The field to blame (`input_tokens`, `searches[0].results`), when one is.
    pub field: Option<String>,
}

impl RejectedEvent {
    pub fn new(index: usize, error: EventError) -> Self {
        RejectedEvent {
            index,
            error: error.message,
            field: error.field,
        }
    }
}

/// The domain an event creates data for, where the event names one.
fn event_domain(event: &Event) -> Option<&str> {
    match event {
        Event::Session(e) => match &e.kind {
            EventKind::Start { domain, .. } => Some(domain),
            EventKind::Backfill(b) => Some(&b.domain),
            EventKind::Span(span) => Some(&span.domain),
            _ => None,
        },
        Event::Conversation(c) => Some(&c.domain),
        Event::Extraction(x) => Some(&x.domain),
        Event::Page(p) => Some(&p.domain),
        Event::ScrapeJob(j) => Some(&j.domain),
        Event::Shop(x) => Some(&x.domain),
        Event::Message(_) => None,
    }
}

/// A domain-scoped key may only send data for its own domain.
pub fn check_key_domain(principal: &Principal, event: Event) -> Result<Event, EventError> {
    match (&principal.domain, event_domain(&event)) {
        (Some(own), Some(domain)) if own != domain => Err(EventError::new(
            "domain",
            format!("this key may only send data for domain {own}"),
        )),
        _ => Ok(event),
    }
}

/// Queues valid events for the writer and waits for their commit; returns the events the
/// writer rejected. A full queue or a failed batch is a 503 the client should retry.
pub async fn store_events(
    state: &AppState,
    principal: &Principal,
    events: Vec<Event>,
) -> Result<Rejections, ApiError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let domain = principal.domain.clone();
    state
        .ingest
        .submit(events, domain)
        .await
        .map_err(|e| match e {
            SubmitError::Full => ApiError::Unavailable("ingest queue is full; retry shortly"),
            SubmitError::Unavailable => ApiError::Unavailable(
                "storage is unavailable; nothing of this request was stored, retry",
            ),
            SubmitError::Fault => ApiError::Internal(anyhow::anyhow!(
                "storage fault; nothing of this request was stored"
            )),
        })
}

/// Counts a request's accepted and rejected events (or spans) for `/metrics`.
pub fn count_outcome(state: &AppState, accepted: usize, rejected: usize) {
    let counted = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let metrics = &state.metrics;
    metrics
        .events_accepted
        .fetch_add(counted(accepted), std::sync::atomic::Ordering::Relaxed);
    metrics
        .events_rejected
        .fetch_add(counted(rejected), std::sync::atomic::Ordering::Relaxed);
}

/// The body of `POST /api/v1/ingest` (documentation: events are read one by one, so that
/// a bad one is rejected by its index while the others are stored).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct IngestRequest {
    /// Events: session.start, iteration, search, usage, log, session.end, session,
    /// conversation, message, extraction, page, scrape_job, product, order, cart.
    events: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// `POST /api/v1/ingest`: `{"events":[…]}` → `{"accepted":N,"rejected":[{"index","error"}]}`.
#[utoipa::path(post, path = "/api/v1/ingest", tag = "ingest", request_body = IngestRequest,
    responses((status = 200, body = IngestAnswer, description = "Stored: each event accepted or rejected on its own"),
        crate::api::errors::Common,
        (status = 413, description = "Body too large"),
        (status = 503, description = "Queue full; retry after Retry-After")))]
pub async fn ingest(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestAnswer>, ApiError> {
    require_json(&headers)?;
    let bytes = read_body(body, MAX_BODY_BYTES).await?;
    let body: IngestBody = serde_json::from_slice(&bytes).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::field("body", format!("body is not valid JSON: {e}"))
        } else {
            ApiError::field("events", format!("body must be {{\"events\": [...]}}: {e}"))
        }
    })?;
    if body.events.len() > MAX_EVENTS {
        return Err(ApiError::PayloadTooLarge(format!(
            "{} events in one request; at most {MAX_EVENTS}",
            body.events.len()
        )));
    }
    let received_at = state.now();
    let mut rejected = Vec::new();
    let mut valid = Vec::with_capacity(body.events.len());
    let mut positions = Vec::with_capacity(body.events.len());
    for (index, raw) in body.events.iter().enumerate() {
        let parsed =
            parse(raw.get(), received_at).and_then(|event| check_key_domain(&principal, event));
        match parsed {
            Ok(event) => {
                valid.push(event);
                positions.push(index);
            }
            Err(error) => rejected.push(RejectedEvent::new(index, error)),
        }
    }
    let accepted_valid = valid.len();
    let stored_rejections = store_events(&state, &principal, valid).await?;
    let accepted = accepted_valid - stored_rejections.len();
    rejected.extend(
        stored_rejections
            .into_iter()
            .map(|(i, error)| RejectedEvent::new(positions[i], error)),
    );
    rejected.sort_by_key(|r| r.index);
    count_outcome(&state, accepted, rejected.len());
    Ok(Json(IngestAnswer { accepted, rejected }))
}
