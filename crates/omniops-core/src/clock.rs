//! Time source. The server reads "now" only through a [`Clock`], so tests can move time
//! by hand instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Microseconds since the Unix epoch, UTC. Every stored time uses this unit.
pub type Micros = i64;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;
pub const MICROS_PER_HOUR: i64 = 3_600 * MICROS_PER_SECOND;
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Micros;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Micros {
        chrono::Utc::now().timestamp_micros()
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn at(now: Micros) -> Self {
        Self(Arc::new(AtomicI64::new(now)))
    }
    pub fn set(&self, now: Micros) {
        self.0.store(now, Ordering::SeqCst);
    }
    pub fn advance(&self, by: Micros) {
        self.0.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Micros {
        self.0.load(Ordering::SeqCst)
    }
}

pub fn floor_hour(t: Micros) -> Micros {
    t.div_euclid(MICROS_PER_HOUR) * MICROS_PER_HOUR
}

pub fn floor_day(t: Micros) -> Micros {
    t.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY
}

/// RFC 3339 text for a stored time, always UTC with a `Z`.
pub fn to_rfc3339(t: Micros) -> String {
    chrono::DateTime::from_timestamp_micros(t)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

pub fn parse_rfc3339(text: &str) -> Option<Micros> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_to_hour_and_day_also_before_epoch() {
        let t = parse_rfc3339("2025-01-19T14:30:05Z").expect("valid");
        assert_eq!(to_rfc3339(floor_hour(t)), "2025-01-19T14:00:00Z");
        assert_eq!(to_rfc3339(floor_day(t)), "2025-01-19T00:00:00Z");
        assert_eq!(floor_hour(-1), -MICROS_PER_HOUR);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(10);
        assert_eq!(clock.now(), 10);
        clock.advance(5);
        assert_eq!(clock.now(), 15);
        clock.set(3);
        assert_eq!(clock.now(), 3);
    }
}
