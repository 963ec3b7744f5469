//! `GET /api/live`: committed changes of live sessions as Server-Sent Events, filtered by
//! domain, a first summary, and a budget alert that fires when a session ends over it.

use crate::common::TestApp;
use crate::http_test;
use serde_json::{json, Value};
use std::time::Duration;

/// Reads events from a live stream.
pub(crate) struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    pub(crate) async fn open(app: &TestApp, query: &str) -> Events {
        let response = app
            .client
            .get(app.url(&format!("/api/live{query}")))
            .send()
            .await
            .expect("live stream");
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Events {
            response,
            buffer: String::new(),
        }
    }

    /// The next event other than `skip`: (name, data).
    pub(crate) async fn next_except(&mut self, skip: &[&str]) -> (String, Value) {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if name.is_empty() || skip.contains(&name.as_str()) {
                    continue;
                }
                return (name, serde_json::from_str(&data).unwrap_or(Value::Null));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .expect("stream")
                .expect("stream open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

async fn live_stream_reports_sessions_and_alerts(app: &TestApp) {
    let mut all = Events::open(app, "").await;
    let mut parts = Events::open(app, "?domain=parts.example").await;
    let (name, summary) = all.next_except(&[]).await;
    assert_eq!(
        (name.as_str(), summary["activeSessions"].clone()),
        ("summary", json!(0))
    );
    // A daily budget of $0.05 for shop.example: the session below costs $0.06.
    let r = app
        .client
        .post(app.url("/api/monitoring/chat"))
        .json(&json!({"action": "set-alert", "domain": "shop.example", "alert_type": "daily", "threshold_usd": "0.05"}))
        .send()
        .await
        .expect("set alert");
    assert_eq!(r.status().as_u16(), 200);

    let ingest = |events: Value| async move { assert_eq!(app.ingest(events).await.0, 200) };
    ingest(json!([{"type": "session.start", "session_id": "l1", "model": "gpt-4", "domain": "shop.example"}])).await;
    let (name, data) = all.next_except(&["summary"]).await;
    assert_eq!(name, "session.started");
    assert_eq!(
        (data["sessionId"].clone(), data["cost"].clone()),
        (json!("l1"), json!("0.000000"))
    );
    ingest(
        json!([{"type": "usage", "session_id": "l1", "input_tokens": 1000, "output_tokens": 500}]),
    )
    .await;
    let (name, data) = all.next_except(&["summary"]).await;
    // gpt-4: 1,000 × $30 + 500 × $60 per million = $0.06.
    assert_eq!(
        (
            name.as_str(),
            data["inputTokens"].clone(),
            data["outputTokens"].clone(),
            data["cost"].clone()
        ),
        (
            "session.updated",
            json!(1000),
            json!(500),
            json!("0.060000")
        )
    );
    ingest(json!([{"type": "session.end", "session_id": "l1", "success": true},
                  {"type": "session.start", "session_id": "p1", "model": "gpt-4", "domain": "parts.example"}]))
    .await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (name, data) = all.next_except(&["summary"]).await;
        seen.push((name, data));
    }
    let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"session.ended") && names.contains(&"session.started"),
        "{names:?}"
    );
    let fired = seen
        .iter()
        .find(|(n, _)| n == "alert.fired")
        .map(|(_, d)| d.clone())
        .expect("alert.fired");
    assert_eq!(
        (
            fired["domain"].clone(),
            fired["alertType"].clone(),
            fired["currentSpend"].clone(),
            fired["triggered"].clone()
        ),
        (
            json!("shop.example"),
            json!("daily"),
            json!("0.0600"),
            json!(true)
        )
    );
    // The parts.example stream saw only its own session.
    let (name, data) = parts.next_except(&["summary"]).await;
    assert_eq!(
        (name.as_str(), data["sessionId"].clone()),
        ("session.started", json!("p1"))
    );
}
http_test!(live_stream, live_stream_reports_sessions_and_alerts);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_updates_from_the_live_stream() {
    use crate::browser::Browser;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(omniops_testkit::Engine::Sqlite)
        .await
        .expect("sqlite");
    let b = &browser;
    b.goto(&app.url("/dashboard/costs?days=1")).await;
    b.wait_until("document.getElementById('live-indicator').dataset.state === 'live'")
        .await;
    assert_eq!(b.text("#live-indicator .label").await, "Live");
    assert!(b
        .text("[data-testid=live-ticker]")
        .await
        .contains("0 live sessions"));
    // A session starts and uses tokens: the ticker shows it long before the 30 s refresh.
    let events = json!([{"type": "session.start", "session_id": "l1", "model": "gpt-4", "domain": "shop.example"},
                        {"type": "usage", "session_id": "l1", "input_tokens": 1000, "output_tokens": 500}]);
    assert_eq!(app.ingest(events).await.0, 200);
    b.wait_until("document.querySelector('[data-testid=live-ticker]').textContent.includes('1 live sessions')").await;
    assert_eq!(
        b.text("[data-testid=live-ticker] .stat-value").await,
        "$0.0600"
    );
    let end = json!([{"type": "session.end", "session_id": "l1", "success": true}]);
    assert_eq!(app.ingest(end).await.0, 200);
    b.wait_until("document.querySelector('[data-testid=live-ticker]').textContent.includes('0 live sessions')").await;
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "{errors:?}");
    browser.close().await;
}

/// The server goes away and comes back on the same address: the page says the live
/// connection dropped, then that it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_reconnects_and_says_so() {
    use crate::browser::Browser;
    use omniops_core::clock::ManualClock;
    use std::sync::Arc;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let db = omniops_testkit::TestDb::open(omniops_testkit::Engine::Sqlite)
        .await
        .expect("sqlite");
    let clock = Arc::new(ManualClock::at(crate::common::t(crate::common::NOW)));
    let start = |listener: tokio::net::TcpListener, store: omniops_store::Store| {
        crate::common::spawn_server(
            store,
            omniops_server::Settings::default(),
            listener,
            clock.clone(),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, server) = start(listener, db.store.clone());
    let b = &browser;
    b.goto(&format!("http://{addr}/dashboard/costs?days=1"))
        .await;
    b.wait_until("document.getElementById('live-indicator').dataset.state === 'live'")
        .await;

    let _ = stop.send(());
    server.await.expect("joined").expect("served");
    b.wait_until("document.getElementById('live-indicator').dataset.state === 'reconnecting'")
        .await;
    assert!(b
        .text("#toasts")
        .await
        .contains("Live updates lost; reconnecting"));
    // Meanwhile the live sections (the cost ticker) refresh every 10 s.
    assert_eq!(b.attr("#live-indicator", "data-fallback").await, "10");
    b.wait_until(
        "(window.liveRefreshes = 0, document.body.addEventListener('omniops:live',          function () { window.liveRefreshes++; }), true)",
    )
    .await;
    b.wait_within(
        "window.liveRefreshes > 0",
        std::time::Duration::from_secs(15),
    )
    .await;

    let store = omniops_store::Store::open(None, &db.data_dir)
        .await
        .expect("reopen");
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("rebind the same address");
    let (stop, server) = start(listener, store);
    b.wait_until("document.getElementById('live-indicator').dataset.state === 'live'")
        .await;
    assert!(b
        .text("#toasts")
        .await
        .contains("Live updates reconnected."));
    b.wait_until("!document.getElementById('live-indicator').hasAttribute('data-fallback')")
        .await;
    let errors = b.console_errors().await;
    assert!(
        errors
            .iter()
            // The stream, and the fallback refresh while the server was down, failed.
            .all(|e| e.contains("api/live")
                || e.contains("ERR_CONNECTION_REFUSED")
                || e.contains("htmx:sendError")
                || e.contains("htmx:afterRequest")),
        "{errors:?}"
    );
    browser.close().await;
    let _ = stop.send(());
    let _ = server.await;
}
