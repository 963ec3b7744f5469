//! When a budget alert speaks: the levels (percentages of its threshold) that the spend has
//! reached, and for a monthly alert the projection — at the period's average rate so far,
//! the moment the spend will cross the threshold, if that happens before the month ends.

use crate::clock::Micros;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The percentages of `notify_at` that `spend` has reached.
    pub levels: Vec<u32>,
    /// When the threshold will be crossed at the period's rate (not yet crossed, and within
    /// the period).
    pub projected_crossing: Option<Micros>,
}

pub fn evaluate(
    spend: i64,
    threshold: i64,
    notify_at: &[u32],
    project: bool,
    period: (Micros, Micros),
    now: Micros,
) -> Evaluation {
    let levels = notify_at
        .iter()
        .copied()
        .filter(|pct| i128::from(spend) * 100 >= i128::from(threshold) * i128::from(*pct))
        .collect();
    let (start, end) = period;
    let elapsed = now - start;
    let projected_crossing = (project && spend > 0 && spend < threshold && elapsed > 0)
        .then(|| {
            // Spend grows at spend / elapsed: it reaches the threshold at
            // start + threshold × elapsed / spend.
            start.saturating_add(
                i64::try_from(i128::from(threshold) * i128::from(elapsed) / i128::from(spend))
                    .unwrap_or(i64::MAX),
            )
        })
        .filter(|at| *at < end);
    Evaluation {
        levels,
        projected_crossing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{parse_rfc3339, to_rfc3339};

    #[test]
    fn levels_and_projection() {
        let t = |s: &str| parse_rfc3339(s).expect("time");
        let month = (t("2026-11-01T00:00:00Z"), t("2026-12-01T00:00:00Z"));
        let now = t("2026-11-26T12:30:00Z");
        let usd = |cents: i64| cents * 10_000_000;
        // $1.20 of $1.30 after 612.5 h: the rate reaches $1.30 after 612.5 × 13/12 h =
        // 663.54 h, on 28 November at 15:32:30.
        let e = evaluate(usd(120), usd(130), &[80, 100], true, month, now);
        assert_eq!(e.levels, vec![80]);
        assert_eq!(
            e.projected_crossing.map(to_rfc3339).as_deref(),
            Some("2026-11-28T15:32:30Z")
        );
        // $1.20 of $10: at this rate not this month.
        assert_eq!(
            evaluate(usd(120), usd(1000), &[80, 100], true, month, now).projected_crossing,
            None
        );
        // Crossed already: both levels, no projection.
        let e = evaluate(usd(140), usd(130), &[80, 100], true, month, now);
        assert_eq!((e.levels, e.projected_crossing), (vec![80, 100], None));
        // Exactly 80 %.
        assert_eq!(evaluate(80, 100, &[80], false, month, now).levels, vec![80]);
        assert!(evaluate(79, 100, &[80], false, month, now)
            .levels
            .is_empty());
    }
}
