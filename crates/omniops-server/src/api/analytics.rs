use super::params;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::queries::analytics::{analytics_report, conversations_report};
use crate::queries::missing::{demand_forecast, missing_products_report};
use crate::request::{self, Params};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use omniops_core::analytics::{AnalyticsReport, ConversationsReport};

/// `GET /api/dashboard/analytics?days=&domain=` (or `from`/`to`).
pub async fn analytics(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<AnalyticsReport>, ApiError> {
    let params = params(query)?;
    let window = request::window(&params, 7, state.now())?;
    let domain = principal.resolve_domain(request::domain(&params)?)?;
    Ok(Json(
        analytics_report(&state, &window, domain.as_deref()).await?,
    ))
}

/// `GET /api/dashboard/conversations?days=&domain=&page=&limit=`.
pub async fn conversations(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<ConversationsReport>, ApiError> {
    let params = params(query)?;
    let window = request::window(&params, 7, state.now())?;
    let domain = principal.resolve_domain(request::domain(&params)?)?;
    let (page, limit) = request::pagination(&params)?;
    Ok(Json(
        conversations_report(&state, &window, domain.as_deref(), page, limit).await?,
    ))
}

/// `GET /api/dashboard/missing-products?days=&domain=&page=&limit=` (30 days by default).
pub async fn missing_products(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let params = params(query)?;
    let window = request::window(&params, 30, state.now())?;
    let domain = principal.resolve_domain(request::domain(&params)?)?;
    let (page, limit) = request::pagination(&params)?;
    let with_forecast = match params.get("forecast").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::field(
                "forecast",
                "forecast must be true or false",
            ))
        }
    };
    let report = missing_products_report(&state, &window, domain.as_deref(), page, limit).await?;
    let products = report.page_products();
    let mut answer = serde_json::to_value(&report).map_err(anyhow::Error::from)?;
    // `forecast=true` adds the listed products' requests per day and their trend.
    if with_forecast {
        let forecast = demand_forecast(&state, &window, domain.as_deref(), &products).await?;
        answer["forecast"] = serde_json::to_value(forecast).map_err(anyhow::Error::from)?;
    }
    Ok(Json(answer))
}
