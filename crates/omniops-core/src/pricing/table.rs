//! Finding a model's price: names as providers send them.
//!
//! Names match case-insensitively. A name with a known provider prefix (`azure/gpt-4o`)
//! takes the catalogue's own entry for the whole name if there is one, else the prefix is
//! stripped and the rest is looked up the same way; a bare name never falls back to a
//! prefixed entry. Dated snapshots match only their own entry: nothing is ever matched by
//! a prefix of the name, so `gpt-4o-2024-05-13` is not `gpt-4o`. Patterns (user entries)
//! are tried after names. Among the entries of the name that matched, a `user` entry in
//! force wins; else the latest in force.

use super::{Origin, PriceEntry};
use crate::clock::Micros;
use chrono::NaiveDate;
use regex::Regex;
use serde::Deserialize;
use std::collections::HashMap;

/// Provider prefixes that gateways and SDKs put before a model name. One is stripped at a
/// time while no entry has the whole name.
pub const PROVIDER_PREFIXES: &[&str] = &[
    "openai/",
    "azure/",
    "azure_ai/",
    "anthropic/",
    "bedrock/",
    "bedrock_converse/",
    "vertex_ai/",
    "vertex_ai_beta/",
    "gemini/",
    "google/",
    "openrouter/",
    "groq/",
    "mistral/",
    "deepseek/",
    "xai/",
    "together_ai/",
    "fireworks_ai/",
    "cohere/",
    "perplexity/",
    "deepinfra/",
    "litellm_proxy/",
];

pub(super) fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("(?i)^(?:{pattern})$"))
}

/// All known price entries, indexed by lower-case name and alias.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    entries: Vec<PriceEntry>,
    by_name: HashMap<String, Vec<usize>>,
    patterns: Vec<(Regex, usize)>,
}

impl PriceTable {
    pub fn new(entries: Vec<PriceEntry>) -> Self {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        let mut patterns = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let mut names: Vec<String> = std::iter::once(&e.model)
                .chain(&e.aliases)
                .map(|n| n.trim().to_lowercase())
                .collect();
            names.dedup();
            for name in names {
                by_name.entry(name).or_default().push(i);
            }
            if let Some(re) = e.pattern.as_deref().and_then(|p| anchored(p).ok()) {
                patterns.push((re, i));
            }
        }
        Self {
            entries,
            by_name,
            patterns,
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = &PriceEntry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The names `model` is looked up under, in order: the whole (lower-case) name, then
    /// the name without one known prefix, and so on, stopping at the first name that
    /// some entry has.
    pub fn chain(&self, model: &str) -> Vec<String> {
        let mut name = model.trim().to_lowercase();
        let mut chain = Vec::new();
        loop {
            let known = self.by_name.contains_key(&name);
            let stripped = PROVIDER_PREFIXES
                .iter()
                .find_map(|p| name.strip_prefix(p))
                .map(str::to_string);
            chain.push(name);
            match stripped {
                Some(rest) if !known && !rest.is_empty() => name = rest,
                _ => return chain,
            }
        }
    }

    /// The entry in force for `model` at time `at`.
    pub fn lookup(&self, model: &str, at: Micros) -> Option<&PriceEntry> {
        let chain = self.chain(model);
        // The chain stops at the first name an entry has: only that name's entries count.
        if let Some(found) = chain.last().and_then(|n| self.by_name.get(n)) {
            return self.in_force(found.iter().copied(), at);
        }
        let matching = self
            .patterns
            .iter()
            .filter(|(re, _)| chain.iter().any(|n| re.is_match(n)))
            .map(|(_, i)| *i);
        self.in_force(matching, at)
    }

    /// Of `candidates`, the entry in force at `at`: a user entry if one is, else the
    /// latest effective date (then the first model name, for a stable choice).
    fn in_force(&self, candidates: impl Iterator<Item = usize>, at: Micros) -> Option<&PriceEntry> {
        candidates
            .map(|i| &self.entries[i])
            .filter(|e| e.effective_from_micros() <= at)
            .max_by(|a, b| {
                (a.origin == Origin::User)
                    .cmp(&(b.origin == Origin::User))
                    .then(a.effective_from.cmp(&b.effective_from))
                    .then_with(|| b.model.cmp(&a.model))
            })
    }

    /// The entry named by its key (`model@YYYY-MM-DD`, see [`PriceEntry::key`]).
    pub fn by_key(&self, key: &str) -> Option<&PriceEntry> {
        let (model, _) = key.rsplit_once('@')?;
        self.by_name
            .get(model)?
            .iter()
            .map(|i| &self.entries[*i])
            .find(|e| e.key() == key)
    }

    /// Whether `entry` can decide the price of `model`: one of its names is on the
    /// model's lookup chain, or its pattern matches.
    pub fn decides(&self, entry: &PriceEntry, model: &str) -> bool {
        let chain = self.chain(model);
        let named = std::iter::once(&entry.model)
            .chain(&entry.aliases)
            .any(|n| chain.iter().any(|c| *c == n.trim().to_lowercase()));
        named
            || entry
                .pattern
                .as_deref()
                .and_then(|p| anchored(p).ok())
                .is_some_and(|re| chain.iter().any(|n| re.is_match(n)))
    }
}

/// The shipped default prices: LiteLLM's catalogue plus `data/price-extras.json`, made by
/// `scripts/update-prices` (see `pricing::litellm`).
pub const DEFAULT_PRICES_JSON: &str = include_str!("../../data/model-prices.json");

/// The date from which shipped default prices apply: early enough to price any history.
pub const DEFAULT_EFFECTIVE_FROM: &str = "2020-01-01";

#[derive(Deserialize)]
struct DefaultPriceFile {
    entries: Vec<PriceEntry>,
}

/// The shipped, dated default prices (`data/model-prices.json`).
pub fn default_prices() -> Vec<PriceEntry> {
    let file: DefaultPriceFile = serde_json::from_str(DEFAULT_PRICES_JSON).unwrap_or_else(|e| {
        // The file is part of the binary and covered by a test; failing here is a build defect.
        panic!("data/model-prices.json is invalid: {e}")
    });
    file.entries
}

/// `DEFAULT_EFFECTIVE_FROM` as a date.
pub fn default_effective_from() -> NaiveDate {
    NaiveDate::parse_from_str(DEFAULT_EFFECTIVE_FROM, "%Y-%m-%d").unwrap_or(NaiveDate::MIN)
}
