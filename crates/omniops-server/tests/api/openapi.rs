//! `GET /api/openapi.json` against the real answers: every JSON endpoint is fetched on a
//! server full of demo data (so lists are not empty and optional values appear both ways)
//! and its body is checked against the documented schema, with no undocumented property
//! allowed. Every API route of the router must be documented.

use crate::common::TestApp;
use omniops_server::Settings;
use omniops_testkit::{Engine, TestDb};
use serde_json::{json, Value};

/// A JSON Schema check for the subset the document uses: `$ref`, `oneOf`, `type` (one or a
/// list), `enum`, `properties`, `required`, `additionalProperties`, `items`.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        let name = target.trim_start_matches("#/components/schemas/");
        let resolved = &doc["components"]["schemas"][name];
        assert!(resolved.is_object(), "dangling $ref {target}");
        return check(doc, resolved, value, at, errors);
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let fits = options.iter().any(|option| {
            let mut inner = Vec::new();
            check(doc, option, value, at, &mut inner);
            inner.is_empty()
        });
        if !fits {
            errors.push(format!("{at}: {value} fits none of {schema}"));
        }
        return;
    }
    if let Some(kind) = schema.get("type") {
        let kinds: Vec<&str> = match kind {
            Value::String(k) => vec![k.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = kinds.iter().any(|k| match *k {
            "null" => value.is_null(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
        if !fits {
            errors.push(format!("{at}: {value} is not {kind}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} not in {schema}"));
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                errors.push(format!("{at}: missing {name}"));
            }
        }
        for (key, item) in object {
            let here = format!("{at}.{key}");
            match (
                properties.and_then(|p| p.get(key)),
                schema.get("additionalProperties"),
            ) {
                (Some(property), _) => check(doc, property, item, &here, errors),
                (None, Some(Value::Bool(false))) => errors.push(format!("{here}: undocumented")),
                (None, Some(extra)) if extra.is_object() => check(doc, extra, item, &here, errors),
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, item) in list.iter().enumerate() {
            check(doc, items, item, &format!("{at}[{i}]"), errors);
        }
    }
}

fn response_schema(doc: &Value, path: &str, method: &str, status: &str) -> Value {
    let response = &doc["paths"][path][method]["responses"][status];
    let response = match response.get("$ref").and_then(Value::as_str) {
        Some(r) => &doc["components"]["responses"][r.trim_start_matches("#/components/responses/")],
        None => response,
    };
    let schema = response["content"]["application/json"]["schema"].clone();
    assert!(
        schema.is_object(),
        "{method} {path} documents no {status} JSON schema"
    );
    schema
}

async fn conforms(app: &TestApp, doc: &Value, route: &str, url: &str) -> Value {
    let (status, body) = app.get_json(url, None).await;
    assert_eq!(status, 200, "GET {url}: {body}");
    let mut errors = Vec::new();
    check(
        doc,
        &response_schema(doc, route, "get", "200"),
        &body,
        url,
        &mut errors,
    );
    assert!(
        errors.is_empty(),
        "GET {url} differs from the document:\n{}",
        errors.join("\n")
    );
    body
}

async fn post_conforms(app: &TestApp, doc: &Value, route: &str, body: Value) -> Value {
    send_conforms(app, doc, reqwest::Method::POST, route, body).await
}

async fn send_conforms(
    app: &TestApp,
    doc: &Value,
    method: reqwest::Method,
    route: &str,
    body: Value,
) -> Value {
    let response = app
        .client
        .request(method.clone(), app.url(route))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let answer: Value = response.json().await.expect("JSON");
    let mut errors = Vec::new();
    let verb = method.as_str().to_lowercase();
    let schema = response_schema(doc, route, &verb, &status.to_string());
    check(doc, &schema, &answer, route, &mut errors);
    assert!(
        errors.is_empty(),
        "{method} {route} differs from the document:\n{}",
        errors.join("\n")
    );
    answer
}

async fn every_endpoint_answers_as_documented(engine: Engine) {
    let Some(db) = TestDb::open(engine).await else {
        return;
    };
    let settings = Settings {
        demo: true,
        ..Settings::default()
    };
    let app = TestApp::boot(db, settings).await;
    let (status, doc) = app.get_json("/api/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], json!("3.1.0"));

    // Demo data arrives in the background; wait for its conversations.
    for _ in 0..200 {
        let (_, c) = app
            .get_json("/api/dashboard/conversations?days=30", None)
            .await;
        if c["total"].as_i64().unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    conforms(&app, &doc, "/healthz", "/healthz").await;
    for days in [1, 30] {
        let telemetry = conforms(
            &app,
            &doc,
            "/api/dashboard/telemetry",
            &format!("/api/dashboard/telemetry?days={days}"),
        )
        .await;
        if days == 30 {
            assert!(telemetry["modelUsage"]
                .as_array()
                .is_some_and(|m| !m.is_empty()));
        }
    }
    for period in ["hour", "week"] {
        conforms(
            &app,
            &doc,
            "/api/monitoring/chat",
            &format!("/api/monitoring/chat?period={period}"),
        )
        .await;
    }
    conforms(
        &app,
        &doc,
        "/api/dashboard/analytics",
        "/api/dashboard/analytics?days=30",
    )
    .await;
    conforms(
        &app,
        &doc,
        "/api/dashboard/conversations",
        "/api/dashboard/conversations?days=30",
    )
    .await;
    let missing = conforms(
        &app,
        &doc,
        "/api/dashboard/missing-products",
        "/api/dashboard/missing-products?days=30&forecast=true",
    )
    .await;
    assert!(missing["missingProducts"]
        .as_array()
        .is_some_and(|m| !m.is_empty()));
    conforms(
        &app,
        &doc,
        "/api/dashboard/scraped",
        "/api/dashboard/scraped",
    )
    .await;
    conforms(
        &app,
        &doc,
        "/api/dashboard/woocommerce",
        "/api/dashboard/woocommerce?days=30",
    )
    .await;
    conforms(&app, &doc, "/api/dashboard/config", "/api/dashboard/config").await;
    conforms(&app, &doc, "/api/v1/prices", "/api/v1/prices").await;
    let history = conforms(&app, &doc, "/api/sessions", "/api/sessions?days=30&limit=5").await;
    let first = history["sessions"][0]["sessionId"]
        .as_str()
        .expect("a session")
        .to_string();
    conforms(
        &app,
        &doc,
        "/api/sessions/{id}",
        &format!("/api/sessions/{first}"),
    )
    .await;
    conforms(&app, &doc, "/api/openapi.json", "/api/openapi.json").await;
    let monitoring = conforms(
        &app,
        &doc,
        "/api/monitoring/chat",
        "/api/monitoring/chat?period=month&includeDetails=true&includeLive=false&limit=3",
    )
    .await;
    assert!(monitoring["live"].is_null());
    assert_eq!(
        monitoring["details"]["sessions"].as_array().map(Vec::len),
        Some(3)
    );
    let by_model = conforms(
        &app,
        &doc,
        "/api/monitoring/chat",
        "/api/monitoring/chat?period=week&model=gpt-4o",
    )
    .await;
    assert!(by_model["responseTimePercentiles"].is_null());
    conforms(
        &app,
        &doc,
        "/api/dashboard/test-connection",
        "/api/dashboard/test-connection",
    )
    .await;
    let saved = send_conforms(
        &app,
        &doc,
        reqwest::Method::PUT,
        "/api/v1/prices",
        json!({"model": "doc-model", "input": "1", "output": "2"}),
    )
    .await;
    assert_eq!(saved["price"]["model"], json!("doc-model"));
    conforms(
        &app,
        &doc,
        "/api/v1/prices/repricing",
        "/api/v1/prices/repricing",
    )
    .await;
    let config = send_conforms(
        &app,
        &doc,
        reqwest::Method::PUT,
        "/api/dashboard/config",
        json!({"domains": [{"domain": "Doc.Example"}]}),
    )
    .await;
    assert!(config["domains"]
        .as_array()
        .is_some_and(|d| d.iter().any(|c| c["domain"] == "doc.example")));

    let answer = post_conforms(&app, &doc, "/api/v1/ingest", json!({"events": [
        {"type": "session.start", "session_id": "doc-live", "model": "gpt-4o", "domain": "shop.example"},
        {"type": "usage", "session_id": "nobody", "input_tokens": 1, "output_tokens": 0}
    ]}))
    .await;
    assert_eq!(
        answer,
        json!({"accepted": 1, "rejected": [{"index": 1, "error": "unknown session", "field": "session_id"}]})
    );
    conforms(&app, &doc, "/api/sessions/{id}", "/api/sessions/doc-live").await;
    let error = post_conforms(
        &app,
        &doc,
        "/api/monitoring/chat",
        json!({"action": "set-alert", "domain": "x", "alert_type": "daily"}),
    )
    .await;
    assert_eq!(error["field"], json!("threshold_usd"));
    // The last step: once a key exists, every request needs one.
    let created = post_conforms(
        &app,
        &doc,
        "/api/keys",
        json!({"scope": "admin", "name": "docs"}),
    )
    .await;
    let key = created["key"].as_str().expect("the new key");
    let (status, keys) = app.get_json("/api/keys", Some(key)).await;
    assert_eq!(status, 200);
    let mut errors = Vec::new();
    check(
        &doc,
        &response_schema(&doc, "/api/keys", "get", "200"),
        &keys,
        "/api/keys",
        &mut errors,
    );
    assert!(
        errors.is_empty(),
        "GET /api/keys differs from the document:\n{}",
        errors.join("\n")
    );

    // Every API route of the router's table is documented, with its method.
    let specs = omniops_server::routes::specs();
    let api: Vec<_> = specs
        .iter()
        .filter(|s| {
            s.path.starts_with("/api/")
                || s.path.starts_with("/v1/")
                || s.path == "/healthz"
                || s.path == "/metrics"
        })
        .collect();
    assert!(api.len() >= 20, "{api:?}");
    for spec in api {
        let method = spec.method.as_str().to_lowercase();
        assert!(
            doc["paths"][spec.path].get(&method).is_some(),
            "{} {} is not in /api/openapi.json",
            spec.method,
            spec.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_sqlite() {
    every_endpoint_answers_as_documented(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_postgres() {
    every_endpoint_answers_as_documented(Engine::Postgres).await;
}
