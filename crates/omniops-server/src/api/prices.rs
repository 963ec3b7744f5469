use crate::auth::Principal;
use crate::error::ApiError;
use crate::queries::prices::{
    self, ImportError, ImportOptions, ImportReport, PriceListing, PriceQuery,
};
use crate::request::read_body;
use crate::request::{parse_json, Params};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Extension;
use axum::Json;
use chrono::NaiveDate;
use omniops_core::money::lenient;
use omniops_core::pricing::{Origin, PriceEntry, PriceError, Rates, Tier};
use omniops_core::usage::ServiceTier;
use omniops_store::RepriceJob;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The largest catalogue `POST /api/v1/prices/import` takes (LiteLLM's is about 3.5 MB).
pub const MAX_IMPORT_BYTES: usize = 32 * 1024 * 1024;

/// `GET /api/v1/prices`: price entries (`q` searches names, `origin` filters, 100 a page by
/// default) and the models seen without a price.
#[utoipa::path(get, path = "/api/v1/prices", tag = "prices",
    params(("q" = Option<String>, Query, description = "part of a model name or alias"),
        ("origin" = Option<Origin>, Query, description = "where entries came from"),
        ("inUse" = Option<bool>, Query, description = "only entries of models in stored sessions, and user or imported ones"),
        ("page" = Option<u32>, Query, description = "page from 1"),
        ("limit" = Option<u32>, Query, description = "entries per page, up to 1000 (default 100)")),
    responses((status = 200, body = PriceListing), super::errors::Common))]
pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<PriceListing>, ApiError> {
    let params = super::params(query)?;
    let (page, limit) = crate::request::pagination_up_to(&params, 100, 1_000)?;
    let origin = match params.get("origin").map(|o| o.trim()) {
        None | Some("") => None,
        Some(text) => Some(Origin::parse(text).ok_or_else(|| {
            ApiError::field("origin", "origin must be one of default, import, user")
        })?),
    };
    let query = PriceQuery {
        search: params
            .get("q")
            .map(|q| q.trim().to_string())
            .filter(|q| !q.is_empty()),
        origin,
        in_use: params.get("inUse").is_some_and(|v| v == "true" || v == "1"),
        // A key held to a domain sees the models of its domain only.
        domain: principal.domain.clone(),
        page,
        limit,
    };
    Ok(Json(prices::listing(&state.store, &query).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RatesInput {
    #[serde(default, deserialize_with = "lenient::option")]
    input: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::option")]
    cached_input: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::option")]
    cache_write: Option<Decimal>,
    #[serde(default, rename = "cacheWrite1h", deserialize_with = "lenient::option")]
    cache_write_1h: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::option")]
    output: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::option")]
    reasoning: Option<Decimal>,
}

impl From<RatesInput> for Rates {
    fn from(r: RatesInput) -> Self {
        Rates {
            input: r.input,
            cached_input: r.cached_input,
            cache_write: r.cache_write,
            cache_write_1h: r.cache_write_1h,
            output: r.output,
            reasoning: r.reasoning,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TierInput {
    above_input_tokens: Option<i64>,
    #[serde(default)]
    service_tier: ServiceTier,
    #[serde(flatten)]
    rates: RatesInput,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriceInput {
    model: String,
    #[serde(default)]
    aliases: Vec<String>,
    pattern: Option<String>,
    #[serde(deserialize_with = "lenient::decimal")]
    input: Decimal,
    #[serde(default, deserialize_with = "lenient::option")]
    cached_input: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::option")]
    cache_write: Option<Decimal>,
    #[serde(default, rename = "cacheWrite1h", deserialize_with = "lenient::option")]
    cache_write_1h: Option<Decimal>,
    #[serde(deserialize_with = "lenient::decimal")]
    output: Decimal,
    #[serde(default, deserialize_with = "lenient::option")]
    reasoning: Option<Decimal>,
    #[serde(default)]
    tiers: Vec<TierInput>,
    effective_from: Option<String>,
    source: Option<String>,
}

fn price_field(error: &PriceError) -> &'static str {
    match error {
        PriceError::Model => "model",
        PriceError::Price(field) => field,
        PriceError::Pattern(_) => "pattern",
        PriceError::Aliases => "aliases",
        PriceError::Tiers => "tiers",
    }
}

/// A `YYYY-MM-DD` parameter, or today.
fn date_or_today(
    state: &AppState,
    text: Option<&str>,
    field: &'static str,
) -> Result<NaiveDate, ApiError> {
    match text {
        None => Ok(chrono::DateTime::from_timestamp_micros(state.now())
            .unwrap_or_default()
            .date_naive()),
        Some(text) => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map_err(|_| ApiError::field(field, format!("{field} must be a date, YYYY-MM-DD"))),
    }
}

/// `PUT /api/v1/prices`'s answer: the entry as stored, and the repricing of stored history
/// it queued (null when no stored session is of a model it prices).
#[derive(serde::Serialize, ToSchema)]
pub struct PriceSaved {
    price: PriceEntry,
    repricing: Option<Repricing>,
}

/// A repricing job with its progress.
#[derive(serde::Serialize, ToSchema)]
pub struct Repricing {
    #[serde(flatten)]
    job: RepriceJob,
    /// Sessions read, in percent of those to read (100 when done).
    percent: i64,
}

impl From<RepriceJob> for Repricing {
    fn from(job: RepriceJob) -> Self {
        Repricing {
            percent: job.percent(),
            job,
        }
    }
}

#[derive(serde::Serialize, ToSchema)]
pub struct RepricingList {
    /// The newest first; running ones are those whose phase is not `done`.
    jobs: Vec<Repricing>,
}

/// `GET /api/v1/prices/repricing`: the last 20 repricings of stored history, with progress.
#[utoipa::path(get, path = "/api/v1/prices/repricing", tag = "prices",
    responses((status = 200, body = RepricingList), super::errors::Common))]
pub async fn repricing(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<RepricingList>, ApiError> {
    principal.require_unscoped("see repricing, which every domain shares")?;
    let jobs = state.store.reprice_jobs(20).await?;
    Ok(Json(RepricingList {
        jobs: jobs.into_iter().map(Repricing::from).collect(),
    }))
}

/// `PUT /api/v1/prices` (admin): adds or replaces the user's entry for (model,
/// effectiveFrom) and reprices the stored history it decides from that date.
#[utoipa::path(put, path = "/api/v1/prices", tag = "prices", request_body = PriceInput,
    responses((status = 200, body = PriceSaved), super::errors::Common))]
pub async fn put(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PriceSaved>, ApiError> {
    principal.require_unscoped("change prices, which every domain shares")?;
    let bytes = read_body(body, 64 * 1024).await?;
    let input: PriceInput = parse_json(&headers, &bytes)?;
    let effective_from = date_or_today(&state, input.effective_from.as_deref(), "effectiveFrom")?;
    let entry = PriceEntry {
        model: input.model.trim().to_lowercase(),
        aliases: input
            .aliases
            .iter()
            .map(|a| a.trim().to_lowercase())
            .collect(),
        pattern: input.pattern.filter(|p| !p.is_empty()),
        input: input.input,
        cached_input: input.cached_input,
        cache_write: input.cache_write,
        cache_write_1h: input.cache_write_1h,
        output: input.output,
        reasoning: input.reasoning,
        tiers: input
            .tiers
            .into_iter()
            .map(|t| Tier {
                above_input_tokens: t.above_input_tokens,
                service_tier: t.service_tier,
                rates: t.rates.into(),
            })
            .collect(),
        effective_from,
        source: input.source.unwrap_or_else(|| "user".to_string()),
        origin: Origin::User,
    };
    entry
        .validate()
        .map_err(|e| ApiError::field(price_field(&e), e.to_string()))?;
    let report = state
        .store
        .put_price(&entry, state.raw_retention_cutoff(), state.now())
        .await?;
    state.prices_changed().await;
    if let Some(job) = &report {
        state.reprice_wakeup.notify_one();
        tracing::info!(model = %entry.model, effective_from = %entry.effective_from, sessions = job.sessions_total, "price changed; history is repriced in the background");
    }
    Ok(Json(PriceSaved {
        price: entry,
        repricing: report.map(Repricing::from),
    }))
}

/// `POST /api/v1/prices/import` (admin): a LiteLLM-format catalogue as the body.
/// `dryRun=true` reports without storing; `recompute=true` reprices history of the models
/// added or changed; `effectiveFrom` (default today) and `source` label the entries.
#[utoipa::path(post, path = "/api/v1/prices/import", tag = "prices",
    params(("dryRun" = Option<bool>, Query, description = "only report what would change"),
        ("recompute" = Option<bool>, Query, description = "reprice stored history of the models added or changed"),
        ("effectiveFrom" = Option<String>, Query, description = "YYYY-MM-DD the prices take effect (default today)"),
        ("source" = Option<String>, Query, description = "a label kept with each entry")),
    request_body(content = Object, description = "A LiteLLM-format catalogue (model_prices_and_context_window.json)"),
    responses((status = 200, body = ImportReport), super::errors::Common))]
pub async fn import(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<Params>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ImportReport>, ApiError> {
    principal.require_unscoped("import prices, which every domain shares")?;
    let params = super::params(query)?;
    let flag = |name: &'static str| -> Result<bool, ApiError> {
        match params.get(name).map(|v| v.trim()) {
            None | Some("" | "false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(_) => Err(ApiError::field(
                name,
                format!("{name} must be true or false"),
            )),
        }
    };
    let options = ImportOptions {
        dry_run: flag("dryRun")?,
        recompute: flag("recompute")?,
        effective_from: date_or_today(
            &state,
            params.get("effectiveFrom").map(String::as_str),
            "effectiveFrom",
        )?,
        source: params
            .get("source")
            .map(|s| s.trim().chars().take(200).collect())
            .filter(|s: &String| !s.is_empty())
            .unwrap_or_else(|| "import".to_string()),
    };
    let bytes = read_body(body, MAX_IMPORT_BYTES).await?;
    let catalogue: Value = parse_json(&headers, &bytes)?;
    let report = prices::import(
        &state.store,
        &catalogue,
        &options,
        state.raw_retention_cutoff(),
        state.now(),
    )
    .await
    .map_err(|e| match e {
        ImportError::File(message) => ApiError::field("body", message),
        ImportError::Store(cause) => ApiError::Internal(cause),
    })?;
    if !options.dry_run {
        state.prices_changed().await;
    }
    if report.repricing.is_some() {
        state.reprice_wakeup.notify_one();
    }
    tracing::info!(
        added = report.added.len(),
        changed = report.changed.len(),
        dry_run = options.dry_run,
        "prices imported"
    );
    Ok(Json(report))
}
