// Alert webhooks and their deliveries, leased to one sender at a time.

use super::DB;
use crate::{AlertType, DeliveryStatus, WebhookDelivery};
use omniops_core::clock::Micros;
use sqlx::{Pool, Row};

/// An alert's webhook: (url, slack, secret), if it has one.
pub async fn alert_webhook(
    pool: &Pool<DB>,
    domain: &str,
    alert_type: AlertType,
) -> sqlx::Result<Option<(String, bool, String)>> {
    let row = sqlx::query(
        "SELECT webhook_url, slack, webhook_secret FROM cost_alerts WHERE domain = $1 AND alert_type = $2 \
         AND webhook_url IS NOT NULL AND webhook_secret IS NOT NULL",
    )
    .bind(domain)
    .bind(alert_type.as_str())
    .fetch_optional(pool)
    .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .transpose()
}

/// Sets (or with `None` removes) an alert's webhook; keeps its secret unless `secret` is given.
pub async fn set_alert_webhook(
    pool: &Pool<DB>,
    domain: &str,
    alert_type: AlertType,
    url: Option<&str>,
    slack: bool,
    secret: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE cost_alerts SET webhook_url = $3, slack = $4, webhook_secret = COALESCE($5, webhook_secret) \
         WHERE domain = $1 AND alert_type = $2",
    )
    .bind(domain)
    .bind(alert_type.as_str())
    .bind(url)
    .bind(slack)
    .bind(secret)
    .execute(pool)
    .await
    .map(drop)
}

pub async fn queue_delivery(pool: &Pool<DB>, d: &WebhookDelivery) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, domain, alert_type, url, body, secret, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)",
    )
    .bind(&d.id)
    .bind(&d.domain)
    .bind(d.alert_type.as_str())
    .bind(&d.url)
    .bind(&d.body)
    .bind(&d.secret)
    .bind(d.next_attempt_at)
    .execute(pool)
    .await
    .map(drop)
}

pub(crate) const DELIVERY_COLUMNS: &str = "id, domain, alert_type, url, body, secret, status, attempts, next_attempt_at, last_error, created_at, delivered_at";

pub(crate) fn delivery_from_row(r: &<DB as sqlx::Database>::Row) -> sqlx::Result<WebhookDelivery> {
    Ok(WebhookDelivery {
        id: r.try_get(0)?,
        domain: r.try_get(1)?,
        alert_type: super::alerts::alert_type_at(r, 2)?,
        url: r.try_get(3)?,
        body: r.try_get(4)?,
        secret: r.try_get(5)?,
        status: {
            let text: String = r.try_get(6)?;
            DeliveryStatus::parse(&text).ok_or_else(|| {
                sqlx::Error::Decode(format!("unknown delivery status {text:?}").into())
            })?
        },
        attempts: r.try_get(7)?,
        next_attempt_at: r.try_get(8)?,
        last_error: r.try_get(9)?,
        created_at: r.try_get(10)?,
        delivered_at: r.try_get(11)?,
    })
}

/// Claims due deliveries: each is pushed `lease` into the future first, so another
/// instance (or a crash) leaves it to be retried rather than sent twice at once.
pub async fn claim_deliveries(
    pool: &Pool<DB>,
    now: Micros,
    lease: Micros,
    limit: i64,
) -> sqlx::Result<Vec<WebhookDelivery>> {
    let rows = sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut claimed = Vec::new();
    for row in &rows {
        let d = delivery_from_row(row)?;
        let taken = sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_at = $3 WHERE id = $1 AND next_attempt_at = $2 AND status = 'pending'",
        )
        .bind(&d.id)
        .bind(d.next_attempt_at)
        .bind(now + lease)
        .execute(pool)
        .await?;
        if taken.rows_affected() == 1 {
            claimed.push(d);
        }
    }
    Ok(claimed)
}

/// The outcome of one attempt: delivered, retry at `next_attempt_at`, or given up.
pub async fn finish_attempt(
    pool: &Pool<DB>,
    id: &str,
    status: DeliveryStatus,
    next_attempt_at: Micros,
    error: Option<&str>,
    now: Micros,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, next_attempt_at = $3, last_error = $4, \
         delivered_at = CASE WHEN $2 = 'delivered' THEN $5 ELSE delivered_at END WHERE id = $1",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(next_attempt_at)
    .bind(error)
    .bind(now)
    .execute(pool)
    .await
    .map(drop)
}

/// The newest deliveries (the delivery log) of a domain ('' = all-domain alerts), or all.
pub async fn recent_deliveries(
    pool: &Pool<DB>,
    domain: &str,
    all: bool,
    limit: i64,
) -> sqlx::Result<Vec<WebhookDelivery>> {
    let rows = sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE $2 OR domain = $1 ORDER BY created_at DESC, id LIMIT $3"
    ))
    .bind(domain)
    .bind(all)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(delivery_from_row).collect()
}
