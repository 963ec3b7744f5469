//! OpenTelemetry spans as session events. The OTLP receiver maps each span onto one
//! `SpanFacts`; a session built from spans keeps an `OtlpState` so that it can end on its
//! own: once its root span has ended and no span arrived for a quiet period, it ends as a
//! success unless one of its spans failed.

use crate::clock::Micros;
use crate::domain::Domain;
use crate::pricing::PriceTable;
use crate::session::{Rejection, Session, MAX_DETAIL_ENTRIES};
use crate::usage::{CallUsage, ServiceTier, TokenUsage};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The model of a session whose spans have not named one yet.
pub const UNKNOWN_MODEL: &str = "unknown";

/// What one span contributes to its session.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanFacts {
    pub domain: Domain,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub start: Micros,
    pub end: Micros,
    /// A span without a parent: when it has ended, the session may settle.
    pub is_root: bool,
    pub operation: SpanOperation,
    /// Counted only for model calls: agent spans repeat their children's totals.
    pub usage: TokenUsage,
    /// `openai.response.service_tier`, for model calls.
    pub service_tier: ServiceTier,
    /// `error.type`, or the status message of a span whose status is an error.
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SpanOperation {
    /// A model call (`chat`, `text_completion`, `generate_content`): one iteration.
    ModelCall,
    /// `execute_tool` or `retrieval`: one search. `results` is known only when the span
    /// says (documents retrieved, or `omniops.search.results`).
    Search {
        query: String,
        source: Option<String>,
        results: Option<i64>,
    },
    /// Anything else (agent, workflow, HTTP handler spans): frames the session only.
    Other,
}

/// What a session built from spans remembers between batches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtlpState {
    /// When the latest span arrived (the receiver's clock): the quiet period counts from it.
    pub received_at: Micros,
    /// End of the root span, once it has arrived.
    pub root_end: Option<Micros>,
    /// The first failure among the session's spans.
    pub failure: Option<String>,
}

impl Session {
    /// A new session from the first span that names it.
    pub fn from_span(
        id: String,
        session_id: String,
        span: &SpanFacts,
        received_at: Micros,
        prices: &PriceTable,
    ) -> Self {
        let model = span
            .model
            .clone()
            .unwrap_or_else(|| UNKNOWN_MODEL.to_string());
        let mut session = Session::start(
            id,
            session_id,
            span.start,
            model,
            span.domain.to_string(),
            prices,
        );
        session.metadata = Some(json!({"source": "otlp", "provider": span.provider}));
        session.otlp = Some(OtlpState {
            received_at,
            ..OtlpState::default()
        });
        session
    }

    /// Adds one span. The session's start moves back to its earliest span, and its model is
    /// the first one a span names.
    pub fn apply_span(
        &mut self,
        span: &SpanFacts,
        received_at: Micros,
        prices: &PriceTable,
    ) -> Result<(), Rejection> {
        if !self.is_active() {
            return Err(Rejection::SessionEnded);
        }
        if self.otlp.is_none() {
            return Err(Rejection::NotFromSpans);
        }
        // A model call, or any other span that reports usage, is one call of the session.
        let is_call = matches!(span.operation, SpanOperation::ModelCall)
            || span.usage != TokenUsage::default();
        if is_call {
            let usage = CallUsage {
                tokens: span.usage,
                cache_write_1h: 0,
                service_tier: span.service_tier,
            };
            self.push_call(usage, span.start)?;
        }
        let Some(state) = self.otlp.as_mut() else {
            return Err(Rejection::NotFromSpans);
        };
        state.received_at = state.received_at.max(received_at);
        if span.is_root {
            state.root_end = Some(span.end);
        }
        if state.failure.is_none() {
            state.failure.clone_from(&span.failure);
        }
        match &span.operation {
            SpanOperation::ModelCall => self.iterations += 1,
            SpanOperation::Search {
                query,
                source,
                results,
            } => {
                self.search_count += 1;
                self.total_results = self.total_results.saturating_add(results.unwrap_or(0));
                if self.searches.len() < MAX_DETAIL_ENTRIES {
                    self.searches.push(json!({
                        "query": query,
                        "results": results,
                        "source": source,
                        "duration_ms": (span.end - span.start) / 1_000,
                        "timestamp": crate::clock::to_rfc3339(span.start),
                    }));
                }
            }
            SpanOperation::Other => {}
        }
        let mut repriced = false;
        if let (UNKNOWN_MODEL, Some(model)) = (self.model.as_str(), &span.model) {
            self.model.clone_from(model);
            repriced = true;
            if let Some(metadata) = self.metadata.as_mut() {
                if metadata["provider"].is_null() {
                    metadata["provider"] = json!(span.provider);
                }
            }
        }
        if span.start < self.start_time {
            self.start_time = span.start;
            repriced = true;
        }
        self.last_event_at = self.last_event_at.max(span.end);
        // A new model or start may change the entry in force: price every call again.
        if repriced {
            self.reprice(prices);
        } else if is_call {
            self.price_last_call(prices);
        }
        Ok(())
    }

    /// Ends a span-built session whose root span has ended and which heard nothing since
    /// `quiet_before`; returns whether it ended. It ends at its latest span's end.
    pub fn settle(&mut self, quiet_before: Micros) -> bool {
        let Some(state) = &self.otlp else {
            return false;
        };
        if !self.is_active() || state.root_end.is_none() || state.received_at >= quiet_before {
            return false;
        }
        self.close_from_spans();
        true
    }

    /// Ends a span-built session as its spans say: a success unless one failed. The idle
    /// reaper uses this too, so it never marks such a session failed for falling silent.
    pub fn close_from_spans(&mut self) {
        let failure = self.otlp.as_ref().and_then(|s| s.failure.clone());
        self.end_time = Some(self.last_event_at.max(self.start_time));
        self.success = Some(failure.is_none());
        self.error = failure;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::default_prices;

    const T0: Micros = 1_764_000_000_000_000;

    fn span(operation: SpanOperation, start: Micros, end: Micros) -> SpanFacts {
        SpanFacts {
            domain: crate::domain::Domain::parse("shop.example").expect("domain"),
            model: None,
            provider: None,
            start,
            end,
            is_root: false,
            operation,
            usage: TokenUsage::default(),
            service_tier: ServiceTier::Default,
            failure: None,
        }
    }

    #[test]
    fn spans_in_any_order_build_one_session_that_settles_after_the_quiet_period() {
        let prices = PriceTable::new(default_prices());
        let tool = span(
            SpanOperation::Search {
                query: "red shoes".into(),
                source: Some("catalog".into()),
                results: None,
            },
            T0 + 2_000_000,
            T0 + 2_500_000,
        );
        let mut s = Session::from_span("id".into(), "conv-1".into(), &tool, T0, &prices);
        s.apply_span(&tool, T0, &prices).expect("tool span");
        assert_eq!(s.model, UNKNOWN_MODEL);
        let mut chat = span(SpanOperation::ModelCall, T0 + 1_000_000, T0 + 1_900_000);
        chat.model = Some("gpt-4".into());
        chat.provider = Some("openai".into());
        chat.usage = TokenUsage {
            input: 1_000,
            output: 500,
            ..TokenUsage::default()
        };
        s.apply_span(&chat, T0 + 10, &prices).expect("chat span");
        // gpt-4 at $30/$60 per million: 0.03 + 0.03 = $0.06
        assert_eq!(s.cost_nanos, Some(60_000_000));
        assert_eq!(s.start_time, T0 + 1_000_000);
        assert_eq!((s.iterations, s.search_count), (1, 1));
        assert_eq!(s.searches[0]["results"], serde_json::Value::Null);
        assert_eq!(
            s.metadata,
            Some(json!({"source": "otlp", "provider": "openai"}))
        );
        assert!(!s.settle(T0 + 1_000), "no root span yet");
        let mut root = span(SpanOperation::Other, T0 + 900_000, T0 + 3_000_000);
        root.is_root = true;
        s.apply_span(&root, T0 + 20, &prices).expect("root span");
        assert!(!s.settle(T0 + 20), "a span arrived inside the quiet period");
        assert!(s.settle(T0 + 21));
        assert_eq!(s.duration_ms(), Some(2_100));
        assert_eq!((s.success, s.error.as_deref()), (Some(true), None));
        assert_eq!(
            s.apply_span(&chat, T0 + 30, &prices),
            Err(Rejection::SessionEnded)
        );
    }

    #[test]
    fn a_failed_span_fails_the_session() {
        let prices = PriceTable::new(default_prices());
        let mut failed = span(SpanOperation::ModelCall, T0, T0 + 1_000);
        failed.failure = Some("rate_limit_exceeded".into());
        let mut s = Session::from_span("id".into(), "t".into(), &failed, T0, &prices);
        s.apply_span(&failed, T0, &prices).expect("applies");
        s.apply_span(&span(SpanOperation::ModelCall, T0, T0 + 2_000), T0, &prices)
            .expect("applies");
        s.close_from_spans();
        assert_eq!(s.success, Some(false));
        assert_eq!(s.error.as_deref(), Some("rate_limit_exceeded"));
        assert_eq!(s.iterations, 2);
    }

    #[test]
    fn spans_do_not_apply_to_sessions_from_the_ingest_api() {
        let prices = PriceTable::new(default_prices());
        let mut s = Session::start(
            "id".into(),
            "s".into(),
            T0,
            "gpt-4".into(),
            "d".into(),
            &prices,
        );
        assert_eq!(
            s.apply_span(&span(SpanOperation::Other, T0, T0), T0, &prices),
            Err(Rejection::NotFromSpans)
        );
        assert!(!s.settle(T0 + 1));
    }
}
