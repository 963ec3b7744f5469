use super::*;
use crate::clock::parse_rfc3339;
use crate::money::format_nanos;

fn now() -> Micros {
    parse_rfc3339("2026-11-26T12:00:00Z").expect("time")
}

fn table() -> PriceTable {
    PriceTable::new(default_prices())
}

fn tokens(
    input: i64,
    cached_input: i64,
    cache_write: i64,
    output: i64,
    reasoning: i64,
) -> CallUsage {
    CallUsage {
        tokens: TokenUsage {
            input,
            cached_input,
            cache_write,
            output,
            reasoning,
        },
        ..CallUsage::default()
    }
}

/// One call's cost in USD with 9 decimals, as `model` is sent.
fn cost(model: &str, usage: CallUsage) -> String {
    let table = table();
    let entry = table
        .lookup(model, now())
        .unwrap_or_else(|| panic!("{model} is priced"));
    format_nanos(i128::from(entry.price_call(&usage).0), 9)
}

fn d(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

#[test]
fn every_default_entry_is_valid_and_the_catalogue_is_whole() {
    let prices = default_prices();
    assert!(prices.len() > 3_400, "{} entries", prices.len());
    for p in &prices {
        p.validate().unwrap_or_else(|e| panic!("{}: {e}", p.model));
        assert_eq!(p.origin, Origin::Default);
        assert_eq!(p.model, p.model.to_lowercase());
    }
}

#[test]
fn the_spec_models_keep_their_prices() {
    // shared/spec/model-prices.md: input / cached / output per million.
    let t = table();
    for (model, input, cached, output) in [
        ("gpt-5-mini", "0.25", Some("0.025"), "2"),
        ("gpt-4-turbo", "10", None, "30"),
        ("gpt-4", "30", None, "60"),
        ("gpt-3.5-turbo", "0.5", None, "1.5"),
        ("gpt-4o", "2.5", Some("1.25"), "10"),
        ("gpt-4o-mini", "0.15", Some("0.075"), "0.6"),
        ("gpt-4.1", "2", Some("0.5"), "8"),
        ("claude-haiku-4-5", "1", Some("0.1"), "5"),
        ("gpt-3.5-turbo-1106", "1", None, "2"),
        ("gpt-3.5-turbo-16k", "3", None, "4"),
        ("gpt-4o-2024-05-13", "5", None, "15"),
    ] {
        let e = t.lookup(model, now()).unwrap_or_else(|| panic!("{model}"));
        assert_eq!(e.input, d(input), "{model} input");
        assert_eq!(e.cached_input, cached.map(d), "{model} cached");
        assert_eq!(e.output, d(output), "{model} output");
    }
}

#[test]
fn gpt4_thousand_in_five_hundred_out_costs_six_cents() {
    assert_eq!(cost("gpt-4", tokens(1_000, 0, 0, 500, 0)), "0.060000000");
}

#[test]
fn gpt5_mini_large_session_is_exact() {
    // 1,234,567 × 0.25 + 89,012 × 2.00 = 486,665.75 per million
    assert_eq!(
        cost("gpt-5-mini", tokens(1_234_567, 0, 0, 89_012, 0)),
        "0.486665750"
    );
}

#[test]
fn openai_cached_tokens_use_the_cached_price() {
    // 500 × 2.50 + 1,500 × 1.25 + 100 × 10.00 = 4,125 per 1M = $0.004125
    assert_eq!(
        cost("gpt-4o", tokens(2_000, 1_500, 0, 100, 0)),
        "0.004125000"
    );
}

#[test]
fn anthropic_cache_reads_and_writes_have_their_own_prices() {
    // 100 × 3.00 + 3,000 × 0.30 + 500 × 3.75 + 250 × 15.00 = 6,825 per 1M
    assert_eq!(
        cost("claude-sonnet-4-5", tokens(3_600, 3_000, 500, 250, 0)),
        "0.006825000"
    );
}

#[test]
fn anthropic_one_hour_cache_writes_cost_the_one_hour_rate() {
    // claude-sonnet-4-5: 5-minute writes 3.75, 1-hour writes 6.00 per million.
    // 100 × 3.00 + 400 × 3.75 + 600 × 6.00 + 10 × 15.00 = 5,550 per 1M
    let mut usage = tokens(1_100, 0, 1_000, 10, 0);
    usage.cache_write_1h = 600;
    assert_eq!(cost("claude-sonnet-4-5", usage), "0.005550000");
}

#[test]
fn missing_cache_and_reasoning_prices_fall_back() {
    // gpt-4 has no cached price: cached tokens cost the input price; reasoning the output price.
    assert_eq!(
        cost("gpt-4", tokens(1_000, 400, 0, 500, 200)),
        "0.060000000"
    );
}

#[test]
fn names_match_as_providers_send_them() {
    // Dated snapshots price as their own entry; capitals and gateway prefixes match.
    assert_eq!(
        cost("gpt-4o-2024-08-06", tokens(1_000_000, 0, 0, 1_000_000, 0)),
        "12.500000000"
    );
    assert_eq!(
        cost(
            "gpt-4o-mini-2024-07-18",
            tokens(1_000_000, 0, 0, 1_000_000, 0)
        ),
        "0.750000000"
    );
    assert_eq!(
        cost(
            "gpt-5-mini-2025-08-07",
            tokens(1_000_000, 0, 0, 1_000_000, 0)
        ),
        "2.250000000"
    );
    assert_eq!(
        cost("gpt-4-0613", tokens(1_000_000, 0, 0, 1_000_000, 0)),
        "90.000000000"
    );
    assert_eq!(
        cost("gpt-3.5-turbo-0125", tokens(1_000_000, 0, 0, 1_000_000, 0)),
        "2.000000000"
    );
    assert_eq!(
        cost("gpt-5", tokens(1_000_000, 0, 0, 1_000_000, 0)),
        "11.250000000"
    );
    assert_eq!(
        cost("o3-mini", tokens(1_000_000, 0, 0, 1_000_000, 0)),
        "5.500000000"
    );
    assert_eq!(cost("GPT-4", tokens(1_000, 0, 0, 500, 0)), "0.060000000");
    assert_eq!(
        cost("azure/gpt-4o", tokens(1_000_000, 0, 0, 1_000_000, 0)),
        "12.500000000"
    );
    // No entry has the whole name: the prefix goes, one at a time.
    assert_eq!(
        cost("openrouter/openai/gpt-4o", tokens(1_000_000, 0, 0, 0, 0)),
        "2.500000000"
    );
    assert_eq!(
        cost("OpenAI/gpt-4o-2024-05-13", tokens(1_000_000, 0, 0, 0, 0)),
        "5.000000000"
    );
    let t = table();
    assert_eq!(t.chain("azure/gpt-4o"), vec!["azure/gpt-4o".to_string()]);
    assert_eq!(
        t.chain("openrouter/openai/gpt-4o"),
        vec![
            "openrouter/openai/gpt-4o".to_string(),
            "openai/gpt-4o".to_string(),
            "gpt-4o".to_string()
        ]
    );
}

#[test]
fn never_matches_by_prefix_or_a_stripped_date() {
    let t = table();
    assert_eq!(
        t.lookup("gpt-4o-2024-05-13", now()).map(|e| e.input),
        Some(d("5"))
    );
    assert_eq!(
        t.lookup("gpt-3.5-turbo-16k", now()).map(|e| e.input),
        Some(d("3"))
    );
    assert!(t.lookup("gpt-4o-2099-01-01", now()).is_none());
    assert!(t.lookup("my-private-model", now()).is_none());
    // A bare name never falls back to a prefixed entry.
    assert!(t.lookup("gemini-2.0-flash-lite", now()).is_none());
    assert!(t.lookup("vertex_ai/gemini-2.0-flash-lite", now()).is_some());
}

#[test]
fn a_call_above_a_context_size_pays_that_tier_for_the_whole_call() {
    // gemini-2.5-pro: 1.25 / 10.00 per million, above 200k input tokens 2.50 / 15.00.
    // 250,000 × 2.50 + 1,000 × 15.00 = 640,000 per 1M = $0.64
    assert_eq!(
        cost("gemini-2.5-pro", tokens(250_000, 0, 0, 1_000, 0)),
        "0.640000000"
    );
    // 100,000 × 1.25 + 1,000 × 10.00 = 135,000 per 1M = $0.135; the two: $0.775
    assert_eq!(
        cost("gemini-2.5-pro", tokens(100_000, 0, 0, 1_000, 0)),
        "0.135000000"
    );
    // Exactly 200,000 is not above 200k.
    assert_eq!(
        cost("gemini-2.5-pro", tokens(200_000, 0, 0, 0, 0)),
        "0.250000000"
    );
    // Cache reads count towards the size and pay the tier's cache-read rate (0.25).
    // 1 × 2.50 + 200,000 × 0.25 = 50,002.5 per 1M
    assert_eq!(
        cost("gemini-2.5-pro", tokens(200_001, 200_000, 0, 0, 0)),
        "0.050002500"
    );
    let t = table();
    let e = t.lookup("gemini-2.5-pro", now()).expect("priced");
    let (_, tier) = e.price_call(&tokens(250_000, 0, 0, 0, 0));
    assert_eq!(tier.above_input_tokens, Some(200_000));
}

#[test]
fn a_service_tier_pays_its_own_rates_and_falls_back_to_the_default() {
    let mut flex = tokens(1_000_000, 0, 0, 1_000_000, 0);
    flex.service_tier = ServiceTier::Priority;
    // gpt-5 priority: 2.50 / 20.00
    assert_eq!(cost("gpt-5", flex), "22.500000000");
    flex.service_tier = ServiceTier::Flex;
    // gpt-5 flex: 0.625 / 5.00
    assert_eq!(cost("gpt-5", flex), "5.625000000");
    // gpt-4 has no flex rates: the default ones.
    assert_eq!(cost("gpt-4", flex), "90.000000000");
    // gemini-2.5-pro priority above 200k: 4.50 / 27.00 per million.
    let mut big = tokens(250_000, 0, 0, 1_000, 0);
    big.service_tier = ServiceTier::Priority;
    assert_eq!(cost("gemini-2.5-pro", big), "1.152000000");
}

#[test]
fn a_tier_without_a_rate_for_a_kind_uses_the_base_rate() {
    let entry = PriceEntry {
        model: "m".into(),
        aliases: vec![],
        pattern: None,
        input: d("1"),
        cached_input: Some(d("0.1")),
        cache_write: None,
        cache_write_1h: None,
        output: d("2"),
        reasoning: None,
        tiers: vec![Tier {
            above_input_tokens: Some(100),
            service_tier: ServiceTier::Default,
            rates: Rates {
                input: Some(d("3")),
                ..Rates::default()
            },
        }],
        effective_from: default_effective_from(),
        source: "test".into(),
        origin: Origin::User,
    };
    entry.validate().expect("valid");
    // 101 input of which 50 cached: 51 × 3 (tier) + 50 × 0.1 (base cached) + 10 × 2 (base output)
    let (nanos, tier) = entry.price_call(&tokens(101, 50, 0, 10, 0));
    assert_eq!(tier.above_input_tokens, Some(100));
    assert_eq!(format_nanos(i128::from(nanos), 9), "0.000178000");
}

#[test]
fn each_call_rounds_half_away_from_zero() {
    // At $0.0005 per million one token costs half a nano-dollar.
    let mut entry = default_prices()[0].clone();
    entry.input = d("0.0005");
    entry.output = d("0.0004");
    entry.cached_input = None;
    entry.tiers.clear();
    let nanos = |input, output| entry.price_call(&tokens(input, 0, 0, output, 0)).0;
    assert_eq!(nanos(1, 0), 1); // 0.5 → 1
    assert_eq!(nanos(3, 0), 2); // 1.5 → 2
    assert_eq!(nanos(0, 1), 0); // 0.4 → 0
    assert_eq!(nanos(1, 1), 1); // 0.9 → 1
}

#[test]
fn the_entry_in_force_at_session_start_applies_and_user_entries_win() {
    let mut entries = default_prices();
    let gpt4 = entries
        .iter()
        .find(|e| e.model == "gpt-4")
        .expect("gpt-4")
        .clone();
    let mut newer = gpt4.clone();
    newer.effective_from = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
    newer.input = Decimal::from(10);
    newer.origin = Origin::Import;
    entries.push(newer);
    let table = PriceTable::new(entries.clone());
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
    // A user's price in force wins over a later default or import.
    let mut mine = gpt4;
    mine.effective_from = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).expect("date");
    mine.input = Decimal::from(7);
    mine.origin = Origin::User;
    entries.push(mine);
    let table = PriceTable::new(entries);
    assert_eq!(
        table.lookup("GPT-4", after).map(|e| e.input),
        Some(Decimal::from(7))
    );
}

#[test]
fn patterns_are_anchored_case_blind_and_names_win() {
    let mut entries = default_prices();
    let mut custom = entries[0].clone();
    custom.model = "llama-family".into();
    custom.pattern = Some("llama-3\\.[0-9]+-.*".into());
    custom.input = Decimal::ONE;
    custom.origin = Origin::User;
    entries.push(custom);
    let table = PriceTable::new(entries);
    assert_eq!(
        table
            .lookup("Llama-3.1-70b", now())
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
fn rejects_bad_entries() {
    let base = default_prices()[0].clone();
    let mut e = base.clone();
    e.input = Decimal::NEGATIVE_ONE;
    assert_eq!(e.validate(), Err(PriceError::Price("input")));
    let mut e = base.clone();
    e.pattern = Some("(".into());
    assert!(matches!(e.validate(), Err(PriceError::Pattern(_))));
    let mut e = base.clone();
    e.model = " ".into();
    assert_eq!(e.validate(), Err(PriceError::Model));
    let mut e = base.clone();
    e.tiers = vec![Tier {
        above_input_tokens: None,
        service_tier: ServiceTier::Default,
        rates: Rates {
            input: Some(Decimal::ONE),
            ..Rates::default()
        },
    }];
    assert_eq!(e.validate(), Err(PriceError::Tiers));
    let mut e = base;
    e.tiers = vec![Tier {
        above_input_tokens: Some(10),
        service_tier: ServiceTier::Default,
        rates: Rates {
            output: Some(Decimal::NEGATIVE_ONE),
            ..Rates::default()
        },
    }];
    assert_eq!(e.validate(), Err(PriceError::Price("tiers.output")));
}

#[test]
fn the_lines_sum_to_the_call_before_rounding() {
    let table = table();
    let entry = table.lookup("gpt-4o", now()).expect("gpt-4o");
    let usage = tokens(2_000, 1_500, 0, 100, 0);
    let lines = entry.lines(&usage, entry.tier_of(&usage));
    assert_eq!((lines[0].tokens, lines[0].usd), (500, d("0.00125")));
    assert_eq!(lines[1].usd, d("0.001875"));
    assert_eq!(lines[4].usd, d("0.001"));
    let sum: Decimal = lines.iter().map(|l| l.usd).sum();
    assert_eq!(crate::money::usd_to_nanos(sum), entry.price_call(&usage).0);
}

#[test]
fn entries_read_back_what_they_write() {
    // Tiers carry nulls for the rates they leave out; they must read back.
    let table = table();
    let entry = table
        .lookup("gemini-2.5-pro", now())
        .expect("priced")
        .clone();
    assert!(!entry.tiers.is_empty());
    let text = serde_json::to_string(&entry).expect("json");
    let back: PriceEntry = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, entry);
    let tiers: Vec<Tier> =
        serde_json::from_str(&serde_json::to_string(&entry.tiers).expect("json")).expect("tiers");
    assert_eq!(tiers, entry.tiers);
}
