//! The dashboard in a real headless Chromium: each page against a hand-computed fixture and
//! the API, period and domain switches, the domain table's sort and search, a section that
//! fails beside sections that load, and no console errors.

use crate::browser::Browser;
use crate::common::TestApp;
use omniops_testkit::Engine;
use serde_json::json;

/// gpt-4 costs $30 / $60 per million input / output tokens.
async fn fixture(app: &TestApp) {
    let events = json!([
        {"type": "session", "session_id": "s1", "model": "gpt-4", "domain": "shop.example",
         "start_time": "2026-11-26T10:00:00Z", "duration_ms": 1200, "success": true,
         "input_tokens": 1000, "output_tokens": 500},
        {"type": "session", "session_id": "s2", "model": "gpt-4", "domain": "parts.example",
         "start_time": "2026-11-25T09:00:00Z", "duration_ms": 800, "success": false,
         "input_tokens": 2000, "output_tokens": 1000},
        {"type": "session", "session_id": "s3", "model": "gpt-4", "domain": "shop.example",
         "start_time": "2026-11-10T10:00:00Z", "duration_ms": 1000, "success": true,
         "input_tokens": 1000, "output_tokens": 0},
        {"type": "conversation", "conversation_id": "c1", "domain": "shop.example", "timestamp": "2026-11-26T10:00:00Z"},
        {"type": "message", "conversation_id": "c1", "role": "user", "content": "Do you have hydraulic pumps?", "timestamp": "2026-11-26T10:00:00Z"},
        {"type": "message", "conversation_id": "c1", "role": "assistant", "content": "Let me check.", "timestamp": "2026-11-26T10:00:04Z"},
        {"type": "message", "conversation_id": "c1", "role": "user", "content": "Thanks, great!", "timestamp": "2026-11-26T10:01:00Z"}
    ]);
    let (status, answer) = app.ingest(events).await;
    assert_eq!(
        (status, answer["rejected"].clone()),
        (200, json!([])),
        "{answer}"
    );
}

async fn assert_no_console_errors(browser: &Browser, page: &str) {
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors on {page}: {errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_pages_show_the_api_numbers() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Engine::Sqlite).await.expect("sqlite");
    fixture(&app).await;
    let b = &browser;

    // Overview, 7 days (the default): s1 $0.0600 + s2 $0.1200; one of two failed.
    b.goto(&app.url("/")).await;
    assert!(b
        .client
        .current_url()
        .await
        .expect("url")
        .path()
        .ends_with("/dashboard"));
    let (_, api) = app.get_json("/api/dashboard/telemetry?days=7", None).await;
    assert_eq!(api["cost"]["total"], "0.1800");
    assert_eq!(
        b.text("[data-testid=total-cost] .stat-value").await,
        "$0.1800"
    );
    assert_eq!(
        b.attr("[data-testid=total-cost] .stat-value", "data-value")
            .await,
        api["cost"]["total"].as_str().unwrap_or_default()
    );
    assert_eq!(
        b.text("[data-testid=total-requests] .stat-value").await,
        "2"
    );
    assert_eq!(
        b.text("[data-testid=success-rate] .stat-value").await,
        "50.0%"
    );
    assert_eq!(
        b.text("[data-testid=avg-response] .stat-value").await,
        "1.00 s"
    );
    assert_eq!(b.text("[data-testid=conversations] .stat-value").await, "1");
    assert_eq!(b.text("[data-testid=error-rate]").await, "50.0%");
    assert_eq!(
        b.texts("[data-testid=recent-conversations] li span:first-child")
            .await,
        ["Do you have hydraulic pumps?"]
    );
    b.wait_until("document.querySelector('[data-testid=trend-chart][data-drawn]')")
        .await;
    let insights = b.texts("[data-testid=insights] li").await;
    // parts.example went from $0 to $0.1200, shop.example from $0 to $0.0600.
    assert_eq!(
        insights.first().map(String::as_str),
        Some("Domain parts.example: cost rose by $0.1200 against the previous period ($0.0000 → $0.1200).")
    );
    assert!(
        insights
            .iter()
            .any(|i| i == "50.0% of requests failed: look at the failing sessions."),
        "{insights:?}"
    );
    // Dark mode: the toggle switches the theme and the charts are drawn again in its colours.
    b.click("#theme-toggle").await;
    b.wait_until("document.documentElement.getAttribute('data-theme') === 'dark' && document.querySelector('[data-testid=trend-chart][data-drawn] canvas')").await;
    assert_no_console_errors(b, "overview").await;

    // 30 days adds s3 ($0.0300).
    b.click("[data-period='30']").await;
    b.wait_until("location.search.includes('days=30')").await;
    assert_eq!(b.text("[data-testid=window-label]").await, "Last 30 days");
    assert_eq!(
        b.text("[data-testid=total-cost] .stat-value").await,
        "$0.2100"
    );
    assert_eq!(
        b.text("[data-testid=total-requests] .stat-value").await,
        "3"
    );

    // One domain: shop.example over 30 days is s1 + s3.
    b.client
        .execute("const s = document.getElementById('domain-filter'); s.value = 'shop.example'; s.form.submit();", vec![])
        .await
        .expect("pick domain");
    b.wait_until("location.search.includes('domain=shop.example')")
        .await;
    assert_eq!(
        b.text("[data-testid=total-cost] .stat-value").await,
        "$0.0900"
    );
    let (_, api) = app
        .get_json("/api/dashboard/telemetry?days=30&domain=shop.example", None)
        .await;
    assert_eq!(api["cost"]["total"], "0.0900");
    assert_no_console_errors(b, "overview with filters").await;

    // Costs: the four cards, the model table, the domain table sorted and searched.
    b.goto(&app.url("/dashboard/costs?days=7")).await;
    assert_eq!(
        b.text("[data-testid=total-spend] .stat-value").await,
        "$0.1800"
    );
    assert_eq!(
        b.text("[data-testid=avg-cost] .stat-value").await,
        "$0.090000"
    );
    let (_, api) = app.get_json("/api/dashboard/telemetry?days=7", None).await;
    assert_eq!(
        b.attr("[data-testid=projected-monthly] .stat-value", "data-value")
            .await,
        api["cost"]["projectedMonthly"].as_str().unwrap_or_default()
    );
    assert_eq!(
        b.text("[data-testid=model-table] tr[data-model='gpt-4'] td:last-child")
            .await,
        "$0.1800"
    );
    let rows = || async {
        b.texts("[data-testid=domain-table] tbody td:first-child")
            .await
    };
    assert_eq!(rows().await, ["parts.example", "shop.example"]);
    b.click("[data-sort='domain']").await;
    b.wait_until("document.querySelector('th[aria-sort=descending] [data-sort=domain]')")
        .await;
    assert_eq!(rows().await, ["shop.example", "parts.example"]);
    b.click("[data-sort='domain']").await;
    b.wait_until("document.querySelector('th[aria-sort=ascending] [data-sort=domain]')")
        .await;
    assert_eq!(rows().await, ["parts.example", "shop.example"]);
    b.type_into("input[name=q]", "shop").await;
    b.wait_until("document.querySelectorAll('[data-testid=domain-table] tbody tr').length === 1")
        .await;
    assert_eq!(rows().await, ["shop.example"]);
    // The view (sort and search) is in the address bar and in the next refresh.
    b.wait_until("location.search.includes('q=shop') && location.search.includes('sort=domain')")
        .await;
    let refresh = b.attr("#domain-costs > div[hx-get]", "hx-get").await;
    assert!(refresh.contains("sort=domain&dir=asc&q=shop"), "{refresh}");

    assert_eq!(
        b.text("[data-testid=domain-table] tr[data-domain='shop.example'] td:nth-child(3)")
            .await,
        "$0.0600"
    );
    // A budget alert through the panel's form: $0.0600 spent today of $0.10 is 60.0%.
    b.type_into("input[name=threshold_usd]", "0.10").await;
    b.click("#save-alert").await;
    b.wait_until("document.querySelector('[data-testid=alerts]')")
        .await;
    assert!(b.text("[data-testid=alerts]").await.contains("60.0%"));
    let r = app
        .client
        .post(app.url("/api/monitoring/chat"))
        .json(&json!({"action": "check-alerts"}))
        .send()
        .await
        .expect("check");
    let alerts: serde_json::Value = r.json().await.expect("json");
    assert_eq!(alerts["alerts"][0]["thresholdUsd"], "0.1000");
    // Deleting it from the panel (after confirming) removes it.
    b.click("[data-delete-alert='/daily']").await;
    b.client.accept_alert().await.expect("confirm");
    b.wait_until("!document.querySelector('[data-testid=alerts]')")
        .await;
    assert_no_console_errors(b, "costs").await;

    // Analytics: the overview tab against the API, then the customers tab.
    b.goto(&app.url("/dashboard/analytics?days=7")).await;
    let (_, api) = app.get_json("/api/dashboard/analytics?days=7", None).await;
    assert_eq!(api["responseTime"], json!(4.0));
    assert_eq!(
        b.text("[data-testid=response-time] .stat-value").await,
        "4.0 s"
    );
    assert_eq!(
        b.text("[data-testid=satisfaction] .stat-value").await,
        "4.0 / 5"
    );
    assert_eq!(
        b.attr("[data-testid=satisfaction] .stat-value", "data-value")
            .await,
        api["satisfactionScore"].to_string()
    );
    assert_eq!(b.text("[data-testid=messages] .stat-value").await, "3");
    // Performance: s1 took 1.2 s, s2 0.8 s: the median is under 1 s, p95 under 2 s.
    b.click("[data-tab=performance]").await;
    b.wait_until("location.search.includes('tab=performance')")
        .await;
    assert_eq!(b.text("[data-testid=p50] .stat-value").await, "≤ 1.00 s");
    assert_eq!(b.text("[data-testid=p95] .stat-value").await, "≤ 2.00 s");
    b.click("[data-tab=customers]").await;
    b.wait_until("location.search.includes('tab=customers')")
        .await;
    let domains = b
        .texts("[data-testid=customer-segments] tbody td:first-child")
        .await;
    assert_eq!(domains.len(), 2, "{domains:?}");
    assert_no_console_errors(b, "analytics").await;

    // A phone's width: everything wraps or scrolls inside its card, not the page.
    b.client.set_window_size(390, 844).await.expect("resize");
    for page in [
        "/dashboard?days=7",
        "/dashboard/costs?days=7",
        "/dashboard/analytics?days=7&tab=customers",
    ] {
        b.goto(&app.url(page)).await;
        // Every section has replaced its skeleton (they carry aria-busy).
        b.wait_until("document.querySelector('[aria-busy=true]') === null")
            .await;
        let fits = b
            .client
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await
            .expect("measure");
        assert_eq!(
            fits,
            serde_json::Value::Bool(true),
            "{page} is wider than the phone"
        );
    }
    assert_no_console_errors(b, "phone width").await;
    b.client.set_window_size(1300, 1000).await.expect("resize");

    // One failing query: the insights section says so, the stats still load.
    let db = app.db.data_dir.join("omniops.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("open sqlite");
    sqlx::query("DROP TABLE product_rollup_daily")
        .execute(&pool)
        .await
        .expect("drop");
    sqlx::query("DROP TABLE product_rollup_hourly")
        .execute(&pool)
        .await
        .expect("drop");
    b.goto(&app.url("/dashboard?days=7")).await;
    assert!(b
        .text("#insights-body [data-testid=section-error]")
        .await
        .contains("could not be loaded"));
    assert_eq!(
        b.text("[data-testid=total-cost] .stat-value").await,
        "$0.1800"
    );
    browser.close().await;
}
