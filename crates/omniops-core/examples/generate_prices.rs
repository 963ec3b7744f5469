//! Writes `data/model-prices.json`, the shipped default prices, from a copy of LiteLLM's
//! price file and our extras (`data/price-extras.json`: models LiteLLM no longer lists).
//! Run by `scripts/update-prices`; see `omniops_core::pricing::litellm` for what is kept.
//!
//! cargo run -p omniops-core --example generate_prices -- LITELLM_JSON EXTRAS_JSON SOURCE OUTPUT

use omniops_core::pricing::litellm::convert;
use omniops_core::pricing::{PriceEntry, DEFAULT_EFFECTIVE_FROM};
use serde_json::Value;
use std::collections::HashSet;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [litellm, extras, source, output] = args.as_slice() else {
        return Err("usage: generate_prices LITELLM_JSON EXTRAS_JSON SOURCE OUTPUT".into());
    };
    let effective_from = chrono::NaiveDate::parse_from_str(DEFAULT_EFFECTIVE_FROM, "%Y-%m-%d")?;
    let catalogue: Value = serde_json::from_str(&std::fs::read_to_string(litellm)?)?;
    let converted = convert(
        &catalogue,
        effective_from,
        source,
        omniops_core::pricing::Origin::Default,
    )?;
    let mut entries = converted.entries;
    let names: HashSet<String> = entries.iter().map(|e| e.model.clone()).collect();
    let extras: Vec<PriceEntry> = serde_json::from_str(&std::fs::read_to_string(extras)?)?;
    let mut merged = 0;
    for extra in extras {
        extra.validate()?;
        if names.contains(&extra.model) {
            eprintln!(
                "extras: {} is in the catalogue now; the catalogue's entry is kept",
                extra.model
            );
            continue;
        }
        entries.push(extra);
        merged += 1;
    }
    entries.sort_by(|a, b| a.model.cmp(&b.model));
    let mut text = String::from("{\n");
    text.push_str(&format!(
        "  \"source\": {},\n",
        Value::from(source.as_str())
    ));
    text.push_str("  \"unit\": \"USD per 1,000,000 tokens\",\n");
    text.push_str("  \"generatedBy\": \"scripts/update-prices\",\n");
    text.push_str("  \"entries\": [\n");
    let lines: Vec<String> = entries.iter().map(compact).collect::<Result<_, _>>()?;
    text.push_str(&lines.join(",\n"));
    text.push_str("\n  ]\n}\n");
    std::fs::write(output, text)?;
    eprintln!(
        "{} entries ({} from the catalogue, {merged} extras); {} left out; {} rates rounded from float artefacts",
        entries.len(),
        entries.len() - merged,
        converted.skipped.len(),
        converted.rounded
    );
    Ok(())
}

/// One entry on one line, without empty fields.
fn compact(entry: &PriceEntry) -> Result<String, serde_json::Error> {
    let mut value = serde_json::to_value(entry)?;
    if let Value::Object(map) = &mut value {
        map.retain(|_, v| !(v.is_null() || v.as_array().is_some_and(Vec::is_empty)));
        if let Some(Value::Array(tiers)) = map.get_mut("tiers") {
            for tier in tiers {
                if let Value::Object(t) = tier {
                    t.retain(|_, v| !v.is_null());
                }
            }
        }
    }
    Ok(format!("    {}", serde_json::to_string(&value)?))
}
