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
use omniops_store::ApiKeyRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn unscoped(principal: &Principal) -> Result<(), ApiError> {
    principal.require_unscoped("manage keys")
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    keys: Vec<ApiKeyRecord>,
}

/// A new key: its secret, shown in this answer and nowhere else, ever.
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    key: String,
    record: ApiKeyRecord,
}

#[derive(Serialize, ToSchema)]
pub struct RevokedKey {
    revoked: String,
}

/// API keys (never their secrets).
#[utoipa::path(get, path = "/api/keys", tag = "keys",
    responses((status = 200, body = KeyList), super::errors::Common))]
pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<KeyList>, ApiError> {
    unscoped(&principal)?;
    let keys = state.store.list_keys().await?;
    Ok(Json(KeyList { keys }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// ingest, read or admin.
    #[schema(example = "read")]
    scope: String,
    domain: Option<String>,
    name: Option<String>,
}

/// Creates a key; its secret is in this answer and nowhere else, ever.
#[utoipa::path(post, path = "/api/keys", tag = "keys", request_body = NewKey,
    responses((status = 200, body = CreatedKey), super::errors::Common))]
pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CreatedKey>, ApiError> {
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
    Ok(Json(CreatedKey {
        key: secret,
        record,
    }))
}

/// Revokes a key.
#[utoipa::path(delete, path = "/api/keys/{id}", tag = "keys", params(("id" = String, Path)),
    responses((status = 200, body = RevokedKey), super::errors::Common, super::errors::Missing))]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    crate::request::PathParam(id): crate::request::PathParam,
) -> Result<Json<RevokedKey>, ApiError> {
    unscoped(&principal)?;
    match state.store.revoke_key(&id, state.now()).await {
        Ok(true) => {}
        Ok(false) => return Err(ApiError::NotFound(format!("no active key `{id}`"))),
        Err(omniops_store::StoreError::Conflict(reason)) => return Err(ApiError::Conflict(reason)),
        Err(other) => return Err(other.into()),
    }
    state.keys.invalidate();
    tracing::info!(%id, "API key revoked");
    Ok(Json(RevokedKey { revoked: id }))
}
