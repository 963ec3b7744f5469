//! Session history and one session's details: the sessions page, its modal, the API.

use crate::state::AppState;
use omniops_core::analytics::Pagination;
use omniops_core::clock::to_rfc3339;
use omniops_core::money::Usd;
use omniops_core::session::Session;
use omniops_core::window::Window;
use omniops_store::Outcome;
use omniops_store::SessionFilter;
use serde::Serialize;
use serde_json::Value;

/// One session as a list shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionRow {
    pub session_id: String,
    pub model: String,
    pub domain: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub duration_ms: Option<i64>,
    pub iterations: i64,
    pub search_count: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: Option<Usd>,
    pub success: Option<bool>,
    pub error: Option<String>,
}

pub fn session_row(s: &Session) -> SessionRow {
    SessionRow {
        session_id: s.session_id.clone(),
        model: s.model.clone(),
        domain: s.domain.clone(),
        start_time: to_rfc3339(s.start_time),
        end_time: s.end_time.map(to_rfc3339),
        duration_ms: s.duration_ms(),
        iterations: s.iterations,
        search_count: s.search_count,
        input_tokens: s.usage.input,
        output_tokens: s.usage.output,
        cost_usd: s.cost_nanos.map(|c| Usd::from_nanos(i128::from(c), 6)),
        success: s.success,
        error: s.error.clone(),
    }
}

/// Token counts by kind.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenCounts {
    pub input: i64,
    pub cached_input: i64,
    pub cache_write: i64,
    pub output: i64,
    pub reasoning: i64,
}

/// The price entry a session was priced with.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceUsed {
    pub model: String,
    pub effective_from: String,
    pub origin: &'static str,
    pub source: String,
}

/// One line of the cost breakdown: tokens of a kind at a tier's rate.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostLineView {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub above_input_tokens: Option<i64>,
    pub service_tier: &'static str,
    pub tokens: i64,
    pub usd_per_million: String,
    pub cost: Usd,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallTokens {
    pub input: i64,
    pub cached_input: i64,
    pub cache_write: i64,
    #[serde(rename = "cacheWrite1h")]
    pub cache_write_1h: i64,
    pub output: i64,
    pub reasoning: i64,
}

/// One model call of a session, priced on its own.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    pub at: String,
    pub tokens: CallTokens,
    pub service_tier: &'static str,
    pub above_input_tokens: Option<i64>,
    pub cost: Option<Usd>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub role: String,
    pub content: String,
    pub timestamp: String,
}

/// One session in full: the API's `GET /api/sessions/{id}` and the sessions page's modal.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionDetails {
    #[serde(flatten)]
    pub row: SessionRow,
    pub conversation_id: Option<String>,
    pub live: bool,
    pub total_results: i64,
    pub searches: Vec<Value>,
    pub logs: Vec<Value>,
    pub metadata: Option<Value>,
    pub tokens: TokenCounts,
    pub price: Option<PriceUsed>,
    pub cost_breakdown: Vec<CostLineView>,
    pub calls: Vec<CallView>,
    pub call_count: usize,
    pub conversation: Vec<MessageView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionHistory {
    pub sessions: Vec<SessionRow>,
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
    // The page and the rollups' count are independent reads: on two connections at once.
    let count = async {
        if !from_rollups {
            return Ok(None);
        }
        let sums = state
            .store
            .window_sums(window, filter.domain.as_deref())
            .await?;
        let counters = match &filter.model {
            Some(model) => sums.by_model.get(model).copied().unwrap_or_default(),
            None => sums.totals,
        };
        anyhow::Ok(Some(match filter.status {
            Outcome::Succeeded => counters.successes,
            Outcome::Failed => counters.failures,
            Outcome::All => counters.requests,
        }))
    };
    let page_rows = async {
        let offset = (page - 1) * limit;
        anyhow::Ok(
            state
                .store
                .sessions_in_window(window, filter, limit, offset, !from_rollups)
                .await?,
        )
    };
    let ((sessions, counted), from_sums) = tokio::try_join!(page_rows, count)?;
    let total = counted.or(from_sums).unwrap_or_default();
    Ok(SessionHistory {
        sessions: sessions.iter().map(session_row).collect(),
        pagination: Pagination::new(page, limit, total),
    })
}

/// Calls a session's details list at most (a session may record 10,000).
pub const MAX_CALLS_SHOWN: usize = 1_000;

/// Everything about one session: the SessionDetailsModal and `GET /api/sessions/{id}`.
pub async fn session_details(
    state: &AppState,
    session_id: &str,
) -> anyhow::Result<Option<SessionDetails>> {
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
    let cost_breakdown = entry
        .map(|e| {
            s.cost_lines(e)
                .iter()
                .map(|l| CostLineView {
                    kind: l.kind.label(),
                    above_input_tokens: l.tier.above_input_tokens,
                    service_tier: l.tier.service_tier.as_str(),
                    tokens: l.tokens,
                    usd_per_million: l.usd_per_million.normalize().to_string(),
                    cost: Usd::new(l.usd, 8),
                })
                .collect()
        })
        .unwrap_or_default();
    let calls = s
        .calls
        .iter()
        .take(MAX_CALLS_SHOWN)
        .map(|c| {
            let t = &c.usage.tokens;
            CallView {
                at: to_rfc3339(c.at),
                tokens: CallTokens {
                    input: t.input,
                    cached_input: t.cached_input,
                    cache_write: t.cache_write,
                    cache_write_1h: c.usage.cache_write_1h,
                    output: t.output,
                    reasoning: t.reasoning,
                },
                service_tier: c.usage.service_tier.as_str(),
                above_input_tokens: c.above_input_tokens,
                cost: c.cost_nanos.map(|n| Usd::from_nanos(i128::from(n), 9)),
            }
        })
        .collect();
    let messages = match &s.conversation_id {
        Some(id) => state.store.conversation_messages(id, &s.domain, 20).await?,
        None => Vec::new(),
    };
    Ok(Some(SessionDetails {
        row: session_row(&s),
        conversation_id: s.conversation_id.clone(),
        live: s.end_time.is_none(),
        total_results: s.total_results,
        searches: s.searches.clone(),
        logs: s.logs.clone(),
        metadata: s.metadata.clone(),
        tokens: TokenCounts {
            input: s.usage.input,
            cached_input: s.usage.cached_input,
            cache_write: s.usage.cache_write,
            output: s.usage.output,
            reasoning: s.usage.reasoning,
        },
        price: entry.map(|e| PriceUsed {
            model: e.model.clone(),
            effective_from: e.effective_from.to_string(),
            origin: e.origin.as_str(),
            source: e.source.clone(),
        }),
        cost_breakdown,
        calls,
        call_count: s.calls.len(),
        conversation: messages
            .into_iter()
            .map(|(role, content, at)| MessageView {
                role,
                content,
                timestamp: to_rfc3339(at),
            })
            .collect(),
    }))
}
