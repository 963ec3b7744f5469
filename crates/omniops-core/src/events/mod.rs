//! Ingest events: the wire format of `POST /api/v1/ingest` and its validation. Each event
//! is parsed on its own, so that one bad event rejects only itself; every error names its
//! field, and every number is bounded (`limits`).

mod check;
mod content;
mod session;
#[cfg(test)]
mod tests;

pub use crate::limits::{MAX_DOMAIN_LEN, MAX_ID_LEN, MAX_TEXT_LEN};
pub use check::{check_id, check_nul, check_text, count, nul_path, time, EventError};

use crate::clock::Micros;
use crate::domain::Domain;
use crate::span::SpanFacts;
use crate::usage::{CallUsage, TokenUsage};
use serde::Deserialize;
use serde_json::Value;

/// A validated event, ready for the writer.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestEvent {
    pub session_id: String,
    pub event_id: Option<String>,
    pub at: Micros,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Start {
        model: String,
        domain: Domain,
        conversation_id: Option<String>,
        metadata: Option<Value>,
    },
    Iteration {
        iteration: i64,
    },
    Search {
        query: String,
        results: i64,
        source: Option<String>,
        duration_ms: Option<i64>,
    },
    /// One model call.
    Usage(CallUsage),
    Log {
        level: String,
        message: String,
    },
    End {
        success: bool,
        error: Option<String>,
    },
    Backfill(Box<BackfillSession>),
    /// One OpenTelemetry span; `at` is when it arrived. Creates its session if unknown.
    Span(Box<SpanFacts>),
    /// Ends a span-built session from its spans: with `quiet_before`, only if its root span
    /// has ended and nothing arrived since; without, at once (the idle reaper).
    Settle {
        quiet_before: Option<Micros>,
    },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Start { .. } => "session.start",
            EventKind::Iteration { .. } => "iteration",
            EventKind::Search { .. } => "search",
            EventKind::Usage(_) => "usage",
            EventKind::Log { .. } => "log",
            EventKind::End { .. } => "session.end",
            EventKind::Backfill(_) => "session",
            EventKind::Span(_) => "span",
            EventKind::Settle { .. } => "settle",
        }
    }
}

/// One finished session sent at once (the `session` event), for backfills.
#[derive(Debug, Clone, PartialEq)]
pub struct BackfillSession {
    pub model: String,
    pub domain: Domain,
    pub conversation_id: Option<String>,
    pub start_time: Micros,
    pub end_time: Micros,
    pub iterations: i64,
    pub search_count: i64,
    pub total_results: i64,
    pub searches: Vec<Value>,
    pub usage: TokenUsage,
    pub success: bool,
    pub error: Option<String>,
    pub logs: Vec<Value>,
    pub metadata: Option<Value>,
}

#[derive(Deserialize)]
pub(super) struct Header {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub session_id: Option<String>,
    pub event_id: Option<String>,
    pub timestamp: Option<String>,
}

/// Any ingest event: a session event, or conversation data (these carry no `session_id`).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Session(IngestEvent),
    Conversation(ConversationEvent),
    Message(MessageEvent),
    Extraction(ExtractionEvent),
    Page(PageEvent),
    ScrapeJob(ScrapeJobEvent),
    /// `cart.abandoned` and `order`.
    Shop(ShopEvent),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PageEvent {
    pub url: String,
    pub domain: Domain,
    pub content: Option<String>,
    pub content_length: i64,
    pub embeddings: i64,
    pub previews: Vec<String>,
    pub at: Micros,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeJobEvent {
    pub domain: Domain,
    pub url: String,
    pub status: String,
    pub at: Micros,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShopKind {
    AbandonedCart,
    Order,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ShopEvent {
    pub kind: ShopKind,
    pub domain: Domain,
    /// The cart or order id.
    pub id: String,
    /// Value or total in nano-units of `currency`.
    pub amount_nanos: i64,
    pub currency: String,
    /// Orders: the shop's status (`processing`, `refunded`, …); `None` when not sent.
    pub status: Option<String>,
    pub at: Micros,
}

/// Scraped structured data; products carry a `name` and optionally a `price`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractionEvent {
    pub domain: Domain,
    pub extraction_type: String,
    pub data: Value,
    /// Products: the normalised name and the price as decimal text.
    pub product_name: Option<String>,
    pub price: Option<String>,
    pub at: Micros,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationEvent {
    pub conversation_id: String,
    pub domain: Domain,
    pub metadata: Option<Value>,
    pub at: Micros,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageEvent {
    pub conversation_id: String,
    pub message_id: Option<String>,
    pub role: Role,
    pub content: String,
    pub metadata: Option<Value>,
    pub at: Micros,
}

/// Parses and validates one session event. `received_at` is the default timestamp.
pub fn parse_event(raw: &str, received_at: Micros) -> Result<IngestEvent, EventError> {
    match parse(raw, received_at)? {
        Event::Session(e) => Ok(e),
        _ => Err(EventError::new("type", "not a session event")),
    }
}

/// Parses and validates any event; `received_at` is the default timestamp.
pub fn parse(raw: &str, received_at: Micros) -> Result<Event, EventError> {
    // PostgreSQL cannot store a NUL character: refused here, on both engines alike.
    if let Some(path) = nul_path(raw) {
        return Err(EventError::new(
            path.clone(),
            format!("{path} must not contain a NUL character"),
        ));
    }
    // The header is read once; the body by the parser of the event's type.
    let header: Header = check::field(raw)?;
    let kind = header.kind.clone().unwrap_or_default();
    let at = || check::event_time(&header.timestamp, received_at);
    match kind.as_str() {
        "conversation" => content::conversation(raw, at()?),
        "message" => content::message(raw, at()?),
        "extraction" => content::extraction(raw, at()?),
        "page" => content::page(raw, at()?),
        "scrape_job" => content::scrape_job(raw, at()?),
        "cart.abandoned" | "order" => content::shop(&kind, raw, at()?),
        _ => session::session_event(raw, header, received_at).map(Event::Session),
    }
}
