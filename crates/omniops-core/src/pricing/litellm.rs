//! LiteLLM's price catalogue (`model_prices_and_context_window.json`, MIT) as price
//! entries: the shipped defaults are generated from it, and `omniops prices import`
//! reads files in its format.
//!
//! Kept: chat, responses and completion entries (and entries without a mode) that price
//! input and output per token; their input, cache-read, cache-write (five-minute and
//! one-hour), output and reasoning rates, the context tiers (`*_above_200k_tokens`, …)
//! and the service tiers `_flex`, `_priority` and `_batches`, alone or combined.
//! Left out: embedding, image, audio, video, rerank and other modes; prices per
//! character, second, image, audio token or query; the `_ultrafast`, `_balanced` and
//! `_decisions` tiers; twelve-hour cache writes. Rates are per token in the file and per
//! million here; a per-million rate with more than 9 decimals (a float artefact such as
//! 0.30000000000000004) is rounded half away from zero to 6.

use super::{Origin, PriceEntry, Rates, Tier, TokenKind};
use crate::usage::ServiceTier;
use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Rate keys by prefix; longer prefixes first where one starts another.
const KEY_PREFIXES: [(&str, TokenKind); 6] = [
    (
        "cache_creation_input_token_cost_above_1hr",
        TokenKind::CacheWrite1h,
    ),
    ("cache_creation_input_token_cost", TokenKind::CacheWrite),
    ("cache_read_input_token_cost", TokenKind::CacheRead),
    ("output_cost_per_reasoning_token", TokenKind::Reasoning),
    ("input_cost_per_token", TokenKind::Input),
    ("output_cost_per_token", TokenKind::Output),
];

/// DeepSeek-style name of the cache-read rate, used where `cache_read_input_token_cost`
/// is absent.
const CACHE_HIT_PREFIX: &str = "input_cost_per_token_cache_hit";

const MODES: [&str; 3] = ["chat", "responses", "completion"];

/// A rate key read: its kind, context size and service tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateKey {
    pub kind: TokenKind,
    pub above_input_tokens: Option<i64>,
    pub service_tier: ServiceTier,
}

/// Reads a key such as `input_cost_per_token_above_200k_tokens_priority`; `None` for keys
/// that are not per-token rates we keep. The bool says whether it is the cache-hit
/// spelling of a cache-read rate.
pub fn parse_key(key: &str) -> Option<(RateKey, bool)> {
    let (rest, kind, cache_hit) = match key.strip_prefix(CACHE_HIT_PREFIX) {
        Some(rest) => (rest, TokenKind::CacheRead, true),
        None => {
            let (prefix, kind) = KEY_PREFIXES.iter().find(|(p, _)| key.starts_with(p))?;
            (&key[prefix.len()..], *kind, false)
        }
    };
    let (above, rest) = match rest.strip_prefix("_above_") {
        Some(tail) => {
            let (number, tail) = tail.split_once("k_tokens")?;
            let thousands: i64 = number.parse().ok()?;
            (Some(thousands.checked_mul(1_000)?), tail)
        }
        None => (None, rest),
    };
    let service = match rest {
        "" => ServiceTier::Default,
        "_flex" => ServiceTier::Flex,
        "_priority" => ServiceTier::Priority,
        "_batches" => ServiceTier::Batch,
        _ => return None,
    };
    Some((
        RateKey {
            kind,
            above_input_tokens: above,
            service_tier: service,
        },
        cache_hit,
    ))
}

/// A per-token rate from the file as USD per million, exact from the number's shortest
/// decimal text; more than 9 decimals are rounded half away from zero to 6.
pub fn per_million(value: &Value) -> Option<Decimal> {
    rate_of(value).map(|(rate, _)| rate)
}

/// [`per_million`], and whether the rate was rounded.
fn rate_of(value: &Value) -> Option<(Decimal, bool)> {
    let text = match value {
        // Rust prints an f64 as the shortest decimal that reads back as the same f64,
        // which is the text the file was written with.
        Value::Number(n) => n.as_f64().map(|f| format!("{f}"))?,
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    let per_token: Decimal = text.parse().ok()?;
    let rate = per_token.checked_mul(Decimal::from(1_000_000))?;
    let rounded = rate.normalize().scale() > 9;
    let rate = if rounded {
        rate.round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero)
    } else {
        rate
    };
    (!rate.is_sign_negative()).then(|| (rate.normalize(), rounded))
}

/// What a conversion kept and what it left out.
#[derive(Debug, Default)]
pub struct Converted {
    pub entries: Vec<PriceEntry>,
    /// Entries left out, with why (an embedding model, no per-token price, …).
    pub skipped: Vec<(String, String)>,
    /// How many rates were rounded from float artefacts.
    pub rounded: usize,
}

/// Converts a LiteLLM-format catalogue. Every entry gets `effective_from`, `source` and
/// `origin`.
pub fn convert(
    catalogue: &Value,
    effective_from: NaiveDate,
    source: &str,
    origin: Origin,
) -> Result<Converted, String> {
    let Some(object) = catalogue.as_object() else {
        return Err("the price file must be a JSON object of model names".into());
    };
    let mut out = Converted::default();
    let mut seen: HashMap<String, String> = HashMap::new();
    for (name, spec) in object {
        if name == "sample_spec" {
            continue;
        }
        let Some(spec) = spec.as_object() else {
            out.skipped.push((name.clone(), "not an object".into()));
            continue;
        };
        let mode = spec.get("mode").and_then(Value::as_str);
        if mode.is_some_and(|m| !MODES.contains(&m)) {
            out.skipped
                .push((name.clone(), format!("mode {}", mode.unwrap_or_default())));
            continue;
        }
        let lower = name.trim().to_lowercase();
        if lower.is_empty() || lower.len() > 200 {
            out.skipped
                .push((name.clone(), "name must be 1 to 200 characters".into()));
            continue;
        }
        if let Some(first) = seen.get(&lower) {
            out.skipped
                .push((name.clone(), format!("same name as {first}")));
            continue;
        }
        match entry_of(&lower, spec, &mut out.rounded) {
            Ok((base, tiers)) => {
                let entry = PriceEntry {
                    model: lower.clone(),
                    aliases: Vec::new(),
                    pattern: None,
                    input: base.input.unwrap_or_default(),
                    cached_input: base.cached_input,
                    cache_write: base.cache_write,
                    cache_write_1h: base.cache_write_1h,
                    output: base.output.unwrap_or_default(),
                    reasoning: base.reasoning,
                    tiers,
                    effective_from,
                    source: source.to_string(),
                    origin,
                };
                match entry.validate() {
                    Ok(()) => {
                        seen.insert(lower, name.clone());
                        out.entries.push(entry);
                    }
                    Err(e) => out.skipped.push((name.clone(), e.to_string())),
                }
            }
            Err(reason) => out.skipped.push((name.clone(), reason)),
        }
    }
    out.entries.sort_by(|a, b| a.model.cmp(&b.model));
    Ok(out)
}

type Grid = BTreeMap<(Option<i64>, ServiceTier), Rates>;

/// The base rates and the tiers of one catalogue entry.
fn entry_of(
    name: &str,
    spec: &serde_json::Map<String, Value>,
    rounded: &mut usize,
) -> Result<(Rates, Vec<Tier>), String> {
    let mut grid = Grid::new();
    let mut cache_hits = Grid::new();
    for (key, value) in spec {
        let Some((rk, cache_hit)) = parse_key(key) else {
            continue;
        };
        let (rate, was_rounded) =
            rate_of(value).ok_or_else(|| format!("{name}: {key} is not a price"))?;
        *rounded += usize::from(was_rounded);
        let target = if cache_hit {
            &mut cache_hits
        } else {
            &mut grid
        };
        target
            .entry((rk.above_input_tokens, rk.service_tier))
            .or_default()
            .set(rk.kind, Some(rate));
    }
    for (tier, rates) in cache_hits {
        let slot = grid.entry(tier).or_default();
        if slot.cached_input.is_none() {
            slot.cached_input = rates.cached_input;
        }
    }
    let base = grid
        .remove(&(None, ServiceTier::Default))
        .unwrap_or_default();
    if base.input.is_none() || base.output.is_none() {
        return Err("no per-token input and output price".into());
    }
    let tiers = grid
        .into_iter()
        .filter(|(_, rates)| !rates.is_empty())
        .map(|((above, service), rates)| Tier {
            above_input_tokens: above,
            service_tier: service,
            rates,
        })
        .collect();
    Ok((base, tiers))
}

/// What importing a catalogue would do to the stored prices.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportPlan {
    /// Models with no price before.
    pub added: Vec<String>,
    /// Models whose price in force changes: (model, before, after).
    #[serde(skip)]
    pub changed: Vec<(String, PriceEntry, PriceEntry)>,
    pub unchanged: usize,
    /// Models left alone because a user set their price.
    pub kept_user_prices: Vec<String>,
    /// The entries to write.
    #[serde(skip)]
    pub writes: Vec<PriceEntry>,
}

/// Compares `incoming` entries with the `stored` ones: a model with a user entry is left
/// alone; one whose entry in force on the import's date charges the same is unchanged.
pub fn plan_import(stored: &[PriceEntry], incoming: Vec<PriceEntry>) -> ImportPlan {
    let mut by_model: HashMap<&str, Vec<&PriceEntry>> = HashMap::new();
    for e in stored {
        by_model.entry(e.model.as_str()).or_default().push(e);
    }
    let mut plan = ImportPlan::default();
    for entry in incoming {
        let existing = by_model
            .get(entry.model.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if existing.iter().any(|e| e.origin == Origin::User) {
            plan.kept_user_prices.push(entry.model.clone());
            continue;
        }
        let in_force = existing
            .iter()
            .filter(|e| e.effective_from <= entry.effective_from)
            .max_by_key(|e| e.effective_from);
        match in_force {
            None => plan.added.push(entry.model.clone()),
            Some(before) if before.same_rates(&entry) => {
                plan.unchanged += 1;
                continue;
            }
            Some(before) => {
                plan.changed
                    .push((entry.model.clone(), (*before).clone(), entry.clone()))
            }
        }
        plan.writes.push(entry);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 30).expect("date")
    }

    #[test]
    fn keys_name_their_kind_size_and_service_tier() {
        let key = |k| {
            parse_key(k).map(|(rk, hit)| (rk.kind, rk.above_input_tokens, rk.service_tier, hit))
        };
        assert_eq!(
            key("input_cost_per_token_above_200k_tokens_priority"),
            Some((
                TokenKind::Input,
                Some(200_000),
                ServiceTier::Priority,
                false
            ))
        );
        assert_eq!(
            key("cache_creation_input_token_cost_above_1hr_above_200k_tokens"),
            Some((
                TokenKind::CacheWrite1h,
                Some(200_000),
                ServiceTier::Default,
                false
            ))
        );
        assert_eq!(
            key("cache_read_input_token_cost_batches"),
            Some((TokenKind::CacheRead, None, ServiceTier::Batch, false))
        );
        assert_eq!(
            key("input_cost_per_token_cache_hit"),
            Some((TokenKind::CacheRead, None, ServiceTier::Default, true))
        );
        assert_eq!(key("cache_creation_input_token_cost_above_12hr"), None);
        assert_eq!(key("input_cost_per_token_ultrafast"), None);
        assert_eq!(key("input_cost_per_audio_token"), None);
        assert_eq!(
            key("output_cost_per_token_above_128k_tokens"),
            Some((
                TokenKind::Output,
                Some(128_000),
                ServiceTier::Default,
                false
            ))
        );
    }

    #[test]
    fn float_artefacts_are_rounded_to_six_decimals() {
        assert_eq!(
            per_million(&json!(3.0000000000000004e-7)),
            Some("0.3".parse().expect("d"))
        );
        assert_eq!(per_million(&json!(2.5e-6)), Some("2.5".parse().expect("d")));
        assert_eq!(
            per_million(&json!(1.25e-7)),
            Some("0.125".parse().expect("d"))
        );
        assert_eq!(per_million(&json!(-1e-6)), None);
    }

    #[test]
    fn converts_tiers_and_leaves_out_other_modes() {
        let file = json!({
            "sample_spec": {"mode": "chat"},
            "Gemini-2.5-Pro": {"mode": "chat", "input_cost_per_token": 1.25e-6, "output_cost_per_token": 1e-5,
                "cache_read_input_token_cost": 1.25e-7, "input_cost_per_token_above_200k_tokens": 2.5e-6,
                "output_cost_per_token_above_200k_tokens": 1.5e-5, "input_cost_per_token_priority": 2.25e-6,
                "input_cost_per_token_above_200k_tokens_priority": 4.5e-6, "input_cost_per_audio_token": 1e-6},
            "text-embedding-3-small": {"mode": "embedding", "input_cost_per_token": 2e-8},
            "per-second": {"mode": "chat", "input_cost_per_second": 0.01}
        });
        let out = convert(&file, date(), "test", Origin::Default).expect("converts");
        assert_eq!(out.entries.len(), 1);
        let e = &out.entries[0];
        assert_eq!(e.model, "gemini-2.5-pro");
        assert_eq!(
            (e.input.to_string(), e.output.to_string()),
            ("1.25".into(), "10".into())
        );
        assert_eq!(e.tiers.len(), 3);
        assert_eq!(out.skipped.len(), 2);
    }

    #[test]
    fn an_import_keeps_user_prices_and_reports_changes() {
        let file = json!({
            "a": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
            "b": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
            "c": {"input_cost_per_token": 3e-6, "output_cost_per_token": 2e-6},
            "d": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
        });
        let old = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
        let stored = convert(
            &json!({
                "b": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
                "c": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
                "d": {"input_cost_per_token": 9e-6, "output_cost_per_token": 9e-6}
            }),
            old,
            "old",
            Origin::Default,
        )
        .expect("converts")
        .entries;
        let mut stored = stored;
        stored[2].origin = Origin::User;
        let incoming = convert(&file, date(), "new", Origin::Import)
            .expect("converts")
            .entries;
        let plan = plan_import(&stored, incoming);
        assert_eq!(plan.added, vec!["a".to_string()]);
        assert_eq!(plan.unchanged, 1);
        assert_eq!(plan.changed.len(), 1);
        assert_eq!(plan.changed[0].0, "c");
        assert_eq!(plan.kept_user_prices, vec!["d".to_string()]);
        assert_eq!(
            plan.writes
                .iter()
                .map(|e| e.model.as_str())
                .collect::<Vec<_>>(),
            vec!["a", "c"]
        );
    }
}
