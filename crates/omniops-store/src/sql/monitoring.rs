// Budget alerts and the sessions of a period (the monitoring endpoint).

use super::ingest::session_from_row;
use super::ingest::split_sum;
use super::ingest::wide_sum;
use super::ingest::SESSION_COLUMNS;
use super::DB;
use crate::AlertEvent;
use crate::DeliveryStatus;
use crate::SessionFilter;
use crate::WebhookDelivery;
use omniops_core::clock::Micros;
use omniops_core::session::Session;
use omniops_core::window::Window;
use sqlx::Pool;
use sqlx::Row;

pub async fn upsert_alert(
    pool: &Pool<DB>,
    domain: &str,
    alert_type: &str,
    threshold_nanos: i64,
    now: Micros,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO cost_alerts (domain, alert_type, threshold_nanos, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (domain, alert_type) DO UPDATE SET threshold_nanos = excluded.threshold_nanos, updated_at = excluded.updated_at",
    )
    .bind(domain)
    .bind(alert_type)
    .bind(threshold_nanos)
    .bind(now)
    .execute(pool)
    .await
    .map(drop)
}

/// Alerts of one domain ('' = the all-domains ones), or every alert when `all` is set.
pub async fn list_alerts(
    pool: &Pool<DB>,
    domain: &str,
    all: bool,
) -> sqlx::Result<Vec<(String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT domain, alert_type, threshold_nanos FROM cost_alerts WHERE $2 OR domain = $1 ORDER BY domain, alert_type",
    )
    .bind(domain)
    .bind(all)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// Priced cost of ended sessions that started in [start, end), from hourly rollups.
pub async fn cost_between(
    pool: &Pool<DB>,
    start: Micros,
    end: Micros,
    domain: &str,
) -> sqlx::Result<i64> {
    let row = sqlx::query(&format!(
        "SELECT {} FROM rollup_hourly WHERE domain = $1 AND model = '' AND bucket >= $2 AND bucket < $3",
        split_sum("cost_nanos")
    ))
    .bind(domain)
    .bind(start)
    .bind(end)
    .fetch_one(pool)
    .await?;
    wide_sum(&row, 0)
}

/// Ended sessions of a window and a [`SessionFilter`]: `$1`/`$2` the window, `$3` domain,
/// `$4` model, `$5` status ('' for any; a session without an outcome counts as failed, as in
/// the rollups).
pub(crate) const HISTORY_FILTER: &str =
    "start_time >= $1 AND start_time < $2 AND end_time IS NOT NULL \
    AND ($3 = '' OR domain = $3) AND ($4 = '' OR model = $4) \
    AND ($5 = '' OR ($5 = 'success') = (COALESCE(success, FALSE) = TRUE))";

/// Ended sessions that started in the window, newest first, and how many there are.
pub async fn sessions_in_window(
    pool: &Pool<DB>,
    window: &Window,
    filter: &SessionFilter,
    limit: i64,
    offset: i64,
    count: bool,
) -> sqlx::Result<(Vec<Session>, Option<i64>)> {
    let condition = format!("FROM chat_telemetry WHERE {HISTORY_FILTER}");
    let (domain, model, status) = (
        filter.domain.as_deref().unwrap_or(""),
        filter.model.as_deref().unwrap_or(""),
        filter.status.as_param(),
    );
    let total: Option<i64> = if count {
        Some(
            sqlx::query_scalar(&format!("SELECT CAST(COUNT(*) AS BIGINT) {condition}"))
                .bind(window.start)
                .bind(window.end)
                .bind(domain)
                .bind(model)
                .bind(status)
                .fetch_one(pool)
                .await?,
        )
    } else {
        None
    };
    let rows = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} {condition} ORDER BY start_time DESC, session_id LIMIT $6 OFFSET $7"
    ))
    .bind(window.start)
    .bind(window.end)
    .bind(domain)
    .bind(model)
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let sessions = rows
        .iter()
        .map(session_from_row)
        .collect::<sqlx::Result<Vec<_>>>()?;
    Ok((sessions, total))
}

/// The first `limit` messages of a conversation: (role, content, time).
/// The first messages of a conversation of `domain`: a session links to a conversation by
/// id, and an id of another domain's shows nothing.
pub async fn conversation_messages(
    pool: &Pool<DB>,
    conversation_id: &str,
    domain: &str,
    limit: i64,
) -> sqlx::Result<Vec<(String, String, Micros)>> {
    let rows = sqlx::query(
        "SELECT role, content, created_at FROM messages WHERE conversation_id = $1 AND domain = $3 ORDER BY created_at, id LIMIT $2",
    )
    .bind(conversation_id)
    .bind(limit)
    .bind(domain)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// Ended sessions of the window older than `after` (start time, session id), newest first:
/// keyset pages for exports of any size.
pub async fn sessions_after(
    pool: &Pool<DB>,
    window: &Window,
    filter: &SessionFilter,
    after: Option<(Micros, String)>,
    limit: i64,
) -> sqlx::Result<Vec<Session>> {
    let (before_time, before_id) = after.unwrap_or((window.end, String::new()));
    let rows = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM chat_telemetry WHERE {HISTORY_FILTER} \
         AND (start_time < $6 OR (start_time = $6 AND session_id < $7)) \
         ORDER BY start_time DESC, session_id DESC LIMIT $8"
    ))
    .bind(window.start)
    .bind(window.end)
    .bind(filter.domain.as_deref().unwrap_or(""))
    .bind(filter.model.as_deref().unwrap_or(""))
    .bind(filter.status.as_param())
    .bind(before_time)
    .bind(before_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(session_from_row).collect()
}

/// Every alert with its notification levels: (domain, type, threshold, notify_at JSON).
pub async fn alert_rules(pool: &Pool<DB>) -> sqlx::Result<Vec<(String, String, i64, String)>> {
    let rows = sqlx::query("SELECT domain, alert_type, threshold_nanos, notify_at FROM cost_alerts ORDER BY domain, alert_type")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect()
}

pub async fn set_alert_levels(
    pool: &Pool<DB>,
    domain: &str,
    alert_type: &str,
    notify_at: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE cost_alerts SET notify_at = $3 WHERE domain = $1 AND alert_type = $2")
        .bind(domain)
        .bind(alert_type)
        .bind(notify_at)
        .execute(pool)
        .await
        .map(drop)
}

/// Records a fired alert unless this (alert, period, level) fired before; true when new.
pub async fn record_alert_event(pool: &Pool<DB>, e: &AlertEvent) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO alert_events (domain, alert_type, period_start, level, spend_nanos, threshold_nanos, projected_date, fired_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (domain, alert_type, period_start, level) DO NOTHING",
    )
    .bind(&e.domain)
    .bind(&e.alert_type)
    .bind(e.period_start)
    .bind(&e.level)
    .bind(e.spend_nanos)
    .bind(e.threshold_nanos)
    .bind(&e.projected_date)
    .bind(e.fired_at)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The newest fired alerts of one domain ('' = the all-domains ones), or all when `all`.
pub async fn alert_history(
    pool: &Pool<DB>,
    domain: &str,
    all: bool,
    limit: i64,
) -> sqlx::Result<Vec<AlertEvent>> {
    let rows = sqlx::query(
        "SELECT domain, alert_type, period_start, level, spend_nanos, threshold_nanos, projected_date, fired_at \
         FROM alert_events WHERE $2 OR domain = $1 ORDER BY fired_at DESC, domain, alert_type, level LIMIT $3",
    )
    .bind(domain)
    .bind(all)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AlertEvent {
                domain: r.try_get(0)?,
                alert_type: r.try_get(1)?,
                period_start: r.try_get(2)?,
                level: r.try_get(3)?,
                spend_nanos: r.try_get(4)?,
                threshold_nanos: r.try_get(5)?,
                projected_date: r.try_get(6)?,
                fired_at: r.try_get(7)?,
            })
        })
        .collect()
}

/// An alert's webhook: (url, slack, secret), if it has one.
pub async fn alert_webhook(
    pool: &Pool<DB>,
    domain: &str,
    alert_type: &str,
) -> sqlx::Result<Option<(String, bool, String)>> {
    let row = sqlx::query(
        "SELECT webhook_url, slack, webhook_secret FROM cost_alerts WHERE domain = $1 AND alert_type = $2 \
         AND webhook_url IS NOT NULL AND webhook_secret IS NOT NULL",
    )
    .bind(domain)
    .bind(alert_type)
    .fetch_optional(pool)
    .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .transpose()
}

/// Sets (or with `None` removes) an alert's webhook; keeps its secret unless `secret` is given.
pub async fn set_alert_webhook(
    pool: &Pool<DB>,
    domain: &str,
    alert_type: &str,
    url: Option<&str>,
    slack: bool,
    secret: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE cost_alerts SET webhook_url = $3, slack = $4, webhook_secret = COALESCE($5, webhook_secret) \
         WHERE domain = $1 AND alert_type = $2",
    )
    .bind(domain)
    .bind(alert_type)
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
    .bind(&d.alert_type)
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
        alert_type: r.try_get(2)?,
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

/// Deletes an alert; true when there was one.
pub async fn delete_alert(pool: &Pool<DB>, domain: &str, alert_type: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM cost_alerts WHERE domain = $1 AND alert_type = $2")
        .bind(domain)
        .bind(alert_type)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}
