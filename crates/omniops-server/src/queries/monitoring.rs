//! `/api/monitoring/chat`: the telemetry report for a period (optionally one model), raw
//! sessions on request, and budget alerts.

use crate::state::AppState;
use omniops_core::clock::{floor_day, floor_hour, Micros, MICROS_PER_DAY, MICROS_PER_HOUR};
use omniops_core::money::{percentage, Rounded, Usd};
use omniops_core::telemetry::{build_report, LiveSession, TelemetryReport};
use omniops_core::window::Window;
use omniops_store::AlertType;
use serde::Serialize;

pub async fn telemetry_for(
    state: &AppState,
    window: &Window,
    domain: Option<&str>,
    model: Option<&str>,
) -> anyhow::Result<TelemetryReport> {
    let inputs = super::telemetry::telemetry_inputs(state, window, domain, model).await?;
    Ok(build_report(window, state.now(), inputs))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    pub domain: Option<String>,
    pub alert_type: AlertType,
    pub threshold_usd: Usd,
    pub current_spend: Usd,
    pub percentage: Rounded,
    pub triggered: bool,
}

/// The first microsecond of the UTC month that holds `now`.
pub fn month_start(now: Micros) -> Micros {
    use chrono::Datelike;
    let date = chrono::DateTime::from_timestamp_micros(now)
        .unwrap_or_default()
        .date_naive();
    date.with_day(1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(floor_day(now), |t| t.and_utc().timestamp_micros())
}

/// The period an alert of `alert_type` watches at `now`: the UTC month for "monthly",
/// else the UTC day, as `[start, end)`.
pub fn alert_period(alert_type: AlertType, now: Micros) -> (Micros, Micros) {
    if alert_type == AlertType::Monthly {
        (
            month_start(now),
            month_start(month_start(now) + 32 * MICROS_PER_DAY),
        )
    } else {
        (floor_day(now), floor_day(now) + MICROS_PER_DAY)
    }
}

/// Spend, the one definition (README: Budget alerts): a budget period's ended sessions from
/// the rollups, plus the running cost of the live sessions that started in it. The
/// evaluator, `check-alerts`, the budget panel and the notifications all read it here.
pub struct Spend {
    live: Vec<LiveSession>,
    now: Micros,
}

impl Spend {
    /// Reads the live sessions once, for every alert to be measured: of one domain, when
    /// only its alerts are, else of all.
    pub async fn read(state: &AppState, domain: Option<&str>) -> anyhow::Result<Spend> {
        Ok(Spend {
            live: state.store.live_sessions(domain).await?,
            now: state.now(),
        })
    }

    /// The spend so far of the period an alert of `alert_type` watches, for one domain or
    /// (`None`) all of them, in nano-dollars.
    pub async fn of(
        &self,
        state: &AppState,
        alert_type: AlertType,
        domain: Option<&str>,
    ) -> anyhow::Result<i64> {
        let (start, _) = alert_period(alert_type, self.now);
        let end = floor_hour(self.now) + MICROS_PER_HOUR;
        let ended = state.store.cost_between(start, end, domain).await?;
        let live: i64 = self
            .live
            .iter()
            .filter(|s| domain.is_none_or(|d| s.domain == d) && s.start_time >= start)
            .filter_map(|s| s.cost_nanos)
            .fold(0, i64::saturating_add);
        Ok(ended.saturating_add(live))
    }
}

/// Each alert against the spend of its period so far (today, or this month, UTC).
pub async fn check_alerts(
    state: &AppState,
    domain: Option<&str>,
) -> anyhow::Result<Vec<AlertStatus>> {
    let spend_of = Spend::read(state, domain).await?;
    let mut statuses = Vec::new();
    for (alert_domain, alert_type, threshold) in state.store.list_alerts(domain).await? {
        let scope = (!alert_domain.is_empty()).then_some(alert_domain.as_str());
        let spend = spend_of.of(state, alert_type, scope).await?;
        statuses.push(AlertStatus {
            domain: scope.map(str::to_string),
            alert_type,
            threshold_usd: Usd::from_nanos(i128::from(threshold), 4),
            current_spend: Usd::from_nanos(i128::from(spend), 4),
            percentage: percentage(i128::from(spend), i128::from(threshold)),
            triggered: spend >= threshold,
        });
    }
    Ok(statuses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use omniops_core::clock::{parse_rfc3339, to_rfc3339};

    #[test]
    fn months_start_on_the_first_at_midnight_utc() {
        let now = parse_rfc3339("2026-11-26T12:30:00Z").expect("time");
        assert_eq!(to_rfc3339(month_start(now)), "2026-11-01T00:00:00Z");
        let (start, end) = alert_period(
            AlertType::Monthly,
            parse_rfc3339("2026-12-31T23:00:00Z").expect("time"),
        );
        assert_eq!(
            (to_rfc3339(start), to_rfc3339(end)),
            ("2026-12-01T00:00:00Z".into(), "2027-01-01T00:00:00Z".into())
        );
        let (start, end) = alert_period(AlertType::Daily, now);
        assert_eq!(
            (to_rfc3339(start), to_rfc3339(end)),
            ("2026-11-26T00:00:00Z".into(), "2026-11-27T00:00:00Z".into())
        );
    }
}
