//! `POST /v1/traces`: the OTLP/HTTP trace receiver. Protobuf or JSON, optionally gzip, at
//! most 20 MiB. Each span becomes one session event (see `mapping`) and goes through the
//! same queue and writer as `POST /api/v1/ingest`, so a 200 means stored. Answers follow
//! OTLP: 200 with `partialSuccess` naming the rejected spans, 400 with a `google.rpc.Status`
//! for undecodable data, 503 with Retry-After when the queue is full.

pub use omniops_core::otlp::{proto, TraceSessions};

use super::{check_key_domain, count_outcome, store_events};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::request::read_body;
use crate::state::AppState;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use omniops_core::events::Event;
use omniops_core::otlp::{self, ResourceBlock};
use prost::Message;
use std::io::Read;

/// OTLP's limit for one request, compressed or not.
pub const MAX_OTLP_BYTES: usize = 20 * 1024 * 1024;

/// gRPC status codes used in `google.rpc.Status` bodies.
const INVALID_ARGUMENT: i32 = 3;
const DEADLINE_EXCEEDED: i32 = 4;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNAVAILABLE: i32 = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// An answer in the request's encoding.
struct OtlpAnswer {
    encoding: Encoding,
    status: StatusCode,
    body: OtlpBody,
}

enum OtlpBody {
    Export { rejected: i64, message: String },
    Error { code: i32, message: String },
}

impl IntoResponse for OtlpAnswer {
    fn into_response(self) -> Response {
        let (content_type, bytes) = match (self.encoding, &self.body) {
            (Encoding::Protobuf, OtlpBody::Export { rejected, message }) => (
                "application/x-protobuf",
                proto::ExportTraceServiceResponse {
                    partial_success: (*rejected > 0).then(|| proto::ExportTracePartialSuccess {
                        rejected_spans: *rejected,
                        error_message: message.clone(),
                    }),
                }
                .encode_to_vec(),
            ),
            (Encoding::Protobuf, OtlpBody::Error { code, message }) => (
                "application/x-protobuf",
                proto::RpcStatus {
                    code: *code,
                    message: message.clone(),
                }
                .encode_to_vec(),
            ),
            (Encoding::Json, OtlpBody::Export { rejected, message }) => {
                let answer = if *rejected > 0 {
                    // Proto3 JSON writes int64 as a string.
                    serde_json::json!({"partialSuccess": {
                        "rejectedSpans": rejected.to_string(), "errorMessage": message}})
                } else {
                    serde_json::json!({})
                };
                ("application/json", answer.to_string().into_bytes())
            }
            (Encoding::Json, OtlpBody::Error { code, message }) => (
                "application/json",
                serde_json::json!({"code": code, "message": message})
                    .to_string()
                    .into_bytes(),
            ),
        };
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

fn error(encoding: Encoding, status: StatusCode, code: i32, message: String) -> OtlpAnswer {
    OtlpAnswer {
        encoding,
        status,
        body: OtlpBody::Error { code, message },
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Decompresses a gzip body, refusing output beyond `limit`.
fn gunzip(bytes: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let read = flate2::read::GzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("body is not valid gzip: {e}"))?;
    if read > limit {
        return Err(format!("decompressed body larger than {limit} bytes"));
    }
    Ok(out)
}

/// Reads, decompresses and decodes the request body.
async fn decode_body(
    headers: &HeaderMap,
    body: Body,
) -> Result<(Encoding, Vec<ResourceBlock>), OtlpAnswer> {
    let content_type = header_text(headers, header::CONTENT_TYPE);
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let encoding = if mime.eq_ignore_ascii_case("application/x-protobuf") {
        Encoding::Protobuf
    } else if mime.eq_ignore_ascii_case("application/json") {
        Encoding::Json
    } else {
        return Err(error(
            Encoding::Json,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            INVALID_ARGUMENT,
            format!(
                "Content-Type must be application/x-protobuf or application/json, not {content_type:?}"
            ),
        ));
    };
    let too_large = |message: String| {
        error(
            encoding,
            StatusCode::PAYLOAD_TOO_LARGE,
            RESOURCE_EXHAUSTED,
            message,
        )
    };
    let raw = read_body(body, MAX_OTLP_BYTES).await.map_err(|e| match e {
        ApiError::PayloadTooLarge(message) => too_large(message),
        ApiError::BodyTimeout => error(
            encoding,
            StatusCode::REQUEST_TIMEOUT,
            DEADLINE_EXCEEDED,
            e.to_string(),
        ),
        other => error(
            encoding,
            StatusCode::BAD_REQUEST,
            INVALID_ARGUMENT,
            other.to_string(),
        ),
    })?;
    let bytes = match header_text(headers, header::CONTENT_ENCODING).trim() {
        "" | "identity" => raw,
        e if e.eq_ignore_ascii_case("gzip") => {
            Bytes::from(gunzip(&raw, MAX_OTLP_BYTES).map_err(|message| {
                if message.starts_with("decompressed") {
                    too_large(message)
                } else {
                    error(encoding, StatusCode::BAD_REQUEST, INVALID_ARGUMENT, message)
                }
            })?)
        }
        other => {
            return Err(error(
                encoding,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                INVALID_ARGUMENT,
                format!("Content-Encoding {other:?} is not supported; use gzip or none"),
            ))
        }
    };
    let decoded = match encoding {
        Encoding::Protobuf => otlp::decode_protobuf(&bytes),
        Encoding::Json => otlp::decode_json(&bytes),
    };
    decoded.map(|blocks| (encoding, blocks)).map_err(|e| {
        error(
            encoding,
            StatusCode::BAD_REQUEST,
            INVALID_ARGUMENT,
            e.to_string(),
        )
    })
}

/// `POST /v1/traces`: OTLP/HTTP trace export; OpenTelemetry GenAI spans become sessions.
#[utoipa::path(post, path = "/v1/traces", tag = "ingest",
    request_body(description = "ExportTraceServiceRequest", content(
        (Vec<u8> = "application/x-protobuf"),
        (Object = "application/json"))),
    responses((status = 200, description = "ExportTraceServiceResponse; partialSuccess names rejected spans"),
        (status = 400, description = "Undecodable data (a google.rpc.Status)"),
        (status = 413, description = "Body larger than 20 MiB, compressed or not"),
        (status = 503, description = "Queue full; retry after Retry-After")))]
pub async fn traces(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (encoding, blocks) = match decode_body(&headers, body).await {
        Ok(decoded) => decoded,
        Err(answer) => return answer.into_response(),
    };
    let received_at = state.now();
    let mapped = {
        let mut traces = state
            .otlp_traces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        otlp::map_request(&blocks, &mut traces, received_at)
    };
    let spans = mapped.len();
    let mut events = Vec::with_capacity(spans);
    let mut reasons = Vec::new();
    for span in mapped {
        match span.map(|event| check_key_domain(&principal, Event::Session(event))) {
            Ok(Ok(event)) => events.push(event),
            Ok(Err(refused)) => reasons.push(refused.message),
            Err(rejected) => reasons.push(rejected.0),
        }
    }
    match store_events(&state, &principal, events).await {
        Ok(stored) => reasons.extend(stored.into_iter().map(|(_, reason)| reason.message)),
        Err(unavailable) => {
            let message = unavailable.to_string();
            return error(
                encoding,
                StatusCode::SERVICE_UNAVAILABLE,
                UNAVAILABLE,
                message,
            )
            .into_response();
        }
    }
    let rejected = reasons.len();
    count_outcome(&state, spans - rejected, rejected);
    let message = summarise(&reasons);
    OtlpAnswer {
        encoding,
        status: StatusCode::OK,
        body: OtlpBody::Export {
            rejected: i64::try_from(rejected).unwrap_or(i64::MAX),
            message,
        },
    }
    .into_response()
}

/// The reasons spans were rejected, each once with how often: "2 spans: no domain: …".
fn summarise(reasons: &[String]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for reason in reasons {
        match counts.iter_mut().find(|(r, _)| r == reason) {
            Some((_, n)) => *n += 1,
            None => counts.push((reason, 1)),
        }
    }
    counts
        .iter()
        .map(|(reason, n)| match n {
            1 => format!("1 span: {reason}"),
            n => format!("{n} spans: {reason}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
