//! Reporting windows. `days=N` is the N×24 UTC hour buckets ending with the current hour;
//! `from`/`to` (RFC 3339) may replace it, widened to whole hours. The previous period is
//! the equal span just before.

use crate::clock::{
    floor_day, floor_hour, parse_rfc3339, to_rfc3339, Micros, MICROS_PER_DAY, MICROS_PER_HOUR,
};

pub const MAX_DAYS: i64 = 365;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First hour bucket (inclusive).
    pub start: Micros,
    /// End of the last hour bucket (exclusive).
    pub end: Micros,
    /// `Some(n)` when the window was asked for as `days=n`.
    pub days: Option<i64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WindowError {
    #[error("days must be a whole number from 1 to 365")]
    Days,
    #[error("{0} must be an RFC 3339 timestamp, e.g. 2025-01-19T14:30:00Z")]
    Timestamp(&'static str),
    #[error("from and to must come together")]
    FromToPair,
    #[error("to must be later than from")]
    Order,
    #[error("from/to may span at most 366 days")]
    Span,
    #[error("give either days or from/to, not both")]
    Both,
}

impl Window {
    pub fn last_days(days: i64, now: Micros) -> Result<Self, WindowError> {
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(WindowError::Days);
        }
        let end = floor_hour(now) + MICROS_PER_HOUR;
        Ok(Self {
            start: end - days * MICROS_PER_DAY,
            end,
            days: Some(days),
        })
    }

    pub fn between(from: Micros, to: Micros) -> Result<Self, WindowError> {
        if to <= from {
            return Err(WindowError::Order);
        }
        let start = floor_hour(from);
        let end = floor_hour(to - 1) + MICROS_PER_HOUR;
        if end - start > 366 * MICROS_PER_DAY {
            return Err(WindowError::Span);
        }
        Ok(Self {
            start,
            end,
            days: None,
        })
    }

    /// Parses the query parameters every endpoint shares.
    pub fn from_params(
        days: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        default_days: i64,
        now: Micros,
    ) -> Result<Self, WindowError> {
        match (days, from, to) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(WindowError::Both),
            (Some(d), None, None) => {
                let days = d.trim().parse::<i64>().map_err(|_| WindowError::Days)?;
                Self::last_days(days, now)
            }
            (None, Some(f), Some(t)) => {
                let from = parse_rfc3339(f).ok_or(WindowError::Timestamp("from"))?;
                let to = parse_rfc3339(t).ok_or(WindowError::Timestamp("to"))?;
                Self::between(from, to)
            }
            (None, Some(_), None) | (None, None, Some(_)) => Err(WindowError::FromToPair),
            (None, None, None) => Self::last_days(default_days, now),
        }
    }

    pub fn hours(&self) -> i64 {
        (self.end - self.start) / MICROS_PER_HOUR
    }

    pub fn previous(&self) -> Self {
        let span = self.end - self.start;
        Self {
            start: self.start - span,
            end: self.start,
            days: self.days,
        }
    }

    /// The hour that splits the window into a first and a second half.
    pub fn midpoint(&self) -> Micros {
        self.start + (self.hours() / 2) * MICROS_PER_HOUR
    }

    pub fn label(&self) -> String {
        match self.days {
            Some(1) => "Last 24 hours".to_string(),
            Some(n) => format!("Last {n} days"),
            None => format!("{} to {}", to_rfc3339(self.start), to_rfc3339(self.end)),
        }
    }

    /// Splits the window into whole UTC days (read from daily rollups) and the hour ranges
    /// at either edge (read from hourly rollups).
    pub fn split_days(&self) -> DaySplit {
        let first_day = floor_day(self.start + MICROS_PER_DAY - 1);
        let last_day = floor_day(self.end);
        if first_day >= last_day {
            return DaySplit {
                head: (self.start, self.end),
                days: (0, 0),
                tail: (0, 0),
            };
        }
        DaySplit {
            head: (self.start, first_day),
            days: (first_day, last_day),
            tail: (last_day, self.end),
        }
    }
}

/// Half-open ranges `[start, end)`; an empty range has `start == end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaySplit {
    pub head: (Micros, Micros),
    pub days: (Micros, Micros),
    pub tail: (Micros, Micros),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Micros {
        parse_rfc3339(text).expect("time")
    }

    #[test]
    fn days_window_ends_with_the_current_hour() {
        let w = Window::last_days(1, t("2026-11-26T12:34:00Z")).expect("window");
        assert_eq!(to_rfc3339(w.start), "2026-11-25T13:00:00Z");
        assert_eq!(to_rfc3339(w.end), "2026-11-26T13:00:00Z");
        assert_eq!(w.hours(), 24);
        assert_eq!(to_rfc3339(w.previous().start), "2026-11-24T13:00:00Z");
        assert_eq!(to_rfc3339(w.midpoint()), "2026-11-26T01:00:00Z");
        assert_eq!(w.label(), "Last 24 hours");
    }

    #[test]
    fn rejects_bad_days_and_ranges() {
        let now = t("2026-11-26T12:00:00Z");
        for bad in ["0", "366", "-1", "seven", "1.5"] {
            assert_eq!(
                Window::from_params(Some(bad), None, None, 7, now),
                Err(WindowError::Days)
            );
        }
        assert_eq!(
            Window::from_params(
                None,
                Some("yesterday"),
                Some("2026-11-26T00:00:00Z"),
                7,
                now
            ),
            Err(WindowError::Timestamp("from"))
        );
        assert_eq!(
            Window::from_params(None, Some("2026-11-26T00:00:00Z"), None, 7, now),
            Err(WindowError::FromToPair)
        );
        assert_eq!(
            Window::from_params(
                None,
                Some("2026-11-26T00:00:00Z"),
                Some("2026-11-25T00:00:00Z"),
                7,
                now
            ),
            Err(WindowError::Order)
        );
        assert_eq!(
            Window::from_params(Some("7"), Some("2026-11-26T00:00:00Z"), None, 7, now),
            Err(WindowError::Both)
        );
    }

    #[test]
    fn from_to_widens_to_whole_hours() {
        let w =
            Window::between(t("2026-11-20T10:15:00Z"), t("2026-11-20T12:00:00Z")).expect("window");
        assert_eq!(to_rfc3339(w.start), "2026-11-20T10:00:00Z");
        assert_eq!(to_rfc3339(w.end), "2026-11-20T12:00:00Z");
        assert_eq!(w.hours(), 2);
    }

    #[test]
    fn splits_into_edge_hours_and_whole_days() {
        let w = Window::last_days(7, t("2026-11-26T12:34:00Z")).expect("window");
        let split = w.split_days();
        assert_eq!(to_rfc3339(split.head.0), "2026-11-19T13:00:00Z");
        assert_eq!(to_rfc3339(split.head.1), "2026-11-20T00:00:00Z");
        assert_eq!(to_rfc3339(split.days.0), "2026-11-20T00:00:00Z");
        assert_eq!(to_rfc3339(split.days.1), "2026-11-26T00:00:00Z");
        assert_eq!(to_rfc3339(split.tail.1), "2026-11-26T13:00:00Z");
        let short =
            Window::between(t("2026-11-20T10:00:00Z"), t("2026-11-20T12:00:00Z")).expect("window");
        assert_eq!(short.split_days().days, (0, 0));
        assert_eq!(short.split_days().head, (short.start, short.end));
    }
}
