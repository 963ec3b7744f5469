//! Dashboard login: a session cookie that stands for an API key, CSRF on changes, logout,
//! and a domain-scoped key held to its domain — over HTTP and in the browser.

use crate::browser::Browser;
use crate::common::{t, TestApp, NOW};
use fantoccini::Locator;
use omniops_testkit::Engine;
use serde_json::json;

async fn keys(app: &TestApp) -> (String, String, String) {
    let now = t(NOW);
    let store = &app.db.store;
    let (_, admin) = store
        .create_key(omniops_store::Scope::Admin, None, None, now)
        .await
        .expect("admin key");
    let (_, scoped) = store
        .create_key(omniops_store::Scope::Read, Some("shop.example"), None, now)
        .await
        .expect("read key");
    let (_, ingest) = store
        .create_key(omniops_store::Scope::Ingest, None, None, now)
        .await
        .expect("ingest key");
    (admin, scoped, ingest)
}

async fn fixture(app: &TestApp, admin: &str) {
    let events = json!([
        {"type": "session", "session_id": "s1", "model": "gpt-4", "domain": "shop.example",
         "start_time": "2026-11-26T10:00:00Z", "duration_ms": 1000, "success": true,
         "input_tokens": 1000, "output_tokens": 500},
        {"type": "session", "session_id": "s2", "model": "gpt-4", "domain": "parts.example",
         "start_time": "2026-11-26T09:00:00Z", "duration_ms": 1000, "success": true,
         "input_tokens": 2000, "output_tokens": 1000}
    ]);
    let (status, _) = app.ingest_as(events, Some(admin)).await;
    assert_eq!(status, 200);
}

/// Logs in through the form without following the redirect: the cookie and where it leads.
async fn login(app: &TestApp, key: &str) -> (u16, Option<String>, Option<String>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = client
        .post(app.url("/login"))
        .form(&[("key", key), ("next", "/dashboard/costs?days=7")])
        .send()
        .await
        .expect("login");
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    (
        r.status().as_u16(),
        header("set-cookie"),
        header("location"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookie_stands_for_the_key_and_changes_need_csrf() {
    let app = TestApp::spawn(Engine::Sqlite).await.expect("sqlite");
    let (admin, _, ingest) = keys(&app).await;
    fixture(&app, &admin).await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    // Pages send strangers to the login form; the API answers 401.
    let r = plain
        .get(app.url("/dashboard/costs?days=7"))
        .send()
        .await
        .expect("page");
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/login?next=%2Fdashboard%2Fcosts%3Fdays%3D7")
    );
    // Wrong keys and ingest keys cannot log in.
    assert_eq!(login(&app, "omk_wrong").await.0, 401);
    assert_eq!(login(&app, &ingest).await.0, 401);

    let (status, cookie, location) = login(&app, &admin).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/dashboard/costs?days=7"))
    );
    let cookie = cookie.expect("set-cookie");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap_or_default().to_string();

    // The cookie works for pages and for /api/*.
    let page = plain
        .get(app.url("/dashboard/costs?days=7"))
        .header("cookie", &session)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    let csrf = html
        .split("X-CSRF-Token&quot;:&quot;")
        .nth(1)
        .and_then(|rest| rest.split("&quot;").next())
        .expect("the page carries the CSRF token")
        .to_string();
    let api = plain
        .get(app.url("/api/dashboard/telemetry?days=1"))
        .header("cookie", &session)
        .send()
        .await
        .expect("api");
    assert_eq!(api.status().as_u16(), 200);
    let body: serde_json::Value = api.json().await.expect("json");
    assert_eq!(body["cost"]["total"], "0.1800");

    // A change with the cookie but without the CSRF token is refused; with it, accepted.
    let set_alert = json!({"action": "set-alert", "alert_type": "daily", "threshold_usd": "1.00"});
    let refused = plain
        .post(app.url("/api/monitoring/chat"))
        .header("cookie", &session)
        .json(&set_alert)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status().as_u16(), 403);
    let accepted = plain
        .post(app.url("/api/monitoring/chat"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .json(&set_alert)
        .send()
        .await
        .expect("post");
    assert_eq!(accepted.status().as_u16(), 200);
    let answer: serde_json::Value = accepted.json().await.expect("json");
    assert_eq!(answer["alert"]["thresholdUsd"], "1.0000");

    // Logging out needs the token too, then the cookie no longer works.
    let out = plain
        .post(app.url("/logout"))
        .header("cookie", &session)
        .form(&[("csrf", "nope")])
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status().as_u16(), 403);
    let out = plain
        .post(app.url("/logout"))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status().as_u16(), 303);
    let api = plain
        .get(app.url("/api/dashboard/telemetry?days=1"))
        .header("cookie", &session)
        .send()
        .await
        .expect("api");
    assert_eq!(api.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_login_logout_and_a_domain_scoped_key() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Engine::Sqlite).await.expect("sqlite");
    let (admin, scoped, _) = keys(&app).await;
    fixture(&app, &admin).await;
    let b = &browser;

    // The domain-scoped key: only shop.example ($0.0600 of $0.1800), no domain picker.
    b.goto(&app.url("/dashboard?days=1")).await;
    b.wait_until("location.pathname === '/login'").await;
    b.type_into("#key", "omk_wrong").await;
    b.click("button[type=submit]").await;
    assert!(b
        .text("[data-testid=login-error]")
        .await
        .contains("Unknown key"));
    b.type_into("#key", &scoped).await;
    b.click("button[type=submit]").await;
    b.wait_until("location.pathname === '/dashboard'").await;
    assert_eq!(
        b.text("[data-testid=total-cost] .stat-value").await,
        "$0.0600"
    );
    assert!(
        b.client.find(Locator::Css("#domain-filter")).await.is_err(),
        "a scoped key gets no domain picker"
    );
    b.goto(&app.url("/dashboard?days=1&domain=parts.example"))
        .await;
    assert!(b
        .text("body")
        .await
        .contains("may only see domain shop.example"));
    // The console has the refused login (401) and the refused domain (403), nothing else.
    let errors = b.console_errors().await;
    assert!(
        errors.len() == 2
            && errors
                .iter()
                .all(|e| e.contains("401") || e.contains("403")),
        "{errors:?}"
    );

    // Log out, then in as admin: everything, with the picker.
    b.goto(&app.url("/dashboard?days=1")).await;
    b.click("#logout").await;
    b.wait_until("location.pathname === '/login'").await;
    b.goto(&app.url("/dashboard/costs?days=1")).await;
    b.wait_until("location.pathname === '/login'").await;
    b.type_into("#key", &admin).await;
    b.click("button[type=submit]").await;
    b.wait_until("location.pathname === '/dashboard/costs'")
        .await;
    assert_eq!(
        b.text("[data-testid=total-spend] .stat-value").await,
        "$0.1800"
    );
    b.client
        .find(Locator::Css("#domain-filter"))
        .await
        .expect("picker");
    // Saving an alert goes through htmx with the CSRF header.
    b.type_into("input[name=threshold_usd]", "0.36").await;
    b.click("#save-alert").await;
    b.wait_until("document.querySelector('[data-testid=alerts]')")
        .await;
    assert!(b.text("[data-testid=alerts]").await.contains("50.0%"));
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "{errors:?}");
    browser.close().await;
}
