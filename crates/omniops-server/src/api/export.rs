//! `GET /api/export/{dataset}?format=csv|json` with the usual filters (`days` or
//! `from`/`to`, `domain`, and for sessions `model` and `status`): a streamed download.

use super::params;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::queries::export::{export, Format};
use crate::request::Params;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::StreamExt;

/// A table or chart as CSV or JSON, streamed.
#[utoipa::path(get, path = "/api/export/{dataset}", tag = "dashboard",
    params(("dataset" = String, Path), ("format" = Option<String>, Query, description = "csv (default) or json"),
        super::WindowQuery),
    responses((status = 200, description = "The rows", content(
        (String = "text/csv"), (Vec<Object> = "application/json"))),
        super::errors::Common, super::errors::Missing))]
pub async fn get(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    crate::request::PathParam(dataset): crate::request::PathParam,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = params(query)?;
    let format = match params.get("format").map(String::as_str) {
        None => Format::Csv,
        Some(text) => Format::parse(text)
            .ok_or_else(|| ApiError::field("format", "format must be csv or json"))?,
    };
    let (window, filter) = super::sessions::filter_of(&params, &principal, state.now())?;
    let name = format!("omniops-{dataset}.{}", format.extension());
    let chunks = export(state, &dataset, window, filter, format)
        .ok_or_else(|| ApiError::NotFound(format!("no dataset `{dataset}`")))?;
    // An error after the first bytes cannot change the status: it ends the download early
    // and is logged.
    let body = chunks.map(|chunk| {
        chunk.map(axum::body::Bytes::from).map_err(|e| {
            tracing::error!(error = ?e, "export failed midway");
            std::io::Error::other("export failed")
        })
    });
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}
