use super::params;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::queries::analytics::{analytics_report, conversations_report};
use crate::queries::missing::{demand_forecast, missing_products_report, ProductDemand};
use crate::request::{self, Params};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use omniops_core::analytics::{AnalyticsReport, ConversationsReport};
use omniops_core::missing::MissingProductsReport;

/// `GET /api/dashboard/analytics?days=&domain=` (or `from`/`to`).
#[utoipa::path(get, path = "/api/dashboard/analytics", tag = "dashboard", params(super::WindowQuery),
    responses((status = 200, body = AnalyticsReport), super::errors::Common))]
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
#[utoipa::path(get, path = "/api/dashboard/conversations", tag = "dashboard", params(super::WindowQuery, super::PageQuery),
    responses((status = 200, body = ConversationsReport), super::errors::Common))]
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

/// The missing-products report, with the forecast when asked for.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MissingProductsAnswer {
    #[serde(flatten)]
    report: MissingProductsReport,
    /// Only with `forecast=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    forecast: Option<Vec<ProductDemand>>,
}

/// `GET /api/dashboard/missing-products?days=&domain=&page=&limit=` (30 days by default).
#[utoipa::path(get, path = "/api/dashboard/missing-products", tag = "dashboard",
    params(super::WindowQuery, super::PageQuery,
        ("forecast" = Option<bool>, Query, description = "add a 7-day demand forecast per listed product")),
    responses((status = 200, body = MissingProductsAnswer), super::errors::Common))]
pub async fn missing_products(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<MissingProductsAnswer>, ApiError> {
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
    // `forecast=true` adds the listed products' requests per day and their trend.
    let forecast = match with_forecast {
        true => Some(demand_forecast(&state, &window, domain.as_deref(), &products).await?),
        false => None,
    };
    Ok(Json(MissingProductsAnswer { report, forecast }))
}
