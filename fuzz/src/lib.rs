//! What every accepted event must satisfy, whatever the input: the bounds of
//! `omniops_core::limits`, no NUL anywhere (PostgreSQL cannot store one), and times inside
//! the accepted range. The targets panic (a crash to libFuzzer) when one does not hold.

use omniops_core::events::{Event, EventKind, IngestEvent};
use omniops_core::limits::*;
use omniops_core::usage::TokenUsage;
use serde_json::Value;

/// When the targets say events arrived: 2026-06-01T00:00:00Z.
pub const RECEIVED_AT: i64 = 1_780_272_000_000_000;

fn tokens_bounded(usage: &TokenUsage, max: i64) {
    for (name, n) in [
        ("input", usage.input),
        ("cached_input", usage.cached_input),
        ("cache_write", usage.cache_write),
        ("output", usage.output),
        ("reasoning", usage.reasoning),
    ] {
        assert!((0..=max).contains(&n), "{name} tokens {n} accepted");
    }
    assert!(usage.cached_input + usage.cache_write <= usage.input);
}

fn time_bounded(at: i64) {
    assert!(at >= MIN_TIMESTAMP, "time {at} before the minimum accepted");
    assert!(
        at <= RECEIVED_AT + MAX_AHEAD_MICROS,
        "time {at} too far ahead"
    );
}

/// The bounds one accepted session event keeps.
pub fn check_session_event(event: &IngestEvent) {
    assert!(!event.session_id.is_empty() && event.session_id.len() <= MAX_ID_LEN);
    no_nul(&event.session_id);
    match &event.kind {
        EventKind::Start {
            domain,
            model,
            metadata,
            ..
        } => {
            assert!(domain.len() <= MAX_DOMAIN_LEN && !model.is_empty());
            [domain.as_str(), model.as_str()]
                .into_iter()
                .for_each(no_nul);
            metadata.iter().for_each(no_nul_value);
            time_bounded(event.at);
        }
        EventKind::Iteration { iteration } => assert!((0..=MAX_ITERATIONS).contains(iteration)),
        EventKind::Search {
            query,
            results,
            duration_ms,
            ..
        } => {
            no_nul(query);
            assert!((0..=MAX_SEARCH_RESULTS).contains(results));
            assert!(duration_ms.is_none_or(|d| (0..=MAX_DURATION_MS).contains(&d)));
        }
        EventKind::Usage(call) => {
            tokens_bounded(&call.tokens, MAX_TOKENS);
            assert!(call.cache_write_1h >= 0 && call.cache_write_1h <= call.tokens.cache_write);
        }
        EventKind::Backfill(session) => {
            tokens_bounded(&session.usage, MAX_SESSION_TOKENS);
            assert!((0..=MAX_ITERATIONS).contains(&session.iterations));
            assert!((0..=MAX_SEARCHES).contains(&session.search_count));
            assert!((0..=MAX_TOTAL_RESULTS).contains(&session.total_results));
            assert!(session.domain.len() <= MAX_DOMAIN_LEN);
            [session.domain.as_str(), session.model.as_str()]
                .into_iter()
                .for_each(no_nul);
            session
                .searches
                .iter()
                .chain(&session.logs)
                .for_each(no_nul_value);
            assert!(session.end_time >= session.start_time);
            assert!(session.end_time - session.start_time <= MAX_DURATION_MS * 1000);
            time_bounded(session.start_time);
        }
        EventKind::Span(span) => {
            tokens_bounded(&span.usage, MAX_TOKENS);
            assert!(span.domain.len() <= MAX_DOMAIN_LEN && span.end >= span.start);
            // Normalised once: lowercase, trimmed.
            assert_eq!(span.domain.as_str(), span.domain.trim().to_lowercase());
        }
        EventKind::Log { message, .. } => no_nul(message),
        EventKind::End { error, .. } => error.iter().for_each(|e| no_nul(e)),
        EventKind::Settle { .. } => {}
    }
}

/// The bounds any accepted event keeps.
pub fn check_event(event: &Event) {
    if let Event::Session(session) = event {
        check_session_event(session);
    }
}

fn no_nul(text: &str) {
    assert!(!text.contains('\0'), "a NUL accepted in {text:?}");
}

fn no_nul_value(value: &Value) {
    match value {
        Value::String(s) => no_nul(s),
        Value::Array(items) => items.iter().for_each(no_nul_value),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            no_nul(k);
            no_nul_value(v);
        }),
        _ => {}
    }
}
