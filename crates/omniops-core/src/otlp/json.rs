//! OTLP/JSON as the OpenTelemetry SDKs and the Collector write it: lowerCamelCase keys (the
//! proto's snake_case names are accepted too), trace and span ids as hex, 64-bit integers as
//! strings or numbers, enums as integers, and unknown fields ignored. Our own types rather
//! than `opentelemetry-proto`'s serde feature, whose derives have required fields the SDKs
//! omit (`droppedAttributesCount`, an empty `parentSpanId`) and taken 64-bit integers in
//! only one of the two forms.

use super::{AttrValue, Attributes, DecodeError, ResourceBlock, SpanRecord};
use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Request {
    #[serde(default, rename = "resourceSpans", alias = "resource_spans")]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Deserialize)]
struct ResourceSpans {
    #[serde(default)]
    resource: Option<Resource>,
    #[serde(default, rename = "scopeSpans", alias = "scope_spans")]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct ScopeSpans {
    #[serde(default)]
    spans: Vec<Span>,
}

#[derive(Deserialize)]
struct Span {
    #[serde(default, rename = "traceId", alias = "trace_id")]
    trace_id: String,
    #[serde(default, rename = "spanId", alias = "span_id")]
    span_id: String,
    #[serde(default, rename = "parentSpanId", alias = "parent_span_id")]
    parent_span_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(
        default,
        rename = "startTimeUnixNano",
        alias = "start_time_unix_nano",
        deserialize_with = "unsigned"
    )]
    start_time_unix_nano: u64,
    #[serde(
        default,
        rename = "endTimeUnixNano",
        alias = "end_time_unix_nano",
        deserialize_with = "unsigned"
    )]
    end_time_unix_nano: u64,
    #[serde(default)]
    attributes: Vec<KeyValue>,
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    message: String,
    #[serde(default, deserialize_with = "status_code")]
    code: i32,
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: Option<Value>,
}

/// A 64-bit unsigned integer written as a number or a decimal string.
fn unsigned<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| de::Error::custom("expected an unsigned 64-bit integer")),
        Value::String(s) => s
            .parse()
            .map_err(|_| de::Error::custom("expected an unsigned 64-bit integer")),
        Value::Null => Ok(0),
        _ => Err(de::Error::custom("expected an unsigned 64-bit integer")),
    }
}

/// A status code as its integer, or (leniently) as its enum name.
fn status_code<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_i64()
            .and_then(|v| i32::try_from(v).ok())
            .ok_or_else(|| de::Error::custom("status code out of range")),
        Value::String(s) => Ok(match s.as_str() {
            "STATUS_CODE_OK" => 1,
            "STATUS_CODE_ERROR" => 2,
            _ => 0,
        }),
        _ => Ok(0),
    }
}

/// `AnyValue` in JSON: `{"stringValue": …}`, `{"intValue": "5"}`, `{"arrayValue": {"values": […]}}`…
fn any_value(value: &Value) -> AttrValue {
    let Some(object) = value.as_object() else {
        return AttrValue::Other;
    };
    let field = |camel: &str, snake: &str| object.get(camel).or_else(|| object.get(snake));
    if let Some(s) = field("stringValue", "string_value").and_then(Value::as_str) {
        return AttrValue::Str(s.to_string());
    }
    if let Some(v) = field("intValue", "int_value") {
        let parsed = match v {
            Value::String(s) => s.parse().ok(),
            other => other.as_i64(),
        };
        return parsed.map_or(AttrValue::Other, AttrValue::Int);
    }
    if let Some(v) = field("doubleValue", "double_value") {
        let parsed = match v {
            Value::String(s) => s.parse().ok(),
            other => other.as_f64(),
        };
        return parsed.map_or(AttrValue::Other, AttrValue::Double);
    }
    if let Some(b) = field("boolValue", "bool_value").and_then(Value::as_bool) {
        return AttrValue::Bool(b);
    }
    if let Some(values) = field("arrayValue", "array_value")
        .and_then(|a| a.get("values"))
        .and_then(Value::as_array)
    {
        return AttrValue::Array(values.iter().map(any_value).collect());
    }
    AttrValue::Other
}

fn attributes(list: Vec<KeyValue>) -> Attributes {
    Attributes::new(
        list.into_iter()
            .map(|kv| {
                let value = kv.value.as_ref().map_or(AttrValue::Other, any_value);
                (kv.key, value)
            })
            .collect(),
    )
}

/// An id in hex; an id that is not hex is undecodable data.
fn hex_id(field: &'static str, text: &str) -> Result<Vec<u8>, DecodeError> {
    hex::decode(text).map_err(|_| DecodeError::Id {
        field,
        text: text.to_string(),
    })
}

/// Decodes an `ExportTraceServiceRequest` in OTLP/JSON.
pub fn decode(body: &[u8]) -> Result<Vec<ResourceBlock>, DecodeError> {
    let request: Request = serde_json::from_slice(body)?;
    let mut blocks = Vec::with_capacity(request.resource_spans.len());
    for rs in request.resource_spans {
        let mut spans = Vec::new();
        for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
            let status = span.status.unwrap_or(Status {
                message: String::new(),
                code: 0,
            });
            spans.push(SpanRecord {
                trace_id: hex_id("traceId", &span.trace_id)?,
                span_id: hex_id("spanId", &span.span_id)?,
                parent_span_id: hex_id(
                    "parentSpanId",
                    span.parent_span_id.as_deref().unwrap_or(""),
                )?,
                name: span.name,
                start_nanos: span.start_time_unix_nano,
                end_nanos: span.end_time_unix_nano,
                attributes: attributes(span.attributes),
                status_code: status.code,
                status_message: status.message,
            });
        }
        blocks.push(ResourceBlock {
            attributes: attributes(rs.resource.map(|r| r.attributes).unwrap_or_default()),
            spans,
        });
    }
    Ok(blocks)
}
