//! Alert webhooks: a fired alert becomes a delivery row; this job sends due deliveries,
//! signed as Standard Webhooks do, and retries failures with backoff (rows survive a
//! restart). Targets on loopback or private networks are refused unless
//! `allow_private_webhooks` is set — checked when the URL is saved and again before each
//! call, since a name may resolve elsewhere later.

use crate::state::AppState;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use omniops_core::clock::Micros;
use omniops_store::{AlertEvent, WebhookDelivery};
use serde_json::{json, Value};
use sha2::Sha256;
use std::net::IpAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Attempts before a delivery is given up.
const MAX_ATTEMPTS: i64 = 8;
/// The first retry waits this long; each next one twice as long, up to an hour.
const FIRST_RETRY: Micros = 5_000_000;
const MAX_RETRY: Micros = 3_600_000_000;
/// A claimed delivery is left alone this long by other senders.
const LEASE: Micros = 60_000_000;

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

fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1])
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| private(IpAddr::V4(v4)))
        }
    }
}

/// Whether `url` may be called: http or https, and (unless allowed) every address its host
/// resolves to is public.
pub async fn check_target(url: &str, allow_private: bool) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| "webhook_url must be an http or https URL".to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("webhook_url must be an http or https URL".into());
    }
    let host = parsed
        .host_str()
        .ok_or("webhook_url has no host")?
        .trim_matches(['[', ']'])
        .to_string();
    if allow_private {
        return Ok(());
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| format!("webhook host {host} does not resolve"))?
            .map(|a| a.ip())
            .collect(),
    };
    if addresses.is_empty() || addresses.into_iter().any(private) {
        return Err(format!(
            "webhook_url points to a loopback or private address ({host}); start with --allow-private-webhooks to allow it"
        ));
    }
    Ok(())
}

/// The request body for a fired alert: our JSON, or Slack's `{"text": …}`.
pub fn body_of(event: &AlertEvent, kind: &str, slack: bool) -> String {
    let alert = crate::jobs::alerts::event_json(event);
    if slack {
        let domain = alert["domain"].as_str().unwrap_or("all domains");
        let text = match event.level.as_str() {
            "projected" => format!(
                "Omniops: {domain} {} spend ${} is on course to pass ${} on {}.",
                event.alert_type,
                alert["currentSpend"].as_str().unwrap_or(""),
                alert["thresholdUsd"].as_str().unwrap_or(""),
                event.projected_date.as_deref().unwrap_or("?")
            ),
            level => format!(
                "Omniops: {domain} {} spend ${} reached {level}% of ${}.",
                event.alert_type,
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
    let Some((url, slack, secret)) = state.store.alert_webhook(domain, &event.alert_type).await?
    else {
        return Ok(false);
    };
    let delivery = WebhookDelivery {
        id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
        domain: event.domain.clone(),
        alert_type: event.alert_type.clone(),
        url,
        body: body_of(event, kind, slack),
        secret,
        status: "pending".into(),
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

async fn attempt(
    state: &AppState,
    client: &reqwest::Client,
    d: &WebhookDelivery,
) -> Result<(), String> {
    check_target(&d.url, state.settings.allow_private_outbound).await?;
    let timestamp = state.now() / 1_000_000;
    let signature =
        signature(&d.secret, &d.id, timestamp, &d.body).ok_or("the alert's secret is unusable")?;
    let response = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| format!("request failed: {}", e.without_url()))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", response.status().as_u16()))
    }
}

/// Sends every due delivery once; returns how many went out.
pub async fn send_due(state: &AppState, client: &reqwest::Client) -> anyhow::Result<usize> {
    let now = state.now();
    let due = state.store.claim_deliveries(now, LEASE, 50).await?;
    let mut delivered = 0;
    for d in &due {
        match attempt(state, client, d).await {
            Ok(()) => {
                state
                    .store
                    .finish_attempt(&d.id, "delivered", now, None, state.now())
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
                    ("failed", now)
                } else {
                    let delay = (FIRST_RETRY << (attempts - 1).min(20)).min(MAX_RETRY);
                    ("pending", now + delay)
                };
                tracing::warn!(id = %d.id, attempts, %error, status, "webhook delivery failed");
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
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(error) => {
            tracing::error!(?error, "webhook client");
            return;
        }
    };
    let mut ticker =
        tokio::time::interval(Duration::from_millis(state.settings.delivery_interval_ms));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
            () = state.delivery_wakeup.notified() => {}
        }
        if let Err(error) = send_due(&state, &client).await {
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

    #[tokio::test]
    async fn private_targets_need_the_setting() {
        assert!(check_target("http://127.0.0.1:9/hook", false)
            .await
            .is_err());
        assert!(check_target("http://10.1.2.3/hook", false).await.is_err());
        assert!(check_target("http://[::1]/hook", false).await.is_err());
        assert!(check_target("http://127.0.0.1:9/hook", true).await.is_ok());
        assert!(check_target("ftp://example.com/", true).await.is_err());
        assert!(check_target("http://93.184.215.14/hook", false)
            .await
            .is_ok());
    }
}
