use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

/// `GET /healthz`: the version, the backend, and whether the database answers.
pub async fn get(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let backend = state.store.backend().name();
    let version = env!("CARGO_PKG_VERSION");
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "version": version, "backend": backend})),
        ),
        Err(error) => {
            tracing::error!(?error, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "version": version, "backend": backend})),
            )
        }
    }
}
