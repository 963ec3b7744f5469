//! The DemandForecastCard's forecast: a least-squares line through a product's requests
//! per day over the window, extended a few days ahead, never below zero. Simple on purpose,
//! so anyone can redo it by hand.

use rust_decimal::{Decimal, RoundingStrategy};

fn one_decimal(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forecast {
    /// Requests per day added by the trend (the slope), one decimal.
    pub per_day_change: Decimal,
    /// The fitted line at each day of the window, then at each day ahead; one decimal.
    pub fitted: Vec<Decimal>,
    /// Expected requests over the days ahead (sum of the line there), one decimal.
    pub next_total: Decimal,
}

/// `counts[i]` = requests on day `i` of the window (oldest first).
pub fn linear_forecast(counts: &[i64], days_ahead: usize) -> Forecast {
    let n = counts.len();
    if n == 0 {
        return Forecast {
            per_day_change: Decimal::ZERO,
            fitted: vec![Decimal::ZERO; days_ahead],
            next_total: Decimal::ZERO,
        };
    }
    let n_dec = Decimal::from(n as i64);
    let mean_x = Decimal::from((n as i64 - 1) * (n as i64)) / Decimal::from(2) / n_dec;
    let mean_y = Decimal::from(counts.iter().sum::<i64>()) / n_dec;
    let (mut covariance, mut variance) = (Decimal::ZERO, Decimal::ZERO);
    for (i, c) in counts.iter().enumerate() {
        let dx = Decimal::from(i as i64) - mean_x;
        covariance += dx * (Decimal::from(*c) - mean_y);
        variance += dx * dx;
    }
    let slope = if variance.is_zero() {
        Decimal::ZERO
    } else {
        covariance / variance
    };
    let intercept = mean_y - slope * mean_x;
    let at = |i: usize| (intercept + slope * Decimal::from(i as i64)).max(Decimal::ZERO);
    let fitted: Vec<Decimal> = (0..n + days_ahead).map(|i| one_decimal(at(i))).collect();
    let next_total: Decimal = one_decimal((n..n + days_ahead).map(at).sum::<Decimal>());
    Forecast {
        per_day_change: one_decimal(slope),
        fitted,
        next_total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().expect("decimal")
    }

    #[test]
    fn a_straight_line_is_extended_exactly() {
        // 1, 2, 3, 4: slope 1, next three days 5 + 6 + 7 = 18.
        let f = linear_forecast(&[1, 2, 3, 4], 3);
        assert_eq!(f.per_day_change, d("1"));
        assert_eq!(f.next_total, d("18"));
        assert_eq!(f.fitted.last().copied(), Some(d("7")));
    }

    #[test]
    fn a_falling_trend_stops_at_zero() {
        // 4, 2, 0: slope -2; ahead -2, -4 become 0.
        let f = linear_forecast(&[4, 2, 0], 2);
        assert_eq!(f.per_day_change, d("-2"));
        assert_eq!(f.next_total, d("0"));
        // Noisy data: 2, 0, 4, 2 → mean 2, slope 0.4, intercept 1.4; days 4..6: 3.0 + 3.4 = 6.4.
        let f = linear_forecast(&[2, 0, 4, 2], 2);
        assert_eq!((f.per_day_change, f.next_total), (d("0.4"), d("6.4")));
        assert_eq!(linear_forecast(&[], 2).next_total, Decimal::ZERO);
    }
}
