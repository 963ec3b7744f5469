//! The OTLP part of `omniops bench`: three-span traces (an agent root, a model call with
//! usage, a tool call) sent as gzip-free protobuf in exports of 170 traces (510 spans, as an
//! SDK's batch processor sends at most 512), timed until every one of them has been stored
//! and then until every session has settled (root ended, quiet period over).

use crate::bench::{send_all, Endpoint};
use omniops_core::clock::{Clock, SystemClock};
use omniops_server::ingest::otlp::proto;
use prost::Message;
use std::time::{Duration, Instant};

const TRACES_PER_EXPORT: usize = 170;
const MODELS: [&str; 3] = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"];

fn text(key: &str, value: &str) -> proto::KeyValue {
    proto::KeyValue {
        key: key.into(),
        value: Some(proto::AnyValue {
            value: Some(proto::any_value::Value::StringValue(value.into())),
        }),
    }
}

fn int(key: &str, value: i64) -> proto::KeyValue {
    proto::KeyValue {
        key: key.into(),
        value: Some(proto::AnyValue {
            value: Some(proto::any_value::Value::IntValue(value)),
        }),
    }
}

fn trace(n: usize, domains: usize, start_nanos: u64) -> Vec<proto::Span> {
    let trace_id = (n as u128 + 1).to_be_bytes().to_vec();
    let span_id = |k: u64| ((n as u64) * 4 + k + 1).to_be_bytes().to_vec();
    let conversation = format!("otlp-{n}");
    let ms = 1_000_000u64;
    let span = |k: u64, parent: Vec<u8>, name: &str, from: u64, to: u64, attributes| proto::Span {
        trace_id: trace_id.clone(),
        span_id: span_id(k),
        parent_span_id: parent,
        name: name.into(),
        kind: 1,
        start_time_unix_nano: start_nanos + from * ms,
        end_time_unix_nano: start_nanos + to * ms,
        attributes,
        status: None,
    };
    let model = MODELS[n % MODELS.len()];
    vec![
        span(
            1,
            span_id(0),
            &format!("chat {model}"),
            10,
            900,
            vec![
                text("gen_ai.operation.name", "chat"),
                text("gen_ai.request.model", model),
                text("gen_ai.conversation.id", &conversation),
                text("omniops.domain", &format!("shop{}.example", n % domains)),
                int("gen_ai.usage.input_tokens", 1_200 + (n % 800) as i64),
                int("gen_ai.usage.output_tokens", 150 + (n % 300) as i64),
            ],
        ),
        span(
            2,
            span_id(0),
            "execute_tool search_products",
            900,
            1_100,
            vec![
                text("gen_ai.operation.name", "execute_tool"),
                text("gen_ai.tool.name", "search_products"),
                text("gen_ai.conversation.id", &conversation),
                text("omniops.domain", &format!("shop{}.example", n % domains)),
                int("omniops.search.results", (n % 5) as i64),
            ],
        ),
        span(
            0,
            Vec::new(),
            "invoke_agent shop-assistant",
            0,
            1_200,
            vec![
                text("gen_ai.operation.name", "invoke_agent"),
                text("omniops.domain", &format!("shop{}.example", n % domains)),
            ],
        ),
    ]
}

fn exports(sessions: usize, domains: usize) -> Vec<Vec<u8>> {
    let now = u64::try_from(SystemClock.now()).unwrap_or(0) * 1_000;
    (0..sessions)
        .step_by(TRACES_PER_EXPORT)
        .map(|first| {
            let spans = (first..(first + TRACES_PER_EXPORT).min(sessions))
                .flat_map(|n| trace(n, domains.max(1), now - 60_000_000_000))
                .collect();
            proto::ExportTraceServiceRequest {
                resource_spans: vec![proto::ResourceSpans {
                    resource: Some(proto::Resource {
                        attributes: vec![text("service.name", "shop-assistant")],
                    }),
                    scope_spans: vec![proto::ScopeSpans { spans }],
                }],
            }
            .encode_to_vec()
        })
        .collect()
}

async fn live_sessions(client: &reqwest::Client, base: &str) -> anyhow::Result<i64> {
    let report: serde_json::Value = client
        .get(format!("{base}/api/dashboard/telemetry?days=1"))
        .send()
        .await?
        .json()
        .await?;
    report["live"]["activeSessions"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("no live.activeSessions in {report}"))
}

/// Sends `sessions` traces over `concurrency` clients; prints both rates.
pub async fn run(
    client: &reqwest::Client,
    base: &str,
    sessions: usize,
    domains: usize,
    concurrency: usize,
    quiet_ms: u64,
) -> anyhow::Result<()> {
    let bodies = exports(sessions, domains);
    let started = Instant::now();
    send_all(client, base, Endpoint::Traces, bodies, concurrency).await?;
    let stored = started.elapsed().as_secs_f64();
    println!(
        "otlp path  {:>9} sessions in {:>6.2} s = {:>8.0} sessions/s (3 spans each, protobuf, {} clients)",
        sessions,
        stored,
        sessions as f64 / stored,
        concurrency,
    );
    while live_sessions(client, base).await? > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let settled = started.elapsed().as_secs_f64();
    println!(
        "otlp path  {:>9} sessions ended after {:>6.2} s = {:>8.0} sessions/s (quiet period {} ms)",
        sessions,
        settled,
        sessions as f64 / settled,
        quiet_ms
    );
    Ok(())
}
