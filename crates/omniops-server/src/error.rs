//! One error type for every handler: it picks the HTTP status, answers `{"error": …}`
//! (naming the field where there is one) and logs server faults with their cause, which
//! is never sent to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        field: Option<String>,
        message: String,
    },
    #[error("missing or unknown API key")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the state of things (the last admin key).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body stalled past `body_timeout_ms`.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(&'static str),
    /// Too many failed attempts: try again after this long.
    #[error("too many failed attempts; retry after {} s", .0.as_secs().max(1))]
    TooManyAttempts(std::time::Duration),
    #[error("internal error")]
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for ApiError {
    /// A store error from a database that is briefly unreachable is a 503 to retry; any
    /// other is a 500 (logged).
    fn from(error: anyhow::Error) -> Self {
        match omniops_store::StoreError::of_anyhow(error) {
            omniops_store::StoreError::Transient(reason) => {
                tracing::warn!(%reason, "storage unavailable");
                ApiError::Unavailable("storage is unavailable; retry shortly")
            }
            omniops_store::StoreError::Fault(cause) => ApiError::Internal(cause),
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<omniops_store::StoreError> for ApiError {
    fn from(error: omniops_store::StoreError) -> Self {
        ApiError::from(anyhow::Error::new(error))
    }
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Every error's JSON body: the message, and the field at fault where there is one.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
}

impl ErrorBody {
    fn new(error: impl Into<String>, field: Option<&str>) -> ErrorBody {
        ErrorBody {
            error: error.into(),
            field: field.map(str::to_string),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = ?cause, "request failed");
        }
        let body = match &self {
            ApiError::BadRequest {
                field: Some(field),
                message,
            } => ErrorBody::new(message, Some(field)),
            ApiError::MethodNotAllowed => ErrorBody::new(self.to_string(), Some("method")),
            ApiError::PayloadTooLarge(message) => ErrorBody::new(message, Some("body")),
            ApiError::BodyTimeout => ErrorBody::new(self.to_string(), Some("body")),
            other => ErrorBody::new(other.to_string(), None),
        };
        let mut response = (status, Json(body)).into_response();
        match self {
            ApiError::Unavailable(_) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::BodyTimeout => {
                // The rest of the body may still come; the connection cannot be reused.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyAttempts(wait) => {
                let secs = wait.as_secs().max(1).to_string();
                if let Ok(value) = HeaderValue::from_str(&secs) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            _ => {}
        }
        response
    }
}
