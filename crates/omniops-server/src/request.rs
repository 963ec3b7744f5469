//! Request parsing shared by handlers: JSON bodies and the query parameters every
//! dashboard endpoint takes.

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use omniops_core::clock::Micros;
use omniops_core::domain::Domain;
use omniops_core::params::{self, ParamError};
use omniops_core::window::Window;

pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type must be application/json, not {:?}",
            content_type
        )))
    }
}

pub fn parse_json<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    require_json(headers)?;
    serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        let text = text.split(" at line ").next().unwrap_or(&text).to_string();
        // The field to blame: serde's missing field, else the path of the bad value.
        let field = text
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
            .or_else(|| {
                let mut de = serde_json::Deserializer::from_slice(body);
                serde_path_to_error::deserialize::<_, T>(&mut de)
                    .err()
                    .map(|e| e.path().to_string())
                    .filter(|p| p != ".")
            })
            .unwrap_or_else(|| "body".to_string());
        ApiError::field(field, format!("invalid body: {text}"))
    })
}

/// Where a request was sent (`http://host:port`), for the commands a page shows: the
/// `Host` header when it is a plain host and port, else the default address.
pub fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 261
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("127.0.0.1:8080");
    format!("http://{host}")
}

pub use omniops_core::params::Params;

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> Self {
        ApiError::field(e.field, e.message)
    }
}

/// See `omniops_core::params::check`.
pub fn check_params(params: &Params) -> Result<(), ApiError> {
    Ok(params::check(params)?)
}

pub fn window(params: &Params, default_days: i64, now: Micros) -> Result<Window, ApiError> {
    Ok(params::window(params, default_days, now)?)
}

/// The optional `domain` parameter, normalised; empty means none.
pub fn domain(params: &Params) -> Result<Option<Domain>, ApiError> {
    Ok(params::domain(params)?)
}

/// An optional `domain` field of a JSON body, normalised; absent or blank is none.
pub fn body_domain(raw: Option<&str>) -> Result<Option<Domain>, ApiError> {
    Domain::parse_optional(raw).map_err(|e| ApiError::field("domain", e.to_string()))
}

/// `page` (≥ 1, default 1) and `limit` (1–100, default 20).
pub fn pagination(params: &Params) -> Result<(i64, i64), ApiError> {
    pagination_up_to(params, 20, 100)
}

/// `page` (≥ 1, default 1) and `limit` (1 to `max`, default `default`).
pub fn pagination_up_to(params: &Params, default: i64, max: i64) -> Result<(i64, i64), ApiError> {
    Ok(params::pagination(params, default, max)?)
}

/// One path parameter (`/api/sessions/{id}`): text without control characters, else a JSON
/// 400 naming it (axum's own rejection of undecodable paths is plain text).
pub struct PathParam(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        let axum::extract::Path(value) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::field("path", format!("invalid path: {}", e.body_text())))?;
        if value.is_empty() || value.len() > 200 || value.chars().any(char::is_control) {
            return Err(ApiError::field(
                "path",
                "the path parameter must be 1 to 200 characters without control characters",
            ));
        }
        Ok(PathParam(value))
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Reads a body up to `limit` bytes: larger bodies get 413, one that stalls past the body
/// timeout 408, one cut off 400.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(error) = cause {
            if error.is::<tower_http::timeout::TimeoutError>() {
                return ApiError::BodyTimeout;
            }
            if error.is::<http_body_util::LengthLimitError>() {
                return ApiError::PayloadTooLarge(format!("body larger than {limit} bytes"));
            }
            cause = error.source();
        }
        ApiError::field("body", format!("the body could not be read: {e}"))
    })
}
