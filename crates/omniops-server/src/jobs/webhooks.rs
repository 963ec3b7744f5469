//! Alert webhooks: a fired alert becomes a delivery row; this job sends due deliveries,
//! signed as Standard Webhooks do, and retries failures with backoff (rows survive a
//! restart). Calls go through the outbound client (`outbound`): targets on loopback,
//! private or reserved addresses are refused unless `allow_private_outbound` is set,
//! when the URL is saved and at every connection.

use crate::alerting::signature;
use crate::state::AppState;
use omniops_core::clock::Micros;
use omniops_store::{DeliveryStatus, WebhookDelivery};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Attempts before a delivery is given up.
const MAX_ATTEMPTS: i64 = 8;
/// The first retry waits this long; each next one twice as long, up to an hour.
const FIRST_RETRY: Micros = 5_000_000;
const MAX_RETRY: Micros = 3_600_000_000;
/// A claimed delivery is left alone this long by other senders.
const LEASE: Micros = 60_000_000;

async fn attempt(state: &AppState, d: &WebhookDelivery) -> Result<(), String> {
    let timestamp = state.now() / 1_000_000;
    let signature =
        signature(&d.secret, &d.id, timestamp, &d.body).ok_or("the alert's secret is unusable")?;
    let response = state
        .outbound
        .post(&d.url)
        .map_err(|e| e.to_string())?
        .header("content-type", "application/json")
        .header("webhook-id", &d.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| format!("request failed: {}", outbound_reason(&e)))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", response.status().as_u16()))
    }
}

/// Why a call failed, including a refusal by the outbound client's resolver.
fn outbound_reason(error: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<crate::outbound::OutboundError>() {
            return refused.to_string();
        }
        source = e.source();
    }
    error.to_string()
}

/// Sends every due delivery once; returns how many went out.
pub async fn send_due(state: &AppState) -> anyhow::Result<usize> {
    let now = state.now();
    let due = state.store.claim_deliveries(now, LEASE, 50).await?;
    let mut delivered = 0;
    for d in &due {
        match attempt(state, d).await {
            Ok(()) => {
                state
                    .store
                    .finish_attempt(&d.id, DeliveryStatus::Delivered, now, None, state.now())
                    .await?;
                state
                    .metrics
                    .deliveries_ok
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                delivered += 1;
            }
            Err(error) => {
                let attempts = d.attempts + 1;
                let (status, next) = if attempts >= MAX_ATTEMPTS {
                    (DeliveryStatus::Failed, now)
                } else {
                    let delay = (FIRST_RETRY << (attempts - 1).min(20)).min(MAX_RETRY);
                    (DeliveryStatus::Pending, now + delay)
                };
                tracing::warn!(id = %d.id, attempts, %error, status = status.as_str(), "webhook delivery failed");
                state
                    .metrics
                    .deliveries_failed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                state
                    .store
                    .finish_attempt(&d.id, status, next, Some(&error), state.now())
                    .await?;
            }
        }
    }
    Ok(delivered)
}

pub async fn run(state: AppState, stop: CancellationToken) {
    let mut ticker =
        tokio::time::interval(Duration::from_millis(state.settings.delivery_interval_ms));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
            () = state.delivery_wakeup.notified() => {}
        }
        if let Err(error) = send_due(&state).await {
            tracing::error!(?error, "webhook deliveries");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_standard_webhooks() {
        // The Standard Webhooks specification's example.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }
}
