//! The bodies `omniops bench` sends: backfilled sessions (built as they are sent, since
//! there may be tens of millions), live sessions in groups (start, usage and end across
//! requests) and conversations with their messages.

use crate::bench::{BenchArgs, BACKFILL_PER_REQUEST, LIVE_GROUP};
use omniops_core::clock::{to_rfc3339, MICROS_PER_DAY};
use rand::{Rng, SeedableRng};
use serde_json::json;

const QUESTIONS: [&str; 8] = [
    "Do you have {} in stock?",
    "I'm looking for {}.",
    "Hola, necesito ayuda con {}",
    "Bonjour, merci de m'aider avec {}",
    "Hallo, ich brauche Hilfe mit {}",
    "Where are the {}?",
    "Thanks, that {} works!",
    "It does not work, the {} is broken",
];
const PRODUCTS: [&str; 25] = [
    "hydraulic pumps",
    "oil filters",
    "torque wrenches",
    "ball bearings",
    "drive belts",
    "air compressors",
    "generators",
    "drill bits",
    "gaskets",
    "hoses",
    "valves",
    "pressure gauges",
    "seals",
    "couplings",
    "impact drivers",
    "angle grinders",
    "spark plugs",
    "fuel pumps",
    "water pumps",
    "timing belts",
    "chainsaws",
    "hammers",
    "motors",
    "fittings",
    "clamps",
];

/// Chronological conversations of 10 messages (user and assistant in turn), 5,000 events
/// per request.
pub fn conversation_bodies(args: &BenchArgs, now: i64) -> Vec<Vec<u8>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let span = args.days * MICROS_PER_DAY;
    let step = span / args.conversations.max(1) as i64;
    let mut bodies = Vec::new();
    let mut events = Vec::with_capacity(BACKFILL_PER_REQUEST + 11);
    for i in 0..args.conversations {
        let begin = now - span + i as i64 * step;
        let id = format!("conv-{i}");
        events.push(
            json!({"type": "conversation", "conversation_id": id, "timestamp": to_rfc3339(begin),
                           "domain": format!("shop{}.example", rng.gen_range(0..args.domains))}),
        );
        // Every fifth conversation has a session that searched and found nothing.
        if i % 5 == 0 {
            let product = PRODUCTS[rng.gen_range(0..PRODUCTS.len())];
            events.push(json!({"type": "session", "session_id": format!("conv-session-{i}"), "conversation_id": id,
                "model": "gpt-4o-mini", "domain": "shop0.example", "start_time": to_rfc3339(begin + 1_000_000),
                "duration_ms": 1_500, "success": true, "input_tokens": 900, "output_tokens": 120,
                "searches": [{"query": product, "results": 0}]}));
        }
        for m in 0..10i64 {
            let at = to_rfc3339(begin + m * 20_000_000);
            let (role, content) = if m % 2 == 0 {
                let question = QUESTIONS[rng.gen_range(0..QUESTIONS.len())];
                (
                    "user",
                    question.replace("{}", PRODUCTS[rng.gen_range(0..PRODUCTS.len())]),
                )
            } else {
                ("assistant", "Here is what I found.".to_string())
            };
            events.push(json!({"type": "message", "conversation_id": id, "role": role, "content": content, "timestamp": at}));
        }
        if events.len() >= BACKFILL_PER_REQUEST {
            bodies.push(body(&mut events));
        }
    }
    if !events.is_empty() {
        bodies.push(body(&mut events));
    }
    bodies
}

/// Chronological backfill bodies, built one at a time: sessions spread evenly over the
/// last `days` days.
pub struct Backfill {
    rng: rand::rngs::StdRng,
    models: &'static [&'static str],
    domains: usize,
    sessions: usize,
    next: usize,
    start: i64,
    step: i64,
}

impl Backfill {
    pub fn new(args: &BenchArgs, now: i64) -> Backfill {
        let span = args.days * MICROS_PER_DAY;
        Backfill {
            rng: rand::rngs::StdRng::seed_from_u64(42),
            models: args.models(),
            domains: args.domains,
            sessions: args.sessions,
            next: 0,
            start: now - span,
            step: span / args.sessions.max(1) as i64,
        }
    }
}

impl Iterator for Backfill {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let rng = &mut self.rng;
        let end = (self.next + BACKFILL_PER_REQUEST).min(self.sessions);
        let mut events = Vec::with_capacity(end.saturating_sub(self.next));
        for i in self.next..end {
            let input: i64 = rng.gen_range(200..6_000);
            let cached = if rng.gen_bool(0.3) { input / 2 } else { 0 };
            events.push(json!({
                "type": "session",
                "session_id": format!("bench-{i}"),
                "model": self.models[rng.gen_range(0..self.models.len())],
                "domain": format!("shop{}.example", rng.gen_range(0..self.domains)),
                "start_time": to_rfc3339(self.start + i as i64 * self.step),
                "duration_ms": rng.gen_range(300..9_000),
                "success": rng.gen_bool(0.95),
                "iterations": rng.gen_range(1..4),
                "search_count": rng.gen_range(0..3),
                "input_tokens": input,
                "cached_input_tokens": cached,
                "output_tokens": rng.gen_range(50..900),
            }));
        }
        self.next = end;
        (!events.is_empty()).then(|| body(&mut events))
    }
}

fn body(events: &mut Vec<serde_json::Value>) -> Vec<u8> {
    let body = serde_json::to_vec(&json!({ "events": events })).unwrap_or_default();
    events.clear();
    body
}

/// Per client, requests where request k starts group k, adds usage to groups k-1 and k-2
/// and ends group k-3: every request touches sessions started by earlier requests.
pub fn live_streams(args: &BenchArgs) -> Vec<Vec<Vec<u8>>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let groups = args.live_sessions.div_ceil(LIVE_GROUP);
    let clients = args.concurrency.max(1);
    let mut streams = vec![Vec::new(); clients];
    for (client, stream) in streams.iter_mut().enumerate() {
        let own: Vec<usize> = (client..groups).step_by(clients).collect();
        for k in 0..own.len() + 3 {
            let mut events = Vec::new();
            for (phase, back) in [(0usize, 0usize), (1, 1), (2, 2), (3, 3)] {
                let Some(group) = k.checked_sub(back).and_then(|g| own.get(g)) else {
                    continue;
                };
                for n in group * LIVE_GROUP..((group + 1) * LIVE_GROUP).min(args.live_sessions) {
                    let id = format!("live-{n}");
                    events.push(match phase {
                        0 => json!({"type": "session.start", "session_id": id, "event_id": "start",
                                    "model": args.models()[n % args.models().len()], "domain": format!("shop{}.example", n % args.domains)}),
                        1 | 2 => json!({"type": "usage", "session_id": id, "event_id": format!("u{phase}"),
                                        "input_tokens": rng.gen_range(200..4_000), "output_tokens": rng.gen_range(20..600)}),
                        _ => json!({"type": "session.end", "session_id": id, "event_id": "end", "success": true}),
                    });
                }
            }
            if !events.is_empty() {
                stream.push(body(&mut events));
            }
        }
    }
    streams
}
