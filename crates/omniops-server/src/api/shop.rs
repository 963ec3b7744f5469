use super::params;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::queries::shop::{scraped_report, woocommerce_report};
use crate::request::{self, Params};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use omniops_core::shop::{ScrapedReport, WooCommerceReport};

/// `GET /api/dashboard/scraped`: the whole index, or with `days`/`from`/`to` the pages
/// scraped in that window.
#[utoipa::path(get, path = "/api/dashboard/scraped", tag = "dashboard", params(super::WindowQuery),
    responses((status = 200, body = ScrapedReport), super::errors::Common))]
pub async fn scraped(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<ScrapedReport>, ApiError> {
    let params = params(query)?;
    let windowed = ["days", "from", "to"]
        .iter()
        .any(|k| params.contains_key(*k));
    let window = if windowed {
        Some(request::window(&params, 30, state.now())?)
    } else {
        None
    };
    let domain = principal.resolve_domain(request::domain(&params)?)?;
    Ok(Json(
        scraped_report(&state, window.as_ref(), domain.as_deref()).await?,
    ))
}

/// `GET /api/dashboard/woocommerce`: the catalogue, and orders and carts of the window
/// (30 days by default).
#[utoipa::path(get, path = "/api/dashboard/woocommerce", tag = "dashboard", params(super::WindowQuery),
    responses((status = 200, body = WooCommerceReport), super::errors::Common))]
pub async fn woocommerce(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<WooCommerceReport>, ApiError> {
    let params = params(query)?;
    let window = request::window(&params, 30, state.now())?;
    let domain = principal.resolve_domain(request::domain(&params)?)?;
    Ok(Json(
        woocommerce_report(&state, &window, domain.as_deref()).await?,
    ))
}

/// `POST /api/dashboard/woocommerce/sync`'s answer: one entry per store synced.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SyncAnswer {
    stores: Vec<crate::woocommerce::StoreSyncResult>,
}

/// `POST /api/dashboard/woocommerce/sync`: syncs the enabled WooCommerce stores now (of
/// `domain`, if given; everything with `full=true`), and answers when done (README:
/// WooCommerce).
#[utoipa::path(post, path = "/api/dashboard/woocommerce/sync", tag = "settings", params(super::SyncQuery),
    responses((status = 200, body = SyncAnswer), super::errors::Common))]
pub async fn sync(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<SyncAnswer>, ApiError> {
    let params = params(query)?;
    let domain = principal.resolve_domain(request::domain(&params)?)?;
    let full = match params.get("full").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::field("full", "full must be true or false")),
    };
    let stores = crate::woocommerce::sync_stores(&state, domain.as_deref(), full).await?;
    Ok(Json(SyncAnswer { stores }))
}
