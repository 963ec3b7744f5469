//! Tenant boundaries, on both engines: a key held to a.example can touch nothing of
//! b.example — not its live sessions, conversations or spans, not through a link, not the
//! settings every domain shares, not another domain's listings. The requests, each.

use crate::common::{t, TestApp, NOW};
use crate::http_test;
use serde_json::{json, Value};

async fn keys_held_to_a_domain_stay_in_it(app: &TestApp) {
    let now = t(NOW);
    let key = |scope: &'static str, domain: Option<&'static str>| {
        let store = app.db.store.clone();
        async move {
            store
                .create_key(
                    omniops_store::Scope::parse(scope).expect("scope"),
                    domain,
                    None,
                    now,
                )
                .await
                .expect("key")
                .1
        }
    };
    let admin = key("admin", None).await;
    let ingest_a = key("ingest", Some("a.example")).await;
    let ingest_b = key("ingest", Some("b.example")).await;
    let read_a = key("read", Some("a.example")).await;
    let admin_a = key("admin", Some("a.example")).await;

    // b.example's live session and conversation.
    let (_, r) = app.ingest_as(json!([
        {"type": "session.start", "session_id": "b-1", "model": "gpt-4", "domain": "b.example"},
        {"type": "conversation", "conversation_id": "cb", "domain": "b.example"},
        {"type": "message", "conversation_id": "cb", "role": "user", "content": "my address is 1 Secret Road"}
    ]), Some(&ingest_b)).await;
    assert_eq!(r["accepted"], 3, "{r}");

    // a.example's key writes to them: every event refused as unknown.
    let (_, r) = app.ingest_as(json!([
        {"type": "usage", "session_id": "b-1", "input_tokens": 1_000_000, "output_tokens": 0},
        {"type": "log", "session_id": "b-1", "level": "info", "message": "ended by a"},
        {"type": "search", "session_id": "b-1", "query": "x", "results": 1},
        {"type": "iteration", "session_id": "b-1", "iteration": 3},
        {"type": "session.end", "session_id": "b-1", "success": false, "error": "ended by a"},
        {"type": "message", "conversation_id": "cb", "role": "user", "content": "injected"},
        {"type": "session", "session_id": "a-1", "model": "gpt-4", "domain": "a.example", "conversation_id": "cb",
         "start_time": "2026-11-26T10:00:00Z", "duration_ms": 5, "success": true, "input_tokens": 1, "output_tokens": 1}
    ]), Some(&ingest_a)).await;
    assert_eq!(r["accepted"], 0, "{r}");
    let errors: Vec<&str> = r["rejected"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["error"].as_str())
        .collect();
    assert_eq!(
        errors,
        vec!["unknown session"; 5]
            .into_iter()
            .chain(["unknown conversation"; 2])
            .collect::<Vec<_>>()
    );
    // An OpenTelemetry span of a.example naming b's session as its conversation.
    let attr = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    let export = json!({"resourceSpans": [{"resource": {"attributes": [attr("omniops.domain", "a.example")]},
        "scopeSpans": [{"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
            "name": "chat gpt-4", "startTimeUnixNano": (t("2026-11-26T12:29:00Z") * 1000).to_string(),
            "endTimeUnixNano": (t("2026-11-26T12:29:01Z") * 1000).to_string(),
            "attributes": [attr("gen_ai.operation.name", "chat"), attr("gen_ai.conversation.id", "b-1"),
                           {"key": "gen_ai.usage.input_tokens", "value": {"intValue": 1_000_000}}]}]}]}]});
    let r = app
        .client
        .post(app.url("/v1/traces"))
        .bearer_auth(&ingest_a)
        .json(&export)
        .send()
        .await
        .expect("OTLP");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["partialSuccess"]["rejectedSpans"], "1", "{body}");
    // b's session is as b left it.
    let (_, s) = app.get_json("/api/sessions/b-1", Some(&admin)).await;
    assert_eq!(
        (
            s["live"].clone(),
            s["costUsd"].clone(),
            s["iterations"].clone()
        ),
        (json!(true), json!("0.000000"), json!(0)),
        "{s}"
    );
    assert_eq!(s["logs"], json!([]));

    // A session of a.example linked (by a key not held to a domain) to b's conversation
    // does not show b's messages to a's reader.
    let (_, r) = app.ingest_as(json!([{"type": "session", "session_id": "a-2", "model": "gpt-4", "domain": "a.example",
        "conversation_id": "cb", "start_time": "2026-11-26T10:00:00Z", "duration_ms": 5, "success": true,
        "input_tokens": 1, "output_tokens": 1}]), Some(&admin)).await;
    assert_eq!(r["accepted"], 1);
    let (status, s) = app.get_json("/api/sessions/a-2", Some(&read_a)).await;
    assert_eq!(status, 200);
    assert_eq!(s["conversation"], json!([]), "{s}");

    // a.example's admin key changes only a.example.
    let put = |path: &str, key: &str, body: Value| {
        let request = app.client.put(app.url(path)).bearer_auth(key).json(&body);
        async move { request.send().await.expect("PUT").status().as_u16() }
    };
    assert_eq!(
        put(
            "/api/v1/prices",
            &admin_a,
            json!({"model": "gpt-4", "input": "0", "output": "0"})
        )
        .await,
        403
    );
    assert_eq!(
        put(
            "/api/dashboard/config",
            &admin_a,
            json!({"retentionDays": 1})
        )
        .await,
        403
    );
    assert_eq!(
        put(
            "/api/dashboard/config",
            &admin_a,
            json!({"domains": [{"domain": "b.example"}]})
        )
        .await,
        403
    );
    assert_eq!(
        put(
            "/api/dashboard/config",
            &admin_a,
            json!({"domains": [{"domain": "a.example"}]})
        )
        .await,
        200
    );
    let r = app
        .client
        .post(app.url("/api/v1/prices/import"))
        .bearer_auth(&admin_a)
        .json(&json!({}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 403);
    let r = app
        .client
        .post(app.url("/api/monitoring/chat"))
        .bearer_auth(&admin_a)
        .json(&json!({"action": "cleanup-old-data"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        put(
            "/api/v1/prices",
            &admin,
            json!({"model": "gpt-4", "input": "30", "output": "60", "effectiveFrom": "2020-01-01"})
        )
        .await,
        200
    );

    // Listings: a's reader sees a's unpriced models only, and not the server's metrics.
    app.ingest_as(json!([{"type": "session", "session_id": "mb", "model": "mystery-b", "domain": "b.example",
        "start_time": "2026-11-26T10:00:00Z", "duration_ms": 5, "success": true, "input_tokens": 1, "output_tokens": 1}]), Some(&ingest_b)).await;
    app.ingest_as(json!([{"type": "session", "session_id": "ma", "model": "mystery-a", "domain": "a.example",
        "start_time": "2026-11-26T10:00:00Z", "duration_ms": 5, "success": true, "input_tokens": 1, "output_tokens": 1}]), Some(&ingest_a)).await;
    let (_, list) = app.get_json("/api/v1/prices", Some(&read_a)).await;
    let unpriced: Vec<&str> = list["unpriced"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["model"].as_str())
        .collect();
    assert_eq!(unpriced, vec!["mystery-a"]);
    let (_, list) = app.get_json("/api/v1/prices", Some(&admin)).await;
    assert_eq!(list["unpriced"].as_array().map(Vec::len), Some(2));
    let html = app
        .client
        .get(app.url("/dashboard/partials/settings-prices"))
        .bearer_auth(&read_a)
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("mystery-a") && !html.contains("mystery-b"),
        "{html}"
    );
    let r = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(&read_a)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 403);
    let r = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 200);
}
http_test!(tenants, keys_held_to_a_domain_stay_in_it);

async fn post_json(app: &TestApp, path: &str, key: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A domain is one tenant however it is written: normalised where it enters (ingest, OTLP,
/// `?domain=`, keys, alerts). Before, an event for `Shop.Example` sent with a key held to
/// `shop.example` was refused, and data stored as `Shop.Example` fell outside that domain.
async fn a_domain_is_one_tenant_in_any_case(app: &TestApp) {
    let admin = app
        .db
        .store
        .create_key(omniops_store::Scope::Admin, None, None, t(NOW))
        .await
        .expect("key")
        .1;
    let (status, r) = post_json(
        app,
        "/api/keys",
        &admin,
        json!({"scope": "ingest", "domain": "shop.example"}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let ingest = r["key"].as_str().expect("key").to_string();
    let (_, r) = post_json(
        app,
        "/api/keys",
        &admin,
        json!({"scope": "read", "domain": " Shop.EXAMPLE "}),
    )
    .await;
    let read = r["key"].as_str().expect("key").to_string();
    assert_eq!(r["record"]["domain"], "shop.example", "{r}");

    let (_, r) = app.ingest_as(json!([
        {"type": "session", "session_id": "mixed", "model": "gpt-4", "domain": "Shop.Example",
         "start_time": "2026-11-26T10:00:00Z", "duration_ms": 5, "success": true,
         "input_tokens": 1000, "output_tokens": 0}
    ]), Some(&ingest)).await;
    assert_eq!(r["accepted"], 1, "{r}");
    // 1,000 gpt-4 input tokens at $30 per million.
    for (query, key) in [
        ("domain=SHOP.EXAMPLE", &admin),
        ("domain=shop.example", &read),
        ("", &read),
    ] {
        let (status, r) = app
            .get_json(
                &format!("/api/dashboard/telemetry?days=1&{query}"),
                Some(key),
            )
            .await;
        assert_eq!(status, 200, "{query}: {r}");
        assert_eq!(
            (
                r["overview"]["totalRequests"].clone(),
                r["cost"]["total"].clone()
            ),
            (json!(1), json!("0.0300")),
            "{query}"
        );
    }
    let (_, r) = app.get_json("/api/sessions/mixed", Some(&read)).await;
    assert_eq!(r["domain"], "shop.example", "{r}");

    // OpenTelemetry's omniops.domain, and an alert set for the domain in capitals.
    let span = json!({"resourceSpans": [{"resource": {"attributes": [
        {"key": "omniops.domain", "value": {"stringValue": "SHOP.Example"}}]},
        "scopeSpans": [{"spans": [{"traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174", "name": "chat gpt-4",
            "startTimeUnixNano": "1795695000000000000", "endTimeUnixNano": "1795695001000000000",
            "attributes": [{"key": "gen_ai.conversation.id", "value": {"stringValue": "otel-mixed"}},
                           {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}]}]}]}]});
    let (status, r) = post_json(app, "/v1/traces", &ingest, span).await;
    assert_eq!(status, 200, "{r}");
    assert!(r.get("partialSuccess").is_none(), "{r}");
    let (_, r) = app.get_json("/api/sessions/otel-mixed", Some(&read)).await;
    assert_eq!(r["domain"], "shop.example", "{r}");
    let (status, r) = post_json(
        app,
        "/api/monitoring/chat",
        &admin,
        json!({"action": "set-alert",
        "domain": "Shop.Example", "alert_type": "daily", "threshold_usd": "1"}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let (_, r) = post_json(
        app,
        "/api/monitoring/chat",
        &read,
        json!({"action": "check-alerts"}),
    )
    .await;
    assert_eq!(r["alerts"][0]["domain"], "shop.example", "{r}");
}
http_test!(domain_case, a_domain_is_one_tenant_in_any_case);
