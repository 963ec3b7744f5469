//! `serve --demo`: fills an empty database with 30 days of realistic history — several
//! domains, models (one without a price), five languages, searches that find nothing,
//! catalogue, pages, carts and orders — then keeps live sessions coming so the dashboard
//! moves. Events go through the same parser and store as ingested ones.

use crate::state::AppState;
use omniops_core::clock::{to_rfc3339, Micros, MICROS_PER_DAY, MICROS_PER_HOUR};
use omniops_core::events::{parse, Event};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const DOMAINS: [&str; 4] = [
    "hardware-store.example",
    "garden-center.example",
    "autoparts.example",
    "bikeshop.example",
];
/// The last one has no price, so the dashboard shows how unpriced usage looks.
const MODELS: [&str; 5] = [
    "gpt-4o-mini",
    "gpt-4o",
    "claude-sonnet-4-5",
    "gpt-5-mini",
    "acme-chat-2",
];
const PRODUCTS: [&str; 10] = [
    "hydraulic pumps",
    "torque wrench",
    "oil filters",
    "garden hose",
    "brake pads",
    "cordless drill",
    "air compressor",
    "ball bearings",
    "chain lube",
    "hedge trimmer",
];
const IN_CATALOGUE: [&str; 4] = ["torque wrench", "garden hose", "brake pads", "chain lube"];
const QUESTIONS: [&str; 11] = [
    "Do you have {}?",
    "I'm looking for {}.",
    "Where are the {}?",
    "Thanks, that works great!",
    "This is not working, the order is wrong",
    "Hola, necesito {} por favor",
    "Bonjour, avez-vous des {}? merci",
    "Hallo, ich brauche {} bitte, danke",
    "Can you show me {}?",
    "¿Tienen {}? Gracias",
    "ありがとうございます、とても助かりました",
];

/// Sessions per day of history.
const SESSIONS_PER_DAY: i64 = 160;

pub async fn run(state: AppState, stop: CancellationToken) {
    let now = state.now();
    match state.store.known_domains(now - 400 * MICROS_PER_DAY).await {
        Ok(domains) if domains.is_empty() => {
            let started = std::time::Instant::now();
            match load_history(&state, now).await {
                Ok(sessions) => {
                    tracing::info!(sessions, elapsed = ?started.elapsed(), "demo history loaded")
                }
                Err(e) => tracing::error!(error = ?e, "loading demo history"),
            }
        }
        Ok(_) => tracing::info!("demo: the database has data already; adding live sessions only"),
        Err(e) => tracing::error!(error = ?e, "demo: reading domains"),
    }
    let mut rng = StdRng::from_entropy();
    let mut running: Vec<(String, Micros)> = Vec::new();
    let mut n = 0u64;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(2_500)) => {}
        }
        n += 1;
        let now = state.now();
        let mut events = Vec::new();
        let id = format!("demo-live-{}-{n}", now / 1_000_000);
        events.push(
            json!({"type": "session.start", "session_id": id, "model": MODELS[rng.gen_range(0..4)],
            "domain": DOMAINS[rng.gen_range(0..DOMAINS.len())]}),
        );
        running.push((id, now));
        for (id, _) in &running {
            events.push(
                json!({"type": "usage", "session_id": id, "input_tokens": rng.gen_range(300..3_000),
                "output_tokens": rng.gen_range(40..400)}),
            );
        }
        // Sessions end after 10–30 seconds.
        running.retain(|(id, started)| {
            let done = now - started > rng.gen_range(10..30) * 1_000_000;
            if done {
                events.push(
                    json!({"type": "session.end", "session_id": id, "success": rng.gen_bool(0.95)}),
                );
            }
            !done
        });
        if let Err(e) = apply(&state, &events, now).await {
            tracing::warn!(error = ?e, "demo: live sessions");
        }
    }
}

async fn apply(state: &AppState, events: &[Value], now: Micros) -> anyhow::Result<()> {
    let parsed: Vec<Event> = events
        .iter()
        .filter_map(|e| {
            parse(&e.to_string(), now)
                .map_err(|reason| tracing::warn!(%reason, "demo event"))
                .ok()
        })
        .collect();
    let outcome = state.store.apply_batch(&[parsed], now).await?;
    state.live.publish(&outcome.live);
    state.live.announce(&state.store, &outcome.live).await;
    Ok(())
}

/// Busier in the day (UTC 08–20) than at night.
fn hour_weight(hour: i64) -> f64 {
    if (8..20).contains(&hour) {
        1.6
    } else {
        0.4
    }
}

async fn load_history(state: &AppState, now: Micros) -> anyhow::Result<usize> {
    let mut rng = StdRng::seed_from_u64(2026);
    let start = omniops_core::clock::floor_hour(now) - 30 * MICROS_PER_DAY;
    let mut events: Vec<Value> = Vec::new();
    for (i, domain) in DOMAINS.iter().enumerate() {
        for product in IN_CATALOGUE {
            events.push(
                json!({"type": "extraction", "domain": domain, "extraction_type": "products",
                "data": {"name": product, "price": format!("{}.99", 10 + i * 7)}}),
            );
        }
        for page in 0..40 {
            events.push(json!({"type": "page", "domain": domain, "url": format!("https://{domain}/p/{page}"),
                "content_length": 2_000 + page * 37, "embeddings": if page % 7 == 0 { 0 } else { 3 }}));
        }
        events.push(json!({"type": "scrape_job", "domain": domain, "url": format!("https://{domain}/sitemap.xml"), "status": "done"}));
    }
    let mut sessions = 0usize;
    let hours = 30 * 24;
    for h in 0..hours {
        let hour_start = start + h * MICROS_PER_HOUR;
        if hour_start >= omniops_core::clock::floor_hour(now) {
            break;
        }
        let per_hour = (SESSIONS_PER_DAY as f64 / 24.0
            * hour_weight((h + start / MICROS_PER_HOUR) % 24))
        .round() as i64;
        // A little growth over the month, so trends point somewhere.
        let per_hour = per_hour + (h * per_hour / hours) / 3;
        for k in 0..per_hour {
            let at = hour_start + rng.gen_range(0..MICROS_PER_HOUR - 60_000_000);
            let domain = DOMAINS[(k as usize + rng.gen_range(0..3)) % DOMAINS.len()];
            let model = MODELS[if rng.gen_bool(0.05) {
                4
            } else {
                rng.gen_range(0..4)
            }];
            let conversation = format!("demo-c-{h}-{k}");
            let product = PRODUCTS[rng.gen_range(0..PRODUCTS.len())];
            let found_nothing = !IN_CATALOGUE.contains(&product) && rng.gen_bool(0.5);
            let input: i64 = rng.gen_range(400..5_000);
            events.push(
                json!({"type": "conversation", "conversation_id": conversation, "domain": domain,
                "timestamp": to_rfc3339(at)}),
            );
            let question = QUESTIONS[rng.gen_range(0..QUESTIONS.len())].replace("{}", product);
            events.push(
                json!({"type": "message", "conversation_id": conversation, "role": "user",
                "content": question, "timestamp": to_rfc3339(at)}),
            );
            events.push(json!({"type": "message", "conversation_id": conversation, "role": "assistant",
                "content": if found_nothing { "Sorry, I could not find that." } else { "Here is what I found." },
                "timestamp": to_rfc3339(at + rng.gen_range(800_000..6_000_000))}));
            if rng.gen_bool(0.3) {
                events.push(json!({"type": "message", "conversation_id": conversation, "role": "user",
                    "content": if rng.gen_bool(0.7) { "Thanks, perfect!" } else { "That is wrong, not helpful" },
                    "timestamp": to_rfc3339(at + 20_000_000)}));
            }
            events.push(json!({"type": "session", "session_id": format!("demo-s-{h}-{k}"), "model": model,
                "domain": domain, "conversation_id": conversation, "start_time": to_rfc3339(at),
                "duration_ms": rng.gen_range(700..7_000), "success": rng.gen_bool(0.96),
                "iterations": rng.gen_range(1..4), "input_tokens": input,
                "cached_input_tokens": if rng.gen_bool(0.3) { input / 2 } else { 0 },
                "output_tokens": rng.gen_range(60..700),
                "searches": [{"query": product, "results": if found_nothing { 0 } else { rng.gen_range(1..12) }}]}));
            if rng.gen_bool(0.04) {
                events.push(json!({"type": "order", "domain": domain, "order_id": format!("demo-o-{h}-{k}"),
                    "total": format!("{}.{:02}", rng.gen_range(20..400), rng.gen_range(0..100)), "currency": "USD",
                    "timestamp": to_rfc3339(at + 60_000_000)}));
            } else if rng.gen_bool(0.03) {
                events.push(json!({"type": "cart.abandoned", "domain": domain, "cart_id": format!("demo-cart-{h}-{k}"),
                    "value": format!("{}.{:02}", rng.gen_range(15..250), rng.gen_range(0..100)), "currency": "USD",
                    "timestamp": to_rfc3339(at + 60_000_000)}));
            }
            sessions += 1;
        }
        if events.len() > 5_000 {
            apply(state, &events, now).await?;
            events.clear();
        }
    }
    apply(state, &events, now).await?;
    Ok(sessions)
}
