//! `GET /api/sessions` (the history, filtered and paginated) and `GET /api/sessions/{id}`.

use super::params;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::queries::sessions::{session_details, session_history, SessionDetails, SessionHistory};
use crate::request::{self, Params};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use omniops_core::window::Window;
use omniops_store::Outcome;
use omniops_store::SessionFilter;

/// The history's filters from query parameters (shared with the sessions page).
pub fn filter_of(
    params: &Params,
    principal: &Principal,
    now: i64,
) -> Result<(Window, SessionFilter), ApiError> {
    let window = request::window(params, 7, now)?;
    let domain = principal.resolve_domain(request::domain(params)?)?;
    let model = params
        .get("model")
        .map(|m| m.trim())
        .filter(|m| !m.is_empty());
    if model.is_some_and(|m| m.len() > 200) {
        return Err(ApiError::field(
            "model",
            "model must be at most 200 characters",
        ));
    }
    let status = Outcome::parse(params.get("status").map_or("", |s| s.trim()))
        .ok_or_else(|| ApiError::field("status", "status must be success or failed"))?;
    Ok((
        window,
        SessionFilter {
            domain,
            model: model.map(str::to_string),
            status,
        },
    ))
}

/// Session history, filtered and paginated.
#[utoipa::path(get, path = "/api/sessions", tag = "sessions",
    params(super::WindowQuery, super::PageQuery,
        ("model" = Option<String>, Query, description = "one model"),
        ("status" = Option<String>, Query, description = "success or failed")),
    responses((status = 200, body = SessionHistory), super::errors::Common))]
pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<SessionHistory>, ApiError> {
    let params = params(query)?;
    let (window, filter) = filter_of(&params, &principal, state.now())?;
    let (page, limit) = request::pagination(&params)?;
    Ok(Json(
        session_history(&state, &window, &filter, page, limit).await?,
    ))
}

/// One session with its calls and its cost by token type.
#[utoipa::path(get, path = "/api/sessions/{id}", tag = "sessions", params(("id" = String, Path)),
    responses((status = 200, body = SessionDetails), super::errors::Common, super::errors::Missing))]
pub async fn get(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    crate::request::PathParam(id): crate::request::PathParam,
) -> Result<Json<SessionDetails>, ApiError> {
    let details = session_details(&state, &id).await?;
    // A domain-scoped key sees only its domain's sessions; others are "not found".
    let visible = details.filter(|d| {
        principal
            .domain
            .as_deref()
            .is_none_or(|own| d.row.domain == own)
    });
    visible
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no session `{id}`")))
}
