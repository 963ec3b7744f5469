//! Rollup counters: what an hour (or day) bucket of ended sessions adds up to.

use crate::session::Session;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub requests: i64,
    pub successes: i64,
    pub failures: i64,
    pub unpriced: i64,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    /// Sum over priced sessions only.
    pub cost_nanos: i64,
    pub duration_ms: i64,
    pub searches: i64,
    pub iterations: i64,
}

impl Counters {
    /// What a domain's row of the all-domains read holds: requests, unpriced and cost.
    pub fn breakdown(&self) -> Counters {
        Counters {
            requests: self.requests,
            unpriced: self.unpriced,
            cost_nanos: self.cost_nanos,
            ..Counters::default()
        }
    }

    /// The counters of one ended session.
    pub fn of(session: &Session) -> Self {
        let success = session.success.unwrap_or(false);
        Counters {
            requests: 1,
            successes: i64::from(success),
            failures: i64::from(!success),
            unpriced: i64::from(session.cost_nanos.is_none()),
            input_tokens: session.usage.input,
            cached_input_tokens: session.usage.cached_input,
            cache_write_tokens: session.usage.cache_write,
            output_tokens: session.usage.output,
            reasoning_tokens: session.usage.reasoning,
            cost_nanos: session.cost_nanos.unwrap_or(0),
            duration_ms: session.duration_ms().unwrap_or(0),
            searches: session.search_count,
            iterations: session.iterations,
        }
    }

    /// Adds `o`, saturating: a rollup that many clients feed never wraps.
    pub fn add(&mut self, o: &Counters) {
        for (a, b) in self.fields_mut().into_iter().zip(o.fields()) {
            *a = a.saturating_add(b);
        }
    }

    fn fields(&self) -> [i64; 13] {
        [
            self.requests,
            self.successes,
            self.failures,
            self.unpriced,
            self.input_tokens,
            self.cached_input_tokens,
            self.cache_write_tokens,
            self.output_tokens,
            self.reasoning_tokens,
            self.cost_nanos,
            self.duration_ms,
            self.searches,
            self.iterations,
        ]
    }

    fn fields_mut(&mut self) -> [&mut i64; 13] {
        [
            &mut self.requests,
            &mut self.successes,
            &mut self.failures,
            &mut self.unpriced,
            &mut self.input_tokens,
            &mut self.cached_input_tokens,
            &mut self.cache_write_tokens,
            &mut self.output_tokens,
            &mut self.reasoning_tokens,
            &mut self.cost_nanos,
            &mut self.duration_ms,
            &mut self.searches,
            &mut self.iterations,
        ]
    }

    pub fn priced_requests(&self) -> i64 {
        self.requests - self.unpriced
    }
}

/// Rollup rows carry totals too: `domain = ""` means all domains, `model = ""` all models.
pub const ALL: &str = "";

/// A window's sums: in total, per model and per domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowSums {
    pub totals: Counters,
    pub by_model: BTreeMap<String, Counters>,
    /// For the all-domains read, only what the domain breakdown shows: requests,
    /// unpriced requests and cost (the other counters are zero).
    pub by_domain: BTreeMap<String, Counters>,
}

impl WindowSums {
    /// From plain (domain, model) sums, as a scan of raw sessions gives them.
    pub fn from_pairs(rows: impl IntoIterator<Item = (String, String, Counters)>) -> Self {
        let mut sums = WindowSums::default();
        for (domain, model, c) in rows {
            sums.totals.add(&c);
            sums.by_model.entry(model).or_default().add(&c);
            sums.by_domain.entry(domain).or_default().add(&c);
        }
        sums
    }

    /// From rollup groups that include the [`ALL`] rows, for all domains (`domain` is
    /// `None`) or one domain: the totals row, the per-model rows and the per-domain rows.
    pub fn from_rollup_groups(
        domain: Option<&str>,
        rows: impl IntoIterator<Item = (String, String, Counters)>,
    ) -> Self {
        let scope = domain.unwrap_or(ALL);
        let mut sums = WindowSums::default();
        for (d, m, c) in rows {
            match (d.as_str() == scope, m.as_str() == ALL) {
                (true, true) => sums.totals.add(&c),
                (true, false) => sums.by_model.entry(m).or_default().add(&c),
                (false, true) if scope == ALL => sums.by_domain.entry(d).or_default().add(&c),
                _ => {}
            }
        }
        if let Some(d) = domain {
            if sums.totals.requests > 0 {
                sums.by_domain.insert(d.to_string(), sums.totals);
            }
        }
        sums
    }
}

impl WindowSums {
    /// From the rollup rows of one model: (scope, model) is the total, (domain, model) the
    /// per-domain figures.
    pub fn from_model_groups(
        domain: Option<&str>,
        model: &str,
        rows: impl IntoIterator<Item = (String, String, Counters)>,
    ) -> Self {
        let scope = domain.unwrap_or(ALL);
        let mut sums = WindowSums::default();
        for (d, _, c) in rows.into_iter().filter(|(_, m, _)| m == model) {
            if d == scope {
                sums.totals.add(&c);
            } else if scope == ALL {
                sums.by_domain.entry(d).or_default().add(&c);
            }
        }
        if sums.totals.requests > 0 {
            sums.by_model.insert(model.to_string(), sums.totals);
            if let Some(d) = domain {
                sums.by_domain.insert(d.to_string(), sums.totals);
            }
        }
        sums
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(requests: i64, cost: i64) -> Counters {
        Counters {
            requests,
            cost_nanos: cost,
            ..Default::default()
        }
    }

    #[test]
    fn rollup_groups_and_raw_pairs_agree() {
        let pairs = vec![
            ("a".to_string(), "m1".to_string(), c(1, 10)),
            ("a".to_string(), "m2".to_string(), c(2, 20)),
            ("b".to_string(), "m1".to_string(), c(4, 40)),
        ];
        let groups = vec![
            ("".to_string(), "".to_string(), c(7, 70)),
            ("".to_string(), "m1".to_string(), c(5, 50)),
            ("".to_string(), "m2".to_string(), c(2, 20)),
            ("a".to_string(), "".to_string(), c(3, 30)),
            ("b".to_string(), "".to_string(), c(4, 40)),
            ("a".to_string(), "m1".to_string(), c(1, 10)),
        ];
        assert_eq!(
            WindowSums::from_rollup_groups(None, groups.clone()),
            WindowSums::from_pairs(pairs.clone())
        );
        let only_a = WindowSums::from_pairs(pairs.into_iter().filter(|p| p.0 == "a"));
        let groups_a = vec![
            ("a".to_string(), "".to_string(), c(3, 30)),
            ("a".to_string(), "m1".to_string(), c(1, 10)),
            ("a".to_string(), "m2".to_string(), c(2, 20)),
        ];
        assert_eq!(WindowSums::from_rollup_groups(Some("a"), groups_a), only_a);
    }
}

/// Upper bounds (ms, inclusive) of the response-time histogram kept beside the rollups;
/// one more bucket holds everything slower. Percentiles are read as "at most this bound".
pub const DURATION_BOUNDS_MS: [i64; 11] = [
    250, 500, 1_000, 2_000, 3_000, 5_000, 8_000, 13_000, 20_000, 30_000, 60_000,
];
pub const DURATION_BUCKETS: usize = DURATION_BOUNDS_MS.len() + 1;

/// The histogram bucket of a session that took `ms`.
pub fn duration_bucket(ms: i64) -> usize {
    DURATION_BOUNDS_MS
        .iter()
        .position(|bound| ms <= *bound)
        .unwrap_or(DURATION_BOUNDS_MS.len())
}

/// Where a percentile of the histogram lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PercentileBound {
    NoData,
    /// At most this many milliseconds.
    AtMost(i64),
    /// Slower than the last bound.
    Above(i64),
}

/// The `per_mille`-th percentile (500 = median): the first bucket whose cumulative count
/// reaches `ceil(total × per_mille / 1000)`.
pub fn percentile_bound(counts: &[i64; DURATION_BUCKETS], per_mille: i64) -> PercentileBound {
    let total: i64 = counts.iter().sum();
    if total <= 0 {
        return PercentileBound::NoData;
    }
    let rank = (total * per_mille + 999) / 1000;
    let mut seen = 0;
    for (i, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank.max(1) {
            return match DURATION_BOUNDS_MS.get(i) {
                Some(bound) => PercentileBound::AtMost(*bound),
                None => PercentileBound::Above(DURATION_BOUNDS_MS[DURATION_BOUNDS_MS.len() - 1]),
            };
        }
    }
    PercentileBound::Above(DURATION_BOUNDS_MS[DURATION_BOUNDS_MS.len() - 1])
}

#[cfg(test)]
mod duration_tests {
    use super::*;

    #[test]
    fn percentiles_are_bucket_bounds() {
        assert_eq!(duration_bucket(0), 0);
        assert_eq!(duration_bucket(250), 0);
        assert_eq!(duration_bucket(251), 1);
        assert_eq!(duration_bucket(60_000), 10);
        assert_eq!(duration_bucket(60_001), 11);
        let mut counts = [0; DURATION_BUCKETS];
        assert_eq!(percentile_bound(&counts, 500), PercentileBound::NoData);
        counts[duration_bucket(800)] = 1;
        counts[duration_bucket(1_200)] = 1;
        // Two sessions: the median is the first (rank 1), p95 the second (rank 2).
        assert_eq!(
            percentile_bound(&counts, 500),
            PercentileBound::AtMost(1_000)
        );
        assert_eq!(
            percentile_bound(&counts, 950),
            PercentileBound::AtMost(2_000)
        );
        counts[11] = 98;
        assert_eq!(
            percentile_bound(&counts, 10),
            PercentileBound::AtMost(1_000)
        );
        assert_eq!(
            percentile_bound(&counts, 500),
            PercentileBound::Above(60_000)
        );
    }
}
