//! Model prices and exact cost.
//!
//! An entry holds a model's base rates and, optionally, tiers: rates that apply to a call
//! whose input is above a context size, or that ran at a service tier (flex, priority,
//! batch), or both. Each model call is priced on its own and rounded to nano-dollars; a
//! session costs the exact sum of its calls (see `session`). Entries take effect from a
//! UTC date; a session is priced by the entry in force at its start. Names are matched by
//! [`PriceTable`].

pub mod litellm;
mod table;

pub use table::{
    default_effective_from, default_prices, PriceTable, DEFAULT_EFFECTIVE_FROM,
    DEFAULT_PRICES_JSON, PROVIDER_PREFIXES,
};

use crate::clock::Micros;
use crate::money::{usd_to_nanos, Nanos};
use crate::usage::{CallUsage, ServiceTier, TokenUsage};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Where an entry came from. A `user` entry is never changed by shipped defaults or an
/// import, and wins over them.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Default,
    Import,
    #[default]
    User,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Default => "default",
            Origin::Import => "import",
            Origin::User => "user",
        }
    }

    pub fn parse(text: &str) -> Option<Origin> {
        match text {
            "default" => Some(Origin::Default),
            "import" => Some(Origin::Import),
            "user" => Some(Origin::User),
            _ => None,
        }
    }
}

/// The kinds of token a call is billed for, in the order of a cost breakdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Input that was neither read from nor written to a cache.
    Input,
    CacheRead,
    /// Cache writes kept five minutes (or for an unstated time).
    CacheWrite,
    CacheWrite1h,
    /// Output that is not reasoning.
    Output,
    Reasoning,
}

impl TokenKind {
    pub const ALL: [TokenKind; 6] = [
        TokenKind::Input,
        TokenKind::CacheRead,
        TokenKind::CacheWrite,
        TokenKind::CacheWrite1h,
        TokenKind::Output,
        TokenKind::Reasoning,
    ];

    pub fn label(self) -> &'static str {
        match self {
            TokenKind::Input => "input",
            TokenKind::CacheRead => "cached input",
            TokenKind::CacheWrite => "cache write",
            TokenKind::CacheWrite1h => "cache write (1 h)",
            TokenKind::Output => "output",
            TokenKind::Reasoning => "reasoning",
        }
    }

    /// The kind whose rate applies when an entry has none for this one: cache reads and
    /// writes cost input, one-hour writes cost five-minute writes, reasoning costs output.
    pub fn fallback(self) -> Option<TokenKind> {
        match self {
            TokenKind::CacheRead | TokenKind::CacheWrite => Some(TokenKind::Input),
            TokenKind::CacheWrite1h => Some(TokenKind::CacheWrite),
            TokenKind::Reasoning => Some(TokenKind::Output),
            TokenKind::Input | TokenKind::Output => None,
        }
    }

    /// How many tokens of this kind `usage` has.
    pub fn tokens(self, usage: &CallUsage) -> i64 {
        let t = &usage.tokens;
        match self {
            TokenKind::Input => t.input - t.cached_input - t.cache_write,
            TokenKind::CacheRead => t.cached_input,
            TokenKind::CacheWrite => t.cache_write - usage.cache_write_1h,
            TokenKind::CacheWrite1h => usage.cache_write_1h,
            TokenKind::Output => t.output - t.reasoning,
            TokenKind::Reasoning => t.reasoning,
        }
    }
}

/// USD per 1,000,000 tokens of each kind; `None` where the entry (or tier) sets none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rates {
    #[serde(
        default,
        serialize_with = "rust_decimal::serde::str_option::serialize",
        deserialize_with = "crate::money::lenient::option"
    )]
    pub input: Option<Decimal>,
    #[serde(
        default,
        serialize_with = "rust_decimal::serde::str_option::serialize",
        deserialize_with = "crate::money::lenient::option"
    )]
    pub cached_input: Option<Decimal>,
    #[serde(
        default,
        serialize_with = "rust_decimal::serde::str_option::serialize",
        deserialize_with = "crate::money::lenient::option"
    )]
    pub cache_write: Option<Decimal>,
    #[serde(
        default,
        rename = "cacheWrite1h",
        serialize_with = "rust_decimal::serde::str_option::serialize",
        deserialize_with = "crate::money::lenient::option"
    )]
    pub cache_write_1h: Option<Decimal>,
    #[serde(
        default,
        serialize_with = "rust_decimal::serde::str_option::serialize",
        deserialize_with = "crate::money::lenient::option"
    )]
    pub output: Option<Decimal>,
    #[serde(
        default,
        serialize_with = "rust_decimal::serde::str_option::serialize",
        deserialize_with = "crate::money::lenient::option"
    )]
    pub reasoning: Option<Decimal>,
}

impl Rates {
    pub fn get(&self, kind: TokenKind) -> Option<Decimal> {
        match kind {
            TokenKind::Input => self.input,
            TokenKind::CacheRead => self.cached_input,
            TokenKind::CacheWrite => self.cache_write,
            TokenKind::CacheWrite1h => self.cache_write_1h,
            TokenKind::Output => self.output,
            TokenKind::Reasoning => self.reasoning,
        }
    }

    pub fn set(&mut self, kind: TokenKind, rate: Option<Decimal>) {
        let slot = match kind {
            TokenKind::Input => &mut self.input,
            TokenKind::CacheRead => &mut self.cached_input,
            TokenKind::CacheWrite => &mut self.cache_write,
            TokenKind::CacheWrite1h => &mut self.cache_write_1h,
            TokenKind::Output => &mut self.output,
            TokenKind::Reasoning => &mut self.reasoning,
        };
        *slot = rate;
    }

    pub fn is_empty(&self) -> bool {
        TokenKind::ALL.iter().all(|k| self.get(*k).is_none())
    }
}

/// Rates for calls above a context size, at a service tier, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tier {
    /// Applies to calls with strictly more input tokens than this (cache reads and writes
    /// included); `None` for every size.
    #[serde(default)]
    pub above_input_tokens: Option<i64>,
    #[serde(default)]
    pub service_tier: ServiceTier,
    #[serde(flatten)]
    pub rates: Rates,
}

/// One model's prices from a date on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceEntry {
    /// Lower case: names match case-insensitively.
    pub model: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// A regular expression matched against the whole (lower-case) model name.
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(with = "rust_decimal::serde::str")]
    pub input: Decimal,
    #[serde(
        default,
        serialize_with = "rust_decimal::serde::str_option::serialize",
        deserialize_with = "crate::money::lenient::option"
    )]
    pub cached_input: Option<Decimal>,
    #[serde(
        default,
        serialize_with = "rust_decimal::serde::str_option::serialize",
        deserialize_with = "crate::money::lenient::option"
    )]
    pub cache_write: Option<Decimal>,
    #[serde(
        default,
        rename = "cacheWrite1h",
        serialize_with = "rust_decimal::serde::str_option::serialize",
        deserialize_with = "crate::money::lenient::option"
    )]
    pub cache_write_1h: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str")]
    pub output: Decimal,
    #[serde(
        default,
        serialize_with = "rust_decimal::serde::str_option::serialize",
        deserialize_with = "crate::money::lenient::option"
    )]
    pub reasoning: Option<Decimal>,
    #[serde(default)]
    pub tiers: Vec<Tier>,
    pub effective_from: NaiveDate,
    pub source: String,
    #[serde(default)]
    pub origin: Origin,
}

/// The largest rate accepted, USD per million tokens.
pub const MAX_RATE: i64 = 1_000_000;
/// Tiers one entry may have.
pub const MAX_TIERS: usize = 64;
/// Aliases one entry may have.
pub const MAX_ALIASES: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PriceError {
    #[error("model must be 1 to 200 characters")]
    Model,
    #[error("{0} must be a price ≥ 0 and ≤ 1000000 with at most 9 decimals")]
    Price(&'static str),
    #[error("pattern is not a valid regular expression: {0}")]
    Pattern(String),
    #[error("aliases must be at most {MAX_ALIASES} names of 1 to 200 characters")]
    Aliases,
    #[error("tiers must be at most {MAX_TIERS}, each with a context size above 0 or a service tier, at least one price, and no two alike")]
    Tiers,
}

/// Which rates priced a call: the context size it was above, if any, and its service tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallTier {
    pub above_input_tokens: Option<i64>,
    pub service_tier: ServiceTier,
}

/// One line of a call's cost: tokens of a kind, at a rate, the exact (unrounded) USD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostLine {
    pub kind: TokenKind,
    pub tokens: i64,
    pub usd_per_million: Decimal,
    pub usd: Decimal,
}

impl PriceEntry {
    /// The base rates (every size, default service tier).
    pub fn base(&self) -> Rates {
        Rates {
            input: Some(self.input),
            cached_input: self.cached_input,
            cache_write: self.cache_write,
            cache_write_1h: self.cache_write_1h,
            output: Some(self.output),
            reasoning: self.reasoning,
        }
    }

    pub fn validate(&self) -> Result<(), PriceError> {
        let name_ok = |n: &str| !n.trim().is_empty() && n.len() <= 200;
        if !name_ok(&self.model) {
            return Err(PriceError::Model);
        }
        if self.aliases.len() > MAX_ALIASES || !self.aliases.iter().all(|a| name_ok(a)) {
            return Err(PriceError::Aliases);
        }
        check_rates(&self.base(), "")?;
        if self.tiers.len() > MAX_TIERS {
            return Err(PriceError::Tiers);
        }
        let mut seen = std::collections::HashSet::new();
        for tier in &self.tiers {
            let base =
                tier.above_input_tokens.is_none() && tier.service_tier == ServiceTier::Default;
            if base
                || tier.above_input_tokens.is_some_and(|n| n <= 0)
                || tier.rates.is_empty()
                || !seen.insert((tier.above_input_tokens, tier.service_tier))
            {
                return Err(PriceError::Tiers);
            }
            check_rates(&tier.rates, "tiers.")?;
        }
        if let Some(pattern) = &self.pattern {
            table::anchored(pattern).map_err(|e| PriceError::Pattern(e.to_string()))?;
        }
        Ok(())
    }

    pub fn effective_from_micros(&self) -> Micros {
        self.effective_from
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_micros())
            .unwrap_or(0)
    }

    /// The rate set exactly for (kind, context size, service tier), if any.
    fn rate_at(
        &self,
        kind: TokenKind,
        above: Option<i64>,
        service: ServiceTier,
    ) -> Option<Decimal> {
        if above.is_none() && service == ServiceTier::Default {
            return self.base().get(kind);
        }
        self.tiers
            .iter()
            .find(|t| t.above_input_tokens == above && t.service_tier == service)
            .and_then(|t| t.rates.get(kind))
    }

    /// The rate a call at `tier` pays for `kind`: the tier's own, else its service tier's
    /// base rate, else the default service tier's at the context size, else the base rate;
    /// a kind priced nowhere pays its fallback kind's rate.
    pub fn rate(&self, kind: TokenKind, tier: CallTier) -> Decimal {
        let (above, service) = (tier.above_input_tokens, tier.service_tier);
        let mut kind = kind;
        loop {
            let candidates = [
                (above, service),
                (None, service),
                (above, ServiceTier::Default),
                (None, ServiceTier::Default),
            ];
            if let Some(rate) = candidates
                .iter()
                .find_map(|(a, s)| self.rate_at(kind, *a, *s))
            {
                return rate;
            }
            match kind.fallback() {
                Some(next) => kind = next,
                // Input and output always have a base rate.
                None => return Decimal::ZERO,
            }
        }
    }

    /// The tier a call is priced at: the highest context size its input exceeds (of those
    /// the entry has), at its service tier.
    pub fn tier_of(&self, usage: &CallUsage) -> CallTier {
        let input = usage.tokens.input;
        let above = self
            .tiers
            .iter()
            .filter_map(|t| t.above_input_tokens)
            .filter(|n| input > *n)
            .max();
        CallTier {
            above_input_tokens: above,
            service_tier: usage.service_tier,
        }
    }

    /// The cost of one call at `tier`, by kind of token; the `usd` column is exact.
    pub fn lines(&self, usage: &CallUsage, tier: CallTier) -> [CostLine; 6] {
        let million = Decimal::from(1_000_000);
        TokenKind::ALL.map(|kind| {
            let tokens = kind.tokens(usage);
            let rate = self.rate(kind, tier);
            CostLine {
                kind,
                tokens,
                usd_per_million: rate,
                usd: Decimal::from(tokens) * rate / million,
            }
        })
    }

    /// One call's cost in nano-dollars (rounded half away from zero) and its tier.
    pub fn price_call(&self, usage: &CallUsage) -> (Nanos, CallTier) {
        let tier = self.tier_of(usage);
        (self.cost_at(usage, tier), tier)
    }

    /// A call's cost at a given tier, in nano-dollars.
    pub fn cost_at(&self, usage: &CallUsage, tier: CallTier) -> Nanos {
        let sum: Decimal = self.lines(usage, tier).iter().map(|l| l.usd).sum();
        usd_to_nanos(sum)
    }

    /// Token totals priced at the base rates as one call: sessions sent as totals, and
    /// rollup buckets whose calls are no longer kept.
    pub fn base_cost(&self, usage: &TokenUsage) -> Nanos {
        let call = CallUsage {
            tokens: *usage,
            ..CallUsage::default()
        };
        self.cost_at(&call, CallTier::default())
    }

    /// The key that names this entry: `model@YYYY-MM-DD`.
    pub fn key(&self) -> String {
        format!("{}@{}", self.model, self.effective_from)
    }

    /// Whether two entries charge the same (names, dates and sources aside).
    pub fn same_rates(&self, other: &PriceEntry) -> bool {
        let mut a = self.tiers.clone();
        let mut b = other.tiers.clone();
        let order = |t: &Tier| (t.above_input_tokens, t.service_tier);
        a.sort_by_key(order);
        b.sort_by_key(order);
        self.base() == other.base() && a == b
    }
}

fn check_rates(rates: &Rates, prefix: &'static str) -> Result<(), PriceError> {
    for kind in TokenKind::ALL {
        if let Some(p) = rates.get(kind) {
            if p.is_sign_negative() || p.scale() > 9 || p > Decimal::from(MAX_RATE) {
                return Err(PriceError::Price(field_name(prefix, kind)));
            }
        }
    }
    Ok(())
}

/// The JSON name of a rate, for errors.
fn field_name(prefix: &'static str, kind: TokenKind) -> &'static str {
    let names = match kind {
        TokenKind::Input => ("input", "tiers.input"),
        TokenKind::CacheRead => ("cachedInput", "tiers.cachedInput"),
        TokenKind::CacheWrite => ("cacheWrite", "tiers.cacheWrite"),
        TokenKind::CacheWrite1h => ("cacheWrite1h", "tiers.cacheWrite1h"),
        TokenKind::Output => ("output", "tiers.output"),
        TokenKind::Reasoning => ("reasoning", "tiers.reasoning"),
    };
    if prefix.is_empty() {
        names.0
    } else {
        names.1
    }
}

#[cfg(test)]
mod tests;
