//! Costs on traffic as it really arrives, on both engines: dated, prefixed and capitalised
//! model names; a dated OpenAI name through OpenTelemetry; each call priced at its context
//! and service tier; imports of a LiteLLM-format catalogue; and the unpriced path from the
//! live stream to the costs page's "Set a price" command. Every figure is worked out by
//! hand beside it.

use crate::common::TestApp;
use crate::http_test;
use crate::live::Events;
use serde_json::{json, Value};

/// A backfilled session of 1,000,000 input and 100,000 output tokens.
fn million(id: &str, model: &str, domain: &str) -> Value {
    json!({"type": "session", "session_id": id, "model": model, "domain": domain,
           "start_time": "2026-11-26T10:00:00Z", "duration_ms": 1000, "success": true,
           "input_tokens": 1_000_000, "output_tokens": 100_000})
}

async fn details(app: &TestApp, id: &str) -> Value {
    let (status, d) = app.get_json(&format!("/api/sessions/{id}"), None).await;
    assert_eq!(status, 200, "{d}");
    d
}

async fn real_names_are_priced(app: &TestApp) {
    // USD per million in / out, from LiteLLM's catalogue (shared/spec/model-prices.md);
    // 1M in and 100k out cost input + output / 10.
    let cases = [
        ("gpt-4o-2024-08-06", "3.500000"),      // 2.50 + 10.00 / 10
        ("gpt-4o-mini-2024-07-18", "0.210000"), // 0.15 + 0.60 / 10
        ("gpt-5-mini-2025-08-07", "0.450000"),  // 0.25 + 2.00 / 10
        ("gpt-4-0613", "36.000000"),            // 30 + 60 / 10
        ("gpt-3.5-turbo-0125", "0.650000"),     // 0.50 + 1.50 / 10
        ("gpt-5", "2.250000"),                  // 1.25 + 10 / 10
        ("o3-mini", "1.540000"),                // 1.10 + 4.40 / 10
        ("azure/gpt-4o", "3.500000"),           // its own entry: 2.50 + 10 / 10
        ("GPT-4", "36.000000"),                 // names match in any case
        ("gpt-4o-2024-05-13", "6.500000"),      // its own dated price, not gpt-4o's: 5 + 15 / 10
    ];
    let events: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, (model, _))| million(&format!("n{i}"), model, "shop.example"))
        .collect();
    assert_eq!(app.ingest(json!(events)).await.1["accepted"], 10);
    for (i, (model, cost)) in cases.iter().enumerate() {
        let d = details(app, &format!("n{i}")).await;
        assert_eq!(d["costUsd"], json!(cost), "{model}");
    }
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(r["overview"]["unpricedRequests"], 0);
    // 3.50 + 0.21 + 0.45 + 36 + 0.65 + 2.25 + 1.54 + 3.50 + 36 + 6.50
    assert_eq!(r["cost"]["total"], "90.6000");
    // The session details name the entry: azure/gpt-4o priced as its own.
    let d = details(app, "n7").await;
    assert_eq!(d["price"]["model"], "azure/gpt-4o");
    assert_eq!(d["price"]["origin"], "default");
}
http_test!(real_names, real_names_are_priced);

async fn each_call_pays_its_own_tier(app: &TestApp) {
    let events = json!([
        {"type": "session.start", "session_id": "g", "model": "gemini-2.5-pro", "domain": "shop.example"},
        {"type": "usage", "session_id": "g", "input_tokens": 250_000, "output_tokens": 1_000},
        {"type": "usage", "session_id": "g", "input_tokens": 100_000, "output_tokens": 1_000},
        {"type": "session.end", "session_id": "g", "success": true},
        // Anthropic usage with one-hour cache writes, through the provider's own object.
        {"type": "session.start", "session_id": "a", "model": "claude-sonnet-4-5", "domain": "shop.example"},
        {"type": "usage", "session_id": "a", "usage": {"input_tokens": 100, "cache_creation_input_tokens": 1_000,
            "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 600}, "output_tokens": 10}},
        // OpenAI's flex tier, named beside the usage object.
        {"type": "session.start", "session_id": "f", "model": "gpt-5", "domain": "shop.example"},
        {"type": "usage", "session_id": "f", "service_tier": "flex", "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 0}}
    ]);
    assert_eq!(app.ingest(events).await.1["accepted"], 8);
    // gemini-2.5-pro, above 200k input tokens $2.50 / $15, else $1.25 / $10 per million:
    // 250,000 × 2.50 + 1,000 × 15 = $0.640; 100,000 × 1.25 + 1,000 × 10 = $0.135.
    let d = details(app, "g").await;
    assert_eq!(d["costUsd"], "0.775000");
    assert_eq!(d["callCount"], 2);
    assert_eq!(
        (
            d["calls"][0]["aboveInputTokens"].clone(),
            d["calls"][0]["cost"].clone()
        ),
        (json!(200_000), json!("0.640000000"))
    );
    assert_eq!(
        (
            d["calls"][1]["aboveInputTokens"].clone(),
            d["calls"][1]["cost"].clone()
        ),
        (Value::Null, json!("0.135000000"))
    );
    let line = |kind: &str, above: Value| {
        d["costBreakdown"]
            .as_array()
            .and_then(|lines| {
                lines
                    .iter()
                    .find(|l| l["type"] == kind && l["aboveInputTokens"] == above)
            })
            .map(|l| {
                (
                    l["tokens"].clone(),
                    l["usdPerMillion"].clone(),
                    l["cost"].clone(),
                )
            })
    };
    assert_eq!(
        line("input", json!(200_000)),
        Some((json!(250_000), json!("2.5"), json!("0.62500000")))
    );
    assert_eq!(
        line("input", Value::Null),
        Some((json!(100_000), json!("1.25"), json!("0.12500000")))
    );
    assert_eq!(
        line("output", json!(200_000)),
        Some((json!(1_000), json!("15"), json!("0.01500000")))
    );
    // claude-sonnet-4-5: 100 × 3.00 + 400 × 3.75 (5 minutes) + 600 × 6.00 (1 hour) + 10 × 15.
    let d = details(app, "a").await;
    assert_eq!(d["costUsd"], "0.005550");
    assert_eq!(d["calls"][0]["tokens"]["cacheWrite1h"], 600);
    // gpt-5 flex: 1,000,000 × 0.625.
    let d = details(app, "f").await;
    assert_eq!(
        (d["costUsd"].clone(), d["calls"][0]["serviceTier"].clone()),
        (json!("0.625000"), json!("flex"))
    );
    // Rollups sum the calls: the ended gemini session is the day's only ended one.
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(r["cost"]["total"], "0.7750");
}
http_test!(call_tiers, each_call_pays_its_own_tier);

fn nanos(time: &str) -> String {
    (crate::common::t(time) * 1_000).to_string()
}

async fn a_dated_openai_name_through_opentelemetry_is_priced(app: &TestApp) {
    let attr = |key: &str, value: Value| json!({"key": key, "value": value});
    let export = json!({"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", json!({"stringValue": "shop.example"}))]},
        "scopeSpans": [{"spans": [{
            "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7",
            "name": "chat gpt-4o", "kind": 3,
            "startTimeUnixNano": nanos("2026-11-26T12:29:00Z"), "endTimeUnixNano": nanos("2026-11-26T12:29:01Z"),
            "attributes": [
                attr("gen_ai.operation.name", json!({"stringValue": "chat"})),
                attr("gen_ai.request.model", json!({"stringValue": "gpt-4o"})),
                // What OpenAI answers with, and what the span carries.
                attr("gen_ai.response.model", json!({"stringValue": "gpt-4o-2024-08-06"})),
                attr("openai.response.service_tier", json!({"stringValue": "default"})),
                attr("gen_ai.conversation.id", json!({"stringValue": "otel-dated"})),
                attr("gen_ai.usage.input_tokens", json!({"intValue": 2000})),
                attr("gen_ai.usage.cache_read.input_tokens", json!({"intValue": 1500})),
                attr("gen_ai.usage.output_tokens", json!({"intValue": 100}))
            ]
        }]}]
    }]});
    let response = app
        .client
        .post(app.url("/v1/traces"))
        .json(&export)
        .send()
        .await
        .expect("POST /v1/traces");
    assert_eq!(response.status().as_u16(), 200);
    // 500 × 2.50 + 1,500 × 1.25 (cached) + 100 × 10.00 = 4,125 per million.
    let d = details(app, "otel-dated").await;
    assert_eq!(d["model"], "gpt-4o-2024-08-06");
    assert_eq!(d["costUsd"], "0.004125");
    assert_eq!(d["price"]["model"], "gpt-4o-2024-08-06");
}
http_test!(
    otlp_dated_name,
    a_dated_openai_name_through_opentelemetry_is_priced
);

async fn post_import(app: &TestApp, query: &str, file: &Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/prices/import{query}")))
        .json(file)
        .send()
        .await
        .expect("import");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

async fn an_import_adds_a_model_and_prices_its_sessions(app: &TestApp) {
    // Yesterday's session of a model nobody prices yet.
    let mut old = million("acme-old", "acme-chat-1", "shop.example");
    old["start_time"] = json!("2026-11-25T10:00:00Z");
    app.ingest(json!([old])).await;
    // A user's own gpt-4o-mini price, which no import may change.
    let r = app
        .client
        .put(app.url("/api/v1/prices"))
        .json(&json!({"model": "gpt-4o-mini", "input": "0.10", "output": "0.50", "effectiveFrom": "2026-01-01"}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 200);
    let file = json!({
        "sample_spec": {"mode": "one of: chat, embedding"},
        "acme-chat-1": {"mode": "chat", "input_cost_per_token": 2e-6, "output_cost_per_token": 4e-6},
        "gpt-4": {"mode": "chat", "input_cost_per_token": 1e-5, "output_cost_per_token": 2e-5},
        "gpt-4o-mini": {"mode": "chat", "input_cost_per_token": 9e-6, "output_cost_per_token": 9e-6},
        "o3-mini": {"mode": "chat", "input_cost_per_token": 1.1e-6, "output_cost_per_token": 4.4e-6,
                    "cache_read_input_token_cost": 5.5e-7, "input_cost_per_token_batches": 5.5e-7,
                    "output_cost_per_token_batches": 2.2e-6},
        "acme-embed": {"mode": "embedding", "input_cost_per_token": 1e-8}
    });
    // A dry run reports and stores nothing.
    let (status, dry) = post_import(app, "?dryRun=true", &file).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["dryRun"], true);
    assert_eq!(dry["added"], json!(["acme-chat-1"]));
    assert_eq!(dry["changed"][0]["model"], "gpt-4");
    assert_eq!(
        (
            dry["changed"][0]["before"]["input"].clone(),
            dry["changed"][0]["after"]["input"].clone()
        ),
        (json!("30"), json!("10"))
    );
    assert_eq!(dry["unchanged"], 1, "o3-mini charges what the defaults do");
    assert_eq!(dry["keptUserPrices"], json!(["gpt-4o-mini"]));
    assert_eq!(dry["skipped"], 1, "the embedding model");
    let (_, list) = app.get_json("/api/v1/prices?q=acme", None).await;
    assert_eq!(list["pagination"]["total"], 0, "{list}");

    let (status, done) = post_import(app, "?source=litellm-main.json", &file).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["added"].clone(), done["repricing"].clone()),
        (json!(["acme-chat-1"]), Value::Null)
    );
    let (_, list) = app
        .get_json("/api/v1/prices?q=acme-chat-1&origin=import", None)
        .await;
    assert_eq!(list["prices"][0]["effectiveFrom"], "2026-11-26");
    assert_eq!(list["prices"][0]["source"], "litellm-main.json");
    // A new session is priced at once: 1,000,000 × 2 + 100,000 × 4 per million = $2.40.
    app.ingest(json!([million("acme-new", "acme-chat-1", "shop.example")]))
        .await;
    assert_eq!(details(app, "acme-new").await["costUsd"], "2.400000");
    // The import takes effect from today: yesterday stays unpriced, and gpt-4o-mini keeps
    // the user's price.
    assert_eq!(details(app, "acme-old").await["costUsd"], Value::Null);
    app.ingest(json!([million("mini", "gpt-4o-mini", "shop.example")]))
        .await;
    // 1,000,000 × 0.10 + 100,000 × 0.50
    assert_eq!(details(app, "mini").await["costUsd"], "0.150000");

    // Backdated with recompute, history is priced too.
    let (status, back) = post_import(app, "?effectiveFrom=2026-11-01&recompute=true", &file).await;
    assert_eq!(status, 200, "{back}");
    let job = app.repriced(&back["repricing"]["id"]).await;
    assert_eq!(job["sessionsChanged"], 1, "{job}");
    assert_eq!(details(app, "acme-old").await["costUsd"], "2.400000");
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=7", None).await;
    assert_eq!(r["overview"]["unpricedRequests"], 0);

    // Bad files name what is wrong.
    let (status, bad) = post_import(app, "", &json!([1, 2])).await;
    assert_eq!(
        (status, bad["error"].clone()),
        (
            400,
            json!("the price file must be a JSON object of model names")
        )
    );
    let (status, bad) = post_import(app, "?effectiveFrom=soon", &file).await;
    assert_eq!(
        (status, bad["field"].clone()),
        (400, json!("effectiveFrom"))
    );
}
http_test!(price_import, an_import_adds_a_model_and_prices_its_sessions);

async fn unpriced_usage_is_announced_flagged_and_fixed_as_shown(app: &TestApp) {
    let mut all = Events::open(app, "").await;
    let mut other = Events::open(app, "?domain=b.example").await;
    let start = |id: &str, model: &str, domain: &str| json!({"type": "session.start", "session_id": id, "model": model, "domain": domain});
    app.ingest(json!([start("u1", "mystery-llm", "a.example")]))
        .await;
    app.ingest(json!([start("u2", "mystery-llm", "a.example")]))
        .await;
    app.ingest(json!([start("u3", "gpt-4", "b.example")])).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (name, data) = all.next_except(&["summary"]).await;
        seen.push((
            name,
            data["sessionId"]
                .as_str()
                .or(data["model"].as_str())
                .unwrap_or_default()
                .to_string(),
        ));
    }
    // The model's first session is announced once, for its domain.
    let names: Vec<(&str, &str)> = seen.iter().map(|(n, d)| (n.as_str(), d.as_str())).collect();
    assert_eq!(
        names,
        vec![
            ("session.started", "u1"),
            ("unpriced.model", "mystery-llm"),
            ("session.started", "u2"),
            ("session.started", "u3")
        ]
    );
    // A stream of another domain hears nothing of it.
    let (name, data) = other.next_except(&["summary"]).await;
    assert_eq!(
        (name.as_str(), data["sessionId"].clone()),
        ("session.started", json!("u3"))
    );

    // A domain whose requests are all unpriced says so.
    app.ingest(json!([
        million("u4", "mystery-llm", "a.example"),
        million("u5", "gpt-4", "b.example")
    ]))
    .await;
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=7", None).await;
    let domain = |name: &str| {
        r["domainBreakdown"]
            .as_array()
            .and_then(|d| d.iter().find(|x| x["domain"] == name))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        (
            domain("a.example")["cost"].clone(),
            domain("a.example")["unpricedRequests"].clone(),
            domain("a.example")["unpriced"].clone()
        ),
        (json!("0.0000"), json!(1), json!(true))
    );
    assert_eq!(domain("b.example")["unpriced"], false);

    // The costs page's "Set a price" command, run as shown, prices the model.
    let html = app
        .client
        .get(app.url("/dashboard/partials/models?days=7"))
        .send()
        .await
        .expect("partial")
        .text()
        .await
        .expect("html");
    let command = code_block(&html, "set-price-command").expect("a Set a price command");
    assert!(command.contains(&app.url("/api/v1/prices")), "{command}");
    assert!(
        !command.contains("Authorization"),
        "no keys, no header: {command}"
    );
    let answer = run_shell(&command);
    assert_eq!(answer["price"]["model"], "mystery-llm", "{answer}");
    app.repriced(&answer["repricing"]["id"]).await;
    // The placeholder prices, $1 in and $2 out per million, from the window's first day:
    // u4 is 1,000,000 × 1 + 100,000 × 2 = $1.20.
    assert_eq!(details(app, "u4").await["costUsd"], "1.200000");
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=7", None).await;
    assert_eq!(r["overview"]["unpricedRequests"], 0);
}
http_test!(
    unpriced_path,
    unpriced_usage_is_announced_flagged_and_fixed_as_shown
);

/// The text of `<code data-testid="…">` in a page, its entities decoded.
pub(crate) fn code_block(html: &str, testid: &str) -> Option<String> {
    let marker = format!("data-testid=\"{testid}\">");
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find("</code>")?;
    Some(
        html[start..end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// Runs a shown shell command (curl) and reads its output as JSON.
pub(crate) fn run_shell(command: &str) -> Value {
    let output = std::process::Command::new("sh")
        .args(["-c", &format!("{command} --silent --show-error")])
        .output()
        .expect("sh and curl (.ci/run installs curl)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "JSON from {command}: {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

async fn the_command_carries_a_key_placeholder_when_keys_exist(app: &TestApp) {
    let now = crate::common::t(crate::common::NOW);
    let (_, admin) = app
        .db
        .store
        .create_key(omniops_store::Scope::Admin, None, None, now)
        .await
        .expect("key");
    app.ingest_as(
        json!([million("k1", "mystery-llm", "a.example")]),
        Some(&admin),
    )
    .await;
    let html = app
        .client
        .get(app.url("/dashboard/partials/models?days=7"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("partial")
        .text()
        .await
        .expect("html");
    let command = code_block(&html, "set-price-command").expect("command");
    assert!(
        command.contains("-H 'Authorization: Bearer <your admin key>'"),
        "{command}"
    );
    let answer = run_shell(&command.replace("<your admin key>", &admin));
    assert_eq!(answer["price"]["model"], "mystery-llm", "{answer}");
    // The empty state's first-session command is addressed to this server too.
    let html = app
        .client
        .get(app.url("/dashboard/partials/trend?domain=nobody.example"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("partial")
        .text()
        .await
        .expect("html");
    let command = code_block(&html, "first-session-command").expect("command");
    assert!(
        command.starts_with(&format!("curl -X POST {}", app.url("/api/v1/ingest"))),
        "{command}"
    );
    assert!(command.contains("<your ingest key>"), "{command}");
    let answer = run_shell(
        &command
            .replace("<your ingest key>", &admin)
            .replace("shop.example", "nobody.example"),
    );
    assert_eq!(answer["accepted"], 1, "{answer}");
}
http_test!(
    set_price_with_keys,
    the_command_carries_a_key_placeholder_when_keys_exist
);

/// `omniops prices import` writes directly when no server runs, refuses on SQLite while
/// one does, and goes through a running server's admin API with `--url`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_command_refuses_to_write_under_a_running_server() {
    use omniops_server::commands::{import_prices, Remote};
    use omniops_server::queries::prices::ImportOptions;
    let dir = tempfile::tempdir().expect("dir");
    let settings = omniops_server::Settings {
        data_dir: dir.path().to_path_buf(),
        ..omniops_server::Settings::default()
    };
    let file = json!({"cli-llm": {"mode": "chat", "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}})
        .to_string()
        .into_bytes();
    let options = ImportOptions {
        dry_run: false,
        recompute: false,
        effective_from: chrono::NaiveDate::from_ymd_opt(2026, 11, 26).expect("date"),
        source: "cli.json".into(),
    };
    // No server: written directly.
    let report = import_prices(&settings, &file, &options, None)
        .await
        .expect("direct import");
    assert_eq!(report["added"], json!(["cli-llm"]));

    // A server on the same data directory holds it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server_settings = settings.clone();
    let server = tokio::spawn(async move {
        omniops_server::launch_with_listener(server_settings, listener, async {
            let _ = stopped.await;
        })
        .await
    });
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let refused = import_prices(&settings, &file, &options, None)
        .await
        .expect_err("refused");
    assert!(
        refused
            .to_string()
            .contains("a server is using the database"),
        "{refused}"
    );
    // Through the server's API instead: the same report.
    let remote = Remote {
        url: format!("http://{addr}"),
        key: None,
    };
    let report = import_prices(&settings, &file, &options, Some(&remote))
        .await
        .expect("through the server");
    assert_eq!(
        (report["added"].clone(), report["unchanged"].clone()),
        (json!([]), json!(1))
    );
    let _ = stop.send(());
    server.await.expect("server task").expect("server");
}
