//! Every section a page shell asks for is a declared `Section`, and loads.

use crate::common::TestApp;
use crate::{http_test, http_test_with};
use omniops_server::pages::Section;

const PAGES: [&str; 6] = [
    "/dashboard",
    "/dashboard/analytics",
    "/dashboard/costs",
    "/dashboard/sessions",
    "/dashboard/products",
    "/dashboard/settings",
];

async fn every_shell_section_is_declared_and_loads(app: &TestApp) {
    let mut seen = Vec::new();
    for page in PAGES {
        let html = app
            .client
            .get(app.url(page))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        for rest in html.split("/dashboard/partials/").skip(1) {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                .collect();
            let section =
                Section::parse(&name).unwrap_or_else(|| panic!("{page} asks for `{name}`"));
            if !seen.contains(&section) {
                seen.push(section);
            }
        }
    }
    // The analytics tabs' sections are asked for one at a time; the session details by row.
    assert!(seen.len() >= 20, "{seen:?}");
    for section in seen {
        let path = format!("/dashboard/partials/{}?days=7", section.name());
        let response = app.client.get(app.url(&path)).send().await.expect("GET");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let text = response.text().await.expect("html");
        assert!(!text.contains("section-error"), "{path}: {text}");
    }
}
http_test!(shell_sections, every_shell_section_is_declared_and_loads);

/// Telemetry reports the server computed so far, from `/metrics`.
async fn telemetry_computed(app: &TestApp) -> u64 {
    let text = app.get_text("/metrics").await;
    let line = "omniops_report_reads_total{report=\"telemetry\",outcome=\"computed\"} ";
    text.lines()
        .find_map(|l| l.strip_prefix(line))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{line}` in:\n{text}"))
}

async fn requests_now(app: &TestApp) -> serde_json::Value {
    let (status, report) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(status, 200);
    report["overview"]["totalRequests"].clone()
}

/// The overview's sections share its two telemetry reports (this period's and the one
/// before); a write makes the next read compute again, so it sees the write.
async fn a_page_load_computes_each_report_once(app: &TestApp) {
    let session = |id: &str| {
        serde_json::json!([{"type": "session", "session_id": id, "model": "gpt-4o",
            "domain": "shop.example", "start_time": "2026-11-26T11:00:00Z", "duration_ms": 10,
            "input_tokens": 100, "output_tokens": 10, "success": true}])
    };
    assert_eq!(app.ingest(session("s1")).await.0, 200);
    assert_eq!(requests_now(app).await, 1);
    let before = telemetry_computed(app).await;
    let fetches = ["stats", "trend", "status", "insights"].map(|section| {
        let url = app.url(&format!("/dashboard/partials/{section}?days=7"));
        let client = app.client.clone();
        async move { client.get(url).send().await.expect("section").status() }
    });
    for status in futures_util::future::join_all(fetches).await {
        assert_eq!(status.as_u16(), 200);
    }
    assert_eq!(telemetry_computed(app).await - before, 2);

    // Nothing changed: a repeated read shares, one with `Cache-Control: no-cache` computes.
    let before = telemetry_computed(app).await;
    assert_eq!(requests_now(app).await, 1);
    assert_eq!(telemetry_computed(app).await - before, 0);
    let response = app
        .client
        .get(app.url("/api/dashboard/telemetry?days=1"))
        .header("cache-control", "max-age=0, No-Cache")
        .send()
        .await
        .expect("telemetry");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(telemetry_computed(app).await - before, 1);

    assert_eq!(app.ingest(session("s2")).await.0, 200);
    assert_eq!(
        requests_now(app).await,
        2,
        "a read after a 200 sees the write"
    );
}
// Freshness far beyond a slow machine's page load: the count measures sharing, not timing.
http_test_with!(
    page_load_reports,
    a_page_load_computes_each_report_once,
    omniops_server::Settings {
        report_cache_ms: 60_000,
        ..omniops_server::Settings::default()
    }
);
