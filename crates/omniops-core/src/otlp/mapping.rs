//! OpenTelemetry GenAI semantic conventions onto Omniops sessions: which session a span
//! belongs to, its domain, model, tokens, and whether it is an iteration, a search or a
//! failure.

use super::{AttrValue, Attributes, ResourceBlock, SpanRecord};
use crate::clock::Micros;
use crate::domain::Domain;
use crate::events::{check_id, check_nul, check_text, EventKind, IngestEvent};
use crate::span::{SpanFacts, SpanOperation};
use crate::usage::{ServiceTier, TokenUsage};
use std::collections::HashMap;

/// OTLP's `STATUS_CODE_ERROR`.
const STATUS_ERROR: i32 = 2;

/// Spans that sum their children's usage; counting theirs too would count tokens twice.
const AGGREGATE_OPERATIONS: [&str; 3] = ["invoke_agent", "create_agent", "invoke_workflow"];
const MODEL_CALLS: [&str; 3] = ["chat", "text_completion", "generate_content"];

/// The session id a span names itself: `gen_ai.conversation.id`, else `session.id`, on the
/// span or its resource.
fn named_session(span: &SpanRecord, resource: &Attributes) -> Option<String> {
    ["gen_ai.conversation.id", "session.id"]
        .iter()
        .find_map(|key| span.attributes.text(key).or_else(|| resource.text(key)))
        .map(str::to_string)
}

/// Remembers which session a trace belongs to, so a span that does not name its session
/// (often the root) joins the one its trace-mates named in an earlier request. Bounded: when
/// full it starts over, and a forgotten trace falls back to its trace id.
#[derive(Default)]
pub struct TraceSessions {
    sessions: HashMap<Vec<u8>, String>,
}

const TRACES_REMEMBERED: usize = 200_000;

impl TraceSessions {
    fn remember(&mut self, trace_id: &[u8], session_id: &str) {
        if self.sessions.len() >= TRACES_REMEMBERED {
            self.sessions.clear();
        }
        self.sessions
            .entry(trace_id.to_vec())
            .or_insert_with(|| session_id.to_string());
    }
}

/// Why a span was rejected, for the answer's `partialSuccess`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(pub String);

impl From<String> for Rejected {
    fn from(reason: String) -> Self {
        Rejected(reason)
    }
}

impl From<&str> for Rejected {
    fn from(reason: &str) -> Self {
        Rejected(reason.to_string())
    }
}

/// One span mapped, or why it was rejected.
pub type Mapped = Result<IngestEvent, Rejected>;

/// Maps every span of a request. Spans of one trace go to one session: the one any of them
/// names (in this request or an earlier one), else the trace id in hex.
pub fn map_request(
    blocks: &[ResourceBlock],
    traces: &mut TraceSessions,
    received_at: Micros,
) -> Vec<Mapped> {
    let spans: Vec<(&ResourceBlock, &SpanRecord, Option<String>)> = blocks
        .iter()
        .flat_map(|block| block.spans.iter().map(move |span| (block, span)))
        .map(|(block, span)| (block, span, named_session(span, &block.attributes)))
        .collect();
    for (_, span, named) in &spans {
        if let Some(session) = named {
            traces.remember(&span.trace_id, session);
        }
    }
    spans
        .into_iter()
        .map(|(block, span, named)| {
            let session_id = named
                .or_else(|| traces.sessions.get(&span.trace_id).cloned())
                .unwrap_or_else(|| hex::encode(&span.trace_id));
            map_span(span, &block.attributes, session_id, received_at)
        })
        .collect()
}

fn map_span(
    span: &SpanRecord,
    resource: &Attributes,
    session_id: String,
    received_at: Micros,
) -> Mapped {
    if span.trace_id.len() != 16 || span.trace_id.iter().all(|b| *b == 0) {
        return Err("traceId must be 16 bytes, not all zero".into());
    }
    if span.span_id.len() != 8 || span.span_id.iter().all(|b| *b == 0) {
        return Err("spanId must be 8 bytes, not all zero".into());
    }
    check_id(
        "session id (gen_ai.conversation.id or session.id)",
        &session_id,
    )
    .map_err(|e| e.message)?;
    // omniops.domain names a host and is normalised as one; service.name, the fallback,
    // is a service's name and only trimmed and lowercased (README: Domains).
    let domain = match span
        .attributes
        .text("omniops.domain")
        .or_else(|| resource.text("omniops.domain"))
    {
        Some(name) => Domain::parse(name),
        None => Domain::from_service_name(
            resource
                .text("service.name")
                .ok_or("no domain: set the resource attribute omniops.domain (or service.name)")?,
        ),
    }
    .map_err(|e| e.to_string())?;
    if span.start_nanos == 0 {
        return Err("startTimeUnixNano is missing".into());
    }
    let micros = |nanos: u64| i64::try_from(nanos / 1_000).map_err(|_| "time out of range");
    let start = micros(span.start_nanos)?;
    let end = micros(span.end_nanos)?.max(start);
    let attrs = &span.attributes;
    let operation_name = attrs
        .text("gen_ai.operation.name")
        .or_else(|| span.name.split_whitespace().next())
        .unwrap_or("");
    let operation = operation(operation_name, attrs)?;
    let usage = if AGGREGATE_OPERATIONS.contains(&operation_name) {
        TokenUsage::default()
    } else {
        usage(attrs)?
    };
    let model = attrs
        .text("gen_ai.response.model")
        .or_else(|| attrs.text("gen_ai.request.model"));
    if let Some(model) = model {
        check_id("gen_ai.request.model", model).map_err(|e| e.message)?;
    }
    let failure = attrs
        .text("error.type")
        .map(str::to_string)
        .or_else(|| {
            (span.status_code == STATUS_ERROR).then(|| match span.status_message.as_str() {
                "" => "error".to_string(),
                message => message.to_string(),
            })
        })
        .map(|f| f.chars().take(1_000).collect::<String>());
    let provider = attrs
        .text("gen_ai.provider.name")
        .or_else(|| attrs.text("gen_ai.system"));
    for (name, text) in [
        ("error.type", failure.as_deref()),
        ("gen_ai.provider.name", provider),
    ] {
        check_nul(name, text.unwrap_or_default()).map_err(|e| e.message)?;
    }
    let facts = SpanFacts {
        domain,
        model: model.map(str::to_string),
        provider: provider.map(str::to_string),
        start,
        end,
        is_root: span.parent_span_id.is_empty() || span.parent_span_id.iter().all(|b| *b == 0),
        operation,
        usage,
        // A tier OpenAI may add later is priced at the default rates, not rejected.
        service_tier: attrs
            .text("openai.response.service_tier")
            .and_then(ServiceTier::parse)
            .unwrap_or_default(),
        failure,
    };
    Ok(IngestEvent {
        session_id,
        event_id: Some(format!("span:{}", hex::encode(&span.span_id))),
        at: received_at,
        kind: EventKind::Span(Box::new(facts)),
    })
}

fn operation(name: &str, attrs: &Attributes) -> Result<SpanOperation, Rejected> {
    let results = attrs.int("omniops.search.results");
    if results.is_some_and(|r| r < 0) {
        return Err("omniops.search.results must not be negative".into());
    }
    let operation = match name {
        n if MODEL_CALLS.contains(&n) => SpanOperation::ModelCall,
        "execute_tool" => SpanOperation::Search {
            query: attrs
                .text("gen_ai.tool.call.arguments")
                .map(tool_query)
                .or_else(|| attrs.text("gen_ai.tool.name").map(str::to_string))
                .unwrap_or_default(),
            source: attrs.text("gen_ai.tool.name").map(str::to_string),
            results,
        },
        "retrieval" => SpanOperation::Search {
            query: attrs
                .text("gen_ai.retrieval.query.text")
                .unwrap_or_default()
                .to_string(),
            source: attrs.text("gen_ai.data_source.id").map(str::to_string),
            results: results.or_else(|| documents_retrieved(attrs)),
        },
        _ => SpanOperation::Other,
    };
    if let SpanOperation::Search { query, source, .. } = &operation {
        check_text("search query", query).map_err(|e| e.message)?;
        check_nul(
            "gen_ai.data_source.id",
            source.as_deref().unwrap_or_default(),
        )
        .map_err(|e| e.message)?;
    }
    Ok(operation)
}

/// Tool arguments are a JSON string; a `query` inside them is the search text.
fn tool_query(arguments: &str) -> String {
    serde_json::from_str::<serde_json::Value>(arguments)
        .ok()
        .and_then(|v| v.get("query").and_then(|q| q.as_str()).map(str::to_string))
        .unwrap_or_else(|| arguments.to_string())
}

/// `gen_ai.retrieval.documents` is an array, or a JSON string of one.
fn documents_retrieved(attrs: &Attributes) -> Option<i64> {
    match attrs.get("gen_ai.retrieval.documents")? {
        AttrValue::Array(items) => i64::try_from(items.len()).ok(),
        AttrValue::Str(s) => serde_json::from_str::<Vec<serde_json::Value>>(s)
            .ok()
            .and_then(|items| i64::try_from(items.len()).ok()),
        _ => None,
    }
}

/// Token counts in the GenAI convention: input includes cache reads and writes, output
/// includes reasoning. An instrumentation that reports Anthropic's own counts (cache reads
/// beyond `input_tokens`) is recognised by the impossible total and added up instead.
fn usage(attrs: &Attributes) -> Result<TokenUsage, Rejected> {
    let count = |new: &str, old: Option<&str>| {
        attrs
            .int(new)
            .or_else(|| old.and_then(|o| attrs.int(o)))
            .unwrap_or(0)
    };
    let mut usage = TokenUsage {
        input: count(
            "gen_ai.usage.input_tokens",
            Some("gen_ai.usage.prompt_tokens"),
        ),
        output: count(
            "gen_ai.usage.output_tokens",
            Some("gen_ai.usage.completion_tokens"),
        ),
        cached_input: count("gen_ai.usage.cache_read.input_tokens", None),
        cache_write: count("gen_ai.usage.cache_creation.input_tokens", None),
        reasoning: count("gen_ai.usage.reasoning.output_tokens", None),
    };
    if usage.cached_input >= 0
        && usage.cache_write >= 0
        && usage.cached_input.saturating_add(usage.cache_write) > usage.input
    {
        usage.input = usage
            .input
            .saturating_add(usage.cached_input)
            .saturating_add(usage.cache_write);
    }
    usage.validate().map_err(|e| format!("gen_ai.usage: {e}"))?;
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(attributes: Vec<(&str, AttrValue)>) -> SpanRecord {
        SpanRecord {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            parent_span_id: vec![3; 8],
            name: "span".into(),
            start_nanos: 1_764_000_000_000_000_000,
            end_nanos: 1_764_000_001_000_000_000,
            attributes: Attributes::new(
                attributes
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            ),
            status_code: 0,
            status_message: String::new(),
        }
    }

    fn facts(span: SpanRecord) -> Result<SpanFacts, String> {
        let resource = Attributes::new(vec![(
            "service.name".into(),
            AttrValue::Str("shop.example".into()),
        )]);
        let block = ResourceBlock {
            attributes: resource,
            spans: vec![span],
        };
        let mut traces = TraceSessions::default();
        let event = map_request(&[block], &mut traces, 0)
            .remove(0)
            .map_err(|r| r.0)?;
        match event.kind {
            EventKind::Span(facts) => Ok(*facts),
            other => Err(format!("not a span: {other:?}")),
        }
    }

    #[test]
    fn anthropic_counts_are_added_up_and_agent_totals_are_not_counted() {
        let anthropic = span(vec![
            ("gen_ai.operation.name", AttrValue::Str("chat".into())),
            ("gen_ai.usage.input_tokens", AttrValue::Int(100)),
            ("gen_ai.usage.cache_read.input_tokens", AttrValue::Int(900)),
            ("gen_ai.usage.output_tokens", AttrValue::Int(50)),
        ]);
        let usage = facts(anthropic).expect("maps").usage;
        assert_eq!((usage.input, usage.cached_input), (1_000, 900));
        let agent = span(vec![
            (
                "gen_ai.operation.name",
                AttrValue::Str("invoke_agent".into()),
            ),
            ("gen_ai.usage.input_tokens", AttrValue::Int(1_000)),
        ]);
        let agent = facts(agent).expect("maps");
        assert_eq!(
            (agent.usage.input, agent.operation),
            (0, SpanOperation::Other)
        );
    }

    #[test]
    fn retrieval_counts_its_documents_and_operation_falls_back_to_the_span_name() {
        let mut retrieval = span(vec![
            (
                "gen_ai.retrieval.query.text",
                AttrValue::Str("hydraulic pump".into()),
            ),
            (
                "gen_ai.retrieval.documents",
                AttrValue::Str(r#"[{"id":"a","score":0.9},{"id":"b","score":0.5}]"#.into()),
            ),
        ]);
        retrieval.name = "retrieval products".into();
        assert_eq!(
            facts(retrieval).expect("maps").operation,
            SpanOperation::Search {
                query: "hydraulic pump".into(),
                source: None,
                results: Some(2)
            }
        );
        let negative = span(vec![
            ("gen_ai.operation.name", AttrValue::Str("chat".into())),
            ("gen_ai.usage.input_tokens", AttrValue::Int(-5)),
        ]);
        assert_eq!(
            facts(negative),
            Err("gen_ai.usage: input_tokens must not be negative".into())
        );
    }

    /// Found by the `otlp_protobuf` fuzz target: protobuf strings may hold NUL, which
    /// PostgreSQL cannot store; each text a span carries refuses it.
    #[test]
    fn a_nul_in_any_stored_text_refuses_the_span() {
        for key in [
            "gen_ai.request.model",
            "gen_ai.provider.name",
            "error.type",
            "gen_ai.conversation.id",
            "omniops.domain",
        ] {
            let mut nul = span(vec![
                ("gen_ai.operation.name", AttrValue::Str("chat".into())),
                (key, AttrValue::Str("a\0b".into())),
            ]);
            let refused = facts(nul.clone()).expect_err(key);
            assert!(
                refused.contains("NUL") || refused.contains("domain"),
                "{key}: {refused}"
            );
            nul.attributes = Attributes::new(vec![]);
            nul.status_code = STATUS_ERROR;
            nul.status_message = "bad\0".into();
            assert!(facts(nul).expect_err("status").contains("NUL"));
        }
    }
}
