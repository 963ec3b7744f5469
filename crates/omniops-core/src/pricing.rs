//! Model prices and exact session cost.
//!
//! A model finds its price by exact name, by alias, or by an anchored pattern written on
//! the entry — never by prefix, so `gpt-3.5-turbo-16k` is not `gpt-3.5-turbo`. Entries
//! take effect from a UTC date; a session is priced by the entry in force at its start.

use crate::clock::Micros;
use crate::money::{usd_to_nanos, Nanos};
use crate::usage::TokenUsage;
use chrono::NaiveDate;
use regex::Regex;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Prices in USD per 1,000,000 tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceEntry {
    pub model: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// A regular expression matched against the whole model name.
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(with = "rust_decimal::serde::str")]
    pub input: Decimal,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub cached_input: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub cache_write: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str")]
    pub output: Decimal,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub reasoning: Option<Decimal>,
    pub effective_from: NaiveDate,
    pub source: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PriceError {
    #[error("model must be 1 to 200 characters")]
    Model,
    #[error("{0} must be a price ≥ 0 with at most 9 decimals")]
    Price(&'static str),
    #[error("pattern is not a valid regular expression: {0}")]
    Pattern(String),
}

impl PriceEntry {
    pub fn validate(&self) -> Result<(), PriceError> {
        if self.model.trim().is_empty() || self.model.len() > 200 {
            return Err(PriceError::Model);
        }
        let prices = [
            ("input", Some(self.input)),
            ("cachedInput", self.cached_input),
            ("cacheWrite", self.cache_write),
            ("output", Some(self.output)),
            ("reasoning", self.reasoning),
        ];
        for (name, price) in prices {
            if let Some(p) = price {
                if p.is_sign_negative() || p.scale() > 9 || p > Decimal::from(1_000_000) {
                    return Err(PriceError::Price(name));
                }
            }
        }
        if let Some(pattern) = &self.pattern {
            anchored(pattern).map_err(|e| PriceError::Pattern(e.to_string()))?;
        }
        Ok(())
    }

    pub fn effective_from_micros(&self) -> Micros {
        self.effective_from
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_micros())
            .unwrap_or(0)
    }

    fn names(&self, model: &str) -> bool {
        self.model == model || self.aliases.iter().any(|a| a == model)
    }

    /// Exact cost in USD of `usage` at this entry's prices. A missing cached or cache-write
    /// price falls back to the input price, a missing reasoning price to the output price.
    pub fn cost_usd(&self, usage: &TokenUsage) -> Decimal {
        let d = Decimal::from;
        let uncached = usage.input - usage.cached_input - usage.cache_write;
        let plain_output = usage.output - usage.reasoning;
        let sum = d(uncached) * self.input
            + d(usage.cached_input) * self.cached_input.unwrap_or(self.input)
            + d(usage.cache_write) * self.cache_write.unwrap_or(self.input)
            + d(plain_output) * self.output
            + d(usage.reasoning) * self.reasoning.unwrap_or(self.output);
        sum / Decimal::from(1_000_000)
    }

    /// The cost of `usage` by token type: (type, tokens, USD per million used, USD), in
    /// the order of [`PriceEntry::cost_usd`]'s terms; the USD column sums to it exactly.
    pub fn breakdown(&self, usage: &TokenUsage) -> [(&'static str, i64, Decimal, Decimal); 5] {
        let million = Decimal::from(1_000_000);
        let line = |label, tokens: i64, price: Decimal| {
            (
                label,
                tokens,
                price,
                Decimal::from(tokens) * price / million,
            )
        };
        [
            line(
                "input",
                usage.input - usage.cached_input - usage.cache_write,
                self.input,
            ),
            line(
                "cached input",
                usage.cached_input,
                self.cached_input.unwrap_or(self.input),
            ),
            line(
                "cache write",
                usage.cache_write,
                self.cache_write.unwrap_or(self.input),
            ),
            line("output", usage.output - usage.reasoning, self.output),
            line(
                "reasoning",
                usage.reasoning,
                self.reasoning.unwrap_or(self.output),
            ),
        ]
    }

    /// Cost rounded to whole nano-dollars, as stored.
    pub fn cost_nanos(&self, usage: &TokenUsage) -> Nanos {
        usd_to_nanos(self.cost_usd(usage))
    }
}

fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

/// All known price entries, ready for lookups.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    entries: Vec<(PriceEntry, Option<Regex>)>,
}

impl PriceTable {
    pub fn new(entries: Vec<PriceEntry>) -> Self {
        let entries = entries
            .into_iter()
            .map(|e| {
                let re = e.pattern.as_deref().and_then(|p| anchored(p).ok());
                (e, re)
            })
            .collect();
        Self { entries }
    }

    pub fn entries(&self) -> impl Iterator<Item = &PriceEntry> {
        self.entries.iter().map(|(e, _)| e)
    }

    /// The entry in force for `model` at time `at`. Names and aliases win over patterns;
    /// among entries for the same name the latest effective date not after `at` wins.
    pub fn lookup(&self, model: &str, at: Micros) -> Option<&PriceEntry> {
        let in_force = |e: &&PriceEntry| e.effective_from_micros() <= at;
        let latest = |a: &&PriceEntry, b: &&PriceEntry| {
            a.effective_from
                .cmp(&b.effective_from)
                .then_with(|| b.model.cmp(&a.model))
        };
        let by_name = self
            .entries()
            .filter(|e| e.names(model))
            .filter(in_force)
            .max_by(latest);
        by_name.or_else(|| {
            self.entries
                .iter()
                .filter(|(_, re)| re.as_ref().is_some_and(|re| re.is_match(model)))
                .map(|(e, _)| e)
                .filter(in_force)
                .max_by(latest)
        })
    }

    /// Whether `entry` decides the price of `model` (by name, alias or pattern).
    pub fn entry_matches(entry: &PriceEntry, model: &str) -> bool {
        entry.names(model)
            || entry
                .pattern
                .as_deref()
                .and_then(|p| anchored(p).ok())
                .is_some_and(|re| re.is_match(model))
    }
}

#[derive(Deserialize)]
struct DefaultPriceFile {
    source: String,
    entries: Vec<DefaultPrice>,
}

#[derive(Deserialize)]
struct DefaultPrice {
    model: String,
    #[serde(default)]
    aliases: Vec<String>,
    input: Decimal,
    cached_input: Option<Decimal>,
    cache_write: Option<Decimal>,
    output: Decimal,
    reasoning: Option<Decimal>,
    source: Option<String>,
}

/// The date from which shipped default prices apply: early enough to price any history.
pub const DEFAULT_EFFECTIVE_FROM: &str = "2020-01-01";

/// The shipped, dated default prices (`data/model-prices.json`).
pub fn default_prices() -> Vec<PriceEntry> {
    let file: DefaultPriceFile = serde_json::from_str(include_str!("../data/model-prices.json"))
        .unwrap_or_else(|e| {
            // The file is part of the binary and covered by a test; failing here is a build defect.
            panic!("data/model-prices.json is invalid: {e}")
        });
    let effective_from =
        NaiveDate::parse_from_str(DEFAULT_EFFECTIVE_FROM, "%Y-%m-%d").unwrap_or(NaiveDate::MIN);
    file.entries
        .into_iter()
        .map(|p| PriceEntry {
            model: p.model,
            aliases: p.aliases,
            pattern: None,
            input: p.input,
            cached_input: p.cached_input,
            cache_write: p.cache_write,
            output: p.output,
            reasoning: p.reasoning,
            effective_from,
            source: p.source.unwrap_or_else(|| file.source.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;
    use crate::money::format_usd;

    fn now() -> Micros {
        parse_rfc3339("2026-11-26T12:00:00Z").expect("time")
    }

    fn table() -> PriceTable {
        PriceTable::new(default_prices())
    }

    fn cost(model: &str, usage: TokenUsage) -> String {
        let table = table();
        let entry = table.lookup(model, now()).expect("priced");
        format_usd(entry.cost_usd(&usage), 9)
    }

    #[test]
    fn every_default_entry_is_valid() {
        let prices = default_prices();
        assert_eq!(prices.len(), 17);
        for p in &prices {
            p.validate().expect("valid default price");
        }
    }

    #[test]
    fn gpt4_thousand_in_five_hundred_out_costs_six_cents() {
        let usage = TokenUsage {
            input: 1_000,
            output: 500,
            ..Default::default()
        };
        assert_eq!(cost("gpt-4", usage), "0.060000000");
    }

    #[test]
    fn gpt5_mini_large_session_is_exact() {
        let usage = TokenUsage {
            input: 1_234_567,
            output: 89_012,
            ..Default::default()
        };
        assert_eq!(cost("gpt-5-mini", usage), "0.486665750");
    }

    #[test]
    fn openai_cached_tokens_use_the_cached_price() {
        // prompt 2,000 of which 1,500 cached, completion 100:
        // 500 × 2.50 + 1,500 × 1.25 + 100 × 10.00 = 4,125 per 1M = $0.004125
        let usage = TokenUsage {
            input: 2_000,
            cached_input: 1_500,
            output: 100,
            ..Default::default()
        };
        assert_eq!(cost("gpt-4o", usage), "0.004125000");
    }

    #[test]
    fn anthropic_cache_reads_and_writes_have_their_own_prices() {
        // 100 × 3.00 + 3,000 × 0.30 + 500 × 3.75 + 250 × 15.00 = 6,825 per 1M
        let usage = TokenUsage {
            input: 3_600,
            cached_input: 3_000,
            cache_write: 500,
            output: 250,
            reasoning: 0,
        };
        assert_eq!(cost("claude-sonnet-4-5", usage), "0.006825000");
    }

    #[test]
    fn missing_cache_and_reasoning_prices_fall_back() {
        // gpt-4 has no cached price: cached tokens cost the input price; reasoning the output price.
        let usage = TokenUsage {
            input: 1_000,
            cached_input: 400,
            output: 500,
            reasoning: 200,
            ..Default::default()
        };
        assert_eq!(cost("gpt-4", usage), "0.060000000");
    }

    #[test]
    fn never_matches_by_prefix() {
        let table = table();
        assert_eq!(
            table
                .lookup("gpt-3.5-turbo-16k", now())
                .map(|e| e.input.to_string()),
            Some("3.00".into())
        );
        assert!(table.lookup("gpt-3.5-turbo-0613", now()).is_none());
        assert!(table.lookup("gpt-4-0314", now()).is_none());
        assert!(table.lookup("my-private-model", now()).is_none());
    }

    #[test]
    fn patterns_are_anchored_and_names_win() {
        let mut entries = default_prices();
        let mut custom = entries[0].clone();
        custom.model = "llama-family".into();
        custom.pattern = Some("llama-3\\.[0-9]+-.*".into());
        custom.input = Decimal::ONE;
        entries.push(custom);
        let table = PriceTable::new(entries);
        assert_eq!(
            table
                .lookup("llama-3.1-70b", now())
                .map(|e| e.model.as_str()),
            Some("llama-family")
        );
        assert!(table.lookup("x-llama-3.1-70b", now()).is_none());
        assert_eq!(
            table.lookup("gpt-4", now()).map(|e| e.model.as_str()),
            Some("gpt-4")
        );
    }

    #[test]
    fn the_entry_in_force_at_session_start_applies() {
        let mut entries = default_prices();
        let mut newer = entries
            .iter()
            .find(|e| e.model == "gpt-4")
            .expect("gpt-4")
            .clone();
        newer.effective_from = NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
        newer.input = Decimal::from(10);
        entries.push(newer);
        let table = PriceTable::new(entries);
        let before = parse_rfc3339("2026-10-31T23:59:59Z").expect("time");
        let after = parse_rfc3339("2026-11-01T00:00:00Z").expect("time");
        assert_eq!(
            table.lookup("gpt-4", before).map(|e| e.input),
            Some(Decimal::from(30))
        );
        assert_eq!(
            table.lookup("gpt-4", after).map(|e| e.input),
            Some(Decimal::from(10))
        );
    }

    #[test]
    fn rejects_bad_entries() {
        let mut e = default_prices()[0].clone();
        e.input = Decimal::NEGATIVE_ONE;
        assert_eq!(e.validate(), Err(PriceError::Price("input")));
        let mut e = default_prices()[0].clone();
        e.pattern = Some("(".into());
        assert!(matches!(e.validate(), Err(PriceError::Pattern(_))));
        let mut e = default_prices()[0].clone();
        e.model = " ".into();
        assert_eq!(e.validate(), Err(PriceError::Model));
    }

    #[test]
    fn the_breakdown_sums_to_the_cost() {
        let table = PriceTable::new(default_prices());
        let entry = table.lookup("gpt-4o", i64::MAX).expect("gpt-4o");
        let usage = TokenUsage {
            input: 2_000,
            cached_input: 1_500,
            cache_write: 0,
            output: 100,
            reasoning: 0,
        };
        let lines = entry.breakdown(&usage);
        // gpt-4o: $2.50 input, $1.25 cached, $10 output per million.
        assert_eq!(lines[0].1, 500);
        let usd = |text: &str| text.parse::<Decimal>().expect("decimal");
        assert_eq!(lines[0].3, usd("0.00125"));
        assert_eq!(lines[1].3, usd("0.001875"));
        assert_eq!(lines[3].3, usd("0.001"));
        let sum: Decimal = lines.iter().map(|l| l.3).sum();
        assert_eq!(sum, entry.cost_usd(&usage));
    }
}
