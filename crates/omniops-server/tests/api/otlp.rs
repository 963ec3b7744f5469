//! `POST /v1/traces`: spans in OTLP/JSON (as the JavaScript SDK and the Collector write it)
//! and gzip-compressed protobuf become sessions that end after their root span and a quiet
//! period. The clock moves; real time only waits for the settling job to look again.

use crate::common::{t, TestApp};
use omniops_server::ingest::otlp::proto;
use omniops_server::Settings;
use omniops_testkit::{Engine, TestDb};
use prost::Message;
use serde_json::{json, Value};
use std::io::Write;

const TRACE: &str = "5b8efff798038103d269b633813fc60c";
const ROOT: &str = "eee19b7ec3c1b174";
const FAILED_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn nanos(time: &str) -> u64 {
    u64::try_from(t(time)).expect("positive") * 1_000
}

/// As `@opentelemetry/otlp-transformer` writes JSON: times as strings, `intValue` as a
/// number, `kind` and status code as integers, empty lists and dropped counts present.
fn js_sdk_request() -> Value {
    let attr = |key: &str, value: Value| json!({"key": key, "value": value});
    json!({"resourceSpans": [{
        "resource": {"attributes": [
            attr("service.name", json!({"stringValue": "shop-bot"})),
            attr("omniops.domain", json!({"stringValue": "shop.example"})),
            attr("telemetry.sdk.language", json!({"stringValue": "nodejs"}))
        ], "droppedAttributesCount": 0},
        "scopeSpans": [{
            "scope": {"name": "@opentelemetry/instrumentation-openai", "version": "0.1.0"},
            "spans": [
                {
                    "traceId": TRACE, "spanId": "a1b2c3d4e5f60718", "parentSpanId": ROOT,
                    "name": "chat gpt-4o", "kind": 3,
                    "startTimeUnixNano": nanos("2026-11-26T12:29:00.100Z").to_string(),
                    "endTimeUnixNano": nanos("2026-11-26T12:29:01.100Z").to_string(),
                    "attributes": [
                        attr("gen_ai.operation.name", json!({"stringValue": "chat"})),
                        attr("gen_ai.provider.name", json!({"stringValue": "openai"})),
                        attr("gen_ai.request.model", json!({"stringValue": "gpt-4o"})),
                        attr("gen_ai.response.model", json!({"stringValue": "gpt-4o"})),
                        attr("gen_ai.conversation.id", json!({"stringValue": "conv-otlp-1"})),
                        attr("gen_ai.usage.input_tokens", json!({"intValue": 2000})),
                        attr("gen_ai.usage.cache_read.input_tokens", json!({"intValue": 1500})),
                        attr("gen_ai.usage.output_tokens", json!({"intValue": 100})),
                        attr("gen_ai.response.finish_reasons", json!({"arrayValue": {"values": [{"stringValue": "tool_calls"}]}}))
                    ],
                    "droppedAttributesCount": 0, "events": [], "droppedEventsCount": 0,
                    "status": {"code": 0}, "links": [], "droppedLinksCount": 0
                },
                {
                    "traceId": TRACE, "spanId": "b1b2c3d4e5f60718", "parentSpanId": ROOT,
                    "name": "execute_tool search_products", "kind": 1,
                    "startTimeUnixNano": nanos("2026-11-26T12:29:01.200Z").to_string(),
                    "endTimeUnixNano": nanos("2026-11-26T12:29:01.450Z").to_string(),
                    "attributes": [
                        attr("gen_ai.operation.name", json!({"stringValue": "execute_tool"})),
                        attr("gen_ai.tool.name", json!({"stringValue": "search_products"})),
                        attr("gen_ai.tool.call.arguments", json!({"stringValue": "{\"query\":\"red shoes\"}"})),
                        attr("gen_ai.conversation.id", json!({"stringValue": "conv-otlp-1"})),
                        attr("omniops.search.results", json!({"intValue": 3}))
                    ],
                    "droppedAttributesCount": 0, "events": [], "droppedEventsCount": 0,
                    "status": {"code": 0}, "links": [], "droppedLinksCount": 0
                }
            ]
        }]
    }]})
}

fn kv(key: &str, value: proto::any_value::Value) -> proto::KeyValue {
    proto::KeyValue {
        key: key.into(),
        value: Some(proto::AnyValue { value: Some(value) }),
    }
}

fn text(key: &str, value: &str) -> proto::KeyValue {
    kv(key, proto::any_value::Value::StringValue(value.into()))
}

fn int(key: &str, value: i64) -> proto::KeyValue {
    kv(key, proto::any_value::Value::IntValue(value))
}

/// The rest of the trace as a Python or Go SDK sends it: protobuf, gzip. The root span and
/// a second model call name no conversation; they join the session their trace-mates named.
fn protobuf_rest_of_trace() -> Vec<u8> {
    let id = |h: &str| hex::decode(h).expect("hex");
    let span =
        |span_id: &str, parent: &str, name: &str, start: &str, end: &str, attributes| proto::Span {
            trace_id: id(TRACE),
            span_id: id(span_id),
            parent_span_id: id(parent),
            name: name.into(),
            kind: 2,
            start_time_unix_nano: nanos(start),
            end_time_unix_nano: nanos(end),
            attributes,
            status: None,
        };
    let request = proto::ExportTraceServiceRequest {
        resource_spans: vec![proto::ResourceSpans {
            resource: Some(proto::Resource {
                attributes: vec![text("service.name", "shop.example")],
            }),
            scope_spans: vec![proto::ScopeSpans {
                spans: vec![
                    // Deprecated names, as instrumentations before semconv 1.28 write them.
                    span(
                        "c1b2c3d4e5f60718",
                        ROOT,
                        "chat gpt-4o",
                        "2026-11-26T12:29:01.500Z",
                        "2026-11-26T12:29:02.000Z",
                        vec![
                            text("gen_ai.operation.name", "chat"),
                            text("gen_ai.system", "openai"),
                            text("gen_ai.request.model", "gpt-4o"),
                            int("gen_ai.usage.prompt_tokens", 1000),
                            int("gen_ai.usage.completion_tokens", 50),
                        ],
                    ),
                    span(
                        ROOT,
                        "",
                        "POST /chat",
                        "2026-11-26T12:29:00.000Z",
                        "2026-11-26T12:29:02.100Z",
                        vec![text("http.request.method", "POST")],
                    ),
                ],
            }],
        }],
    };
    gzip(&request.encode_to_vec())
}

/// As the Collector's `otlphttp` exporter writes JSON: 64-bit integers as strings, empty
/// fields left out, and no parentSpanId on a root.
fn collector_request() -> Value {
    json!({"resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop.example"}}]},
            "scopeSpans": [{"scope": {}, "spans": [{
                "traceId": FAILED_TRACE, "spanId": "00f067aa0ba902b7", "name": "chat gpt-4",
                "kind": 3,
                "startTimeUnixNano": nanos("2026-11-26T12:29:10Z").to_string(),
                "endTimeUnixNano": nanos("2026-11-26T12:29:12Z").to_string(),
                "attributes": [
                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4"}},
                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1000"}},
                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "500"}},
                    {"key": "error.type", "value": {"stringValue": "rate_limit_exceeded"}}
                ],
                "status": {"code": 2, "message": "429 Too Many Requests"}
            }]}]
        },
        {
            "resource": {"attributes": []},
            "scopeSpans": [{"spans": [{
                "traceId": FAILED_TRACE, "spanId": "10f067aa0ba902b7", "name": "orphan",
                "startTimeUnixNano": nanos("2026-11-26T12:29:10Z").to_string(),
                "endTimeUnixNano": nanos("2026-11-26T12:29:11Z").to_string()
            }]}]
        }
    ]})
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

async fn post(app: &TestApp, content_type: &str, gzipped: bool, body: Vec<u8>) -> (u16, Vec<u8>) {
    let mut request = app
        .client
        .post(app.url("/v1/traces"))
        .header("content-type", content_type)
        .body(body);
    if gzipped {
        request = request.header("content-encoding", "gzip");
    }
    let response = request.send().await.expect("POST /v1/traces");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

async fn post_json(app: &TestApp, body: &Value) -> (u16, Value) {
    let (status, bytes) = post(
        app,
        "application/json",
        false,
        body.to_string().into_bytes(),
    )
    .await;
    (status, serde_json::from_slice(&bytes).expect("JSON answer"))
}

async fn session(app: &TestApp, id: &str) -> Value {
    let (status, s) = app.get_json(&format!("/api/sessions/{id}"), None).await;
    assert_eq!(status, 200, "{s}");
    s
}

async fn wait_until_ended(app: &TestApp, id: &str) -> Value {
    for _ in 0..300 {
        let s = session(app, id).await;
        if s["live"] == json!(false) {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("session {id} did not end");
}

async fn spans_become_sessions(engine: Engine) {
    let Some(db) = TestDb::open(engine).await else {
        return;
    };
    let settings = Settings {
        otlp_quiet_ms: 2_000,
        reaper_interval_ms: 20,
        ..Settings::default()
    };
    let app = TestApp::boot(db, settings).await;

    assert_eq!(post_json(&app, &js_sdk_request()).await, (200, json!({})));
    // A retried export changes nothing: spans are applied once, by span id.
    assert_eq!(post_json(&app, &js_sdk_request()).await, (200, json!({})));
    let (status, answer) = post(
        &app,
        "application/x-protobuf",
        true,
        protobuf_rest_of_trace(),
    )
    .await;
    assert_eq!(status, 200);
    let answer =
        proto::ExportTraceServiceResponse::decode(answer.as_slice()).expect("protobuf answer");
    assert_eq!(answer.partial_success, None, "every span accepted");

    // Root span arrived at 12:30:00 (the clock); the session waits out the quiet period.
    let live = session(&app, "conv-otlp-1").await;
    assert_eq!(live["live"], json!(true));
    // gpt-4o: 500 uncached × $2.50 + 1,500 cached × $1.25 + 100 × $10 per million = $0.004125,
    // then 1,000 × $2.50 + 50 × $10 per million = $0.003000.
    assert_eq!(live["costUsd"], json!("0.007125"));
    assert_eq!(
        (
            &live["model"],
            &live["domain"],
            &live["iterations"],
            &live["searchCount"],
            &live["totalResults"]
        ),
        (
            &json!("gpt-4o"),
            &json!("shop.example"),
            &json!(2),
            &json!(1),
            &json!(3)
        )
    );
    assert_eq!(live["searches"][0]["query"], json!("red shoes"));
    assert_eq!(live["searches"][0]["source"], json!("search_products"));
    assert_eq!(
        live["metadata"],
        json!({"source": "otlp", "provider": "openai"})
    );

    let (status, answer) = post_json(&app, &collector_request()).await;
    assert_eq!(status, 200);
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], json!("1"));
    let message = answer["partialSuccess"]["errorMessage"]
        .as_str()
        .unwrap_or("");
    assert!(message.contains("1 span: no domain"), "{message}");

    app.clock.set(t("2026-11-26T12:30:03Z"));
    let ended = wait_until_ended(&app, "conv-otlp-1").await;
    // From the root span's start (12:29:00.000) to its end (12:29:02.100).
    assert_eq!(
        (&ended["success"], &ended["error"], &ended["durationMs"]),
        (&json!(true), &Value::Null, &json!(2_100))
    );
    // gpt-4: 1,000 × $30 + 500 × $60 per million = $0.060000.
    let failed = wait_until_ended(&app, FAILED_TRACE).await;
    assert_eq!(
        (&failed["success"], &failed["error"], &failed["costUsd"]),
        (
            &json!(false),
            &json!("rate_limit_exceeded"),
            &json!("0.060000")
        )
    );

    // A span after its session ended is rejected, and said so.
    assert_eq!(
        post_json(&app, &js_sdk_request()).await,
        (200, json!({})),
        "a repeat of applied spans is still accepted"
    );
    let mut late = js_sdk_request();
    late["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = json!("d1b2c3d4e5f60718");
    let (_, answer) = post_json(&app, &late).await;
    assert_eq!(
        answer,
        json!({"partialSuccess": {"rejectedSpans": "1", "errorMessage": "1 span: session ended"}})
    );

    // A trace whose root never arrives ends by the idle reaper, as its spans say: a success.
    let mut rootless = js_sdk_request();
    let spans = &mut rootless["resourceSpans"][0]["scopeSpans"][0]["spans"];
    spans[0]["traceId"] = json!("6b8efff798038103d269b633813fc60c");
    spans[0]["attributes"][4] =
        json!({"key": "gen_ai.conversation.id", "value": {"stringValue": "conv-rootless"}});
    spans[1]["traceId"] = json!("6b8efff798038103d269b633813fc60c");
    spans[1]["attributes"][3] =
        json!({"key": "gen_ai.conversation.id", "value": {"stringValue": "conv-rootless"}});
    assert_eq!(post_json(&app, &rootless).await, (200, json!({})));
    app.clock.set(t("2026-11-26T12:50:00Z"));
    let reaped = wait_until_ended(&app, "conv-rootless").await;
    assert_eq!(
        (&reaped["success"], &reaped["error"]),
        (&json!(true), &Value::Null)
    );

    let (_, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(
        (
            &r["overview"]["totalRequests"],
            &r["overview"]["failedRequests"]
        ),
        (&json!(3), &json!(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_sqlite() {
    spans_become_sessions(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_postgres() {
    spans_become_sessions(Engine::Postgres).await;
}

async fn bad_requests_get_otlp_answers(app: &TestApp) {
    let (status, body) = post(app, "application/x-protobuf", false, vec![0xff, 0xff, 0xff]).await;
    assert_eq!(status, 400);
    let rpc = proto::RpcStatus::decode(body.as_slice()).expect("google.rpc.Status");
    assert_eq!(rpc.code, 3);
    assert!(
        rpc.message.starts_with("invalid OTLP protobuf"),
        "{}",
        rpc.message
    );

    let (status, body) = post(
        app,
        "application/json",
        false,
        b"{\"resourceSpans\": [".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    let answer: Value = serde_json::from_slice(&body).expect("JSON status");
    assert_eq!(answer["code"], json!(3));

    let mut bad_id = js_sdk_request();
    bad_id["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = json!("not-hex");
    let (status, answer) = post_json(app, &bad_id).await;
    assert_eq!(
        (status, &answer["message"]),
        (400, &json!("traceId is not hex: \"not-hex\""))
    );

    let (status, _) = post(app, "text/plain", false, b"hello".to_vec()).await;
    assert_eq!(status, 415);
    let (status, _) = post(app, "application/json", true, b"not gzip".to_vec()).await;
    assert_eq!(status, 400);

    // 20 MiB after decompression is the limit, however small the compressed body.
    let huge = gzip(&vec![b' '; 21 * 1024 * 1024]);
    assert!(huge.len() < 1024 * 1024);
    let (status, _) = post(app, "application/json", true, huge).await;
    assert_eq!(status, 413);

    // gzip JSON works too; nothing above was stored.
    let body = gzip(js_sdk_request().to_string().as_bytes());
    let (status, answer) = post(app, "application/json", true, body).await;
    assert_eq!((status, answer), (200, b"{}".to_vec()));
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(r["overview"]["activeSessions"], json!(1));

    // Spans that decode but cannot be stored are counted and named, one reason each.
    let mut unusable = js_sdk_request();
    let spans = &mut unusable["resourceSpans"][0]["scopeSpans"][0]["spans"];
    spans[0]["traceId"] = json!("00000000000000000000000000000000");
    spans[1]["startTimeUnixNano"] = json!("0");
    assert_eq!(
        post_json(app, &unusable).await,
        (
            200,
            json!({"partialSuccess": {"rejectedSpans": "2", "errorMessage":
                "1 span: traceId must be 16 bytes, not all zero; 1 span: startTimeUnixNano is missing"}})
        )
    );

    // A key scoped to another domain may send none of these spans.
    let (_, other) = app
        .db
        .store
        .create_key(
            omniops_store::Scope::Ingest,
            Some("other.example"),
            None,
            t(crate::common::NOW),
        )
        .await
        .expect("key");
    // The server caches "no keys" for up to two seconds.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let response = app
        .client
        .post(app.url("/v1/traces"))
        .bearer_auth(&other)
        .json(&js_sdk_request())
        .send()
        .await
        .expect("POST /v1/traces");
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.expect("JSON answer");
    assert_eq!(
        answer,
        json!({"partialSuccess": {"rejectedSpans": "2", "errorMessage":
            "2 spans: this key may only send data for domain other.example"}})
    );
}

crate::http_test!(otlp_bad_requests, bad_requests_get_otlp_answers);
