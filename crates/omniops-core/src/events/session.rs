//! Session events: `session.start`, `iteration`, `search`, `usage`, `log`, `session.end`
//! and whole `session`s (backfills).

use super::check::{
    check_id, check_object, check_text, count, event_time, field, time, EventError,
};
use super::{BackfillSession, EventKind, Header, IngestEvent};
use crate::clock::Micros;
use crate::domain::Domain;
use crate::limits::{
    MAX_DURATION_MS, MAX_ITERATIONS, MAX_SEARCHES, MAX_SEARCH_RESULTS, MAX_TOKENS,
    MAX_TOTAL_RESULTS,
};
use crate::usage::{CallUsage, ProviderUsage, ServiceTier, TokenUsage};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct StartBody {
    model: String,
    domain: Domain,
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

/// Token counts given flat, or a provider's `usage` object.
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
    domain: Domain,
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

impl UsageBody {
    fn tokens(&self) -> Result<TokenUsage, EventError> {
        match &self.usage {
            Some(provider) => provider
                .normalise()
                .map_err(|e| EventError::usage(e, "usage.")),
            None => {
                let (Some(input), Some(output)) = (self.input_tokens, self.output_tokens) else {
                    return Err(EventError::new(
                        "input_tokens",
                        "missing field `input_tokens`/`output_tokens` (or a nested `usage` object)",
                    ));
                };
                let usage = TokenUsage {
                    input,
                    cached_input: self.cached_input_tokens.unwrap_or(0),
                    cache_write: self.cache_write_tokens.unwrap_or(0),
                    output,
                    reasoning: self.reasoning_tokens.unwrap_or(0),
                };
                usage.validate().map_err(|e| EventError::usage(e, ""))?;
                Ok(usage)
            }
        }
    }
}

impl CallBody {
    fn call(self) -> Result<CallUsage, EventError> {
        let tier = match self.service_tier.as_deref() {
            None => None,
            Some(text) => Some(ServiceTier::parse(text).ok_or_else(|| {
                EventError::new(
                    "service_tier",
                    "service_tier must be one of default, flex, priority, batch",
                )
            })?),
        };
        let (mut call, prefix) = match &self.usage {
            Some(provider) => (
                provider
                    .call()
                    .map_err(|e| EventError::usage(e, "usage."))?,
                "usage.",
            ),
            None => {
                let tokens = UsageBody {
                    input_tokens: self.input_tokens,
                    output_tokens: self.output_tokens,
                    cached_input_tokens: self.cached_input_tokens,
                    cache_write_tokens: self.cache_write_tokens,
                    reasoning_tokens: self.reasoning_tokens,
                    usage: None,
                }
                .tokens()?;
                let call = CallUsage {
                    tokens,
                    cache_write_1h: self.cache_write_1h_tokens.unwrap_or(0),
                    service_tier: ServiceTier::Default,
                };
                (call, "")
            }
        };
        // OpenAI reports the tier beside `usage`: the event's field wins.
        if let Some(tier) = tier {
            call.service_tier = tier;
        }
        call.validate().map_err(|e| EventError::usage(e, prefix))?;
        Ok(call)
    }
}

/// A session event, its header already read.
pub(super) fn session_event(
    raw: &str,
    header: Header,
    received_at: Micros,
) -> Result<IngestEvent, EventError> {
    let kind_name = header
        .kind
        .ok_or_else(|| EventError::new("type", "missing field `type`"))?;
    let session_id = header
        .session_id
        .ok_or_else(|| EventError::new("session_id", "missing field `session_id`"))?;
    check_id("session_id", &session_id)?;
    if let Some(id) = &header.event_id {
        check_id("event_id", id)?;
    }
    let at = event_time(&header.timestamp, received_at)?;
    let kind = match kind_name.as_str() {
        "session.start" => start(raw)?,
        "iteration" => {
            let b: IterationBody = field(raw)?;
            if b.iteration < 1 {
                return Err(EventError::new(
                    "iteration",
                    "iteration must be 1 or more (the 1-based cycle number)",
                ));
            }
            EventKind::Iteration {
                iteration: count("iteration", b.iteration, MAX_ITERATIONS)?,
            }
        }
        "search" => {
            let b: SearchBody = field(raw)?;
            check_text("query", &b.query)?;
            if let Some(source) = &b.source {
                check_text("source", source)?;
            }
            EventKind::Search {
                query: b.query,
                results: count("results", b.results, MAX_SEARCH_RESULTS)?,
                source: b.source,
                duration_ms: b
                    .duration_ms
                    .map(|d| count("duration_ms", d, MAX_DURATION_MS))
                    .transpose()?,
            }
        }
        "usage" => EventKind::Usage(field::<CallBody>(raw)?.call()?),
        "log" => {
            let b: LogBody = field(raw)?;
            if !matches!(b.level.as_str(), "debug" | "info" | "warn" | "error") {
                return Err(EventError::new(
                    "level",
                    "level must be one of debug, info, warn, error",
                ));
            }
            check_text("message", &b.message)?;
            EventKind::Log {
                level: b.level,
                message: b.message,
            }
        }
        "session.end" => {
            let b: EndBody = field(raw)?;
            if let Some(e) = &b.error {
                check_text("error", e)?;
            }
            EventKind::End {
                success: b.success,
                error: b.error,
            }
        }
        "session" => EventKind::Backfill(Box::new(backfill(raw, received_at)?)),
        other => {
            return Err(EventError::new(
                "type",
                format!("unknown event type `{other}` (expected session.start, iteration, search, usage, log, session.end or session)"),
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

fn start(raw: &str) -> Result<EventKind, EventError> {
    let b: StartBody = field(raw)?;
    check_id("model", &b.model)?;
    if let Some(c) = &b.conversation_id {
        check_id("conversation_id", c)?;
    }
    check_object("metadata", &b.metadata)?;
    Ok(EventKind::Start {
        model: b.model,
        domain: b.domain,
        conversation_id: b.conversation_id,
        metadata: b.metadata,
    })
}

/// The searches listed in a backfill: each `results` bounded, each `query` text.
fn check_searches(searches: &[Value]) -> Result<(), EventError> {
    for (i, s) in searches.iter().enumerate() {
        if let Some(n) = s.get("results").and_then(Value::as_i64) {
            count(&format!("searches[{i}].results"), n, MAX_SEARCH_RESULTS)?;
        }
        if let Some(q) = s.get("query").and_then(Value::as_str) {
            check_text(&format!("searches[{i}].query"), q)?;
        }
    }
    Ok(())
}

fn backfill(raw: &str, received_at: Micros) -> Result<BackfillSession, EventError> {
    let b: SessionBody = field(raw)?;
    check_id("model", &b.model)?;
    if let Some(c) = &b.conversation_id {
        check_id("conversation_id", c)?;
    }
    check_object("metadata", &b.metadata)?;
    check_searches(&b.searches)?;
    let start_time = time("start_time", &b.start_time, received_at)?;
    let end_time = match (&b.end_time, b.duration_ms) {
        (Some(end), _) => time("end_time", end, received_at)?,
        (None, Some(ms)) => start_time + count("duration_ms", ms, MAX_DURATION_MS)? * 1_000,
        (None, None) => {
            return Err(EventError::new(
                "end_time",
                "missing field `end_time` (or `duration_ms`)",
            ))
        }
    };
    if end_time < start_time {
        return Err(EventError::new(
            "end_time",
            "end_time must not be before start_time",
        ));
    }
    if end_time - start_time > MAX_DURATION_MS * 1_000 {
        return Err(EventError::new(
            "end_time",
            format!("a session may last at most {MAX_DURATION_MS} ms"),
        ));
    }
    if let Some(e) = &b.error {
        check_text("error", e)?;
    }
    // Without an explicit total, the results of the listed searches add up (each is
    // bounded, and there are at most as many as the body holds).
    let total_results = match b.total_results {
        Some(n) => count("total_results", n, MAX_TOTAL_RESULTS)?,
        None => b
            .searches
            .iter()
            .filter_map(|s| s.get("results").and_then(Value::as_i64))
            .filter(|n| *n > 0)
            .fold(0i64, i64::saturating_add)
            .min(MAX_TOTAL_RESULTS),
    };
    let search_count = match b.search_count {
        Some(n) => count("search_count", n, MAX_SEARCHES)?,
        None => (b.searches.len() as i64).min(MAX_SEARCHES),
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
    debug_assert!(usage.input <= MAX_TOKENS);
    Ok(BackfillSession {
        usage,
        model: b.model,
        domain: b.domain,
        conversation_id: b.conversation_id,
        start_time,
        end_time,
        iterations: count("iterations", b.iterations.unwrap_or(0), MAX_ITERATIONS)?,
        search_count,
        total_results,
        searches: b.searches,
        success: b.success,
        error: b.error,
        logs: b.logs,
        metadata: b.metadata,
    })
}
