//! Hostile input is normal input: every poison request of issue 13 is planted, on both
//! engines, and afterwards another tenant's ingest and every read still work, and no sum has
//! wrapped. Each bound is the README's (Limits).

use crate::common::TestApp;
use crate::http_test;
use serde_json::{json, Value};

/// Every read a dashboard or client makes, for the window that holds the poison.
const READS: &[&str] = &[
    "/api/dashboard/telemetry?days=1",
    "/api/dashboard/telemetry?days=7",
    "/api/dashboard/telemetry?days=30",
    "/api/monitoring/chat?period=day",
    "/api/monitoring/chat?period=month&includeDetails=true",
    "/api/dashboard/analytics?days=7",
    "/api/dashboard/missing-products?days=7",
    "/api/dashboard/woocommerce?days=7",
    "/api/sessions?days=7",
    "/api/export/sessions?days=7&format=json",
    "/api/export/hourly?days=7&format=csv",
    "/dashboard/partials/stats?days=7",
    "/dashboard/partials/trend?days=7",
    "/dashboard/partials/models?days=7",
    "/dashboard/partials/domain-costs?days=7",
    "/dashboard/partials/cost-metrics?days=7",
];

async fn every_read_answers(app: &TestApp) {
    for path in READS {
        let response = app.client.get(app.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "{path}: {text}");
        assert!(
            !text.contains("section-error") && !text.contains("could not be loaded"),
            "{path}: {text}"
        );
    }
}

fn session(id: &str, domain: &str, start: &str, fields: Value) -> Value {
    let mut event = json!({"type": "session", "session_id": id, "model": "gpt-4", "domain": domain,
        "start_time": start, "duration_ms": 1000, "input_tokens": 1000, "output_tokens": 0, "success": true});
    if let (Some(e), Some(f)) = (event.as_object_mut(), fields.as_object()) {
        for (k, v) in f {
            e.insert(k.clone(), v.clone());
        }
    }
    event
}

/// The rejection of a one-event request: (error, field).
async fn rejected(app: &TestApp, event: Value) -> (String, String) {
    let (status, body) = app.ingest(json!([event])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 0, "{body}");
    let r = &body["rejected"][0];
    (
        r["error"].as_str().unwrap_or_default().to_string(),
        r["field"].as_str().unwrap_or_default().to_string(),
    )
}

async fn poison_numbers_are_refused_and_harm_nobody(app: &TestApp) {
    // The issue's bomb: i64::MAX input tokens, tomorrow.
    let (error, field) = rejected(
        app,
        session(
            "bomb",
            "x.example",
            "2026-11-27T00:30:00Z",
            json!({"input_tokens": 9_223_372_036_854_775_807_i64}),
        ),
    )
    .await;
    assert_eq!(field, "input_tokens", "{error}");
    assert_eq!(error, "input_tokens must be at most 10000000000");
    // More than 2^64, which no JSON library of the client's may even hold: named too.
    let raw = r#"{"events":[{"type":"session","session_id":"big","model":"gpt-4","domain":"x.example","start_time":"2026-11-26T10:00:00Z","duration_ms":1,"input_tokens":1,"output_tokens":99999999999999999999999,"success":true}]}"#;
    let response = app
        .client
        .post(app.url("/api/v1/ingest"))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .expect("POST");
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        (
            body["accepted"].clone(),
            body["rejected"][0]["field"].clone()
        ),
        (json!(0), json!("output_tokens")),
        "{body}"
    );
    let (_, field) = rejected(
        app,
        session(
            "dur",
            "x.example",
            "2026-11-26T10:00:00Z",
            json!({"duration_ms": 4_611_686_018_427_387_904_i64}),
        ),
    )
    .await;
    assert_eq!(field, "duration_ms");
    let (_, field) = rejected(
        app,
        session(
            "it",
            "x.example",
            "2026-11-26T10:00:00Z",
            json!({"iterations": 9_223_372_036_854_775_807_i64}),
        ),
    )
    .await;
    assert_eq!(field, "iterations");
    let (_, field) = rejected(
        app,
        session("fut", "x.example", "2027-06-01T00:00:00Z", json!({})),
    )
    .await;
    assert_eq!(field, "start_time");
    let (_, field) = rejected(app, session("res", "x.example", "2026-11-26T10:00:00Z",
        json!({"searches": [{"query": "a", "results": 9_223_372_036_854_775_807_i64}, {"query": "b", "results": 9_223_372_036_854_775_807_i64}]}))).await;
    assert_eq!(field, "searches[0].results");
    // Live events are bounded the same way.
    app.ingest(json!([{"type": "session.start", "session_id": "live", "model": "gpt-4", "domain": "x.example"}])).await;
    let (_, field) = rejected(app, json!({"type": "usage", "session_id": "live", "input_tokens": 10_000_000_001_i64, "output_tokens": 0})).await;
    assert_eq!(field, "input_tokens");
    let (_, field) = rejected(app, json!({"type": "iteration", "session_id": "live", "iteration": 9_223_372_036_854_775_807_i64})).await;
    assert_eq!(field, "iteration");
    let (_, field) = rejected(app, json!({"type": "order", "domain": "x.example", "order_id": "o", "total": "1e30", "currency": "USD"})).await;
    assert_eq!(field, "total");

    // At the bounds nothing wraps: two sessions of 10,000,000,000 input tokens of gpt-4
    // ($30 per million) cost $300,000 each, $600,000 together.
    let max = json!({"input_tokens": 10_000_000_000_i64});
    let (status, body) = app
        .ingest(json!([
            session("m1", "x.example", "2026-11-26T10:00:00Z", max.clone()),
            session("m2", "x.example", "2026-11-26T10:00:00Z", max)
        ]))
        .await;
    assert_eq!(
        (status, body["accepted"].clone()),
        (200, json!(2)),
        "{body}"
    );
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(r["cost"]["total"], "600000.0000");
    assert_eq!(r["tokens"]["totalInput"], 20_000_000_000_i64);

    // A price at the largest rate, $10,000 per million, and sessions at the largest counts:
    // each costs $200,000,000, so 50 of them pass what a 64-bit sum of nano-dollars holds.
    // The rollup saturates instead of wrapping or failing, and reads go on.
    let r = app.client.put(app.url("/api/v1/prices"))
        .json(&json!({"model": "pricey", "input": "10000", "output": "10000", "effectiveFrom": "2026-01-01"}))
        .send().await.expect("PUT");
    assert_eq!(r.status().as_u16(), 200);
    let pricey: Vec<Value> = (0..50)
        .map(|i| {
            let mut s = session(
                &format!("p{i}"),
                "x.example",
                "2026-11-26T11:00:00Z",
                json!({"input_tokens": 10_000_000_000_i64, "output_tokens": 10_000_000_000_i64}),
            );
            s["model"] = json!("pricey");
            s
        })
        .collect();
    let (status, body) = app.ingest(json!(pricey)).await;
    assert_eq!(
        (status, body["accepted"].clone()),
        (200, json!(50)),
        "{body}"
    );
    let (status, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(status, 200, "{r}");
    // $9,223,372,036.854775807 is the most a sum holds: shown as such, never less.
    assert_eq!(r["cost"]["total"], "9223372036.8548");

    // Another tenant's ingest and every read still work.
    let (status, body) = app
        .ingest(json!([session(
            "ok",
            "y.example",
            "2026-11-26T12:00:00Z",
            json!({})
        )]))
        .await;
    assert_eq!(
        (status, body["accepted"].clone()),
        (200, json!(1)),
        "{body}"
    );
    every_read_answers(app).await;
}
http_test!(poison_numbers, poison_numbers_are_refused_and_harm_nobody);

async fn poison_text_is_refused_per_event(app: &TestApp) {
    // A NUL character cannot be stored by PostgreSQL: the event is refused, naming its
    // field, and the other events of the request are stored.
    let events = json!([
        {"type": "session.start", "session_id": "n1", "model": "gpt-4\u{0000}", "domain": "x.example"},
        {"type": "session.start", "session_id": "n2", "model": "gpt-4", "domain": "x.example"},
        {"type": "conversation", "conversation_id": "c1", "domain": "x.example", "metadata": {"note": "a\u{0000}b"}},
        {"type": "message", "conversation_id": "c1", "role": "user", "content": "hi\u{0000}"}
    ]);
    let (status, body) = app.ingest(events).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1, "{body}");
    let fields: Vec<&str> = body["rejected"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["field"].as_str())
        .collect();
    assert_eq!(fields, vec!["model", "metadata.note", "content"]);
    // Several clients at once: the poison never fails a batch-mate.
    let mut tasks = Vec::new();
    for c in 0..4 {
        let client = app.client.clone();
        let url = app.url("/api/v1/ingest");
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0;
            for i in 0..20 {
                let event = if c == 0 {
                    json!({"type": "session.start", "session_id": format!("bad{i}"), "model": "m\u{0000}", "domain": "x.example"})
                } else {
                    json!({"type": "session.start", "session_id": format!("good{c}-{i}"), "model": "gpt-4", "domain": "y.example"})
                };
                let r = client.post(&url).json(&json!({"events": [event]})).send().await.expect("POST");
                assert_eq!(r.status().as_u16(), 200, "client {c}");
                let body: Value = r.json().await.expect("json");
                accepted += body["accepted"].as_u64().unwrap_or(0);
            }
            accepted
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("client");
    }
    assert_eq!(total, 60, "every innocent event stored, no poisoned one");
    // Query parameters and paths with control characters get a JSON 4xx, never a 500.
    for (path, field) in [
        ("/api/dashboard/telemetry?domain=%00", Some("domain")),
        ("/api/sessions?model=%00", Some("model")),
        ("/api/sessions/%00", None),
        ("/api/sessions/%FF", None),
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{path}: JSON error: {e}"));
        assert!((400..500).contains(&status), "{path}: {status} {body}");
        if let Some(field) = field {
            assert_eq!(body["field"], field, "{path}");
        }
    }
    every_read_answers(app).await;
}
http_test!(poison_text, poison_text_is_refused_per_event);
