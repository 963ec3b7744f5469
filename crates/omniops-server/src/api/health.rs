use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use omniops_core::clock::to_rfc3339;
use serde_json::json;

/// How long `/healthz` waits for the database.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// `GET /healthz`: the version, the backend, whether the database answers (within a
/// second: 503 with `Retry-After` otherwise), and a storage fault of the last ten minutes.
pub async fn get(State(state): State<AppState>) -> Response {
    let backend = state.store.backend().name();
    let version = env!("CARGO_PKG_VERSION");
    let fault = state
        .recent_fault()
        .map(|(at, error)| json!({"at": to_rfc3339(at), "error": error}));
    let answered = tokio::time::timeout(PING_TIMEOUT, state.store.ping()).await;
    match answered {
        Ok(Ok(())) => {
            let status = if fault.is_some() { "degraded" } else { "ok" };
            let mut body = json!({"status": status, "version": version, "backend": backend});
            if let Some(fault) = fault {
                body["fault"] = fault;
            }
            (StatusCode::OK, Json(body)).into_response()
        }
        failed => {
            tracing::error!(?failed, "health check: database unreachable");
            let body = json!({"status": "unavailable", "version": version, "backend": backend});
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                Json(body),
            )
                .into_response()
        }
    }
}
