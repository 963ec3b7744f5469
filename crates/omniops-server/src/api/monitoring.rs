//! `GET` and `POST /api/monitoring/chat`.

use super::params;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::ingest::read_body;
use crate::jobs::retention;
use crate::queries::monitoring::{check_alerts, telemetry_for};
use crate::queries::sessions::session_history;
use crate::queries::telemetry::response_time_percentiles;
use crate::request::{self, parse_json, Params};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use omniops_core::clock::{floor_hour, to_rfc3339, MICROS_PER_HOUR};
use omniops_core::domain::Domain;
use omniops_core::money::{format_nanos, usd_to_nanos};
use omniops_core::rollup::PercentileBound;
use omniops_core::window::Window;
use omniops_store::SessionFilter;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

fn period_window(period: &str, now: i64) -> Result<Window, ApiError> {
    let days = match period {
        "hour" => {
            let start = floor_hour(now);
            return Window::between(start, start + MICROS_PER_HOUR)
                .map_err(|e| ApiError::field("period", e.to_string()));
        }
        "day" => 1,
        "week" => 7,
        "month" => 30,
        _ => {
            return Err(ApiError::field(
                "period",
                "period must be one of hour, day, week, month",
            ))
        }
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

/// `GET /api/monitoring/chat?period=&domain=&model=&includeDetails=&includeLive=`: the
/// telemetry report of the period (every field of `/api/dashboard/telemetry`), plus
/// `period`, `filters` and, with `includeDetails`, the period's sessions paginated.
pub async fn get(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let params = params(query)?;
    let period = params.get("period").map_or("day", String::as_str);
    let window = period_window(period, state.now())?;
    let domain = principal.resolve_domain(request::domain(&params)?)?;
    let model = params
        .get("model")
        .map(|m| m.trim())
        .filter(|m| !m.is_empty());
    let include_details = flag(&params, "includeDetails", false)?;
    let include_live = flag(&params, "includeLive", true)?;
    let report = telemetry_for(&state, &window, domain.as_deref(), model).await?;
    let mut answer = serde_json::to_value(report).map_err(anyhow::Error::from)?;
    answer["period"] = json!(period);
    answer["filters"] = json!({"domain": domain, "model": model});
    // The duration histogram is kept per domain, not per model.
    answer["responseTimePercentiles"] = match model {
        Some(_) => Value::Null,
        None => {
            let percentiles = response_time_percentiles(&state, &window, domain.as_deref()).await?;
            let bounds: serde_json::Map<String, Value> = percentiles
                .into_iter()
                .map(|(label, bound)| {
                    let value = match bound {
                        PercentileBound::NoData => Value::Null,
                        PercentileBound::AtMost(ms) => json!({"atMostMs": ms}),
                        PercentileBound::Above(ms) => json!({"aboveMs": ms}),
                    };
                    (label.to_string(), value)
                })
                .collect();
            Value::Object(bounds)
        }
    };
    if !include_live {
        answer["live"] = Value::Null;
    }
    if include_details {
        let (page, limit) = request::pagination(&params)?;
        let filter = SessionFilter {
            domain: domain.clone(),
            model: model.map(str::to_string),
            status: String::new(),
        };
        let history = session_history(&state, &window, &filter, page, limit).await?;
        answer["details"] = serde_json::to_value(history).map_err(anyhow::Error::from)?;
    }
    Ok(Json(answer))
}

/// An alert's type and threshold as given: the threshold in nano-dollars, or a 400 naming
/// the field.
fn validate_alert(alert_type: &str, threshold: Option<Decimal>) -> Result<i64, ApiError> {
    if !matches!(alert_type, "daily" | "monthly") {
        return Err(ApiError::field(
            "alert_type",
            "alert_type must be daily or monthly",
        ));
    }
    let threshold = threshold
        .filter(|t| t.is_sign_positive() && !t.is_zero())
        .ok_or_else(|| {
            ApiError::field("threshold_usd", "threshold_usd must be a number above 0")
        })?;
    Ok(usd_to_nanos(threshold))
}

#[derive(Deserialize)]
struct Action {
    action: String,
    domain: Option<String>,
    alert_type: Option<String>,
    #[serde(default, deserialize_with = "omniops_core::money::lenient::option")]
    threshold_usd: Option<Decimal>,
    days: Option<i64>,
    /// Percentages of the threshold at which the alert speaks (default 80 and 100).
    notify_at: Option<Vec<u32>>,
    /// Where fired alerts are posted ("" removes it), and whether as Slack's `{"text"}`.
    webhook_url: Option<String>,
    slack: Option<bool>,
}

/// `POST /api/monitoring/chat` with `action`: `set-alert`, `check-alerts`, `get-summary`
/// or `cleanup-old-data`. Setting alerts and cleaning up need an admin key.
pub async fn post(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = read_body(body, 64 * 1024).await?;
    let action: Action = parse_json(&headers, &bytes)?;
    let requested = match action.domain.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => Some(Domain::parse(d).map_err(|e| ApiError::field("domain", e.to_string()))?),
    };
    let domain = principal.resolve_domain(requested)?;
    match action.action.as_str() {
        "set-alert" => {
            principal.require_admin()?;
            let alert_type = action.alert_type.as_deref().unwrap_or("");
            let nanos = validate_alert(alert_type, action.threshold_usd)?;
            let levels = match &action.notify_at {
                Some(levels) if levels.is_empty() || levels.len() > 10 || levels.iter().any(|p| !(1..=1000).contains(p)) => {
                    return Err(ApiError::field("notify_at", "notify_at must list 1 to 10 percentages from 1 to 1000"));
                }
                Some(levels) => {
                    let mut levels = levels.clone();
                    levels.sort_unstable();
                    levels.dedup();
                    Some(levels)
                }
                None => None,
            };
            state.store.upsert_alert(domain.as_deref(), alert_type, nanos, state.now()).await?;
            if let Some(levels) = &levels {
                let text = serde_json::to_string(levels).map_err(anyhow::Error::from)?;
                state.store.set_alert_levels(domain.as_deref(), alert_type, &text).await?;
            }
            // The webhook: its secret is created once and shown only in this answer.
            let mut new_secret = None;
            if let Some(url) = action.webhook_url.as_deref().map(str::trim) {
                if url.is_empty() {
                    state.store.set_alert_webhook(domain.as_deref(), alert_type, None, false, None).await?;
                } else {
                    state
                        .outbound
                        .check_resolving(url)
                        .await
                        .map_err(|e| ApiError::field("webhook_url", format!("webhook_url: {e}")))?;
                    let existing = state.store.alert_webhook(domain.as_deref(), alert_type).await?;
                    if existing.is_none() {
                        new_secret = Some(crate::jobs::webhooks::new_secret());
                    }
                    let slack = action.slack.unwrap_or(false);
                    state
                        .store
                        .set_alert_webhook(domain.as_deref(), alert_type, Some(url), slack, new_secret.as_deref())
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
            Ok(Json(answer))
        }
        "check-alerts" => {
            let alerts = check_alerts(&state, domain.as_deref()).await?;
            let triggered = alerts.iter().filter(|a| a.triggered).count();
            let history: Vec<Value> = state
                .store
                .alert_history(domain.as_deref(), 50)
                .await?
                .iter()
                .map(crate::jobs::alerts::event_json)
                .collect();
            Ok(Json(json!({"alerts": alerts, "triggered": triggered, "history": history})))
        }
        "get-summary" => {
            let days = action.days.unwrap_or(7);
            let window = Window::last_days(days, state.now()).map_err(|e| ApiError::field("days", e.to_string()))?;
            let report = telemetry_for(&state, &window, domain.as_deref(), None).await?;
            Ok(Json(json!({
                "domain": domain, "days": days, "timeRange": report.overview.time_range,
                "totalRequests": report.overview.total_requests,
                "unpricedRequests": report.overview.unpriced_requests,
                "totalCost": report.cost.total, "averageCost": report.cost.average,
                "byModel": report.model_usage.iter().map(|m| json!({"model": m.model, "count": m.count, "cost": m.cost})).collect::<Vec<_>>()
            })))
        }
        "delete-alert" => {
            principal.require_admin()?;
            let alert_type = action.alert_type.as_deref().unwrap_or("");
            if !state.store.delete_alert(domain.as_deref(), alert_type).await? {
                return Err(ApiError::NotFound(format!("no {alert_type} alert for this domain")));
            }
            Ok(Json(json!({"success": true})))
        }
        "test-alert" => {
            principal.require_admin()?;
            let alert_type = action.alert_type.as_deref().unwrap_or("");
            let event = omniops_store::AlertEvent {
                domain: domain.clone().unwrap_or_default(),
                alert_type: alert_type.to_string(),
                period_start: state.now(),
                level: "test".into(),
                spend_nanos: 0,
                threshold_nanos: 0,
                projected_date: None,
                fired_at: state.now(),
            };
            if !crate::jobs::webhooks::queue_for(&state, &event, "budget.alert.test").await? {
                return Err(ApiError::NotFound(format!("no {alert_type} alert with a webhook for this domain")));
            }
            Ok(Json(json!({"success": true, "queued": true})))
        }
        "deliveries" => {
            let log: Vec<Value> = state
                .store
                .recent_deliveries(domain.as_deref(), 50)
                .await?
                .iter()
                .map(|d| json!({
                    "id": d.id, "domain": (!d.domain.is_empty()).then_some(&d.domain), "alertType": d.alert_type,
                    "url": d.url, "status": d.status, "attempts": d.attempts,
                    "nextAttemptAt": (d.status == "pending").then(|| to_rfc3339(d.next_attempt_at)),
                    "lastError": d.last_error, "createdAt": to_rfc3339(d.created_at),
                    "deliveredAt": d.delivered_at.map(to_rfc3339)
                }))
                .collect();
            Ok(Json(json!({"deliveries": log})))
        }
        "cleanup-old-data" => {
            principal.require_admin()?;
            principal.require_unscoped("run the retention job for every domain")?;
            let report = retention::cleanup(&state).await?;
            Ok(Json(json!({"success": true, "cleanup": report})))
        }
        other => Err(ApiError::field(
            "action",
            format!("unknown action `{other}` (expected set-alert, check-alerts, delete-alert, test-alert, deliveries, get-summary or cleanup-old-data)"),
        )),
    }
}
