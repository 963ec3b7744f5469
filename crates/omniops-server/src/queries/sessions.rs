//! Session history and one session's details: the sessions page, its modal, the API.

use crate::state::AppState;
use omniops_core::analytics::Pagination;
use omniops_core::clock::to_rfc3339;
use omniops_core::money::{format_nanos, format_usd};
use omniops_core::session::Session;
use omniops_core::window::Window;
use omniops_store::Outcome;
use omniops_store::SessionFilter;
use serde::Serialize;
use serde_json::{json, Value};

/// One ended session as a list shows it.
pub fn session_row(s: &Session) -> Value {
    json!({
        "sessionId": s.session_id, "model": s.model, "domain": s.domain,
        "startTime": to_rfc3339(s.start_time), "endTime": s.end_time.map(to_rfc3339),
        "durationMs": s.duration_ms(), "iterations": s.iterations, "searchCount": s.search_count,
        "inputTokens": s.usage.input, "outputTokens": s.usage.output,
        "costUsd": s.cost_nanos.map(|c| format_nanos(i128::from(c), 6)),
        "success": s.success, "error": s.error
    })
}

#[derive(Debug, Serialize)]
pub struct SessionHistory {
    pub sessions: Vec<Value>,
    pub pagination: Pagination,
}

/// Ended sessions of the window, newest first. The total comes from the rollups while the
/// window lies within raw retention (a count of raw rows would read them all), else from
/// the raw rows that are left.
pub async fn session_history(
    state: &AppState,
    window: &Window,
    filter: &SessionFilter,
    page: i64,
    limit: i64,
) -> anyhow::Result<SessionHistory> {
    let from_rollups = window.start >= state.raw_retention_cutoff();
    let (sessions, counted) = state
        .store
        .sessions_in_window(window, filter, limit, (page - 1) * limit, !from_rollups)
        .await?;
    let total = match counted {
        Some(total) => total,
        None => {
            let sums = state
                .store
                .window_sums(window, filter.domain.as_deref())
                .await?;
            let counters = match &filter.model {
                Some(model) => sums.by_model.get(model).copied().unwrap_or_default(),
                None => sums.totals,
            };
            match filter.status {
                Outcome::Succeeded => counters.successes,
                Outcome::Failed => counters.failures,
                Outcome::All => counters.requests,
            }
        }
    };
    Ok(SessionHistory {
        sessions: sessions.iter().map(session_row).collect(),
        pagination: Pagination::new(page, limit, total),
    })
}

/// Calls a session's details list at most (a session may record 10,000).
pub const MAX_CALLS_SHOWN: usize = 1_000;

/// Everything about one session: the SessionDetailsModal and `GET /api/sessions/{id}`.
pub async fn session_details(state: &AppState, session_id: &str) -> anyhow::Result<Option<Value>> {
    let Some(s) = state.store.session(session_id).await? else {
        return Ok(None);
    };
    let prices = state.store.price_table().await;
    // The entry the calls were priced with; the one in force if it is gone.
    let entry = s
        .price
        .as_deref()
        .and_then(|key| prices.by_key(key))
        .or_else(|| prices.lookup(&s.model, s.start_time));
    let breakdown: Vec<Value> = entry
        .map(|e| {
            s.cost_lines(e)
                .iter()
                .map(|l| {
                    json!({"type": l.kind.label(), "aboveInputTokens": l.tier.above_input_tokens,
                           "serviceTier": l.tier.service_tier.as_str(), "tokens": l.tokens,
                           "usdPerMillion": l.usd_per_million.normalize().to_string(),
                           "cost": format_usd(l.usd, 8)})
                })
                .collect()
        })
        .unwrap_or_default();
    let calls: Vec<Value> = s
        .calls
        .iter()
        .take(MAX_CALLS_SHOWN)
        .map(|c| {
            let t = &c.usage.tokens;
            json!({"at": to_rfc3339(c.at), "tokens": {"input": t.input, "cachedInput": t.cached_input,
                   "cacheWrite": t.cache_write, "cacheWrite1h": c.usage.cache_write_1h, "output": t.output,
                   "reasoning": t.reasoning},
                   "serviceTier": c.usage.service_tier.as_str(), "aboveInputTokens": c.above_input_tokens,
                   "cost": c.cost_nanos.map(|n| format_nanos(i128::from(n), 9))})
        })
        .collect();
    let messages = match &s.conversation_id {
        Some(id) => state.store.conversation_messages(id, &s.domain, 20).await?,
        None => Vec::new(),
    };
    let mut details = session_row(&s);
    details["conversationId"] = json!(s.conversation_id);
    details["live"] = json!(s.end_time.is_none());
    details["totalResults"] = json!(s.total_results);
    details["searches"] = json!(s.searches);
    details["logs"] = json!(s.logs);
    details["metadata"] = json!(s.metadata);
    details["tokens"] = json!({
        "input": s.usage.input, "cachedInput": s.usage.cached_input, "cacheWrite": s.usage.cache_write,
        "output": s.usage.output, "reasoning": s.usage.reasoning
    });
    details["price"] = match entry {
        Some(e) => json!({"model": e.model, "effectiveFrom": e.effective_from.to_string(),
                          "origin": e.origin.as_str(), "source": e.source}),
        None => Value::Null,
    };
    details["costBreakdown"] = json!(breakdown);
    details["calls"] = json!(calls);
    details["callCount"] = json!(s.calls.len());
    details["conversation"] = json!(messages
        .iter()
        .map(|(role, content, at)| json!({"role": role, "content": content, "timestamp": to_rfc3339(*at)}))
        .collect::<Vec<_>>());
    Ok(Some(details))
}
