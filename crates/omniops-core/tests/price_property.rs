//! Prices random model calls two ways and demands the same nano-dollars: through our price
//! table (the generated `data/model-prices.json`, found by name), and by an independent
//! reading of LiteLLM's own file (`data/litellm/…`), written here from the documented
//! rules and sharing no code with the pricing module.

use omniops_core::pricing::{default_prices, PriceTable};
use omniops_core::usage::{CallUsage, ProviderUsage, ServiceTier, TokenUsage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use regex::Regex;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

const CALLS: usize = 120_000;

/// (kind, context size in tokens or 0, service suffix) → USD per million.
type Rates = HashMap<(&'static str, i64, &'static str), Decimal>;

struct Reference {
    names: Vec<String>,
    rates: HashMap<String, Rates>,
}

fn kind_of(prefix: &str) -> &'static str {
    match prefix {
        "input_cost_per_token" => "input",
        "output_cost_per_token" => "output",
        "cache_read_input_token_cost" | "input_cost_per_token_cache_hit" => "cache_read",
        "cache_creation_input_token_cost" => "cache_write",
        "cache_creation_input_token_cost_above_1hr" => "cache_write_1h",
        "output_cost_per_reasoning_token" => "reasoning",
        other => panic!("unexpected {other}"),
    }
}

fn service_of(suffix: Option<&str>) -> &'static str {
    match suffix {
        None => "",
        Some("flex") => "flex",
        Some("priority") => "priority",
        Some("batches") => "batch",
        Some(other) => panic!("unexpected {other}"),
    }
}

/// The file's per-token number as USD per million: its shortest decimal text × 10⁶,
/// rounded half away from zero to 6 places when float noise leaves more than 9.
fn per_million(v: &Value) -> Decimal {
    let text = v.to_string();
    let per_token = Decimal::from_scientific(&text)
        .or_else(|_| text.parse::<Decimal>())
        .unwrap_or_else(|_| panic!("rate {text}"));
    let rate = (per_token * Decimal::from(1_000_000)).normalize();
    if rate.scale() > 9 {
        rate.round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero)
            .normalize()
    } else {
        rate
    }
}

fn reference() -> Reference {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/litellm/model_prices_and_context_window_backup.json"
    ))
    .expect("LiteLLM's file");
    let file: Value = serde_json::from_str(&text).expect("json");
    let key = Regex::new(
        "^(cache_creation_input_token_cost_above_1hr|cache_creation_input_token_cost|cache_read_input_token_cost|output_cost_per_reasoning_token|input_cost_per_token_cache_hit|input_cost_per_token|output_cost_per_token)(?:_above_([0-9]+)k_tokens)?(?:_(flex|priority|batches))?$",
    )
    .expect("regex");
    let mut reference = Reference {
        names: Vec::new(),
        rates: HashMap::new(),
    };
    for (name, spec) in file.as_object().expect("object") {
        let mode = spec.get("mode").and_then(Value::as_str);
        if name == "sample_spec"
            || !matches!(mode, None | Some("chat" | "responses" | "completion"))
        {
            continue;
        }
        let mut rates = Rates::new();
        let mut cache_hits = Vec::new();
        for (k, v) in spec.as_object().expect("entry") {
            let Some(c) = key.captures(k) else { continue };
            let prefix = c.get(1).map_or("", |m| m.as_str());
            let above = c
                .get(2)
                .map_or(0, |m| m.as_str().parse::<i64>().expect("size") * 1_000);
            let slot = (
                kind_of(prefix),
                above,
                service_of(c.get(3).map(|m| m.as_str())),
            );
            if prefix == "input_cost_per_token_cache_hit" {
                cache_hits.push((slot, per_million(v)));
            } else {
                rates.insert(slot, per_million(v));
            }
        }
        for (slot, rate) in cache_hits {
            rates.entry(slot).or_insert(rate);
        }
        if rates.contains_key(&("input", 0, "")) && rates.contains_key(&("output", 0, "")) {
            reference.names.push(name.to_lowercase());
            reference.rates.insert(name.to_lowercase(), rates);
        }
    }
    reference.names.sort();
    reference
}

/// One call's cost by the documented rules, in nano-dollars.
fn expected_nanos(rates: &Rates, tokens: [i64; 6], total_input: i64, service: &'static str) -> i64 {
    // The highest context size the call's whole input (cache reads and writes included) exceeds.
    let sizes: BTreeSet<i64> = rates
        .keys()
        .map(|(_, a, _)| *a)
        .filter(|a| *a > 0)
        .collect();
    let above = sizes
        .iter()
        .copied()
        .filter(|a| total_input > *a)
        .max()
        .unwrap_or(0);
    let find = |kind: &'static str| {
        [(above, service), (0, service), (above, ""), (0, "")]
            .iter()
            .find_map(|(a, s)| rates.get(&(kind, *a, *s)).copied())
    };
    let rate = |kind: &'static str| -> Decimal {
        let chain: &[&'static str] = match kind {
            "cache_read" => &["cache_read", "input"],
            "cache_write" => &["cache_write", "input"],
            "cache_write_1h" => &["cache_write_1h", "cache_write", "input"],
            "reasoning" => &["reasoning", "output"],
            k => {
                if k == "input" {
                    &["input"]
                } else {
                    &["output"]
                }
            }
        };
        chain
            .iter()
            .find_map(|k| find(k))
            .expect("input and output are always priced")
    };
    let kinds = [
        "input",
        "cache_read",
        "cache_write",
        "cache_write_1h",
        "output",
        "reasoning",
    ];
    let usd: Decimal = kinds
        .iter()
        .zip(tokens)
        .map(|(k, n)| Decimal::from(n) * rate(k) / Decimal::from(1_000_000))
        .sum();
    (usd * Decimal::from(1_000_000_000))
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .try_into()
        .expect("fits")
}

/// A random call in one of the provider shapes, read through our usage parser: the
/// tokens by kind as the reference sees them, the whole input, and the call as parsed.
fn random_call(rng: &mut StdRng, sizes: &[i64]) -> ([i64; 6], i64, CallUsage) {
    // Inputs near the entry's context sizes, small and large.
    let input: i64 = match rng.gen_range(0..4) {
        0 if !sizes.is_empty() => {
            let s = sizes[rng.gen_range(0..sizes.len())];
            s + rng.gen_range(-2..=2)
        }
        1 => rng.gen_range(0..50),
        2 => rng.gen_range(0..2_000_000),
        _ => rng.gen_range(0..300_000),
    }
    .max(0);
    let cached = if rng.gen_bool(0.5) {
        rng.gen_range(0..=input)
    } else {
        0
    };
    let writes = if rng.gen_bool(0.4) {
        rng.gen_range(0..=input - cached)
    } else {
        0
    };
    let one_hour = if rng.gen_bool(0.5) {
        rng.gen_range(0..=writes)
    } else {
        0
    };
    let output: i64 = rng.gen_range(0..100_000);
    let reasoning = if rng.gen_bool(0.4) {
        rng.gen_range(0..=output)
    } else {
        0
    };
    let uncached = input - cached - writes;
    let shape = rng.gen_range(0..3);
    let usage: Value = match shape {
        // OpenAI Chat: prompt includes cached, completion includes reasoning; no cache writes.
        0 => json!({"prompt_tokens": input - writes, "completion_tokens": output,
                    "prompt_tokens_details": {"cached_tokens": cached},
                    "completion_tokens_details": {"reasoning_tokens": reasoning}}),
        // Anthropic: input excludes cache reads and writes; thinking is billed as output.
        1 => json!({"input_tokens": uncached, "cache_read_input_tokens": cached,
                    "cache_creation_input_tokens": writes, "output_tokens": output,
                    "cache_creation": {"ephemeral_5m_input_tokens": writes - one_hour,
                                        "ephemeral_1h_input_tokens": one_hour}}),
        // OpenAI Responses.
        _ => json!({"input_tokens": input - writes, "output_tokens": output,
                    "input_tokens_details": {"cached_tokens": cached},
                    "output_tokens_details": {"reasoning_tokens": reasoning}}),
    };
    let call = serde_json::from_value::<ProviderUsage>(usage)
        .expect("usage")
        .call()
        .expect("valid usage");
    // What the shape reports, by kind: uncached input, cache reads, 5-minute and 1-hour
    // writes, plain output, reasoning.
    let (tokens, whole_input) = if shape == 1 {
        (
            [uncached, cached, writes - one_hour, one_hour, output, 0],
            input,
        )
    } else {
        (
            [uncached, cached, 0, 0, output - reasoning, reasoning],
            input - writes,
        )
    };
    (tokens, whole_input, call)
}

#[test]
fn random_calls_cost_what_litellms_file_says() {
    let reference = reference();
    let table = PriceTable::new(default_prices());
    // Every catalogue entry we keep is in the table, and nothing else of the catalogue.
    let catalogue_in_table = table
        .entries()
        .filter(|e| {
            !e.source.contains("no longer in LiteLLM") && !e.source.contains("LiteLLM lists only")
        })
        .count();
    assert_eq!(catalogue_in_table, reference.names.len());
    let seed = std::env::var("OMNIOPS_PRICE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_130u64);
    let mut rng = StdRng::seed_from_u64(seed);
    let at = i64::MAX;
    let tiers = [
        (ServiceTier::Default, ""),
        (ServiceTier::Flex, "flex"),
        (ServiceTier::Priority, "priority"),
        (ServiceTier::Batch, "batch"),
    ];
    let (mut tiered, mut serviced) = (0, 0);
    for i in 0..CALLS {
        let name = &reference.names[rng.gen_range(0..reference.names.len())];
        let rates = &reference.rates[name];
        let sizes: Vec<i64> = rates.keys().map(|k| k.1).filter(|a| *a > 0).collect();
        let (tokens, total_input, mut call) = random_call(&mut rng, &sizes);
        let (tier, suffix) = tiers[rng.gen_range(0..4)];
        call.service_tier = tier;
        // The name as a client might send it: as listed, in capitals, or behind a gateway
        // prefix that no entry has.
        let sent = match i % 3 {
            0 => name.clone(),
            1 => name.to_uppercase(),
            _ if !reference
                .rates
                .contains_key(&format!("litellm_proxy/{name}")) =>
            {
                format!("litellm_proxy/{name}")
            }
            _ => name.clone(),
        };
        let entry = table
            .lookup(&sent, at)
            .unwrap_or_else(|| panic!("{sent} is priced"));
        assert_eq!(&entry.model, name, "{sent} found its own entry");
        let (ours, call_tier) = entry.price_call(&call);
        let expected = expected_nanos(rates, tokens, total_input, suffix);
        assert_eq!(ours, expected, "call {i}: {sent} {call:?}");
        tiered += usize::from(call_tier.above_input_tokens.is_some());
        serviced += usize::from(!suffix.is_empty() && rates.keys().any(|k| k.2 == suffix));
    }
    println!("priced {CALLS} random calls of {} catalogue entries (seed {seed}): {tiered} above a context size, {serviced} at a service tier the entry prices", reference.names.len());
    assert!(
        tiered > 1_000 && serviced > 1_000,
        "the random calls reach the tiers: {tiered}, {serviced}"
    );
}

#[test]
fn every_extra_model_is_priced() {
    let extras: Vec<omniops_core::pricing::PriceEntry> =
        serde_json::from_str(include_str!("../data/price-extras.json")).expect("extras");
    let table = PriceTable::new(default_prices());
    for extra in &extras {
        for name in std::iter::once(&extra.model).chain(&extra.aliases) {
            let entry = table
                .lookup(name, i64::MAX)
                .unwrap_or_else(|| panic!("{name} is priced"));
            assert!(entry.same_rates(extra), "{name} has the extras' rates");
        }
    }
    // The three names LiteLLM no longer lists (shared/spec/model-prices.md), with the
    // prefix a Gemini client sends.
    let usage = CallUsage {
        tokens: TokenUsage {
            input: 1_000_000,
            cached_input: 0,
            cache_write: 0,
            output: 1_000_000,
            reasoning: 0,
        },
        ..CallUsage::default()
    };
    for (name, nanos) in [
        ("claude-sonnet-4-20250514", 18_000_000_000),
        ("claude-4-sonnet-20250514", 18_000_000_000),
        ("claude-3-5-sonnet-20241022", 18_000_000_000),
        ("gemini-2.0-flash", 500_000_000),
        ("gemini/gemini-2.0-flash", 500_000_000),
    ] {
        assert_eq!(
            table.lookup(name, i64::MAX).map(|e| e.price_call(&usage).0),
            Some(nanos),
            "{name}"
        );
    }
}
