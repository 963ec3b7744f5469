//! Session history and details: `GET /api/sessions`, `GET /api/sessions/{id}` and the
//! sessions page with its modal, against a hand-computed fixture.

use crate::browser::Browser;
use crate::common::TestApp;
use crate::http_test;
use omniops_testkit::Engine;
use serde_json::json;

async fn fixture(app: &TestApp) {
    let events = json!([
        {"type": "conversation", "conversation_id": "c1", "domain": "shop.example", "timestamp": "2026-11-26T11:59:00Z"},
        {"type": "message", "conversation_id": "c1", "role": "user", "content": "Do you have pumps?", "timestamp": "2026-11-26T11:59:30Z"},
        {"type": "session.start", "session_id": "d1", "model": "gpt-4o", "domain": "shop.example", "conversation_id": "c1", "timestamp": "2026-11-26T12:00:00Z"},
        {"type": "search", "session_id": "d1", "query": "pumps", "results": 3, "timestamp": "2026-11-26T12:00:01Z"},
        {"type": "log", "session_id": "d1", "level": "info", "message": "found 3 pumps", "timestamp": "2026-11-26T12:00:02Z"},
        {"type": "usage", "session_id": "d1", "usage": {"prompt_tokens": 2000, "completion_tokens": 100,
            "prompt_tokens_details": {"cached_tokens": 1500}}, "timestamp": "2026-11-26T12:00:03Z"},
        {"type": "session.end", "session_id": "d1", "success": true, "timestamp": "2026-11-26T12:00:04Z"},
        {"type": "session", "session_id": "f1", "model": "gpt-4", "domain": "parts.example",
         "start_time": "2026-11-26T11:00:00Z", "duration_ms": 900, "success": false, "error": "timeout",
         "input_tokens": 1000, "output_tokens": 500},
        {"type": "session.start", "session_id": "l1", "model": "gpt-4", "domain": "shop.example", "timestamp": "2026-11-26T12:29:00Z"},
        {"type": "usage", "session_id": "l1", "input_tokens": 2000, "output_tokens": 0, "timestamp": "2026-11-26T12:29:30Z"}
    ]);
    let (status, answer) = app.ingest(events).await;
    assert_eq!(
        (status, answer["rejected"].clone()),
        (200, json!([])),
        "{answer}"
    );
}

async fn history_and_details_match_the_fixture(app: &TestApp) {
    fixture(app).await;
    let (status, r) = app.get_json("/api/sessions?days=1", None).await;
    assert_eq!(status, 200, "{r}");
    let ids: Vec<&str> = r["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["sessionId"].as_str())
        .collect();
    assert_eq!(ids, ["d1", "f1"]);
    assert_eq!(
        r["pagination"],
        json!({"page": 1, "limit": 20, "total": 2, "totalPages": 1})
    );
    let (_, r) = app
        .get_json("/api/sessions?days=1&status=failed", None)
        .await;
    assert_eq!(
        (
            r["sessions"][0]["sessionId"].clone(),
            r["pagination"]["total"].clone()
        ),
        (json!("f1"), json!(1))
    );
    assert_eq!(r["sessions"][0]["costUsd"], "0.060000");
    let (_, r) = app
        .get_json("/api/sessions?days=1&model=gpt-4o&status=success", None)
        .await;
    assert_eq!(r["pagination"]["total"], 1);
    let (status, body) = app.get_json("/api/sessions?status=maybe", None).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("status")));

    // gpt-4o: 500 uncached × $2.50 + 1,500 cached × $1.25 + 100 × $10 per million = $0.004125.
    let (status, d) = app.get_json("/api/sessions/d1", None).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        (
            d["costUsd"].clone(),
            d["durationMs"].clone(),
            d["totalResults"].clone()
        ),
        (json!("0.004125"), json!(4000), json!(3))
    );
    assert_eq!(
        d["costBreakdown"],
        json!([
            {"type": "input", "aboveInputTokens": null, "serviceTier": "default", "tokens": 500, "usdPerMillion": "2.5", "cost": "0.00125000"},
            {"type": "cached input", "aboveInputTokens": null, "serviceTier": "default", "tokens": 1500, "usdPerMillion": "1.25", "cost": "0.00187500"},
            {"type": "cache write", "aboveInputTokens": null, "serviceTier": "default", "tokens": 0, "usdPerMillion": "2.5", "cost": "0.00000000"},
            {"type": "cache write (1 h)", "aboveInputTokens": null, "serviceTier": "default", "tokens": 0, "usdPerMillion": "2.5", "cost": "0.00000000"},
            {"type": "output", "aboveInputTokens": null, "serviceTier": "default", "tokens": 100, "usdPerMillion": "10", "cost": "0.00100000"},
            {"type": "reasoning", "aboveInputTokens": null, "serviceTier": "default", "tokens": 0, "usdPerMillion": "10", "cost": "0.00000000"}
        ])
    );
    assert_eq!(
        d["tokens"],
        json!({"input": 2000, "cachedInput": 1500, "cacheWrite": 0, "output": 100, "reasoning": 0})
    );
    assert_eq!(d["conversation"][0]["content"], "Do you have pumps?");
    assert_eq!(d["searches"][0]["query"], "pumps");
    assert_eq!(app.get_json("/api/sessions/nope", None).await.0, 404);
}
http_test!(session_history, history_and_details_match_the_fixture);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sessions_page_lists_filters_and_opens_details() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Engine::Sqlite).await.expect("sqlite");
    fixture(&app).await;
    let b = &browser;
    b.goto(&app.url("/dashboard/sessions?days=1")).await;
    assert_eq!(b.text("[data-testid=live-count]").await, "1");
    // l1: 2,000 gpt-4 input tokens × $30 per million = $0.06 so far.
    assert_eq!(
        b.text("[data-testid=live-sessions] tr[data-session=l1] td:last-child")
            .await,
        "$0.0600"
    );
    assert_eq!(
        b.texts("[data-testid=session-history] tbody tr td:nth-child(2)")
            .await,
        ["d1", "f1"]
    );
    assert!(b
        .text("[data-testid=session-page]")
        .await
        .ends_with("2 sessions"));

    b.click("[data-open-session=d1]").await;
    b.wait_until("document.getElementById('session-modal').open")
        .await;
    assert_eq!(b.text("[data-testid=detail-cost]").await, "$0.004125");
    assert_eq!(
        b.text("[data-testid=cost-breakdown] tr[data-type='cached input'] td:last-child")
            .await,
        "$0.00187500"
    );
    assert_eq!(
        b.text("[data-testid=cost-breakdown] tr[data-type='input'] td:nth-child(4)")
            .await,
        "$2.5"
    );
    assert!(b
        .text("[data-testid=detail-conversation]")
        .await
        .contains("Do you have pumps?"));
    assert!(b
        .text("[data-testid=detail-logs]")
        .await
        .contains("found 3 pumps"));
    assert_eq!(
        b.text("[data-testid=detail-search-list] tbody td:last-child")
            .await,
        "3"
    );
    b.click("#session-modal button[aria-label=Close]").await;
    b.wait_until("!document.getElementById('session-modal').open")
        .await;

    // Only failed sessions.
    b.client
        .execute("const s = document.querySelector('select[name=status]'); s.value = 'failed'; s.form.submit();", vec![])
        .await
        .expect("filter");
    b.wait_until("location.search.includes('status=failed')")
        .await;
    assert_eq!(
        b.texts("[data-testid=session-history] tbody tr td:nth-child(2)")
            .await,
        ["f1"]
    );
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "{errors:?}");
    browser.close().await;
}
