//! Money. Costs are stored as whole nano-dollars (10⁻⁹ USD) in `i64`, exact on both
//! database engines; arithmetic on fractions uses `rust_decimal`, never `f64`.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// 10⁻⁹ USD.
pub type Nanos = i64;

pub const NANOS_PER_USD: i64 = 1_000_000_000;

pub fn nanos_to_usd(nanos: i128) -> Decimal {
    Decimal::from_i128_with_scale(nanos, 9)
}

/// Rounds a USD amount to whole nano-dollars, half away from zero.
pub fn usd_to_nanos(usd: Decimal) -> Nanos {
    let scaled = usd * Decimal::from(NANOS_PER_USD);
    scaled
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .unwrap_or(i64::MAX)
}

/// A USD amount that keeps its exact value and is written — in JSON, CSV and pages alike —
/// as text with a fixed number of decimals, rounded half away from zero. Reports carry it
/// so pages compute with the value instead of parsing the text back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usd {
    value: Decimal,
    decimals: u32,
}

impl Usd {
    pub fn new(value: Decimal, decimals: u32) -> Usd {
        Usd { value, decimals }
    }

    pub fn from_nanos(nanos: i128, decimals: u32) -> Usd {
        Usd::new(nanos_to_usd(nanos), decimals)
    }

    /// The exact amount.
    pub fn exact(&self) -> Decimal {
        self.value
    }

    /// The amount as written: rounded to its decimals.
    pub fn shown(&self) -> Decimal {
        self.value
            .round_dp_with_strategy(self.decimals, RoundingStrategy::MidpointAwayFromZero)
    }
}

impl std::fmt::Display for Usd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_usd(self.value, self.decimals))
    }
}

impl serde::Serialize for Usd {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl utoipa::PartialSchema for Usd {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .pattern(Some("^-?[0-9]+(\\.[0-9]+)?$"))
            .description(Some("Exact decimal USD as text; money is never a float"))
            .into()
    }
}
impl utoipa::ToSchema for Usd {}

/// A USD amount as text with exactly `decimals` places, rounded half away from zero.
pub fn format_usd(usd: Decimal, decimals: u32) -> String {
    let rounded = usd.round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero);
    format!("{:.*}", decimals as usize, rounded)
}

pub fn format_nanos(nanos: i128, decimals: u32) -> String {
    format_usd(nanos_to_usd(nanos), decimals)
}

/// A decimal rounded to `decimals` places, written as a JSON number: rates, percentages and
/// changes in reports. Pages read its value (`shown`) instead of parsing the number back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rounded {
    shown: Decimal,
}

impl Rounded {
    pub fn new(value: Decimal, decimals: u32) -> Rounded {
        Rounded {
            shown: value.round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero),
        }
    }

    /// The value as written: rounded.
    pub fn shown(&self) -> Decimal {
        self.shown
    }

    /// As a JSON number. Its text is the rounded decimal exactly (shortest round-trip
    /// printing of a value with ≤ 17 digits).
    pub fn number(&self) -> serde_json::Number {
        self.shown
            .to_f64()
            .and_then(serde_json::Number::from_f64)
            .unwrap_or_else(|| serde_json::Number::from(0))
    }
}

impl std::fmt::Display for Rounded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.number())
    }
}

impl serde::Serialize for Rounded {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.number().serialize(serializer)
    }
}

impl utoipa::PartialSchema for Rounded {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::Number)
            .into()
    }
}
impl utoipa::ToSchema for Rounded {}

/// A decimal rounded to `decimals` places, written as a JSON number.
pub fn json_number(value: Decimal, decimals: u32) -> Rounded {
    Rounded::new(value, decimals)
}

/// `part / whole × 100` with one decimal; any x/0 is 0.
pub fn percentage(part: i128, whole: i128) -> Rounded {
    json_number(ratio(part * 100, whole), 1)
}

/// `numerator / denominator` as a decimal; any x/0 is 0.
pub fn ratio(numerator: i128, denominator: i128) -> Decimal {
    if denominator == 0 {
        return Decimal::ZERO;
    }
    Decimal::from_i128_with_scale(numerator, 0) / Decimal::from_i128_with_scale(denominator, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn formats_with_half_away_from_zero() {
        assert_eq!(format_nanos(60_000_000, 4), "0.0600");
        assert_eq!(format_nanos(486_665_750, 4), "0.4867");
        assert_eq!(format_nanos(486_665_750, 6), "0.486666");
        assert_eq!(format_nanos(50_000, 4), "0.0001");
        assert_eq!(format_nanos(49_999, 4), "0.0000");
        assert_eq!(format_nanos(-50_000, 4), "-0.0001");
        assert_eq!(format_nanos(0, 6), "0.000000");
        let amount = Usd::from_nanos(486_665_750, 4);
        assert_eq!(amount.to_string(), "0.4867");
        assert_eq!(amount.shown().to_string(), "0.4867");
        assert_eq!(amount.exact().to_string(), "0.486665750");
        assert_eq!(
            serde_json::to_string(&amount).ok().as_deref(),
            Some("\"0.4867\"")
        );
    }

    #[test]
    fn converts_usd_to_nanos_exactly() {
        let usd = Decimal::from_str("0.48666575").expect("decimal");
        assert_eq!(usd_to_nanos(usd), 486_665_750);
        let half = Decimal::from_str("0.0000000005").expect("decimal");
        assert_eq!(usd_to_nanos(half), 1);
    }

    #[test]
    fn percentages_have_one_decimal_and_zero_for_empty() {
        assert_eq!(percentage(1, 3).to_string(), "33.3");
        assert_eq!(percentage(2, 3).to_string(), "66.7");
        assert_eq!(percentage(5, 0).to_string(), "0.0");
        assert_eq!(percentage(3, 3).to_string(), "100.0");
    }

    #[test]
    fn json_numbers_print_the_rounded_decimal() {
        let v = Decimal::from_str("0.0600004999").expect("decimal");
        assert_eq!(json_number(v, 6).to_string(), "0.06");
        let v = Decimal::from_str("12.3456785").expect("decimal");
        assert_eq!(json_number(v, 6).to_string(), "12.345679");
    }
}

/// Serde helpers for decimals sent as JSON strings ("0.50") or numbers (0.5). A number is
/// read through its shortest decimal text, which is exact for up to 15 significant digits.
pub mod lenient {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        String(String),
        Number(serde_json::Number),
    }

    fn parse<E: serde::de::Error>(t: Text) -> Result<Decimal, E> {
        let text = match t {
            Text::String(s) => s.trim().to_string(),
            Text::Number(n) => n.to_string(),
        };
        text.parse::<Decimal>()
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| E::custom(format!("`{text}` is not a decimal number")))
    }

    pub fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        parse(Text::deserialize(d)?)
    }

    pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        Option::<Text>::deserialize(d)?.map(parse).transpose()
    }
}
