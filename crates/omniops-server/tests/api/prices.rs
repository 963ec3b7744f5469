//! Prices over HTTP: listing, unpriced models, and a change that recomputes history.

use crate::common::TestApp;
use crate::http_test;
use serde_json::json;

async fn price_edit_reprices_stored_sessions(app: &TestApp) {
    let events = json!([
        {"type": "session", "session_id": "x1", "model": "acme-llm-7b", "domain": "shop.example",
         "start_time": "2026-11-26T10:00:00Z", "duration_ms": 10, "success": true,
         "input_tokens": 700000, "output_tokens": 300000},
        {"type": "session", "session_id": "x2", "model": "gpt-4", "domain": "shop.example",
         "start_time": "2026-11-26T10:00:00Z", "duration_ms": 10, "success": true,
         "input_tokens": 1000, "output_tokens": 500}
    ]);
    assert_eq!(app.ingest(events).await.1["accepted"], 2);
    let (status, list) = app.get_json("/api/v1/prices", None).await;
    assert_eq!(status, 200);
    // The whole shipped catalogue, 100 a page.
    let shipped = omniops_core::pricing::default_prices().len();
    assert_eq!(list["prices"].as_array().map(Vec::len), Some(100));
    assert_eq!(list["pagination"]["total"], shipped);
    assert_eq!(list["unpriced"][0]["model"], "acme-llm-7b");
    assert_eq!(list["unpriced"][0]["sessions"], 1);
    let (_, list) = app
        .get_json("/api/v1/prices?q=GPT-4&limit=1000", None)
        .await;
    let gpt4 = list["prices"]
        .as_array()
        .expect("prices")
        .iter()
        .find(|p| p["model"] == "gpt-4")
        .cloned();
    assert_eq!(
        gpt4.map(|p| (p["input"].clone(), p["output"].clone())),
        Some((json!("30"), json!("60")))
    );

    let put = |body: serde_json::Value| {
        let request = app.client.put(app.url("/api/v1/prices")).json(&body);
        async move {
            let r = request.send().await.expect("PUT");
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.expect("json"),
            )
        }
    };
    let (status, body) = put(json!({"model": "acme-llm-7b", "input": "-1", "output": "2"})).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("input")));
    let (status, body) =
        put(json!({"model": "acme-llm-7b", "input": "1", "output": "2", "effectiveFrom": "soon"}))
            .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("effectiveFrom"))
    );
    let (status, _) = put(json!({"model": "acme-llm-7b", "input": "1"})).await;
    assert_eq!(status, 400);

    // $0.40 in, $1.20 out per 1M from 2026-11-01: 700,000 × 0.40 + 300,000 × 1.20 = $0.64.
    let (status, body) = put(
        json!({"model": "acme-llm-7b", "input": "0.40", "output": "1.20",
        "effectiveFrom": "2026-11-01", "source": "our contract"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The answer comes at once: the history is repriced in the background.
    assert_eq!(body["repricing"]["phase"], "sessions", "{body}");
    assert_eq!(body["repricing"]["sessionsTotal"], 1);
    let job = app.repriced(&body["repricing"]["id"]).await;
    assert_eq!(
        (job["sessionsChanged"].clone(), job["percent"].clone()),
        (json!(1), json!(100))
    );
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(r["overview"]["unpricedRequests"], 0);
    assert_eq!(r["cost"]["total"], "0.7000");
    assert_eq!(r["modelUsage"][0]["cost"], "0.6400");
    let (_, list) = app.get_json("/api/v1/prices", None).await;
    assert_eq!(list["unpriced"], json!([]));
    // New sessions use the new price at once.
    let live = json!([
        {"type": "session.start", "session_id": "y", "model": "acme-llm-7b", "domain": "shop.example"},
        {"type": "usage", "session_id": "y", "input_tokens": 1000000, "output_tokens": 0}
    ]);
    app.ingest(live).await;
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(r["live"]["currentCost"], "0.4000");
}
http_test!(price_edit, price_edit_reprices_stored_sessions);
