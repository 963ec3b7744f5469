use crate::error::ApiError;
use crate::ingest::read_body;
use crate::request::parse_json;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use chrono::NaiveDate;
use omniops_core::clock::to_rfc3339;
use omniops_core::pricing::{PriceEntry, PriceError};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

/// `GET /api/v1/prices`: every price entry and the models seen without a price.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let prices = state.store.prices().await?;
    let unpriced = state.store.unpriced_models().await?;
    let unpriced: Vec<Value> = unpriced
        .into_iter()
        .map(|m| json!({"model": m.model, "sessions": m.sessions, "lastSeen": to_rfc3339(m.last_seen)}))
        .collect();
    Ok(Json(json!({"prices": prices, "unpriced": unpriced})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PriceInput {
    model: String,
    #[serde(default)]
    aliases: Vec<String>,
    pattern: Option<String>,
    #[serde(deserialize_with = "omniops_core::money::lenient::decimal")]
    input: Decimal,
    #[serde(default, deserialize_with = "omniops_core::money::lenient::option")]
    cached_input: Option<Decimal>,
    #[serde(default, deserialize_with = "omniops_core::money::lenient::option")]
    cache_write: Option<Decimal>,
    #[serde(deserialize_with = "omniops_core::money::lenient::decimal")]
    output: Decimal,
    #[serde(default, deserialize_with = "omniops_core::money::lenient::option")]
    reasoning: Option<Decimal>,
    effective_from: Option<String>,
    source: Option<String>,
}

fn price_field(error: &PriceError) -> &'static str {
    match error {
        PriceError::Model => "model",
        PriceError::Price(field) => field,
        PriceError::Pattern(_) => "pattern",
    }
}

/// `PUT /api/v1/prices` (admin): adds or replaces the entry for (model, effectiveFrom) and
/// recomputes stored costs and rollups from that date in one transaction.
pub async fn put(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = read_body(body, 64 * 1024).await?;
    let input: PriceInput = parse_json(&headers, &bytes)?;
    let effective_from = match input.effective_from.as_deref() {
        None => chrono::DateTime::from_timestamp_micros(state.now())
            .unwrap_or_default()
            .date_naive(),
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
            ApiError::field("effectiveFrom", "effectiveFrom must be a date, YYYY-MM-DD")
        })?,
    };
    let entry = PriceEntry {
        model: input.model.trim().to_string(),
        aliases: input.aliases,
        pattern: input.pattern.filter(|p| !p.is_empty()),
        input: input.input,
        cached_input: input.cached_input,
        cache_write: input.cache_write,
        output: input.output,
        reasoning: input.reasoning,
        effective_from,
        source: input.source.unwrap_or_else(|| "user".to_string()),
    };
    entry
        .validate()
        .map_err(|e| ApiError::field(price_field(&e), e.to_string()))?;
    let report = state
        .store
        .put_price(&entry, state.raw_retention_cutoff(), state.now())
        .await?;
    tracing::info!(model = %entry.model, effective_from = %entry.effective_from, sessions = report.sessions, buckets = report.buckets, "price changed; history recomputed");
    Ok(Json(json!({"price": entry, "recomputed": report})))
}
