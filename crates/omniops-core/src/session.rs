//! One chat session (a `chat_telemetry` row) and how events change it.

use crate::clock::Micros;
use crate::events::{BackfillSession, EventKind};
use crate::money::Nanos;
use crate::pricing::PriceTable;
use crate::span::OtlpState;
use crate::usage::TokenUsage;
use serde_json::{json, Value};

/// Stored detail lists (searches, logs) keep at most this many entries; counters go on.
pub const MAX_DETAIL_ENTRIES: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub session_id: String,
    pub model: String,
    pub domain: String,
    pub conversation_id: Option<String>,
    pub start_time: Micros,
    pub end_time: Option<Micros>,
    pub iterations: i64,
    pub search_count: i64,
    pub total_results: i64,
    pub searches: Vec<Value>,
    pub usage: TokenUsage,
    /// `None` while the model has no price (the session is *unpriced*).
    pub cost_nanos: Option<Nanos>,
    pub success: Option<bool>,
    pub error: Option<String>,
    pub logs: Vec<Value>,
    pub metadata: Option<Value>,
    pub last_event_at: Micros,
    /// Ids of the events applied, so that a repeated event changes nothing.
    pub event_ids: Vec<String>,
    /// Set for sessions built from OpenTelemetry spans.
    pub otlp: Option<OtlpState>,
}

/// Why an event could not apply to its session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("unknown session")]
    UnknownSession,
    #[error("session ended")]
    SessionEnded,
    #[error("session already started")]
    AlreadyStarted,
    #[error("timestamp is before the session start")]
    BeforeStart,
    #[error("token counts too large")]
    Overflow,
    #[error("session was not started from OpenTelemetry spans")]
    NotFromSpans,
}

impl Session {
    pub fn start(
        id: String,
        session_id: String,
        at: Micros,
        model: String,
        domain: String,
        prices: &PriceTable,
    ) -> Self {
        let mut s = Session {
            id,
            session_id,
            model,
            domain,
            conversation_id: None,
            start_time: at,
            end_time: None,
            iterations: 0,
            search_count: 0,
            total_results: 0,
            searches: Vec::new(),
            usage: TokenUsage::default(),
            cost_nanos: None,
            success: None,
            error: None,
            logs: Vec::new(),
            metadata: None,
            last_event_at: at,
            event_ids: Vec::new(),
            otlp: None,
        };
        s.reprice(prices);
        s
    }

    pub fn from_backfill(
        id: String,
        session_id: String,
        b: BackfillSession,
        prices: &PriceTable,
    ) -> Self {
        let mut s = Session {
            id,
            session_id,
            model: b.model,
            domain: b.domain,
            conversation_id: b.conversation_id,
            start_time: b.start_time,
            end_time: Some(b.end_time),
            iterations: b.iterations,
            search_count: b.search_count,
            total_results: b.total_results,
            searches: b.searches,
            usage: b.usage,
            cost_nanos: None,
            success: Some(b.success),
            error: b.error,
            logs: b.logs,
            metadata: b.metadata,
            last_event_at: b.end_time,
            event_ids: Vec::new(),
            otlp: None,
        };
        s.searches.truncate(MAX_DETAIL_ENTRIES);
        s.logs.truncate(MAX_DETAIL_ENTRIES);
        s.reprice(prices);
        s
    }

    pub fn is_active(&self) -> bool {
        self.end_time.is_none()
    }

    pub fn duration_ms(&self) -> Option<i64> {
        self.end_time.map(|end| (end - self.start_time) / 1_000)
    }

    /// Prices the session by the entry in force at its start.
    pub fn reprice(&mut self, prices: &PriceTable) {
        self.cost_nanos = prices
            .lookup(&self.model, self.start_time)
            .map(|entry| entry.cost_nanos(&self.usage));
    }

    /// Applies an event to a started session. `Start` and `Backfill` create sessions and
    /// are handled by the caller.
    pub fn apply(
        &mut self,
        kind: &EventKind,
        at: Micros,
        prices: &PriceTable,
    ) -> Result<(), Rejection> {
        if !self.is_active() {
            return Err(Rejection::SessionEnded);
        }
        match kind {
            EventKind::Start { .. } | EventKind::Backfill(_) => {
                return Err(Rejection::AlreadyStarted)
            }
            EventKind::Iteration { iteration } => self.iterations = self.iterations.max(*iteration),
            EventKind::Search {
                query,
                results,
                source,
                duration_ms,
            } => {
                self.search_count += 1;
                self.total_results = self.total_results.saturating_add(*results);
                if self.searches.len() < MAX_DETAIL_ENTRIES {
                    self.searches.push(json!({
                        "query": query,
                        "results": results,
                        "source": source,
                        "duration_ms": duration_ms,
                        "timestamp": crate::clock::to_rfc3339(at),
                    }));
                }
            }
            EventKind::Usage(tokens) => {
                self.usage = self
                    .usage
                    .checked_add(tokens)
                    .map_err(|_| Rejection::Overflow)?;
                self.reprice(prices);
            }
            EventKind::Log { level, message } => {
                if self.logs.len() < MAX_DETAIL_ENTRIES {
                    self.logs.push(json!({
                        "level": level,
                        "message": message,
                        "timestamp": crate::clock::to_rfc3339(at),
                    }));
                }
            }
            EventKind::Span(span) => return self.apply_span(span, at, prices),
            EventKind::Settle { quiet_before } => {
                match quiet_before {
                    Some(cutoff) => {
                        self.settle(*cutoff);
                    }
                    None if self.otlp.is_some() => self.close_from_spans(),
                    None => return Err(Rejection::NotFromSpans),
                }
                return Ok(());
            }
            EventKind::End { success, error } => {
                if at < self.start_time {
                    return Err(Rejection::BeforeStart);
                }
                self.end_time = Some(at);
                self.success = Some(*success);
                self.error = error.clone();
            }
        }
        self.last_event_at = self.last_event_at.max(at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::default_prices;

    const T0: Micros = 1_764_000_000_000_000;

    fn started(model: &str) -> (Session, PriceTable) {
        let prices = PriceTable::new(default_prices());
        let s = Session::start(
            "id".into(),
            "s1".into(),
            T0,
            model.into(),
            "d".into(),
            &prices,
        );
        (s, prices)
    }

    #[test]
    fn usage_accumulates_and_reprices() {
        let (mut s, prices) = started("gpt-4");
        assert_eq!(s.cost_nanos, Some(0));
        let half = TokenUsage {
            input: 500,
            output: 250,
            ..Default::default()
        };
        s.apply(&EventKind::Usage(half), T0 + 1, &prices)
            .expect("applies");
        s.apply(&EventKind::Usage(half), T0 + 2, &prices)
            .expect("applies");
        assert_eq!(s.usage.input, 1_000);
        assert_eq!(s.cost_nanos, Some(60_000_000));
    }

    #[test]
    fn unpriced_model_has_no_cost() {
        let (s, _) = started("gpt-3.5-turbo-0613");
        assert_eq!(s.cost_nanos, None);
    }

    #[test]
    fn end_finalises_and_later_events_are_rejected() {
        let (mut s, prices) = started("gpt-4");
        s.apply(&EventKind::Iteration { iteration: 2 }, T0 + 10, &prices)
            .expect("applies");
        s.apply(&EventKind::Iteration { iteration: 1 }, T0 + 11, &prices)
            .expect("applies");
        assert_eq!(s.iterations, 2);
        s.apply(
            &EventKind::End {
                success: true,
                error: None,
            },
            T0 + 2_500_000,
            &prices,
        )
        .expect("applies");
        assert_eq!(s.duration_ms(), Some(2_500));
        assert_eq!(
            s.apply(
                &EventKind::Iteration { iteration: 3 },
                T0 + 3_000_000,
                &prices
            ),
            Err(Rejection::SessionEnded)
        );
    }

    #[test]
    fn end_before_start_is_rejected() {
        let (mut s, prices) = started("gpt-4");
        assert_eq!(
            s.apply(
                &EventKind::End {
                    success: true,
                    error: None
                },
                T0 - 1,
                &prices
            ),
            Err(Rejection::BeforeStart)
        );
        assert!(s.is_active());
    }
}
