//! One chat session (a `chat_telemetry` row) and how events change it.

use crate::clock::Micros;
use crate::events::{BackfillSession, EventKind};
use crate::money::Nanos;
use crate::pricing::{CallTier, PriceEntry, PriceTable, TokenKind};
use crate::span::OtlpState;
use crate::usage::{CallUsage, ServiceTier, TokenUsage};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Stored detail lists (searches, logs) keep at most this many entries; counters go on.
pub const MAX_DETAIL_ENTRIES: usize = 500;

/// Model calls one session may record: every call is kept, since the session's cost is
/// the sum of its calls' costs and repricing needs each of them.
pub const MAX_CALLS: usize = 10_000;

/// One model call of a session: a `usage` event, or an OpenTelemetry span with usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub at: Micros,
    pub usage: CallUsage,
    /// The context size the call was above, when a tier for it priced the call.
    pub above_input_tokens: Option<i64>,
    /// `None` while the session's model has no price.
    pub cost_nanos: Option<Nanos>,
}

/// A call as stored in `chat_telemetry.calls`: short keys, zeros left out.
#[derive(Serialize, Deserialize)]
struct StoredCall {
    at: Micros,
    #[serde(rename = "in", default, skip_serializing_if = "is_zero")]
    input: i64,
    #[serde(rename = "cr", default, skip_serializing_if = "is_zero")]
    cached_input: i64,
    #[serde(rename = "cw", default, skip_serializing_if = "is_zero")]
    cache_write: i64,
    #[serde(rename = "cw1h", default, skip_serializing_if = "is_zero")]
    cache_write_1h: i64,
    #[serde(rename = "out", default, skip_serializing_if = "is_zero")]
    output: i64,
    #[serde(rename = "rs", default, skip_serializing_if = "is_zero")]
    reasoning: i64,
    #[serde(rename = "st", default, skip_serializing_if = "is_default_tier")]
    service_tier: ServiceTier,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    above: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cost: Option<Nanos>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_default_tier(t: &ServiceTier) -> bool {
    *t == ServiceTier::Default
}

/// Calls as the `calls` column stores them.
pub fn calls_to_json(calls: &[Call]) -> String {
    let stored: Vec<StoredCall> = calls
        .iter()
        .map(|c| StoredCall {
            at: c.at,
            input: c.usage.tokens.input,
            cached_input: c.usage.tokens.cached_input,
            cache_write: c.usage.tokens.cache_write,
            cache_write_1h: c.usage.cache_write_1h,
            output: c.usage.tokens.output,
            reasoning: c.usage.tokens.reasoning,
            service_tier: c.usage.service_tier,
            above: c.above_input_tokens,
            cost: c.cost_nanos,
        })
        .collect();
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into())
}

/// Calls from the `calls` column.
pub fn calls_from_json(text: &str) -> Result<Vec<Call>, serde_json::Error> {
    let stored: Vec<StoredCall> = serde_json::from_str(text)?;
    Ok(stored
        .into_iter()
        .map(|c| Call {
            at: c.at,
            usage: CallUsage {
                tokens: TokenUsage {
                    input: c.input,
                    cached_input: c.cached_input,
                    cache_write: c.cache_write,
                    output: c.output,
                    reasoning: c.reasoning,
                },
                cache_write_1h: c.cache_write_1h,
                service_tier: c.service_tier,
            },
            above_input_tokens: c.above,
            cost_nanos: c.cost,
        })
        .collect())
}

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
    /// The model calls, in the order they arrived; empty for a session sent as totals.
    pub calls: Vec<Call>,
    /// `None` while the model has no price (the session is *unpriced*); else the sum of
    /// its calls' costs, or its totals priced at the base rates when it has no calls.
    pub cost_nanos: Option<Nanos>,
    /// The key (`model@date`) of the price entry its calls were priced with.
    pub price: Option<String>,
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

/// A session's cost for one kind of token at one tier, over all its calls: the rate, the
/// tokens and their exact USD (the calls round to nano-dollars after these add up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostLine {
    pub kind: TokenKind,
    pub tier: CallTier,
    pub tokens: i64,
    pub usd_per_million: Decimal,
    pub usd: Decimal,
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
    #[error("the session's token totals would pass 100000000000")]
    Overflow,
    #[error("session was not started from OpenTelemetry spans")]
    NotFromSpans,
    #[error("too many model calls in one session (at most 10000)")]
    TooManyCalls,
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
            calls: Vec::new(),
            cost_nanos: None,
            price: None,
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
            domain: b.domain.into_string(),
            conversation_id: b.conversation_id,
            start_time: b.start_time,
            end_time: Some(b.end_time),
            iterations: b.iterations,
            search_count: b.search_count,
            total_results: b.total_results,
            searches: b.searches,
            usage: b.usage,
            calls: Vec::new(),
            cost_nanos: None,
            price: None,
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

    /// Prices every call again by the entry in force at the session's start; a session
    /// without calls is priced from its totals at the base rates.
    pub fn reprice(&mut self, prices: &PriceTable) {
        let entry = prices.lookup(&self.model, self.start_time);
        self.price = entry.map(PriceEntry::key);
        let Some(entry) = entry else {
            for call in &mut self.calls {
                call.cost_nanos = None;
                call.above_input_tokens = None;
            }
            self.cost_nanos = None;
            return;
        };
        if self.calls.is_empty() {
            self.cost_nanos = Some(entry.base_cost(&self.usage));
            return;
        }
        let mut total: Nanos = 0;
        for call in &mut self.calls {
            let (cost, tier) = entry.price_call(&call.usage);
            call.cost_nanos = Some(cost);
            call.above_input_tokens = tier.above_input_tokens;
            total = total.saturating_add(cost);
        }
        self.cost_nanos = Some(total);
    }

    /// The cost by kind of token and tier at `entry`: one line per kind and tier the calls
    /// used (a session without calls is one call at the base rates).
    pub fn cost_lines(&self, entry: &PriceEntry) -> Vec<CostLine> {
        let totals = [Call {
            at: self.start_time,
            usage: CallUsage {
                tokens: self.usage,
                ..CallUsage::default()
            },
            above_input_tokens: None,
            cost_nanos: None,
        }];
        let calls: &[Call] = if self.calls.is_empty() {
            &totals
        } else {
            &self.calls
        };
        let mut lines: Vec<CostLine> = Vec::new();
        for kind in TokenKind::ALL {
            let first = lines.len();
            for call in calls {
                let tier = CallTier {
                    above_input_tokens: call.above_input_tokens,
                    service_tier: call.usage.service_tier,
                };
                let line = entry.lines(&call.usage, tier)[kind as usize];
                match lines[first..].iter_mut().find(|l| l.tier == tier) {
                    Some(existing) => {
                        existing.tokens += line.tokens;
                        existing.usd += line.usd;
                    }
                    None => lines.push(CostLine {
                        kind,
                        tier,
                        tokens: line.tokens,
                        usd_per_million: line.usd_per_million,
                        usd: line.usd,
                    }),
                }
            }
        }
        lines
    }

    /// Records one model call (not priced yet): its tokens join the session's totals.
    pub(crate) fn push_call(&mut self, usage: CallUsage, at: Micros) -> Result<(), Rejection> {
        if self.calls.len() >= MAX_CALLS {
            return Err(Rejection::TooManyCalls);
        }
        let totals = self
            .usage
            .checked_add(&usage.tokens)
            .map_err(|_| Rejection::Overflow)?;
        if [totals.input, totals.output]
            .iter()
            .any(|n| *n > crate::limits::MAX_SESSION_TOKENS)
        {
            return Err(Rejection::Overflow);
        }
        self.usage = totals;
        self.calls.push(Call {
            at,
            usage,
            above_input_tokens: None,
            cost_nanos: None,
        });
        Ok(())
    }

    /// Prices the call just pushed and adds it to the cost; when the entry in force is
    /// not the one the other calls were priced with, prices them all again.
    pub(crate) fn price_last_call(&mut self, prices: &PriceTable) {
        let entry = prices.lookup(&self.model, self.start_time);
        if entry.map(PriceEntry::key) != self.price {
            return self.reprice(prices);
        }
        let (Some(entry), Some(call)) = (entry, self.calls.last_mut()) else {
            return;
        };
        let (cost, tier) = entry.price_call(&call.usage);
        call.cost_nanos = Some(cost);
        call.above_input_tokens = tier.above_input_tokens;
        self.cost_nanos = self.cost_nanos.map(|c| c.saturating_add(cost));
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
            EventKind::Usage(usage) => {
                self.push_call(*usage, at)?;
                self.price_last_call(prices);
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
        let half = CallUsage {
            tokens: TokenUsage {
                input: 500,
                output: 250,
                ..Default::default()
            },
            ..Default::default()
        };
        s.apply(&EventKind::Usage(half), T0 + 1, &prices)
            .expect("applies");
        s.apply(&EventKind::Usage(half), T0 + 2, &prices)
            .expect("applies");
        assert_eq!(s.usage.input, 1_000);
        assert_eq!(s.calls.len(), 2);
        assert_eq!(s.cost_nanos, Some(60_000_000));
        assert_eq!(s.price.as_deref(), Some("gpt-4@2020-01-01"));
    }

    fn call(input: i64, output: i64) -> EventKind {
        EventKind::Usage(CallUsage {
            tokens: TokenUsage {
                input,
                output,
                ..Default::default()
            },
            ..Default::default()
        })
    }

    #[test]
    fn each_call_is_priced_at_its_own_tier_and_the_session_sums_them() {
        // gemini-2.5-pro: 250,000 in (above 200k: 2.50 / 15.00) → $0.640;
        // 100,000 in (base: 1.25 / 10.00) → $0.135; the session $0.775.
        let (mut s, prices) = started("gemini-2.5-pro");
        s.apply(&call(250_000, 1_000), T0 + 1, &prices)
            .expect("applies");
        s.apply(&call(100_000, 1_000), T0 + 2, &prices)
            .expect("applies");
        assert_eq!(s.cost_nanos, Some(775_000_000));
        assert_eq!(s.calls[0].above_input_tokens, Some(200_000));
        assert_eq!(s.calls[1].above_input_tokens, None);
        assert_eq!(
            (s.calls[0].cost_nanos, s.calls[1].cost_nanos),
            (Some(640_000_000), Some(135_000_000))
        );
        // Priced as totals, the same tokens would be one base-tier call: 350,000 × 1.25 +
        // 2,000 × 10 = $0.4575. A backfilled session is priced that way.
        let mut again = s.clone();
        again.calls.clear();
        again.reprice(&prices);
        assert_eq!(again.cost_nanos, Some(457_500_000));
        // Stored and read back, the calls reprice to the same sum.
        let stored = calls_from_json(&calls_to_json(&s.calls)).expect("calls");
        assert_eq!(stored, s.calls);
        s.reprice(&prices);
        assert_eq!(s.cost_nanos, Some(775_000_000));
    }

    #[test]
    fn a_new_price_in_force_reprices_every_call_of_a_live_session() {
        let (mut s, prices) = started("gpt-4");
        s.apply(&call(1_000, 0), T0 + 1, &prices).expect("applies");
        assert_eq!(s.cost_nanos, Some(30_000_000));
        let mut entries = crate::pricing::default_prices();
        let mut cheaper = entries
            .iter()
            .find(|e| e.model == "gpt-4")
            .expect("gpt-4")
            .clone();
        cheaper.input = rust_decimal::Decimal::ONE;
        cheaper.effective_from = chrono::NaiveDate::from_ymd_opt(2021, 1, 1).expect("date");
        entries.push(cheaper);
        let newer = PriceTable::new(entries);
        s.apply(&call(1_000, 0), T0 + 2, &newer).expect("applies");
        // Both calls at $1 per million, not one at $30 and one at $1.
        assert_eq!(s.cost_nanos, Some(2_000_000));
        assert_eq!(s.price.as_deref(), Some("gpt-4@2021-01-01"));
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
