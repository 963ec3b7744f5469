//! Ingest events: the wire format of `POST /api/v1/ingest` and its validation.
//! Each event is parsed on its own so that one bad event rejects only itself.

use crate::clock::{parse_rfc3339, Micros};
use crate::span::SpanFacts;
use crate::usage::{CallUsage, ProviderUsage, ServiceTier, TokenUsage};
use serde::Deserialize;
use serde_json::Value;

pub const MAX_ID_LEN: usize = 200;
pub const MAX_DOMAIN_LEN: usize = 253;
pub const MAX_TEXT_LEN: usize = 10_000;

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
        domain: String,
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
    pub domain: String,
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
struct Header {
    #[serde(rename = "type")]
    kind: Option<String>,
    session_id: Option<String>,
    event_id: Option<String>,
    timestamp: Option<String>,
}

#[derive(Deserialize)]
struct StartBody {
    model: String,
    domain: String,
    conversation_id: Option<String>,
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct IterationBody {
    iteration: i64,
}

#[derive(Deserialize)]
struct SearchBody {
    query: String,
    results: i64,
    source: Option<String>,
    duration_ms: Option<i64>,
}

#[derive(Deserialize)]
struct UsageBody {
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cached_input_tokens: Option<i64>,
    cache_write_tokens: Option<i64>,
    reasoning_tokens: Option<i64>,
    usage: Option<ProviderUsage>,
}

/// A `usage` event: the counts (flat or a provider's `usage` object), and the call's
/// service tier and one-hour cache writes.
#[derive(Deserialize)]
struct CallBody {
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cached_input_tokens: Option<i64>,
    cache_write_tokens: Option<i64>,
    /// Of `cache_write_tokens`, those kept for one hour.
    cache_write_1h_tokens: Option<i64>,
    reasoning_tokens: Option<i64>,
    service_tier: Option<String>,
    usage: Option<ProviderUsage>,
}

impl CallBody {
    fn call(self) -> Result<CallUsage, String> {
        let tier = match self.service_tier.as_deref() {
            None => None,
            Some(text) => Some(ServiceTier::parse(text).ok_or_else(|| {
                "service_tier must be one of default, flex, priority, batch".to_string()
            })?),
        };
        let mut call = match &self.usage {
            Some(provider) => provider.call().map_err(|e| e.to_string())?,
            None => CallUsage {
                tokens: UsageBody {
                    input_tokens: self.input_tokens,
                    output_tokens: self.output_tokens,
                    cached_input_tokens: self.cached_input_tokens,
                    cache_write_tokens: self.cache_write_tokens,
                    reasoning_tokens: self.reasoning_tokens,
                    usage: None,
                }
                .tokens()?,
                cache_write_1h: self.cache_write_1h_tokens.unwrap_or(0),
                service_tier: ServiceTier::Default,
            },
        };
        // OpenAI reports the tier beside `usage`: the event's field wins.
        if let Some(tier) = tier {
            call.service_tier = tier;
        }
        call.validate().map_err(|e| e.to_string())?;
        Ok(call)
    }
}

#[derive(Deserialize)]
struct LogBody {
    level: String,
    message: String,
}

#[derive(Deserialize)]
struct EndBody {
    success: bool,
    error: Option<String>,
}

#[derive(Deserialize)]
struct SessionBody {
    model: String,
    domain: String,
    conversation_id: Option<String>,
    start_time: String,
    end_time: Option<String>,
    duration_ms: Option<i64>,
    iterations: Option<i64>,
    search_count: Option<i64>,
    total_results: Option<i64>,
    #[serde(default)]
    searches: Vec<Value>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cached_input_tokens: Option<i64>,
    cache_write_tokens: Option<i64>,
    reasoning_tokens: Option<i64>,
    usage: Option<ProviderUsage>,
    success: bool,
    error: Option<String>,
    #[serde(default)]
    logs: Vec<Value>,
    metadata: Option<Value>,
}

fn field<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, String> {
    serde_json::from_str(raw).map_err(|e| {
        // serde names the field ("missing field `model`", "invalid type ... for `results`");
        // the position inside one event adds nothing for the client.
        let text = e.to_string();
        match text.find(" at line ") {
            Some(i) => text[..i].to_string(),
            None => text,
        }
    })
}

pub fn check_id(name: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_ID_LEN {
        return Err(format!("{name} must be 1 to {MAX_ID_LEN} characters"));
    }
    Ok(())
}

pub fn check_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() || domain.len() > MAX_DOMAIN_LEN || domain.chars().any(char::is_whitespace)
    {
        return Err(format!(
            "domain must be 1 to {MAX_DOMAIN_LEN} characters without spaces"
        ));
    }
    Ok(())
}

pub fn check_text(name: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_TEXT_LEN {
        return Err(format!("{name} must be at most {MAX_TEXT_LEN} characters"));
    }
    Ok(())
}

fn non_negative(name: &str, value: i64) -> Result<i64, String> {
    if value < 0 {
        return Err(format!("{name} must not be negative"));
    }
    Ok(value)
}

fn check_object(name: &str, value: &Option<Value>) -> Result<(), String> {
    match value {
        None | Some(Value::Object(_)) | Some(Value::Null) => Ok(()),
        Some(_) => Err(format!("{name} must be a JSON object")),
    }
}

impl UsageBody {
    fn tokens(&self) -> Result<TokenUsage, String> {
        let usage = match &self.usage {
            Some(provider) => provider.normalise(),
            None => {
                let (Some(input), Some(output)) = (self.input_tokens, self.output_tokens) else {
                    return Err(
                        "missing field `input_tokens`/`output_tokens` (or a nested `usage` object)"
                            .to_string(),
                    );
                };
                let usage = TokenUsage {
                    input,
                    cached_input: self.cached_input_tokens.unwrap_or(0),
                    cache_write: self.cache_write_tokens.unwrap_or(0),
                    output,
                    reasoning: self.reasoning_tokens.unwrap_or(0),
                };
                usage.validate().map(|_| usage)
            }
        };
        usage.map_err(|e| e.to_string())
    }
}

/// Parses and validates one event. `received_at` is the default timestamp.
pub fn parse_event(raw: &str, received_at: Micros) -> Result<IngestEvent, String> {
    session_event(raw, field(raw)?, received_at)
}

/// An event's time: its `timestamp`, else the time of receipt.
fn event_time(timestamp: &Option<String>, received_at: Micros) -> Result<Micros, String> {
    match timestamp {
        Some(text) => {
            parse_rfc3339(text).ok_or_else(|| "timestamp must be an RFC 3339 timestamp".to_string())
        }
        None => Ok(received_at),
    }
}

/// A session event, its header already read.
fn session_event(raw: &str, header: Header, received_at: Micros) -> Result<IngestEvent, String> {
    let kind_name = header
        .kind
        .ok_or_else(|| "missing field `type`".to_string())?;
    let session_id = header
        .session_id
        .ok_or_else(|| "missing field `session_id`".to_string())?;
    check_id("session_id", &session_id)?;
    if let Some(id) = &header.event_id {
        check_id("event_id", id)?;
    }
    let at = event_time(&header.timestamp, received_at)?;
    let kind = match kind_name.as_str() {
        "session.start" => {
            let b: StartBody = field(raw)?;
            check_id("model", &b.model)?;
            check_domain(&b.domain)?;
            if let Some(c) = &b.conversation_id {
                check_id("conversation_id", c)?;
            }
            check_object("metadata", &b.metadata)?;
            EventKind::Start {
                model: b.model,
                domain: b.domain,
                conversation_id: b.conversation_id,
                metadata: b.metadata,
            }
        }
        "iteration" => {
            let b: IterationBody = field(raw)?;
            if b.iteration < 1 {
                return Err("iteration must be 1 or more (the 1-based cycle number)".into());
            }
            EventKind::Iteration { iteration: b.iteration }
        }
        "search" => {
            let b: SearchBody = field(raw)?;
            check_text("query", &b.query)?;
            EventKind::Search {
                query: b.query,
                results: non_negative("results", b.results)?,
                source: b.source,
                duration_ms: b.duration_ms.map(|d| non_negative("duration_ms", d)).transpose()?,
            }
        }
        "usage" => EventKind::Usage(field::<CallBody>(raw)?.call()?),
        "log" => {
            let b: LogBody = field(raw)?;
            if !matches!(b.level.as_str(), "debug" | "info" | "warn" | "error") {
                return Err("level must be one of debug, info, warn, error".into());
            }
            check_text("message", &b.message)?;
            EventKind::Log { level: b.level, message: b.message }
        }
        "session.end" => {
            let b: EndBody = field(raw)?;
            if let Some(e) = &b.error {
                check_text("error", e)?;
            }
            EventKind::End { success: b.success, error: b.error }
        }
        "session" => EventKind::Backfill(Box::new(parse_backfill(raw)?)),
        other => {
            return Err(format!(
                "unknown event type `{other}` (expected session.start, iteration, search, usage, log, session.end or session)"
            ))
        }
    };
    Ok(IngestEvent {
        session_id,
        event_id: header.event_id,
        at,
        kind,
    })
}

fn parse_backfill(raw: &str) -> Result<BackfillSession, String> {
    let b: SessionBody = field(raw)?;
    check_id("model", &b.model)?;
    check_domain(&b.domain)?;
    check_object("metadata", &b.metadata)?;
    let start_time = parse_rfc3339(&b.start_time)
        .ok_or_else(|| "start_time must be an RFC 3339 timestamp".to_string())?;
    let end_time = match (&b.end_time, b.duration_ms) {
        (Some(end), _) => parse_rfc3339(end)
            .ok_or_else(|| "end_time must be an RFC 3339 timestamp".to_string())?,
        (None, Some(ms)) => start_time + non_negative("duration_ms", ms)? * 1_000,
        (None, None) => return Err("missing field `end_time` (or `duration_ms`)".into()),
    };
    if end_time < start_time {
        return Err("end_time must not be before start_time".into());
    }
    if let Some(e) = &b.error {
        check_text("error", e)?;
    }
    // Without an explicit total, the results of the listed searches add up.
    let total_results = match b.total_results {
        Some(n) => non_negative("total_results", n)?,
        None => b
            .searches
            .iter()
            .filter_map(|s| s.get("results").and_then(Value::as_i64))
            .filter(|n| *n > 0)
            .sum(),
    };
    let search_count = match b.search_count {
        Some(n) => non_negative("search_count", n)?,
        None => b.searches.len() as i64,
    };
    // Not `#[serde(flatten)]`: flattening buffers the whole event and halves backfill speed.
    let usage = UsageBody {
        input_tokens: b.input_tokens,
        output_tokens: b.output_tokens,
        cached_input_tokens: b.cached_input_tokens,
        cache_write_tokens: b.cache_write_tokens,
        reasoning_tokens: b.reasoning_tokens,
        usage: b.usage,
    }
    .tokens()?;
    Ok(BackfillSession {
        usage,
        model: b.model,
        domain: b.domain,
        conversation_id: b.conversation_id,
        start_time,
        end_time,
        iterations: non_negative("iterations", b.iterations.unwrap_or(0))?,
        search_count,
        total_results,
        searches: b.searches,
        success: b.success,
        error: b.error,
        logs: b.logs,
        metadata: b.metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Micros = 1_700_000_000_000_000;

    fn parse(json: &str) -> Result<IngestEvent, String> {
        parse_event(json, NOW)
    }

    #[test]
    fn parses_a_session_start_with_default_timestamp() {
        let e = parse(
            r#"{"type":"session.start","session_id":"s1","model":"gpt-4","domain":"shop.example"}"#,
        )
        .expect("valid");
        assert_eq!(e.at, NOW);
        assert_eq!(e.kind.name(), "session.start");
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse(r#"{"type":"session.start","session_id":"s1","domain":"d"}"#)
            .expect_err("invalid");
        assert_eq!(err, "missing field `model`");
        let err = parse(r#"{"type":"search","session_id":"s1","query":"x","results":"many"}"#)
            .expect_err("invalid");
        assert!(err.contains("invalid type"), "{err}");
        let err =
            parse(r#"{"type":"usage","session_id":"s1","input_tokens":-5,"output_tokens":1}"#)
                .expect_err("invalid");
        assert_eq!(err, "input_tokens must not be negative");
        let err = parse(r#"{"type":"warp","session_id":"s1"}"#).expect_err("invalid");
        assert!(err.starts_with("unknown event type `warp`"), "{err}");
        let err = parse(r#"{"session_id":"s1"}"#).expect_err("invalid");
        assert_eq!(err, "missing field `type`");
        let err = parse(r#"{"type":"log","session_id":"s1","level":"loud","message":"m"}"#)
            .expect_err("invalid");
        assert_eq!(err, "level must be one of debug, info, warn, error");
        let err =
            parse(r#"{"type":"iteration","session_id":"s1","iteration":1,"timestamp":"today"}"#)
                .expect_err("invalid");
        assert_eq!(err, "timestamp must be an RFC 3339 timestamp");
        let err =
            parse(r#"{"type":"iteration","session_id":"","iteration":1}"#).expect_err("invalid");
        assert_eq!(err, "session_id must be 1 to 200 characters");
    }

    #[test]
    fn usage_accepts_flat_and_nested_provider_shapes() {
        let flat = parse(r#"{"type":"usage","session_id":"s","input_tokens":10,"output_tokens":5,"cached_input_tokens":4}"#)
            .expect("valid");
        assert_eq!(
            flat.kind,
            EventKind::Usage(CallUsage {
                tokens: TokenUsage {
                    input: 10,
                    cached_input: 4,
                    output: 5,
                    ..Default::default()
                },
                ..Default::default()
            })
        );
        let nested = parse(r#"{"type":"usage","session_id":"s","usage":{"input_tokens":100,"cache_read_input_tokens":3000,"cache_creation_input_tokens":500,"output_tokens":250}}"#)
            .expect("valid");
        assert_eq!(
            nested.kind,
            EventKind::Usage(CallUsage {
                tokens: TokenUsage {
                    input: 3600,
                    cached_input: 3000,
                    cache_write: 500,
                    output: 250,
                    reasoning: 0
                },
                ..Default::default()
            })
        );
    }

    #[test]
    fn usage_names_its_service_tier_and_one_hour_cache_writes() {
        // OpenAI: the tier beside `usage`.
        let openai = parse(r#"{"type":"usage","session_id":"s","service_tier":"flex","usage":{"prompt_tokens":10,"completion_tokens":5}}"#)
            .expect("valid");
        let EventKind::Usage(call) = openai.kind else {
            panic!("usage")
        };
        assert_eq!(call.service_tier, ServiceTier::Flex);
        // Anthropic: the tier and the cache-write split inside `usage`.
        let anthropic = parse(r#"{"type":"usage","session_id":"s","usage":{"input_tokens":100,"cache_creation_input_tokens":1000,
            "cache_creation":{"ephemeral_5m_input_tokens":400,"ephemeral_1h_input_tokens":600},"output_tokens":5,"service_tier":"batch"}}"#)
            .expect("valid");
        let EventKind::Usage(call) = anthropic.kind else {
            panic!("usage")
        };
        assert_eq!(
            (
                call.tokens.input,
                call.tokens.cache_write,
                call.cache_write_1h
            ),
            (1_100, 1_000, 600)
        );
        assert_eq!(call.service_tier, ServiceTier::Batch);
        let flat = parse(r#"{"type":"usage","session_id":"s","input_tokens":10,"output_tokens":1,"cache_write_tokens":4,"cache_write_1h_tokens":3,"service_tier":"priority"}"#)
            .expect("valid");
        let EventKind::Usage(call) = flat.kind else {
            panic!("usage")
        };
        assert_eq!(
            (call.cache_write_1h, call.service_tier),
            (3, ServiceTier::Priority)
        );
        let err = parse(r#"{"type":"usage","session_id":"s","input_tokens":1,"output_tokens":1,"service_tier":"gold"}"#)
            .expect_err("invalid");
        assert_eq!(
            err,
            "service_tier must be one of default, flex, priority, batch"
        );
        let err = parse(r#"{"type":"usage","session_id":"s","input_tokens":10,"output_tokens":1,"cache_write_tokens":2,"cache_write_1h_tokens":3}"#)
            .expect_err("invalid");
        assert_eq!(err, "one-hour cache writes exceed cache_write_tokens");
    }

    #[test]
    fn backfill_derives_end_time_and_search_count() {
        let e = parse(
            r#"{"type":"session","session_id":"b1","model":"gpt-4","domain":"d",
            "start_time":"2026-11-01T10:00:00Z","duration_ms":1500,"success":true,
            "input_tokens":1000,"output_tokens":500,"searches":[{"query":"a"},{"query":"b"}]}"#,
        )
        .expect("valid");
        let EventKind::Backfill(b) = e.kind else {
            panic!("not a backfill")
        };
        assert_eq!(b.end_time - b.start_time, 1_500_000);
        assert_eq!(b.search_count, 2);
        let err = parse(
            r#"{"type":"session","session_id":"b1","model":"gpt-4","domain":"d",
            "start_time":"2026-11-01T10:00:00Z","end_time":"2026-11-01T09:00:00Z","success":true,
            "input_tokens":1,"output_tokens":1}"#,
        )
        .expect_err("invalid");
        assert_eq!(err, "end_time must not be before start_time");
    }
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
    pub domain: String,
    pub content: Option<String>,
    pub content_length: i64,
    pub embeddings: i64,
    pub previews: Vec<String>,
    pub at: Micros,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeJobEvent {
    pub domain: String,
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
    pub domain: String,
    /// The cart or order id.
    pub id: String,
    /// Value or total in nano-units of `currency`.
    pub amount_nanos: i64,
    pub currency: String,
    pub at: Micros,
}

#[derive(Deserialize)]
struct PageBody {
    url: String,
    domain: String,
    content: Option<String>,
    content_length: Option<i64>,
    embeddings: Option<i64>,
    #[serde(default)]
    previews: Vec<String>,
}

#[derive(Deserialize)]
struct ScrapeJobBody {
    domain: String,
    url: String,
    status: String,
}

#[derive(Deserialize)]
struct ShopBody {
    domain: String,
    cart_id: Option<String>,
    order_id: Option<String>,
    value: Option<Value>,
    total: Option<Value>,
    currency: String,
}

const MAX_URL_LEN: usize = 2_048;

fn check_url(url: &str) -> Result<(), String> {
    if url.is_empty() || url.len() > MAX_URL_LEN {
        return Err(format!("url must be 1 to {MAX_URL_LEN} characters"));
    }
    Ok(())
}

/// A non-negative amount (JSON number or decimal string) in nano-units.
fn amount(name: &str, value: Option<&Value>) -> Result<i64, String> {
    let text = match value {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.trim().to_string(),
        None => return Err(format!("missing field `{name}`")),
        Some(_) => return Err(format!("{name} must be a number")),
    };
    let decimal: rust_decimal::Decimal = text
        .parse()
        .map_err(|_| format!("{name} must be a number"))?;
    if decimal.is_sign_negative() {
        return Err(format!("{name} must not be negative"));
    }
    let nanos = crate::money::usd_to_nanos(decimal);
    if nanos == i64::MAX {
        return Err(format!("{name} is too large"));
    }
    Ok(nanos)
}

fn parse_content(kind: &str, raw: &str, at: Micros) -> Result<Event, String> {
    match kind {
        "page" => {
            let b: PageBody = field(raw)?;
            check_url(&b.url)?;
            check_domain(&b.domain)?;
            let content_length = match (&b.content, b.content_length) {
                (Some(c), _) => c.chars().count() as i64,
                (None, Some(n)) => non_negative("content_length", n)?,
                (None, None) => return Err("missing field `content` (or `content_length`)".into()),
            };
            let embeddings = non_negative("embeddings", b.embeddings.unwrap_or(0))?;
            if embeddings > 100_000 || b.previews.len() > 100_000 {
                return Err("embeddings must be at most 100000".into());
            }
            Ok(Event::Page(PageEvent {
                url: b.url,
                domain: b.domain,
                content: b.content,
                content_length,
                embeddings,
                previews: b.previews,
                at,
            }))
        }
        "scrape_job" => {
            let b: ScrapeJobBody = field(raw)?;
            check_url(&b.url)?;
            check_domain(&b.domain)?;
            if !matches!(b.status.as_str(), "queued" | "running" | "done" | "failed") {
                return Err("status must be one of queued, running, done, failed".into());
            }
            Ok(Event::ScrapeJob(ScrapeJobEvent {
                domain: b.domain,
                url: b.url,
                status: b.status,
                at,
            }))
        }
        _ => {
            let b: ShopBody = field(raw)?;
            check_domain(&b.domain)?;
            let currency = b.currency.trim().to_uppercase();
            if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err("currency must be a three-letter code such as USD".into());
            }
            let (kind, id, amount_nanos) = if kind == "order" {
                let id = b.order_id.ok_or("missing field `order_id`")?;
                (ShopKind::Order, id, amount("total", b.total.as_ref())?)
            } else {
                let id = b.cart_id.ok_or("missing field `cart_id`")?;
                (
                    ShopKind::AbandonedCart,
                    id,
                    amount("value", b.value.as_ref())?,
                )
            };
            check_id(
                if kind == ShopKind::Order {
                    "order_id"
                } else {
                    "cart_id"
                },
                &id,
            )?;
            Ok(Event::Shop(ShopEvent {
                kind,
                domain: b.domain,
                id,
                amount_nanos,
                currency,
                at,
            }))
        }
    }
}

/// Scraped structured data; products carry a `name` and optionally a `price`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractionEvent {
    pub domain: String,
    pub extraction_type: String,
    pub data: Value,
    /// Products: the normalised name and the price as decimal text.
    pub product_name: Option<String>,
    pub price: Option<String>,
    pub at: Micros,
}

#[derive(Deserialize)]
struct ExtractionBody {
    domain: String,
    extraction_type: String,
    data: Value,
}

fn parse_extraction(raw: &str, at: Micros) -> Result<Event, String> {
    let b: ExtractionBody = field(raw)?;
    check_domain(&b.domain)?;
    if !matches!(b.extraction_type.as_str(), "products" | "faq" | "contact") {
        return Err("extraction_type must be one of products, faq, contact".into());
    }
    if !b.data.is_object() {
        return Err("data must be a JSON object".into());
    }
    let (mut product_name, mut price) = (None, None);
    if b.extraction_type == "products" {
        let name = b.data.get("name").and_then(Value::as_str).unwrap_or("");
        // Matched against requests the same way they are extracted.
        let normalised = crate::text::extract_product(name).unwrap_or_default();
        if normalised.is_empty() {
            return Err("data.name must name the product".into());
        }
        product_name = Some(normalised);
        price = match b.data.get("price") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                s.trim()
                    .parse::<rust_decimal::Decimal>()
                    .map_err(|_| "data.price must be a number".to_string())?,
            ),
            Some(Value::Number(n)) => Some(
                n.to_string()
                    .parse::<rust_decimal::Decimal>()
                    .map_err(|_| "data.price must be a number".to_string())?,
            ),
            Some(_) => return Err("data.price must be a number".into()),
        }
        .map(|d| d.normalize().to_string());
    }
    Ok(Event::Extraction(ExtractionEvent {
        domain: b.domain,
        extraction_type: b.extraction_type,
        data: b.data,
        product_name,
        price,
        at,
    }))
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationEvent {
    pub conversation_id: String,
    pub domain: String,
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

#[derive(Deserialize)]
struct ConversationBody {
    conversation_id: String,
    domain: String,
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct MessageBody {
    conversation_id: String,
    message_id: Option<String>,
    role: String,
    content: String,
    metadata: Option<Value>,
}

/// Parses and validates any event; `received_at` is the default timestamp.
pub fn parse(raw: &str, received_at: Micros) -> Result<Event, String> {
    // The header is read once; the body by the parser of the event's type.
    let header: Header = field(raw)?;
    let kind = header.kind.clone().unwrap_or_default();
    let kind = kind.as_str();
    if !matches!(
        kind,
        "conversation"
            | "message"
            | "extraction"
            | "page"
            | "scrape_job"
            | "cart.abandoned"
            | "order"
    ) {
        return session_event(raw, header, received_at).map(Event::Session);
    }
    let at = event_time(&header.timestamp, received_at)?;
    if kind == "extraction" {
        return parse_extraction(raw, at);
    }
    if matches!(kind, "page" | "scrape_job" | "cart.abandoned" | "order") {
        return parse_content(kind, raw, at);
    }
    if kind == "conversation" {
        let b: ConversationBody = field(raw)?;
        check_id("conversation_id", &b.conversation_id)?;
        check_domain(&b.domain)?;
        check_object("metadata", &b.metadata)?;
        return Ok(Event::Conversation(ConversationEvent {
            conversation_id: b.conversation_id,
            domain: b.domain,
            metadata: b.metadata,
            at,
        }));
    }
    let b: MessageBody = field(raw)?;
    check_id("conversation_id", &b.conversation_id)?;
    if let Some(id) = &b.message_id {
        check_id("message_id", id)?;
    }
    let role = match b.role.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        _ => return Err("role must be user or assistant".into()),
    };
    check_text("content", &b.content)?;
    check_object("metadata", &b.metadata)?;
    Ok(Event::Message(MessageEvent {
        conversation_id: b.conversation_id,
        message_id: b.message_id,
        role,
        content: b.content,
        metadata: b.metadata,
        at,
    }))
}

#[cfg(test)]
mod content_tests {
    use super::*;

    #[test]
    fn conversation_events_need_no_session_id() {
        let e = parse(
            r#"{"type":"conversation","conversation_id":"c1","domain":"shop.example"}"#,
            5,
        )
        .expect("valid");
        assert!(matches!(
            e,
            Event::Conversation(ConversationEvent { at: 5, .. })
        ));
        let e = parse(
            r#"{"type":"message","conversation_id":"c1","role":"user","content":"hola"}"#,
            5,
        )
        .expect("valid");
        assert!(matches!(
            e,
            Event::Message(MessageEvent {
                role: Role::User,
                ..
            })
        ));
        let err = parse(
            r#"{"type":"message","conversation_id":"c1","role":"bot","content":"x"}"#,
            5,
        )
        .expect_err("invalid");
        assert_eq!(err, "role must be user or assistant");
        let err = parse(
            r#"{"type":"message","conversation_id":"c1","role":"user"}"#,
            5,
        )
        .expect_err("invalid");
        assert_eq!(err, "missing field `content`");
        let err = parse(r#"{"type":"usage","input_tokens":1,"output_tokens":1}"#, 5)
            .expect_err("invalid");
        assert_eq!(err, "missing field `session_id`");
    }
}

#[cfg(test)]
mod shop_and_content_tests {
    use super::*;

    #[test]
    fn shop_and_page_events_validate_their_fields() {
        let e = parse(
            r#"{"type":"order","domain":"d","order_id":"o1","total":"129.99","currency":"usd"}"#,
            5,
        )
        .expect("valid");
        assert!(matches!(
            e,
            Event::Shop(ShopEvent {
                amount_nanos: 129_990_000_000,
                kind: ShopKind::Order,
                ..
            })
        ));
        let err = parse(
            r#"{"type":"cart.abandoned","domain":"d","cart_id":"c","value":-1,"currency":"USD"}"#,
            5,
        )
        .expect_err("invalid");
        assert_eq!(err, "value must not be negative");
        let err = parse(
            r#"{"type":"order","domain":"d","order_id":"o","total":1,"currency":"dollars"}"#,
            5,
        )
        .expect_err("invalid");
        assert_eq!(err, "currency must be a three-letter code such as USD");
        let err = parse(
            r#"{"type":"order","domain":"d","total":1,"currency":"USD"}"#,
            5,
        )
        .expect_err("invalid");
        assert_eq!(err, "missing field `order_id`");
        let e = parse(
            r#"{"type":"page","url":"https://d/x","domain":"d","content":"héllo","embeddings":2}"#,
            5,
        )
        .expect("valid");
        assert!(matches!(
            e,
            Event::Page(PageEvent {
                content_length: 5,
                embeddings: 2,
                ..
            })
        ));
        let err =
            parse(r#"{"type":"page","url":"https://d/x","domain":"d"}"#, 5).expect_err("invalid");
        assert_eq!(err, "missing field `content` (or `content_length`)");
        let err = parse(
            r#"{"type":"scrape_job","url":"u","domain":"d","status":"paused"}"#,
            5,
        )
        .expect_err("invalid");
        assert_eq!(err, "status must be one of queued, running, done, failed");
    }
}
