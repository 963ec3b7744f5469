//! The cost audit (README: Importing): each imported session's stored `cost_usd` beside
//! Omniops' price for it. The spec's trigger stored costs with six decimals from a table
//! of four models; a stored cost differs when Omniops' cost, rounded half away from zero to
//! those six decimals, is another number. Totals are exact.

use omniops_core::money::{format_nanos, usd_to_nanos, Nanos};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One model's sessions in the audit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelAudit {
    pub sessions: i64,
    /// Sessions with a stored cost and an Omniops price: the ones compared.
    pub compared: i64,
    pub differing: i64,
    pub stored_nanos: i128,
    pub omniops_nanos: i128,
    /// Omniops has no price for the model: its cost is not compared (README: unpriced).
    pub unpriced: i64,
    /// The row's `cost_usd` is NULL.
    pub no_stored_cost: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostAudit {
    pub models: BTreeMap<String, ModelAudit>,
}

const MICRO_NANOS: i64 = 1_000;

/// Rounds nano-dollars to whole micro-dollars, half away from zero, still in nanos.
fn to_micros(nanos: Nanos) -> Nanos {
    let half = MICRO_NANOS / 2;
    let rounded = if nanos >= 0 {
        (nanos + half) / MICRO_NANOS
    } else {
        (nanos - half) / MICRO_NANOS
    };
    rounded * MICRO_NANOS
}

impl CostAudit {
    /// One session: its stored cost as the source wrote it (decimal text) and Omniops'.
    /// A stored cost that is not a number counts as none.
    pub fn record(&mut self, model: &str, stored: Option<&str>, omniops: Option<Nanos>) {
        let entry = self.models.entry(model.to_string()).or_default();
        entry.sessions += 1;
        let stored = stored.and_then(|s| s.trim().parse::<Decimal>().ok());
        let Some(omniops) = omniops else {
            entry.unpriced += 1;
            return;
        };
        let Some(stored) = stored.map(usd_to_nanos) else {
            entry.no_stored_cost += 1;
            return;
        };
        entry.compared += 1;
        entry.stored_nanos += i128::from(stored);
        entry.omniops_nanos += i128::from(omniops);
        if to_micros(omniops) != to_micros(stored) {
            entry.differing += 1;
        }
    }

    fn total(&self) -> ModelAudit {
        let mut t = ModelAudit::default();
        for m in self.models.values() {
            t.sessions += m.sessions;
            t.compared += m.compared;
            t.differing += m.differing;
            t.stored_nanos += m.stored_nanos;
            t.omniops_nanos += m.omniops_nanos;
            t.unpriced += m.unpriced;
            t.no_stored_cost += m.no_stored_cost;
        }
        t
    }

    /// The report: totals, then the models whose stored costs differ, largest difference
    /// first, then the rest by name. Amounts are exact (nine decimals).
    pub fn report(&self) -> Value {
        let line = |m: &ModelAudit| {
            json!({
                "sessions": m.sessions,
                "compared": m.compared,
                "differing": m.differing,
                "storedUsd": format_nanos(m.stored_nanos, 9),
                "omniopsUsd": format_nanos(m.omniops_nanos, 9),
                "differenceUsd": format_nanos(m.omniops_nanos - m.stored_nanos, 9),
                "unpriced": m.unpriced,
                "noStoredCost": m.no_stored_cost,
            })
        };
        let mut models: Vec<(&String, &ModelAudit)> = self.models.iter().collect();
        models.sort_by_key(|(name, m)| {
            (
                std::cmp::Reverse((m.omniops_nanos - m.stored_nanos).abs()),
                (*name).clone(),
            )
        });
        let mut report = line(&self.total());
        report["models"] = models
            .into_iter()
            .map(|(name, m)| {
                let mut l = line(m);
                l["model"] = json!(name);
                l
            })
            .collect();
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_costs_compared_at_six_decimals_totals_exact() {
        let mut audit = CostAudit::default();
        // Equal after rounding 0.0012345 → 0.001235 (half away from zero).
        audit.record("gpt-4", Some("0.001235"), Some(1_234_500));
        // Differs by 0.000001 after rounding.
        audit.record("gpt-4", Some("0.001000"), Some(1_001_000));
        audit.record("gpt-4", None, Some(5));
        audit.record("mystery", Some("0.5"), None);
        let report = audit.report();
        assert_eq!(report["sessions"], 4);
        assert_eq!(report["compared"], 2);
        assert_eq!(report["differing"], 1);
        assert_eq!(report["storedUsd"], "0.002235000");
        assert_eq!(report["omniopsUsd"], "0.002235500");
        assert_eq!(report["differenceUsd"], "0.000000500");
        assert_eq!(report["unpriced"], 1);
        assert_eq!(report["noStoredCost"], 1);
        assert_eq!(report["models"][0]["model"], "gpt-4");
        assert_eq!(report["models"][1]["model"], "mystery");
    }

    #[test]
    fn micro_rounding_is_half_away_from_zero() {
        assert_eq!(to_micros(1_500), 2_000);
        assert_eq!(to_micros(1_499), 1_000);
        assert_eq!(to_micros(-1_500), -2_000);
    }
}
