//! Budget alert evaluation: after committed batches that end sessions (at most once a
//! second) and every minute, against `queries::monitoring::Spend`. Each level of an alert
//! fires once per period — the store enforces it, so several instances evaluating at once
//! still fire it once — and fired alerts go to the live stream of every instance.

use crate::live::LiveMessage;
use crate::queries::monitoring::{alert_period, Spend};
use crate::state::AppState;
use omniops_core::alerts::evaluate as evaluate_levels;
use omniops_core::clock::to_rfc3339;
use omniops_core::money::{format_nanos, percentage};
use omniops_store::AlertEvent;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The default levels, as percentages of the threshold.
pub const DEFAULT_NOTIFY_AT: [u32; 2] = [80, 100];
/// Evaluations at most this often.
const MIN_GAP: Duration = Duration::from_secs(1);

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
    let spend_of = Spend::read(state).await?;
    for (domain, alert_type, threshold, notify_at) in rules {
        let scope = (!domain.is_empty()).then_some(domain.as_str());
        let monthly = alert_type == "monthly";
        let period = alert_period(&alert_type, now);
        let spend = spend_of.of(state, &alert_type, scope).await?;
        let levels: Vec<u32> =
            serde_json::from_str(&notify_at).unwrap_or_else(|_| DEFAULT_NOTIFY_AT.to_vec());
        let evaluation = evaluate_levels(spend, threshold, &levels, monthly, period, now);
        let mut candidates: Vec<AlertEvent> = evaluation
            .levels
            .iter()
            .map(|pct| AlertEvent {
                domain: domain.clone(),
                alert_type: alert_type.clone(),
                period_start: period.0,
                level: pct.to_string(),
                spend_nanos: spend,
                threshold_nanos: threshold,
                projected_date: None,
                fired_at: now,
            })
            .collect();
        if let Some(crossing) = evaluation.projected_crossing {
            candidates.push(AlertEvent {
                domain: domain.clone(),
                alert_type: alert_type.clone(),
                period_start: period.0,
                level: "projected".into(),
                spend_nanos: spend,
                threshold_nanos: threshold,
                projected_date: Some(to_rfc3339(crossing)[..10].to_string()),
                fired_at: now,
            });
        }
        for event in candidates {
            if state.store.record_alert_event(&event).await? {
                crate::jobs::webhooks::queue_for(state, &event, "budget.alert").await?;
                fired.push(event);
            }
        }
    }
    Ok(fired)
}

async fn evaluate_and_publish(state: &AppState) {
    match evaluate(state).await {
        Ok(fired) if !fired.is_empty() => {
            let messages: Vec<LiveMessage> = fired
                .iter()
                .map(|e| LiveMessage {
                    event: "alert.fired",
                    domain: e.domain.clone(),
                    data: event_json(e).to_string(),
                })
                .collect();
            for e in &fired {
                tracing::warn!(domain = %e.domain, alert_type = %e.alert_type, level = %e.level, spend_nanos = e.spend_nanos, "budget alert fired");
            }
            state.live.publish_messages(&messages);
            state.live.announce_messages(&state.store, &messages).await;
        }
        Ok(_) => {}
        Err(error) => tracing::error!(?error, "budget alert evaluation"),
    }
}

pub async fn run(state: AppState, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
            () = state.alert_wakeup.notified() => {}
        }
        evaluate_and_publish(&state).await;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(MIN_GAP) => {}
        }
    }
}
