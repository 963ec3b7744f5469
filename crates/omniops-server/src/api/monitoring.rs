//! `GET` and `POST /api/monitoring/chat`.

use super::params;
use crate::alerting;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::queries::monitoring::{check_alerts, telemetry_for};
use crate::queries::retention;
use crate::queries::sessions::session_history;
use crate::queries::sessions::SessionHistory;
use crate::queries::telemetry::response_time_percentiles;
use crate::request::read_body;
use crate::request::{self, parse_json, Params};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use omniops_core::clock::{floor_hour, to_rfc3339, MICROS_PER_HOUR};
use omniops_core::money::{format_nanos, usd_to_nanos};
use omniops_core::rollup::PercentileBound;
use omniops_core::telemetry::{
    CostSummary, DomainCost, HourPoint, Live, ModelUsage, Overview, Performance, TelemetryReport,
    TokenSummary,
};
use omniops_core::window::Window;
use omniops_store::Outcome;
use omniops_store::SessionFilter;
use omniops_store::{AlertType, DeliveryStatus};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

fn period_window(period: Period, now: i64) -> Result<Window, ApiError> {
    let days = match period {
        Period::Hour => {
            let start = floor_hour(now);
            return Window::between(start, start + MICROS_PER_HOUR)
                .map_err(|e| ApiError::field("period", e.to_string()));
        }
        Period::Day => 1,
        Period::Week => 7,
        Period::Month => 30,
    };
    Window::last_days(days, now).map_err(|e| ApiError::field("period", e.to_string()))
}

fn flag(params: &Params, name: &'static str, default: bool) -> Result<bool, ApiError> {
    match params.get(name).map(String::as_str) {
        None => Ok(default),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(_) => Err(ApiError::field(
            name,
            format!("{name} must be true or false"),
        )),
    }
}

/// `GET /api/monitoring/chat`'s answer: every field of the telemetry report (`live` is null
/// with `includeLive=false`), and the period, its filters and its response-time percentiles.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringAnswer {
    overview: Overview,
    cost: CostSummary,
    tokens: TokenSummary,
    performance: Performance,
    model_usage: Vec<ModelUsage>,
    domain_breakdown: Vec<DomainCost>,
    hourly_trend: Vec<HourPoint>,
    live: Option<Live>,
    period: Period,
    filters: Filters,
    /// Null with a model filter: the duration histogram is kept per domain, not per model.
    response_time_percentiles: Option<Percentiles>,
    /// Only with `includeDetails=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    details: Option<SessionHistory>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Hour,
    Day,
    Week,
    Month,
}

#[derive(Serialize, ToSchema)]
pub struct Filters {
    domain: Option<String>,
    model: Option<String>,
}

/// Each percentile as the histogram bounds it; null without data.
#[derive(Serialize, ToSchema)]
pub struct Percentiles {
    p50: Option<Bound>,
    p90: Option<Bound>,
    p95: Option<Bound>,
    p99: Option<Bound>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Bound {
    AtMostMs(i64),
    AboveMs(i64),
}

fn bound(bound: PercentileBound) -> Option<Bound> {
    match bound {
        PercentileBound::NoData => None,
        PercentileBound::AtMost(ms) => Some(Bound::AtMostMs(ms)),
        PercentileBound::Above(ms) => Some(Bound::AboveMs(ms)),
    }
}

fn percentiles(bounds: Vec<(&str, PercentileBound)>) -> Percentiles {
    let at = |label: &str| {
        bounds
            .iter()
            .find(|(l, _)| *l == label)
            .and_then(|(_, b)| bound(*b))
    };
    Percentiles {
        p50: at("p50"),
        p90: at("p90"),
        p95: at("p95"),
        p99: at("p99"),
    }
}

/// `GET /api/monitoring/chat?period=&domain=&model=&includeDetails=&includeLive=`: the
/// telemetry report of the period (every field of `/api/dashboard/telemetry`), plus
/// `period`, `filters` and, with `includeDetails`, the period's sessions paginated.
#[utoipa::path(get, path = "/api/monitoring/chat", tag = "monitoring",
    params(("period" = Option<Period>, Query, description = "the window (default day)"),
        ("domain" = Option<String>, Query, description = "one customer domain"),
        ("model" = Option<String>, Query, description = "one model"),
        ("includeDetails" = Option<bool>, Query, description = "add the period's sessions, paginated"),
        ("includeLive" = Option<bool>, Query, description = "include the live sessions (default true)"),
        super::PageQuery),
    responses((status = 200, body = MonitoringAnswer), super::errors::Common))]
pub async fn get(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<MonitoringAnswer>, ApiError> {
    let params = params(query)?;
    let period = match params.get("period").map(|p| p.trim()) {
        None => Period::Day,
        Some(text) => serde_json::from_value(Value::from(text)).map_err(|_| {
            ApiError::field("period", "period must be one of hour, day, week, month")
        })?,
    };
    let window = period_window(period, state.now())?;
    let domain = principal.resolve_domain(request::domain(&params)?)?;
    let model = params
        .get("model")
        .map(|m| m.trim())
        .filter(|m| !m.is_empty());
    let include_details = flag(&params, "includeDetails", false)?;
    let include_live = flag(&params, "includeLive", true)?;
    // Independent reads, on two connections at once.
    let durations = async {
        match model {
            Some(_) => Ok(None),
            None => response_time_percentiles(&state, &window, domain.as_deref())
                .await
                .map(Some),
        }
    };
    let (report, durations) = tokio::try_join!(
        telemetry_for(&state, &window, domain.as_deref(), model),
        durations
    )?;
    let response_time_percentiles = durations.map(percentiles);
    let details = match include_details {
        true => {
            let (page, limit) = request::pagination(&params)?;
            let filter = SessionFilter {
                domain: domain.clone(),
                model: model.map(str::to_string),
                status: Outcome::All,
            };
            Some(session_history(&state, &window, &filter, page, limit).await?)
        }
        false => None,
    };
    let TelemetryReport {
        overview,
        cost,
        tokens,
        performance,
        model_usage,
        domain_breakdown,
        hourly_trend,
        live,
    } = report;
    Ok(Json(MonitoringAnswer {
        overview,
        cost,
        tokens,
        performance,
        model_usage,
        domain_breakdown,
        hourly_trend,
        live: include_live.then_some(live),
        period,
        filters: Filters {
            domain,
            model: model.map(str::to_string),
        },
        response_time_percentiles,
        details,
    }))
}

/// The POST actions, by their `action` tag; each has its own function below. Read by
/// [`Action::parse`] rather than serde's internal tagging, which buffers the body and so
/// loses the path of a bad field (a 400 must name it); the derive gives the document.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    SetAlert(SetAlert),
    CheckAlerts(DomainOnly),
    GetSummary(Summary),
    DeleteAlert(AlertRef),
    TestAlert(AlertRef),
    Deliveries(DomainOnly),
    CleanupOldData(DomainOnly),
}

const ACTIONS: [&str; 7] = [
    "set-alert",
    "check-alerts",
    "delete-alert",
    "test-alert",
    "deliveries",
    "get-summary",
    "cleanup-old-data",
];

impl Action {
    fn parse(headers: &HeaderMap, bytes: &[u8]) -> Result<Action, ApiError> {
        #[derive(Deserialize)]
        struct Tag {
            action: String,
        }
        let tag: Tag = parse_json(headers, bytes)?;
        Ok(match tag.action.as_str() {
            "set-alert" => Action::SetAlert(parse_json(headers, bytes)?),
            "check-alerts" => Action::CheckAlerts(parse_json(headers, bytes)?),
            "get-summary" => Action::GetSummary(parse_json(headers, bytes)?),
            "delete-alert" => Action::DeleteAlert(parse_json(headers, bytes)?),
            "test-alert" => Action::TestAlert(parse_json(headers, bytes)?),
            "deliveries" => Action::Deliveries(parse_json(headers, bytes)?),
            "cleanup-old-data" => Action::CleanupOldData(parse_json(headers, bytes)?),
            other => {
                return Err(ApiError::field(
                    "action",
                    format!(
                        "unknown action `{other}` (expected one of {})",
                        ACTIONS.join(", ")
                    ),
                ))
            }
        })
    }
}

#[derive(Deserialize, ToSchema)]
pub struct DomainOnly {
    domain: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct AlertRef {
    domain: Option<String>,
    alert_type: AlertType,
}

#[derive(Deserialize, ToSchema)]
pub struct Summary {
    domain: Option<String>,
    days: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
pub struct SetAlert {
    domain: Option<String>,
    alert_type: AlertType,
    #[serde(default, deserialize_with = "omniops_core::money::lenient::option")]
    threshold_usd: Option<Decimal>,
    /// Percentages of the threshold at which the alert speaks (default 80 and 100).
    notify_at: Option<Vec<u32>>,
    /// Where fired alerts are posted ("" removes it), and whether as Slack's `{"text"}`.
    webhook_url: Option<String>,
    slack: Option<bool>,
}

/// The domain an action is for: the one asked (normalised), within the key's.
fn action_domain(principal: &Principal, asked: Option<&str>) -> Result<Option<String>, ApiError> {
    principal.resolve_domain(request::body_domain(asked)?)
}

/// `POST /api/monitoring/chat` with `action`: see [`Action`]. Changing alerts and cleaning
/// up need an admin key.
#[utoipa::path(post, path = "/api/monitoring/chat", tag = "monitoring", request_body = Action,
    responses((status = 200, body = Object, description = "The action's result"), super::errors::Common, super::errors::Missing))]
pub async fn post(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = read_body(body, 64 * 1024).await?;
    let answer = match Action::parse(&headers, &bytes)? {
        Action::SetAlert(a) => set_alert(&state, &principal, a).await?,
        Action::CheckAlerts(a) => {
            let domain = action_domain(&principal, a.domain.as_deref())?;
            alerts_with_history(&state, domain.as_deref()).await?
        }
        Action::GetSummary(a) => summary(&state, &principal, a).await?,
        Action::DeleteAlert(a) => delete_alert(&state, &principal, a).await?,
        Action::TestAlert(a) => test_alert(&state, &principal, a).await?,
        Action::Deliveries(a) => {
            let domain = action_domain(&principal, a.domain.as_deref())?;
            deliveries(&state, domain.as_deref()).await?
        }
        Action::CleanupOldData(a) => {
            action_domain(&principal, a.domain.as_deref())?;
            principal.require_admin()?;
            principal.require_unscoped("run the retention job for every domain")?;
            let report = retention::cleanup(&state).await?;
            json!({"success": true, "cleanup": report})
        }
    };
    Ok(Json(answer))
}

/// `notify_at` checked: 1 to 10 percentages from 1 to 1000, sorted, each once.
fn notify_levels(levels: Option<&Vec<u32>>) -> Result<Option<Vec<u32>>, ApiError> {
    match levels {
        Some(l) if l.is_empty() || l.len() > 10 || l.iter().any(|p| !(1..=1000).contains(p)) => {
            Err(ApiError::field(
                "notify_at",
                "notify_at must list 1 to 10 percentages from 1 to 1000",
            ))
        }
        Some(levels) => {
            let mut levels = levels.clone();
            levels.sort_unstable();
            levels.dedup();
            Ok(Some(levels))
        }
        None => Ok(None),
    }
}

async fn set_alert(
    state: &AppState,
    principal: &Principal,
    a: SetAlert,
) -> Result<Value, ApiError> {
    let domain = action_domain(principal, a.domain.as_deref())?;
    principal.require_admin()?;
    let alert_type = a.alert_type;
    let nanos = a
        .threshold_usd
        .filter(|t| t.is_sign_positive() && !t.is_zero())
        .map(usd_to_nanos)
        .ok_or_else(|| {
            ApiError::field("threshold_usd", "threshold_usd must be a number above 0")
        })?;
    let levels = notify_levels(a.notify_at.as_ref())?;
    let store = &state.store;
    store
        .upsert_alert(domain.as_deref(), alert_type, nanos, state.now())
        .await?;
    if let Some(levels) = &levels {
        let text = serde_json::to_string(levels).map_err(anyhow::Error::from)?;
        store
            .set_alert_levels(domain.as_deref(), alert_type, &text)
            .await?;
    }
    // The webhook: its secret is created once and shown only in this answer.
    let mut new_secret = None;
    match a.webhook_url.as_deref().map(str::trim) {
        None => {}
        Some("") => {
            store
                .set_alert_webhook(domain.as_deref(), alert_type, None, false, None)
                .await?;
        }
        Some(url) => {
            state
                .outbound
                .check_resolving(url)
                .await
                .map_err(|e| ApiError::field("webhook_url", format!("webhook_url: {e}")))?;
            if store
                .alert_webhook(domain.as_deref(), alert_type)
                .await?
                .is_none()
            {
                new_secret = Some(alerting::new_secret());
            }
            let slack = a.slack.unwrap_or(false);
            store
                .set_alert_webhook(
                    domain.as_deref(),
                    alert_type,
                    Some(url),
                    slack,
                    new_secret.as_deref(),
                )
                .await?;
        }
    }
    // A changed threshold may already be crossed.
    state.alert_wakeup.notify_one();
    let mut answer = json!({"success": true, "alert": {
        "domain": domain, "alertType": alert_type, "thresholdUsd": format_nanos(i128::from(nanos), 4)
    }});
    if let Some(secret) = new_secret {
        answer["webhookSecret"] = json!(secret);
    }
    Ok(answer)
}

async fn alerts_with_history(state: &AppState, domain: Option<&str>) -> Result<Value, ApiError> {
    let alerts = check_alerts(state, domain).await?;
    let triggered = alerts.iter().filter(|a| a.triggered).count();
    let history: Vec<Value> = state
        .store
        .alert_history(domain, 50)
        .await?
        .iter()
        .map(alerting::event_json)
        .collect();
    Ok(json!({"alerts": alerts, "triggered": triggered, "history": history}))
}

async fn summary(state: &AppState, principal: &Principal, a: Summary) -> Result<Value, ApiError> {
    let domain = action_domain(principal, a.domain.as_deref())?;
    let days = a.days.unwrap_or(7);
    let window =
        Window::last_days(days, state.now()).map_err(|e| ApiError::field("days", e.to_string()))?;
    let report = telemetry_for(state, &window, domain.as_deref(), None).await?;
    Ok(json!({
        "domain": domain, "days": days, "timeRange": report.overview.time_range,
        "totalRequests": report.overview.total_requests,
        "unpricedRequests": report.overview.unpriced_requests,
        "totalCost": report.cost.total, "averageCost": report.cost.average,
        "byModel": report.model_usage.iter().map(|m| json!({"model": m.model, "count": m.count, "cost": m.cost})).collect::<Vec<_>>()
    }))
}

async fn delete_alert(
    state: &AppState,
    principal: &Principal,
    a: AlertRef,
) -> Result<Value, ApiError> {
    let domain = action_domain(principal, a.domain.as_deref())?;
    principal.require_admin()?;
    let alert_type = a.alert_type;
    if !state
        .store
        .delete_alert(domain.as_deref(), alert_type)
        .await?
    {
        return Err(ApiError::NotFound(format!(
            "no {alert_type} alert for this domain"
        )));
    }
    Ok(json!({"success": true}))
}

async fn test_alert(
    state: &AppState,
    principal: &Principal,
    a: AlertRef,
) -> Result<Value, ApiError> {
    let domain = action_domain(principal, a.domain.as_deref())?;
    principal.require_admin()?;
    let alert_type = a.alert_type;
    let event = omniops_store::AlertEvent {
        domain: domain.unwrap_or_default(),
        alert_type,
        period_start: state.now(),
        level: omniops_store::AlertLevel::Test,
        spend_nanos: 0,
        threshold_nanos: 0,
        projected_date: None,
        fired_at: state.now(),
    };
    if !alerting::queue_for(state, &event, "budget.alert.test").await? {
        return Err(ApiError::NotFound(format!(
            "no {alert_type} alert with a webhook for this domain"
        )));
    }
    Ok(json!({"success": true, "queued": true}))
}

async fn deliveries(state: &AppState, domain: Option<&str>) -> Result<Value, ApiError> {
    let log: Vec<Value> = state
        .store
        .recent_deliveries(domain, 50)
        .await?
        .iter()
        .map(|d| json!({
            "id": d.id, "domain": (!d.domain.is_empty()).then_some(&d.domain), "alertType": d.alert_type,
            "url": d.url, "status": d.status.as_str(), "attempts": d.attempts,
            "nextAttemptAt": (d.status == DeliveryStatus::Pending).then(|| to_rfc3339(d.next_attempt_at)),
            "lastError": d.last_error, "createdAt": to_rfc3339(d.created_at),
            "deliveredAt": d.delivered_at.map(to_rfc3339)
        }))
        .collect();
    Ok(json!({"deliveries": log}))
}
