//! The overview's "AI insights": fixed rules over the period's numbers and the previous
//! period's, so each one can be checked by hand (there is no LLM here).

use crate::missing::MissingProductsReport;
use crate::telemetry::{TelemetryReport, Trend};
use rust_decimal::Decimal;
use std::collections::HashMap;

/// At most five sentences, most useful first.
pub fn derive(
    now: &TelemetryReport,
    before: &TelemetryReport,
    missing: &MissingProductsReport,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(mover) = biggest_cost_mover(now, before) {
        out.push(mover);
    }
    if let Some(top) = missing.missing_products.first() {
        let times = if top.count == 1 {
            "once".to_string()
        } else {
            format!("{} times", top.count)
        };
        out.push(format!(
            "Customers asked for \"{}\" {times}, and the catalogue lacks it.",
            top.name
        ));
    }
    let unpriced: Vec<&str> = now
        .model_usage
        .iter()
        .filter(|m| m.unpriced)
        .map(|m| m.model.as_str())
        .collect();
    if !unpriced.is_empty() {
        out.push(format!(
            "{} requests used models without a price ({}); their cost is not counted.",
            now.overview.unpriced_requests,
            unpriced.join(", ")
        ));
    }
    let error_rate = now.overview.error_rate.shown();
    if now.overview.total_requests > 0 && error_rate >= Decimal::from(5) {
        out.push(format!(
            "{}% of requests failed: look at the failing sessions.",
            now.overview.error_rate
        ));
    }
    if now.cost.trend == Trend::Increasing {
        out.push(format!(
            "Spend is rising within the period: ${} a day at the current rate, ${} a month.",
            now.cost.projected_daily, now.cost.projected_monthly
        ));
    }
    out.truncate(5);
    out
}

/// The domain (or, for one domain, the model) whose cost changed most against the
/// previous period, in dollars.
fn biggest_cost_mover(now: &TelemetryReport, before: &TelemetryReport) -> Option<String> {
    if now.domain_breakdown.len() > 1 || before.domain_breakdown.len() > 1 {
        let costs = |r: &TelemetryReport| -> HashMap<String, Decimal> {
            r.domain_breakdown
                .iter()
                .map(|d| (d.domain.clone(), d.cost.shown()))
                .collect()
        };
        describe("Domain", &costs(now), &costs(before))
    } else {
        let costs = |r: &TelemetryReport| -> HashMap<String, Decimal> {
            r.model_usage
                .iter()
                .filter_map(|m| m.cost.map(|c| (m.model.clone(), c.shown())))
                .collect()
        };
        describe("Model", &costs(now), &costs(before))
    }
}

fn describe(
    kind: &str,
    current: &HashMap<String, Decimal>,
    previous: &HashMap<String, Decimal>,
) -> Option<String> {
    let mut names: Vec<&String> = current.keys().chain(previous.keys()).collect();
    names.sort();
    names.dedup();
    let (name, delta) = names
        .into_iter()
        .map(|n| {
            let delta = current.get(n).copied().unwrap_or_default()
                - previous.get(n).copied().unwrap_or_default();
            (n, delta)
        })
        .filter(|(_, d)| !d.is_zero())
        .max_by(|a, b| a.1.abs().cmp(&b.1.abs()).then_with(|| b.0.cmp(a.0)))?;
    let before = previous.get(name).copied().unwrap_or_default();
    let after = current.get(name).copied().unwrap_or_default();
    let verb = if delta > Decimal::ZERO {
        "rose"
    } else {
        "fell"
    };
    Some(format!(
        "{kind} {name}: cost {verb} by ${} against the previous period (${} → ${}).",
        crate::money::format_usd(delta.abs(), 4),
        crate::money::format_usd(before, 4),
        crate::money::format_usd(after, 4)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_movers_round_half_away_from_zero() {
        let d = |s: &str| s.parse::<Decimal>().unwrap_or_default();
        let before = HashMap::from([("gpt-4o".to_string(), d("0.00005"))]);
        let after = HashMap::from([("gpt-4o".to_string(), d("0.12350"))]);
        assert_eq!(
            describe("Model", &after, &before).as_deref(),
            Some("Model gpt-4o: cost rose by $0.1235 against the previous period ($0.0001 → $0.1235).")
        );
    }
}
