//! JSON API routes.

pub mod analytics;
pub mod config;
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
