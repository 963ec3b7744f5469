//! `GET/POST /api/keys` and `DELETE /api/keys/{id}` (admin keys not held to a domain): the
//! settings page's key management, the same as `omniops keys`.

use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::request::read_body;
use crate::request::{body_domain, parse_json};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

fn unscoped(principal: &Principal) -> Result<(), ApiError> {
    principal.require_unscoped("manage keys")
}

pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    unscoped(&principal)?;
    let keys = state.store.list_keys().await?;
    Ok(Json(json!({"keys": keys})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    scope: String,
    domain: Option<String>,
    name: Option<String>,
}

/// Creates a key; its secret is in this answer and nowhere else, ever.
pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    unscoped(&principal)?;
    let bytes = read_body(body, 16 * 1024).await?;
    let new: NewKey = parse_json(&headers, &bytes)?;
    let scope = Scope::parse(&new.scope)
        .ok_or_else(|| ApiError::field("scope", "scope must be ingest, read or admin"))?;
    let domain = body_domain(new.domain.as_deref())?;
    let name = new
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.len() > 100) {
        return Err(ApiError::field(
            "name",
            "name must be at most 100 characters",
        ));
    }
    let (record, secret) = state
        .store
        .create_key(scope, domain.as_deref(), name.as_deref(), state.now())
        .await?;
    state.keys.invalidate();
    tracing::info!(id = %record.id, scope = %record.scope, "API key created");
    Ok(Json(json!({"key": secret, "record": record})))
}

pub async fn revoke(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    crate::request::PathParam(id): crate::request::PathParam,
) -> Result<Json<Value>, ApiError> {
    unscoped(&principal)?;
    match state.store.revoke_key(&id, state.now()).await {
        Ok(true) => {}
        Ok(false) => return Err(ApiError::NotFound(format!("no active key `{id}`"))),
        Err(omniops_store::StoreError::Conflict(reason)) => return Err(ApiError::Conflict(reason)),
        Err(other) => return Err(other.into()),
    }
    state.keys.invalidate();
    tracing::info!(%id, "API key revoked");
    Ok(Json(json!({"revoked": id})))
}
