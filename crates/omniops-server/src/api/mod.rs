//! JSON API routes.

pub mod analytics;
pub mod config;
pub mod errors;
pub mod export;
pub mod health;
pub mod keys;
pub mod monitoring;
pub mod openapi;
pub mod prices;
pub mod sessions;
pub mod shop;
pub mod telemetry;

use crate::error::ApiError;
use crate::request::Params;
use axum::extract::rejection::QueryRejection;
use axum::extract::Query;

/// Query parameters as a map, with a JSON 400 for an undecodable query string.
pub fn params(query: Result<Query<Params>, QueryRejection>) -> Result<Params, ApiError> {
    let params = query
        .map(|Query(p)| p)
        .map_err(|e| ApiError::field("query", format!("invalid query string: {e}")))?;
    crate::request::check_params(&params)?;
    Ok(params)
}

/// The window and domain parameters the dashboard endpoints share (documentation only:
/// handlers read [`Params`] so that a bad value is named in the 400).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct WindowQuery {
    /// Window in days (1–365), ending now.
    days: Option<u32>,
    /// Window start (RFC 3339 or YYYY-MM-DD), with `to`, instead of `days`.
    from: Option<String>,
    /// Window end, with `from`.
    to: Option<String>,
    /// One customer domain (a domain-scoped key always sees its own).
    domain: Option<String>,
}

/// `POST /api/dashboard/woocommerce/sync`'s parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SyncQuery {
    /// One customer domain's store (a domain-scoped key always gets its own).
    domain: Option<String>,
    /// Read everything, not only what changed since the last sync (finds removed products).
    full: Option<bool>,
}

/// Paging parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageQuery {
    /// Page from 1.
    page: Option<u32>,
    /// Rows per page.
    limit: Option<u32>,
}
