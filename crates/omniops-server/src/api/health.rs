use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use omniops_core::clock::to_rfc3339;
use serde::Serialize;
use utoipa::ToSchema;

/// How long `/healthz` waits for the database.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// `GET /healthz`'s answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    status: HealthStatus,
    version: &'static str,
    #[schema(value_type = String, example = "sqlite")]
    backend: &'static str,
    /// A storage fault of the last ten minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    fault: Option<Fault>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
    Degraded,
    Unavailable,
}

#[derive(Serialize, ToSchema)]
pub struct Fault {
    #[schema(format = DateTime)]
    at: String,
    error: String,
}

/// `GET /healthz`: the version, the backend, whether the database answers (within a
/// second: 503 with `Retry-After` otherwise), and a storage fault of the last ten minutes.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health, description = "The database does not answer")))]
pub async fn get(State(state): State<AppState>) -> Response {
    let backend = state.store.backend().name();
    let version = env!("CARGO_PKG_VERSION");
    let fault = state.recent_fault().map(|(at, error)| Fault {
        at: to_rfc3339(at),
        error,
    });
    let answered = tokio::time::timeout(PING_TIMEOUT, state.store.ping()).await;
    match answered {
        Ok(Ok(())) => {
            let status = match fault {
                Some(_) => HealthStatus::Degraded,
                None => HealthStatus::Ok,
            };
            let body = Health {
                status,
                version,
                backend,
                fault,
            };
            (StatusCode::OK, Json(body)).into_response()
        }
        failed => {
            tracing::error!(?failed, "health check: database unreachable");
            let body = Health {
                status: HealthStatus::Unavailable,
                version,
                backend,
                fault: None,
            };
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                Json(body),
            )
                .into_response()
        }
    }
}
