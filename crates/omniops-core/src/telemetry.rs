//! The `/api/dashboard/telemetry` report, assembled from rollup sums and live sessions.
//! Field names and types follow the spec; the rules are in README: `GET /api/dashboard/telemetry`.

use crate::clock::{to_rfc3339, Micros, MICROS_PER_HOUR, MICROS_PER_SECOND};
use crate::money::Rounded;
use crate::money::{json_number, nanos_to_usd, percentage, ratio, Usd};
use crate::rollup::{Counters, WindowSums};
use crate::window::Window;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use std::collections::BTreeMap;

/// What the store hands over for one report.
#[derive(Debug, Clone, Default)]
pub struct TelemetryInputs {
    pub sums: WindowSums,
    /// Hour buckets of the window that hold ended sessions: (hour, requests, cost nanos).
    pub trend: Vec<(Micros, i64, i64)>,
    /// Hour of the first stored session (for the domain filter), if any.
    pub first_session_hour: Option<Micros>,
    pub live: Vec<LiveSession>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LiveSession {
    pub session_id: String,
    pub model: String,
    pub domain: String,
    pub start_time: Micros,
    pub cost_nanos: Option<i64>,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryReport {
    pub overview: Overview,
    pub cost: CostSummary,
    pub tokens: TokenSummary,
    pub performance: Performance,
    pub model_usage: Vec<ModelUsage>,
    pub domain_breakdown: Vec<DomainCost>,
    pub hourly_trend: Vec<HourPoint>,
    pub live: Live,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub total_requests: i64,
    pub successful_requests: i64,
    pub failed_requests: i64,
    pub success_rate: Rounded,
    pub error_rate: Rounded,
    pub active_sessions: i64,
    pub time_range: String,
    pub unpriced_requests: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostSummary {
    pub total: Usd,
    pub average: Usd,
    pub projected_daily: Usd,
    pub projected_monthly: Usd,
    pub per_hour: Usd,
    pub trend: Trend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    Increasing,
    Decreasing,
    Stable,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenSummary {
    pub total_input: i64,
    pub total_output: i64,
    pub total: i64,
    pub avg_per_request: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Performance {
    pub avg_response_time: i64,
    pub total_searches: i64,
    pub avg_searches_per_request: String,
    pub avg_iterations: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelUsage {
    pub model: String,
    pub count: i64,
    /// `None` (JSON null) when none of the model's requests has a price.
    pub cost: Option<Usd>,
    pub tokens: i64,
    pub percentage: Rounded,
    pub unpriced: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DomainCost {
    pub domain: String,
    pub requests: i64,
    /// The priced requests' cost.
    pub cost: Usd,
    /// Requests of models without a price: not in `cost`.
    pub unpriced_requests: i64,
    pub unpriced: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HourPoint {
    pub hour: String,
    pub cost: Rounded,
    pub requests: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Live {
    pub active_sessions: i64,
    pub current_cost: Usd,
    pub sessions_data: Vec<LiveSessionData>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveSessionData {
    pub id: String,
    pub uptime: i64,
    pub cost: Usd,
    pub model: String,
    pub domain: String,
    pub unpriced: bool,
}

/// Rounds `value` half away from zero to a whole number.
fn round_whole(value: Decimal) -> i64 {
    value
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .unwrap_or(0)
}

fn fixed(value: Decimal, decimals: u32) -> Usd {
    Usd::new(value, decimals)
}

/// Compares the cost of the window's second half with its first: within ±10% is stable.
pub fn cost_trend(first_half: i128, second_half: i128) -> Trend {
    if first_half == 0 {
        return if second_half > 0 {
            Trend::Increasing
        } else {
            Trend::Stable
        };
    }
    let change = ratio((second_half - first_half) * 100, first_half);
    if change > Decimal::from(10) {
        Trend::Increasing
    } else if change < Decimal::from(-10) {
        Trend::Decreasing
    } else {
        Trend::Stable
    }
}

pub fn build_report(window: &Window, now: Micros, inputs: TelemetryInputs) -> TelemetryReport {
    let WindowSums {
        totals,
        by_model,
        by_domain,
    } = inputs.sums;
    // perHour runs from the later of the window start and the first stored session to now.
    let rate_start = inputs
        .first_session_hour
        .map_or(window.start, |f| f.max(window.start));
    let hours = ratio(i128::from(now - rate_start), i128::from(MICROS_PER_HOUR)).max(Decimal::ONE);
    let live = live_of(inputs.live, now);
    TelemetryReport {
        overview: overview_of(&totals, window, live.active_sessions),
        cost: cost_of(&totals, hours, window, &inputs.trend),
        tokens: tokens_of(&totals),
        performance: performance_of(&totals),
        model_usage: model_usage_of(by_model, totals.requests),
        domain_breakdown: domain_breakdown_of(by_domain),
        hourly_trend: hourly_trend_of(window, &inputs.trend),
        live,
    }
}

fn overview_of(totals: &Counters, window: &Window, active: i64) -> Overview {
    let requests = i128::from(totals.requests);
    Overview {
        total_requests: totals.requests,
        successful_requests: totals.successes,
        failed_requests: totals.failures,
        success_rate: percentage(i128::from(totals.successes), requests),
        error_rate: percentage(i128::from(totals.failures), requests),
        active_sessions: active,
        time_range: window.label(),
        unpriced_requests: totals.unpriced,
    }
}

/// `hours`: the hours the per-hour rate is spread over; `trend`: (hour, requests, cost).
fn cost_of(
    totals: &Counters,
    hours: Decimal,
    window: &Window,
    trend: &[(Micros, i64, i64)],
) -> CostSummary {
    let cost_total = i128::from(totals.cost_nanos);
    let per_hour = nanos_to_usd(cost_total) / hours;
    let midpoint = window.midpoint();
    let (first_half, second_half) = trend
        .iter()
        .fold((0i128, 0i128), |(a, b), (hour, _, cost)| {
            if *hour < midpoint {
                (a + i128::from(*cost), b)
            } else {
                (a, b + i128::from(*cost))
            }
        });
    CostSummary {
        total: Usd::from_nanos(cost_total, 4),
        average: fixed(
            nanos_to_usd(cost_total) / Decimal::from(totals.priced_requests().max(1)),
            6,
        ),
        projected_daily: fixed(per_hour * Decimal::from(24), 4),
        projected_monthly: fixed(per_hour * Decimal::from(24 * 30), 4),
        per_hour: fixed(per_hour, 4),
        trend: cost_trend(first_half, second_half),
    }
}

fn tokens_of(totals: &Counters) -> TokenSummary {
    TokenSummary {
        total_input: totals.input_tokens,
        total_output: totals.output_tokens,
        total: totals.input_tokens.saturating_add(totals.output_tokens),
        avg_per_request: round_whole(ratio(
            i128::from(totals.input_tokens) + i128::from(totals.output_tokens),
            i128::from(totals.requests),
        )),
    }
}

fn performance_of(totals: &Counters) -> Performance {
    let requests = i128::from(totals.requests);
    Performance {
        avg_response_time: round_whole(ratio(i128::from(totals.duration_ms), requests)),
        total_searches: totals.searches,
        avg_searches_per_request: crate::money::format_usd(
            ratio(i128::from(totals.searches), requests),
            2,
        ),
        avg_iterations: crate::money::format_usd(ratio(i128::from(totals.iterations), requests), 2),
    }
}

fn model_usage_of(by_model: BTreeMap<String, Counters>, requests: i64) -> Vec<ModelUsage> {
    let mut model_usage: Vec<ModelUsage> = by_model
        .into_iter()
        .map(|(model, c)| ModelUsage {
            model,
            count: c.requests,
            cost: (c.priced_requests() > 0).then(|| Usd::from_nanos(i128::from(c.cost_nanos), 4)),
            tokens: c.input_tokens.saturating_add(c.output_tokens),
            percentage: percentage(i128::from(c.requests), i128::from(requests)),
            unpriced: c.unpriced > 0,
        })
        .collect();
    model_usage.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.model.cmp(&b.model)));
    model_usage
}

fn domain_breakdown_of(by_domain: BTreeMap<String, Counters>) -> Vec<DomainCost> {
    let mut domains: Vec<(String, Counters)> = by_domain.into_iter().collect();
    domains.sort_by(|a, b| {
        b.1.cost_nanos
            .cmp(&a.1.cost_nanos)
            .then_with(|| a.0.cmp(&b.0))
    });
    domains
        .into_iter()
        .map(|(domain, c)| DomainCost {
            domain,
            requests: c.requests,
            cost: Usd::from_nanos(i128::from(c.cost_nanos), 4),
            unpriced_requests: c.unpriced,
            unpriced: c.unpriced > 0,
        })
        .collect()
}

/// Every hour of the window, zero where nothing was stored.
fn hourly_trend_of(window: &Window, trend: &[(Micros, i64, i64)]) -> Vec<HourPoint> {
    let trend_by_hour: BTreeMap<Micros, (i64, i64)> =
        trend.iter().map(|(h, r, c)| (*h, (*r, *c))).collect();
    (0..window.hours())
        .map(|i| {
            let hour = window.start + i * MICROS_PER_HOUR;
            let (requests, cost) = trend_by_hour.get(&hour).copied().unwrap_or((0, 0));
            HourPoint {
                hour: to_rfc3339(hour),
                cost: json_number(nanos_to_usd(i128::from(cost)), 6),
                requests,
            }
        })
        .collect()
}

fn live_of(mut sessions: Vec<LiveSession>, now: Micros) -> Live {
    sessions.sort_by(|a, b| {
        a.start_time
            .cmp(&b.start_time)
            .then_with(|| a.session_id.cmp(&b.session_id))
    });
    let live_cost: i128 = sessions
        .iter()
        .map(|s| i128::from(s.cost_nanos.unwrap_or(0)))
        .sum();
    Live {
        active_sessions: sessions.len() as i64,
        current_cost: Usd::from_nanos(live_cost, 4),
        sessions_data: sessions
            .into_iter()
            .map(|s| LiveSessionData {
                uptime: ((now - s.start_time) / MICROS_PER_SECOND).max(0),
                cost: Usd::from_nanos(i128::from(s.cost_nanos.unwrap_or(0)), 4),
                unpriced: s.cost_nanos.is_none(),
                id: s.session_id,
                model: s.model,
                domain: s.domain,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;

    #[test]
    fn trend_is_stable_within_ten_percent() {
        assert_eq!(cost_trend(100, 110), Trend::Stable);
        assert_eq!(cost_trend(100, 90), Trend::Stable);
        assert_eq!(cost_trend(100, 111), Trend::Increasing);
        assert_eq!(cost_trend(100, 89), Trend::Decreasing);
        assert_eq!(cost_trend(0, 1), Trend::Increasing);
        assert_eq!(cost_trend(0, 0), Trend::Stable);
    }

    #[test]
    fn report_of_a_hand_computed_window() {
        let now = parse_rfc3339("2026-11-26T12:30:00Z").expect("time");
        let window = Window::last_days(1, now).expect("window");
        let gpt4 = Counters {
            requests: 3,
            successes: 2,
            failures: 1,
            input_tokens: 3_000,
            output_tokens: 1_500,
            cost_nanos: 180_000_000,
            duration_ms: 4_000,
            searches: 5,
            iterations: 7,
            ..Default::default()
        };
        let unpriced = Counters {
            requests: 1,
            successes: 1,
            unpriced: 1,
            input_tokens: 10,
            output_tokens: 5,
            duration_ms: 1_000,
            ..Default::default()
        };
        let first_hour = parse_rfc3339("2026-11-26T02:00:00Z").expect("time");
        let report = build_report(
            &window,
            now,
            TelemetryInputs {
                sums: WindowSums::from_pairs(vec![
                    ("a.example".into(), "gpt-4".into(), gpt4),
                    ("b.example".into(), "mystery".into(), unpriced),
                ]),
                trend: vec![(first_hour, 4, 180_000_000)],
                first_session_hour: Some(first_hour),
                live: vec![LiveSession {
                    session_id: "live-1".into(),
                    model: "gpt-4".into(),
                    domain: "a.example".into(),
                    start_time: now - 90 * MICROS_PER_SECOND,
                    cost_nanos: Some(12_345_678),
                    input_tokens: 1,
                    output_tokens: 1,
                }],
            },
        );
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["overview"]["totalRequests"], 4);
        assert_eq!(json["overview"]["successRate"].to_string(), "75.0");
        assert_eq!(json["overview"]["errorRate"].to_string(), "25.0");
        assert_eq!(json["overview"]["unpricedRequests"], 1);
        assert_eq!(json["overview"]["timeRange"], "Last 24 hours");
        // $0.18 over 10.5 hours (02:00 to 12:30) = $0.0171428…/h
        assert_eq!(json["cost"]["total"], "0.1800");
        assert_eq!(json["cost"]["average"], "0.060000");
        assert_eq!(json["cost"]["perHour"], "0.0171");
        assert_eq!(json["cost"]["projectedDaily"], "0.4114");
        assert_eq!(json["cost"]["projectedMonthly"], "12.3429");
        // 02:00 is after the window's midpoint (01:00), so all cost is in the second half.
        assert_eq!(json["cost"]["trend"], "increasing");
        assert_eq!(json["tokens"]["total"], 4_515);
        assert_eq!(json["tokens"]["avgPerRequest"], 1_129);
        assert_eq!(json["performance"]["avgResponseTime"], 1_250);
        assert_eq!(json["performance"]["avgSearchesPerRequest"], "1.25");
        assert_eq!(json["performance"]["avgIterations"], "1.75");
        assert_eq!(json["modelUsage"][0]["model"], "gpt-4");
        assert_eq!(json["modelUsage"][0]["percentage"].to_string(), "75.0");
        assert_eq!(json["modelUsage"][1]["cost"], serde_json::Value::Null);
        assert_eq!(json["modelUsage"][1]["unpriced"], true);
        assert_eq!(json["domainBreakdown"][0]["domain"], "a.example");
        // b.example's only request is unpriced: its cost is $0 and it says so.
        assert_eq!(json["domainBreakdown"][1]["cost"], "0.0000");
        assert_eq!(json["domainBreakdown"][1]["unpricedRequests"], 1);
        assert_eq!(json["domainBreakdown"][1]["unpriced"], true);
        assert_eq!(json["domainBreakdown"][0]["unpriced"], false);
        assert_eq!(json["hourlyTrend"].as_array().map(Vec::len), Some(24));
        assert_eq!(json["hourlyTrend"][13]["hour"], "2026-11-26T02:00:00Z");
        assert_eq!(json["hourlyTrend"][13]["cost"].to_string(), "0.18");
        assert_eq!(json["live"]["currentCost"], "0.0123");
        assert_eq!(json["live"]["sessionsData"][0]["uptime"], 90);
    }
}
