//! The dashboard: server-rendered pages (maud) whose sections load and refresh through
//! htmx from `/dashboard/partials/{name}`. Every number comes from the same query functions
//! as the JSON API, so a page and the API always agree for the same filters.

mod analytics;
pub mod assets;
mod components;
mod costs;
mod filters;
mod layout;
pub mod login;
mod overview;
mod products;
mod sessions;
mod settings;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::request::Params;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
pub use filters::encode;
use filters::Filters;
use layout::{Nav, Shell};
use maud::{html, Markup};
use omniops_core::clock::MICROS_PER_DAY;

/// The default period of every page, in days.
const DEFAULT_DAYS: i64 = 7;

pub async fn root() -> Redirect {
    Redirect::to("/dashboard")
}

fn parse_filters(
    state: &AppState,
    principal: &Principal,
    query: Result<Query<Params>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<Filters, ApiError> {
    let Query(params) = query.map_err(|e| ApiError::field("query", e.body_text()))?;
    crate::request::check_params(&params)?;
    let mut filters = Filters::parse(&params, principal, DEFAULT_DAYS, state.now())?;
    filters.origin = crate::request::origin(headers);
    Ok(filters)
}

/// A page that could not be built at all (bad filters): the shell's place for an error.
fn error_page(error: ApiError) -> Response {
    let (status, message) = match &error {
        ApiError::BadRequest { message, .. } => (StatusCode::BAD_REQUEST, message.clone()),
        ApiError::Forbidden(message) => (StatusCode::FORBIDDEN, message.clone()),
        _ => return error.into_response(),
    };
    let body = html! {
        (maud::DOCTYPE)
        html lang="en" { head { (layout::head_common("Not shown")) }
            body { main { h1 { "This view cannot be shown" } p.error role="alert" { (message) } p { a href="/dashboard" { "Back to the overview" } } } } }
    };
    (status, body).into_response()
}

/// What tells one page from another.
struct PageSpec {
    nav: Nav,
    path: &'static str,
    title: &'static str,
    subtitle: &'static str,
    body: fn(&Filters) -> Markup,
}

const OVERVIEW: PageSpec = PageSpec {
    nav: Nav::Overview,
    path: "/dashboard",
    title: "Overview",
    subtitle: "Requests, cost and conversations of your AI assistant.",
    body: overview::body,
};

const ANALYTICS: PageSpec = PageSpec {
    nav: Nav::Analytics,
    path: "/dashboard/analytics",
    title: "Analytics",
    subtitle: "How conversations go, how the assistant performs, and who uses it.",
    body: analytics::body,
};

const COSTS: PageSpec = PageSpec {
    nav: Nav::Costs,
    path: "/dashboard/costs",
    title: "Costs",
    subtitle: "Track AI spending and where it goes.",
    body: costs::body,
};

const SESSIONS: PageSpec = PageSpec {
    nav: Nav::Sessions,
    path: "/dashboard/sessions",
    title: "Sessions",
    subtitle: "Every chat session: the ones running now and the history, with their details.",
    body: sessions::body,
};

const SETTINGS: PageSpec = PageSpec {
    nav: Nav::Settings,
    path: "/dashboard/settings",
    title: "Settings",
    subtitle: "Prices, customer domains, retention and API keys.",
    body: settings::body,
};

const PRODUCTS: PageSpec = PageSpec {
    nav: Nav::Products,
    path: "/dashboard/products",
    title: "Products",
    subtitle: "What customers ask for that the shop does not have, and where demand is heading.",
    body: products::body,
};

async fn render_page(
    state: &AppState,
    principal: &Principal,
    query: Result<Query<Params>, QueryRejection>,
    headers: &HeaderMap,
    spec: &PageSpec,
) -> Response {
    let filters = match parse_filters(state, principal, query, headers) {
        Ok(f) => f,
        Err(e) => return error_page(e),
    };
    // The picker lists domains seen in the last 90 days; a domain-scoped key gets none.
    let domains = if principal.domain.is_some() {
        None
    } else {
        match state
            .store
            .known_domains(state.now() - 90 * MICROS_PER_DAY)
            .await
        {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::error!(error = ?e, "listing domains for the picker");
                Some(Vec::new())
            }
        }
    };
    let shell = Shell {
        title: spec.title,
        subtitle: spec.subtitle,
        nav: spec.nav,
        path: spec.path,
        filters: &filters,
        domains: domains.as_deref(),
        csrf: principal.csrf.as_deref(),
    };
    layout::page(&shell, (spec.body)(&filters)).into_response()
}

pub async fn overview_page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    render_page(&state, &principal, query, &headers, &OVERVIEW).await
}

pub async fn analytics_page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    render_page(&state, &principal, query, &headers, &ANALYTICS).await
}

pub async fn sessions_page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    render_page(&state, &principal, query, &headers, &SESSIONS).await
}

pub async fn settings_page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    render_page(&state, &principal, query, &headers, &SETTINGS).await
}

pub async fn products_page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    render_page(&state, &principal, query, &headers, &PRODUCTS).await
}

pub async fn costs_page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    render_page(&state, &principal, query, &headers, &COSTS).await
}

/// `GET /dashboard/partials/{name}`: one section's body. A failed query becomes an error
/// note in that section only (status 200, so htmx shows it beside the other sections).
pub async fn partial(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    crate::request::PathParam(name): crate::request::PathParam,
    headers: HeaderMap,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    let filters = match parse_filters(&state, &principal, query, &headers) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let f = &filters;
    let s = &state;
    let result = match name.as_str() {
        "stats" => overview::stats(s, f).await,
        "trend" => overview::trend(s, f).await,
        "status" => overview::status(s, f).await,
        "recent" => overview::recent(s, f).await,
        "insights" => overview::insights(s, f).await,
        "languages" => overview::languages(s, f).await,
        "analytics-overview" => analytics::overview(s, f).await,
        "analytics-conversations" => analytics::conversations(s, f).await,
        "analytics-performance" => analytics::performance(s, f).await,
        "analytics-customers" => analytics::customers(s, f).await,
        "analytics-insights" => analytics::insights(s, f).await,
        "cost-metrics" => costs::metrics(s, f).await,
        "cost-trend" => costs::trend(s, f).await,
        "ticker" => costs::ticker(s, f).await,
        "models" => costs::models(s, f).await,
        "alerts" => costs::alerts(s, f).await,
        "domain-costs" => costs::domain_table(s, f).await,
        "product-stats" => products::stats(s, f).await,
        "product-list" => products::list(s, f).await,
        "product-advice" => products::advice(s, f).await,
        "forecast" => products::forecast(s, f).await,
        "sessions-live" => sessions::live(s, f).await,
        "sessions-history" => sessions::history(s, f).await,
        "session" => sessions::details(s, f, &principal).await,
        "settings-prices" => settings::prices(s, f, &principal).await,
        "settings-domains" => settings::domains(s, f, &principal).await,
        "settings-retention" => settings::retention(s, f).await,
        "settings-keys" => settings::keys(s, f, &principal).await,
        _ => return ApiError::NotFound(format!("no section `{name}`")).into_response(),
    };
    match result {
        // The domain table's sort and search go into the address bar.
        Ok(markup) if name == "domain-costs" => (
            [("HX-Replace-Url", costs::domain_table_page_url(f))],
            markup,
        )
            .into_response(),
        Ok(markup) => markup.into_response(),
        Err(error) => {
            tracing::error!(section = %name, error = ?error, "dashboard section failed");
            components::section_error().into_response()
        }
    }
}
