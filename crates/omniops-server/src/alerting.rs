//! Budget alerting as a service for the API, the pages and the jobs: what a fired alert
//! says, evaluating every alert against `Spend` (README: Budget alerts), and queueing its
//! webhook delivery (README: Budget alerts, webhooks). The jobs only run it on a schedule.

use crate::queries::monitoring::{alert_period, Spend};
use crate::state::AppState;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use omniops_core::alerts::evaluate as evaluate_levels;
use omniops_core::clock::to_rfc3339;
use omniops_core::money::{format_nanos, percentage};
use omniops_store::{AlertEvent, AlertLevel, AlertType, DeliveryStatus, WebhookDelivery};
use serde_json::{json, Value};
use sha2::Sha256;

/// The default levels, as percentages of the threshold.
pub const DEFAULT_NOTIFY_AT: [u32; 2] = [80, 100];
/// A fired alert as the live stream, `check-alerts`' history and the toast show it.
pub fn event_json(e: &AlertEvent) -> Value {
    json!({
        "domain": (!e.domain.is_empty()).then_some(&e.domain),
        "alertType": e.alert_type,
        "level": e.level,
        "periodStart": to_rfc3339(e.period_start),
        "thresholdUsd": format_nanos(i128::from(e.threshold_nanos), 4),
        "currentSpend": format_nanos(i128::from(e.spend_nanos), 4),
        "percentage": percentage(i128::from(e.spend_nanos), i128::from(e.threshold_nanos)),
        "triggered": e.spend_nanos >= e.threshold_nanos,
        "projectedDate": e.projected_date,
        "firedAt": to_rfc3339(e.fired_at),
    })
}

/// Checks every alert now; returns the ones that fired (for the first time this period).
pub async fn evaluate(state: &AppState) -> anyhow::Result<Vec<AlertEvent>> {
    let now = state.now();
    let mut fired = Vec::new();
    let rules = state.store.alert_rules().await?;
    if rules.is_empty() {
        return Ok(fired);
    }
    let spend_of = Spend::read(state, None).await?;
    for (domain, alert_type, threshold, notify_at) in rules {
        let scope = (!domain.is_empty()).then_some(domain.as_str());
        let monthly = alert_type == AlertType::Monthly;
        let period = alert_period(alert_type, now);
        let spend = spend_of.of(state, alert_type, scope).await?;
        let levels: Vec<u32> =
            serde_json::from_str(&notify_at).unwrap_or_else(|_| DEFAULT_NOTIFY_AT.to_vec());
        let evaluation = evaluate_levels(spend, threshold, &levels, monthly, period, now);
        let mut candidates: Vec<AlertEvent> = evaluation
            .levels
            .iter()
            .map(|pct| AlertEvent {
                domain: domain.clone(),
                alert_type,
                period_start: period.0,
                level: AlertLevel::Percent(*pct),
                spend_nanos: spend,
                threshold_nanos: threshold,
                projected_date: None,
                fired_at: now,
            })
            .collect();
        if let Some(crossing) = evaluation.projected_crossing {
            candidates.push(AlertEvent {
                domain: domain.clone(),
                alert_type,
                period_start: period.0,
                level: AlertLevel::Projected,
                spend_nanos: spend,
                threshold_nanos: threshold,
                projected_date: Some(to_rfc3339(crossing)[..10].to_string()),
                fired_at: now,
            });
        }
        for event in candidates {
            if state.store.record_alert_event(&event).await? {
                queue_for(state, &event, "budget.alert").await?;
                fired.push(event);
            }
        }
    }
    Ok(fired)
}

/// A new signing secret: `whsec_` and 24 random bytes in base64.
pub fn new_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the secret's bytes.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The request body for a fired alert: our JSON, or Slack's `{"text": …}`.
pub fn body_of(event: &AlertEvent, kind: &str, slack: bool) -> String {
    let alert = event_json(event);
    if slack {
        let domain = alert["domain"].as_str().unwrap_or("all domains");
        let text = match event.level {
            AlertLevel::Projected => format!(
                "Omniops: {domain} {} spend ${} is on course to pass ${} on {}.",
                event.alert_type,
                alert["currentSpend"].as_str().unwrap_or(""),
                alert["thresholdUsd"].as_str().unwrap_or(""),
                event.projected_date.as_deref().unwrap_or("?")
            ),
            level => format!(
                "Omniops: {domain} {} spend ${} reached {}% of ${}.",
                event.alert_type,
                level.as_text(),
                alert["currentSpend"].as_str().unwrap_or(""),
                alert["thresholdUsd"].as_str().unwrap_or("")
            ),
        };
        return json!({"text": text}).to_string();
    }
    let mut body = json!({"type": kind});
    if let (Value::Object(out), Value::Object(fields)) = (&mut body, alert) {
        out.extend(fields);
    }
    body.to_string()
}

/// Queues a delivery of `event` if its alert has a webhook; wakes the sender.
pub async fn queue_for(state: &AppState, event: &AlertEvent, kind: &str) -> anyhow::Result<bool> {
    let domain = (!event.domain.is_empty()).then_some(event.domain.as_str());
    let Some((url, slack, secret)) = state.store.alert_webhook(domain, event.alert_type).await?
    else {
        return Ok(false);
    };
    let delivery = WebhookDelivery {
        id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
        domain: event.domain.clone(),
        alert_type: event.alert_type,
        url,
        body: body_of(event, kind, slack),
        secret,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: state.now(),
        last_error: None,
        created_at: state.now(),
        delivered_at: None,
    };
    state.store.queue_delivery(&delivery).await?;
    state.delivery_wakeup.notify_one();
    Ok(true)
}
