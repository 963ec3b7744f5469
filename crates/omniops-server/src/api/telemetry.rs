use super::params;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::queries::telemetry::telemetry_report;
use crate::request::{self, Params};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use omniops_core::telemetry::TelemetryReport;

/// `GET /api/dashboard/telemetry?days=&domain=` (or `from`/`to`).
#[utoipa::path(get, path = "/api/dashboard/telemetry", tag = "dashboard", params(super::WindowQuery),
    responses((status = 200, body = TelemetryReport), super::errors::Common))]
pub async fn get(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<TelemetryReport>, ApiError> {
    let params = params(query)?;
    let window = request::window(&params, 7, state.now())?;
    let domain = principal.resolve_domain(request::domain(&params)?)?;
    Ok(Json(
        telemetry_report(&state, &window, domain.as_deref()).await?,
    ))
}
