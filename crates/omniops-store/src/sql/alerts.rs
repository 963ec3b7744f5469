// Budget alerts: their rules, levels and the events that fired.

use super::DB;
use crate::{AlertEvent, AlertLevel, AlertType};
use omniops_core::clock::Micros;
use sqlx::{Pool, Row};

pub async fn upsert_alert(
    pool: &Pool<DB>,
    domain: &str,
    alert_type: AlertType,
    threshold_nanos: i64,
    now: Micros,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO cost_alerts (domain, alert_type, threshold_nanos, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (domain, alert_type) DO UPDATE SET threshold_nanos = excluded.threshold_nanos, updated_at = excluded.updated_at",
    )
    .bind(domain)
    .bind(alert_type.as_str())
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
) -> sqlx::Result<Vec<(String, AlertType, i64)>> {
    let rows = sqlx::query(
        "SELECT domain, alert_type, threshold_nanos FROM cost_alerts WHERE $2 OR domain = $1 ORDER BY domain, alert_type",
    )
    .bind(domain)
    .bind(all)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, alert_type_at(r, 1)?, r.try_get(2)?)))
        .collect()
}

/// Every alert with its notification levels: (domain, type, threshold, notify_at JSON).
pub async fn alert_rules(pool: &Pool<DB>) -> sqlx::Result<Vec<(String, AlertType, i64, String)>> {
    let rows = sqlx::query("SELECT domain, alert_type, threshold_nanos, notify_at FROM cost_alerts ORDER BY domain, alert_type")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get(0)?,
                alert_type_at(r, 1)?,
                r.try_get(2)?,
                r.try_get(3)?,
            ))
        })
        .collect()
}

pub async fn set_alert_levels(
    pool: &Pool<DB>,
    domain: &str,
    alert_type: AlertType,
    notify_at: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE cost_alerts SET notify_at = $3 WHERE domain = $1 AND alert_type = $2")
        .bind(domain)
        .bind(alert_type.as_str())
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
    .bind(e.alert_type.as_str())
    .bind(e.period_start)
    .bind(e.level.as_text())
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
                alert_type: alert_type_at(r, 1)?,
                period_start: r.try_get(2)?,
                level: {
                    let text: String = r.try_get(3)?;
                    AlertLevel::parse(&text).ok_or_else(|| {
                        sqlx::Error::Decode(format!("unknown alert level {text:?}").into())
                    })?
                },
                spend_nanos: r.try_get(4)?,
                threshold_nanos: r.try_get(5)?,
                projected_date: r.try_get(6)?,
                fired_at: r.try_get(7)?,
            })
        })
        .collect()
}

/// Deletes an alert; true when there was one.
pub async fn delete_alert(
    pool: &Pool<DB>,
    domain: &str,
    alert_type: AlertType,
) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM cost_alerts WHERE domain = $1 AND alert_type = $2")
        .bind(domain)
        .bind(alert_type.as_str())
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The alert type in column `i`; an unknown one is an error, never a guess.
pub(crate) fn alert_type_at(r: &<DB as sqlx::Database>::Row, i: usize) -> sqlx::Result<AlertType> {
    let text: String = r.try_get(i)?;
    AlertType::parse(&text)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown alert type {text:?}").into()))
}
