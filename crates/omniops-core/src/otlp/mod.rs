//! OTLP trace requests decoded and mapped onto sessions, without I/O: protobuf and JSON
//! into one span shape (`decode_protobuf`, `decode_json`), then spans onto session events
//! (`mapping`). Kept here, apart from the HTTP receiver, so the fuzz targets reach it.

mod json;
mod mapping;
pub mod proto;

pub use json::decode as decode_json;
pub use mapping::{map_request, Mapped, Rejected, TraceSessions};

use prost::Message;

/// An attribute value, as both encodings carry it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Array(Vec<AttrValue>),
    Other,
}

/// Key-value attributes, sorted by key: a span is asked for some twenty keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes(Vec<(String, AttrValue)>);

impl Attributes {
    pub fn new(mut pairs: Vec<(String, AttrValue)>) -> Self {
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Attributes(pairs)
    }

    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            AttrValue::Str(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// An integer attribute; SDKs that only have doubles or strings are read too.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            AttrValue::Int(i) => Some(*i),
            AttrValue::Double(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => Some(*d as i64),
            AttrValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// One decoded span, whichever encoding it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent_span_id: Vec<u8>,
    pub name: String,
    pub start_nanos: u64,
    pub end_nanos: u64,
    pub attributes: Attributes,
    pub status_code: i32,
    pub status_message: String,
}

/// The spans of one resource (one service) with the resource's attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceBlock {
    pub attributes: Attributes,
    pub spans: Vec<SpanRecord>,
}

/// A request body that is not an OTLP trace export: a 400 with `google.rpc.Status`.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid OTLP protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("invalid OTLP/JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{field} is not hex: {text:?}")]
    Id { field: &'static str, text: String },
}

/// Decodes an `ExportTraceServiceRequest` in protobuf.
pub fn decode_protobuf(body: &[u8]) -> Result<Vec<ResourceBlock>, DecodeError> {
    let request = proto::ExportTraceServiceRequest::decode(body)?;
    Ok(request
        .resource_spans
        .into_iter()
        .map(|rs| ResourceBlock {
            attributes: proto_attributes(rs.resource.map(|r| r.attributes).unwrap_or_default()),
            spans: rs
                .scope_spans
                .into_iter()
                .flat_map(|s| s.spans)
                .map(|span| {
                    let status = span.status.unwrap_or_default();
                    SpanRecord {
                        trace_id: span.trace_id,
                        span_id: span.span_id,
                        parent_span_id: span.parent_span_id,
                        name: span.name,
                        start_nanos: span.start_time_unix_nano,
                        end_nanos: span.end_time_unix_nano,
                        attributes: proto_attributes(span.attributes),
                        status_code: status.code,
                        status_message: status.message,
                    }
                })
                .collect(),
        })
        .collect())
}

fn proto_value(value: Option<proto::AnyValue>) -> AttrValue {
    use proto::any_value::Value;
    match value.and_then(|v| v.value) {
        Some(Value::StringValue(s)) => AttrValue::Str(s),
        Some(Value::IntValue(i)) => AttrValue::Int(i),
        Some(Value::DoubleValue(d)) => AttrValue::Double(d),
        Some(Value::BoolValue(b)) => AttrValue::Bool(b),
        Some(Value::ArrayValue(a)) => {
            AttrValue::Array(a.values.into_iter().map(|v| proto_value(Some(v))).collect())
        }
        Some(Value::KvlistValue(_)) | Some(Value::BytesValue(_)) | None => AttrValue::Other,
    }
}

fn proto_attributes(list: Vec<proto::KeyValue>) -> Attributes {
    Attributes::new(
        list.into_iter()
            .map(|kv| (kv.key, proto_value(kv.value)))
            .collect(),
    )
}
