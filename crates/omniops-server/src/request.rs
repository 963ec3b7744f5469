//! Request parsing shared by handlers: JSON bodies and the query parameters every
//! dashboard endpoint takes.

use crate::error::ApiError;
use axum::http::{header, HeaderMap};
use omniops_core::clock::Micros;
use omniops_core::window::{Window, WindowError};
use std::collections::HashMap;

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

/// The raw query string as a map; unknown parameters are ignored.
pub type Params = HashMap<String, String>;

/// Query parameters with a control character in a name or value (`%00`) are refused,
/// naming the parameter: no query string reaches the store with one.
pub fn check_params(params: &Params) -> Result<(), ApiError> {
    for (name, value) in params {
        if name.chars().chain(value.chars()).any(char::is_control) {
            let field: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
            return Err(ApiError::field(
                field.clone(),
                format!("{field} must not contain control characters"),
            ));
        }
    }
    Ok(())
}

pub fn window_field(error: &WindowError) -> &'static str {
    match error {
        WindowError::Days => "days",
        WindowError::Timestamp(field) => field,
        WindowError::FromToPair | WindowError::Order | WindowError::Span => "from",
        WindowError::Both => "days",
    }
}

pub fn window(params: &Params, default_days: i64, now: Micros) -> Result<Window, ApiError> {
    Window::from_params(
        params.get("days").map(String::as_str),
        params.get("from").map(String::as_str),
        params.get("to").map(String::as_str),
        default_days,
        now,
    )
    .map_err(|e| ApiError::field(window_field(&e), e.to_string()))
}

/// The optional `domain` parameter; empty means none.
pub fn domain(params: &Params) -> Result<Option<&str>, ApiError> {
    match params.get("domain").map(|d| d.trim()) {
        None | Some("") => Ok(None),
        Some(d) if d.len() > 253 || d.contains(|c: char| c.is_whitespace() || c.is_control()) => {
            Err(ApiError::field(
                "domain",
                "domain must be at most 253 characters without spaces",
            ))
        }
        Some(d) => Ok(Some(d)),
    }
}

/// `page` (≥ 1, default 1) and `limit` (1–100, default 20).
pub fn pagination(params: &Params) -> Result<(i64, i64), ApiError> {
    pagination_up_to(params, 20, 100)
}

/// `page` (≥ 1, default 1) and `limit` (1 to `max`, default `default`).
pub fn pagination_up_to(params: &Params, default: i64, max: i64) -> Result<(i64, i64), ApiError> {
    let number = |name: &'static str, default: i64, max: i64| -> Result<i64, ApiError> {
        match params.get(name) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::field(
                        name,
                        format!("{name} must be a whole number from 1 to {max}"),
                    )
                }),
        }
    };
    Ok((
        number("page", 1, 1_000_000)?,
        number("limit", default, max)?,
    ))
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
