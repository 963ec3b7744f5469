//! The settings page in the browser: pricing an unpriced model changes the costs page;
//! domains, retention and keys through the same API calls a client would make.

use crate::browser::Browser;
use crate::common::TestApp;
use omniops_testkit::Engine;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_change_prices_domains_retention_and_keys() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Engine::Sqlite).await.expect("sqlite");
    let events = json!([
        {"type": "session", "session_id": "a1", "model": "acme-llm", "domain": "shop.example",
         "start_time": "2026-11-26T10:00:00Z", "duration_ms": 10, "success": true, "input_tokens": 1000, "output_tokens": 1000},
        {"type": "session", "session_id": "g1", "model": "gpt-4", "domain": "shop.example",
         "start_time": "2026-11-26T10:05:00Z", "duration_ms": 10, "success": true, "input_tokens": 1000, "output_tokens": 500}
    ]);
    assert_eq!(app.ingest(events).await.0, 200);
    let b = &browser;
    b.goto(&app.url("/dashboard/costs?days=1")).await;
    assert_eq!(
        b.text("[data-testid=total-spend] .stat-value").await,
        "$0.0600"
    );
    b.text("[data-testid=model-table] tr[data-model='acme-llm'] [data-testid=unpriced]")
        .await;

    // Price acme-llm at $1 / $3 per million from today: its session costs $0.004.
    b.goto(&app.url("/dashboard/settings")).await;
    b.click("[data-testid=unpriced-models] [data-price-model='acme-llm']")
        .await;
    assert_eq!(b.value("#price-form input[name=model]").await, "acme-llm");
    b.type_into("#price-form input[name=input]", "1.00").await;
    b.type_into("#price-form input[name=output]", "3.00").await;
    b.click("#price-form button[type=submit]").await;
    b.wait_until("document.querySelector('[data-testid=price-table] tr[data-model=acme-llm]') && !document.querySelector('[data-testid=unpriced-models]')").await;
    b.goto(&app.url("/dashboard/costs?days=1")).await;
    assert_eq!(
        b.text("[data-testid=total-spend] .stat-value").await,
        "$0.0640"
    );
    assert_eq!(
        b.text("[data-testid=model-table] tr[data-model='acme-llm'] td:last-child")
            .await,
        "$0.0040"
    );

    // A LiteLLM-format file through the import form: a dry run reports, an import stores.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("prices.json");
    std::fs::write(
        &file,
        json!({"acme-llm": {"mode": "chat", "input_cost_per_token": 5e-6, "output_cost_per_token": 5e-6},
               "widget-llm": {"mode": "chat", "input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6}})
        .to_string(),
    )
    .expect("write");
    b.goto(&app.url("/dashboard/settings")).await;
    b.type_into(
        "#price-import input[name=file]",
        &file.display().to_string(),
    )
    .await;
    b.click("#price-import button[type=submit]").await;
    b.wait_until(
        "document.querySelector('#price-import .form-result').textContent.includes('Dry run')",
    )
    .await;
    let said = b.text("#price-import .form-result").await;
    // acme-llm has the price set above by hand: kept.
    assert!(
        said.contains("1 added") && said.contains("1 kept"),
        "{said}"
    );
    assert!(b
        .text("[data-testid=import-report]")
        .await
        .contains("added widget-llm"));
    b.click("#price-import input[name=dryRun]").await;
    b.click("#price-import button[type=submit]").await;
    b.wait_until(
        "document.querySelector('#price-import .form-result').textContent.startsWith('Imported')",
    )
    .await;
    // A fresh page, so that no refresh the import announced replaces the search form under
    // the test; then the cell is read in the page, not through a handle that can go stale.
    b.goto(&app.url("/dashboard/settings")).await;
    b.replace_text("form[aria-label='Search prices'] input[name=q]", "widget")
        .await;
    b.click("form[aria-label='Search prices'] button").await;
    b.wait_until("(document.querySelector('[data-testid=price-table] tr[data-model=widget-llm] td:nth-child(2)') || {}).textContent === '$1'")
        .await;

    // A domain with its store (the secret is write-only) and the retention.
    b.goto(&app.url("/dashboard/settings")).await;
    let domain_form = "form[aria-label='Customer domain']";
    b.type_into(&format!("{domain_form} input[name=domain]"), "shop.example")
        .await;
    b.type_into(
        &format!("{domain_form} input[name='woocommerce.url']"),
        "https://shop.example",
    )
    .await;
    b.type_into(
        &format!("{domain_form} input[name='woocommerce.consumerSecret']"),
        "cs_secret",
    )
    .await;
    b.click(&format!("{domain_form} button[type=submit]")).await;
    b.wait_until("document.querySelector('[data-testid=domain-configs]')")
        .await;
    let listed = b.text("[data-testid=domain-configs]").await;
    assert!(
        listed.contains("shop.example")
            && listed.contains("secret set")
            && !listed.contains("cs_secret"),
        "{listed}"
    );
    let retention = "form[aria-label=Retention] input[name=retentionDays]";
    b.replace_text(retention, "45").await;
    b.click("form[aria-label=Retention] button").await;
    b.wait_until("document.querySelector('[data-testid=retention-days]').textContent === '45'")
        .await;
    let (_, config) = app.get_json("/api/dashboard/config", None).await;
    assert_eq!(config["settings"]["retentionDays"], 45);
    // A bad value is refused with the field named.
    b.replace_text(retention, "0").await;
    b.click("form[aria-label=Retention] button").await;
    b.wait_until("document.querySelector('form[aria-label=Retention] .form-result.error')")
        .await;
    assert!(b
        .text("form[aria-label=Retention] .form-result")
        .await
        .contains("retention"));
    let errors = b.console_errors().await;
    assert!(errors.iter().all(|e| e.contains("400")), "{errors:?}");

    // The first key is shown once; from then on the dashboard asks for a key.
    b.click("form[aria-label='New key'] button").await;
    let shown = b.text("[data-testid=new-key]").await;
    let key = shown.rsplit(' ').next().unwrap_or_default().to_string();
    assert!(key.starts_with("omk_"), "{shown}");
    let (status, _) = app.get_json("/api/dashboard/config", None).await;
    assert_eq!(status, 401);
    let (status, _) = app.get_json("/api/dashboard/config", Some(&key)).await;
    assert_eq!(status, 200, "a read key reads");
    b.goto(&app.url("/dashboard/settings")).await;
    b.wait_until("location.pathname === '/login'").await;
    browser.close().await;
}

async fn keys_api_creates_lists_and_revokes(app: &TestApp) {
    let post = |body: serde_json::Value, key: Option<String>| {
        let mut request = app.client.post(app.url("/api/keys")).json(&body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    let r = post(json!({"scope": "owner"}), None).await.expect("post");
    assert_eq!(r.status().as_u16(), 400);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["field"], "scope");
    let r = post(json!({"scope": "admin", "name": "ops"}), None)
        .await
        .expect("post");
    let admin: serde_json::Value = r.json().await.expect("json");
    let admin_key = admin["key"].as_str().unwrap_or_default().to_string();
    assert!(admin_key.starts_with("omk_") && admin["record"]["scope"] == "admin");
    // Keys exist now: the next change needs an admin key.
    assert_eq!(
        post(json!({"scope": "read"}), None)
            .await
            .expect("post")
            .status()
            .as_u16(),
        401
    );
    let r = post(
        json!({"scope": "admin", "domain": "Shop.Example"}),
        Some(admin_key.clone()),
    )
    .await
    .expect("post");
    let scoped: serde_json::Value = r.json().await.expect("json");
    assert_eq!(scoped["record"]["domain"], "shop.example");
    let scoped_key = scoped["key"].as_str().unwrap_or_default().to_string();
    // A key held to a domain cannot manage keys.
    assert_eq!(
        post(json!({"scope": "read"}), Some(scoped_key))
            .await
            .expect("post")
            .status()
            .as_u16(),
        403
    );
    let (status, list) = app.get_json("/api/keys", Some(&admin_key)).await;
    assert_eq!(
        (status, list["keys"].as_array().map(Vec::len)),
        (200, Some(2))
    );
    assert!(
        !list.to_string().contains(&admin_key),
        "secrets are never listed"
    );
    let id = scoped["record"]["id"].as_str().unwrap_or_default();
    let r = app
        .client
        .delete(app.url(&format!("/api/keys/{id}")))
        .bearer_auth(&admin_key)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status().as_u16(), 200);
    let r = app
        .client
        .delete(app.url(&format!("/api/keys/{id}")))
        .bearer_auth(&admin_key)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status().as_u16(), 404);
}
crate::http_test!(keys_api, keys_api_creates_lists_and_revokes);
