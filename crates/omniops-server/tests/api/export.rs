//! `GET /api/export/{dataset}`: CSV and JSON of the same rows, sessions streamed in keyset
//! pages, the filters applied, bad input refused — and the pages' export links.

use crate::browser::Browser;
use crate::common::TestApp;
use crate::http_test;
use omniops_testkit::Engine;
use serde_json::{json, Value};

async fn get_text(app: &TestApp, path: &str) -> (u16, String, String) {
    let r = app.client.get(app.url(path)).send().await.expect("GET");
    let status = r.status().as_u16();
    let disposition = r
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, disposition, r.text().await.expect("body"))
}

async fn exports_stream_every_row(app: &TestApp) {
    // 2,500 sessions (three keyset pages), one every 30 s before 12:30; every 5th failed.
    let events: Vec<Value> = (0..2_500)
        .map(|i| {
            let start = omniops_core::clock::to_rfc3339(crate::common::t("2026-11-26T12:29:00Z") - i * 30_000_000);
            json!({"type": "session", "session_id": format!("e{i:04}"), "model": "gpt-4", "domain": "shop.example",
                   "start_time": start, "duration_ms": 100, "success": i % 5 != 0,
                   "input_tokens": 1000, "output_tokens": 500})
        })
        .collect();
    assert_eq!(app.ingest(json!(events)).await.0, 200);

    let (status, disposition, csv) = get_text(app, "/api/export/sessions?days=1").await;
    assert_eq!(status, 200);
    assert_eq!(disposition, "attachment; filename=\"omniops-sessions.csv\"");
    let lines: Vec<&str> = csv.lines().collect();
    // 2,500 × 30 s = 20.8 h: all within the last day. A header and one line each.
    assert_eq!(lines.len(), 2_501);
    assert_eq!(
        lines[0],
        "costUsd,domain,durationMs,endTime,error,inputTokens,iterations,model,outputTokens,searchCount,sessionId,startTime,success"
    );
    assert!(
        lines[1].starts_with("0.060000,shop.example,100,"),
        "{}",
        lines[1]
    );
    let ids: std::collections::HashSet<&str> = lines[1..]
        .iter()
        .filter_map(|l| l.split(',').nth(10))
        .collect();
    assert_eq!(ids.len(), 2_500, "no session twice, none lost");

    let (_, _, json_text) =
        get_text(app, "/api/export/sessions?days=1&format=json&status=failed").await;
    let failed: Value = serde_json::from_str(&json_text).expect("json");
    assert_eq!(failed.as_array().map(Vec::len), Some(500));
    assert_eq!(failed[0]["sessionId"], "e0000", "newest first");
    assert_eq!(failed[0]["success"], false);

    let (_, _, models) = get_text(app, "/api/export/models?days=1").await;
    // 2,500 × $0.06 = $150.0000.
    assert_eq!(models, "costUsd,model,percentage,requests,tokens,unpriced\r\n150.0000,gpt-4,100.0,2500,3750000,false\r\n");
    // Conversations: newest first, with their first user message.
    let conversations = json!([
        {"type": "conversation", "conversation_id": "ca", "domain": "shop.example", "timestamp": "2026-11-26T09:00:00Z"},
        {"type": "message", "conversation_id": "ca", "role": "user", "content": "Do you have pumps?", "timestamp": "2026-11-26T09:00:01Z"},
        {"type": "conversation", "conversation_id": "cb", "domain": "parts.example", "timestamp": "2026-11-26T10:00:00Z"}
    ]);
    assert_eq!(app.ingest(conversations).await.0, 200);
    let (_, _, text) = get_text(app, "/api/export/conversations?days=1&format=json").await;
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json"),
        json!([
            {"id": "cb", "firstMessage": "", "timestamp": "2026-11-26T10:00:00Z"},
            {"id": "ca", "firstMessage": "Do you have pumps?", "timestamp": "2026-11-26T09:00:00Z"}
        ])
    );
    let (status, _, body) = get_text(app, "/api/export/sessions?status=maybe").await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).expect("json")["field"].clone()
        ),
        (400, json!("status"))
    );
    assert_eq!(get_text(app, "/api/export/nope").await.0, 404);
    let (status, _, body) = get_text(app, "/api/export/models?format=xml").await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["field"],
        "format"
    );
}
http_test!(export_stream, exports_stream_every_row);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_export_link_downloads_its_rows() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Engine::Sqlite).await.expect("sqlite");
    let events = json!([
        {"type": "session", "session_id": "s1", "model": "gpt-4", "domain": "shop.example",
         "start_time": "2026-11-26T10:00:00Z", "duration_ms": 10, "success": true, "input_tokens": 1000, "output_tokens": 500},
        {"type": "session", "session_id": "s2", "model": "gpt-4", "domain": "parts.example",
         "start_time": "2026-11-26T11:00:00Z", "duration_ms": 10, "success": true, "input_tokens": 2000, "output_tokens": 1000}
    ]);
    assert_eq!(app.ingest(events).await.0, 200);
    let b = &browser;
    b.goto(&app.url("/dashboard/costs?days=1&domain=shop.example"))
        .await;
    let href = b.attr("[data-export='domains.csv']", "href").await;
    assert!(
        href.contains("domain=shop.example") && href.contains("format=csv"),
        "{href}"
    );
    // Fetch the link as the browser would download it (with its cookies, if any).
    let text = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1]; fetch(arguments[0]).then(r => r.text()).then(done);",
            vec![json!(href)],
        )
        .await
        .expect("download");
    assert_eq!(
        text,
        json!("costUsd,domain,requests\r\n0.0600,shop.example,1\r\n")
    );
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "{errors:?}");
    browser.close().await;
}
