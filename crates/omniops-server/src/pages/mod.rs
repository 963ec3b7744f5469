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

/// Declares the dashboard's sections once: each variant with the name its partial is
/// served under (`/dashboard/partials/{name}`).
macro_rules! sections {
    ($($variant:ident = $name:literal,)*) => {
        /// A section of a dashboard page, loaded on its own.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Section {
            $($variant,)*
        }

        impl Section {
            pub const ALL: &'static [Section] = &[$(Section::$variant,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(Section::$variant => $name,)*
                }
            }

            pub fn parse(name: &str) -> Option<Section> {
                match name {
                    $($name => Some(Section::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

sections! {
    Stats = "stats",
    Trend = "trend",
    Status = "status",
    Recent = "recent",
    Insights = "insights",
    Languages = "languages",
    AnalyticsOverview = "analytics-overview",
    AnalyticsConversations = "analytics-conversations",
    AnalyticsPerformance = "analytics-performance",
    AnalyticsCustomers = "analytics-customers",
    AnalyticsInsights = "analytics-insights",
    CostMetrics = "cost-metrics",
    CostTrend = "cost-trend",
    Ticker = "ticker",
    Models = "models",
    Alerts = "alerts",
    DomainCosts = "domain-costs",
    ProductStats = "product-stats",
    ProductList = "product-list",
    ProductAdvice = "product-advice",
    Forecast = "forecast",
    Shop = "shop",
    SessionsLive = "sessions-live",
    SessionsHistory = "sessions-history",
    Session = "session",
    SettingsPrices = "settings-prices",
    SettingsDomains = "settings-domains",
    SettingsRetention = "settings-retention",
    SettingsKeys = "settings-keys",
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
    let Some(section) = Section::parse(&name) else {
        return ApiError::NotFound(format!("no section `{name}`")).into_response();
    };
    let result = match section {
        Section::Stats => overview::stats(s, f).await,
        Section::Trend => overview::trend(s, f).await,
        Section::Status => overview::status(s, f).await,
        Section::Recent => overview::recent(s, f).await,
        Section::Insights => overview::insights(s, f).await,
        Section::Languages => overview::languages(s, f).await,
        Section::AnalyticsOverview => analytics::overview(s, f).await,
        Section::AnalyticsConversations => analytics::conversations(s, f).await,
        Section::AnalyticsPerformance => analytics::performance(s, f).await,
        Section::AnalyticsCustomers => analytics::customers(s, f).await,
        Section::AnalyticsInsights => analytics::insights(s, f).await,
        Section::CostMetrics => costs::metrics(s, f).await,
        Section::CostTrend => costs::trend(s, f).await,
        Section::Ticker => costs::ticker(s, f).await,
        Section::Models => costs::models(s, f).await,
        Section::Alerts => costs::alerts(s, f).await,
        Section::DomainCosts => costs::domain_table(s, f).await,
        Section::ProductStats => products::stats(s, f).await,
        Section::ProductList => products::list(s, f).await,
        Section::ProductAdvice => products::advice(s, f).await,
        Section::Forecast => products::forecast(s, f).await,
        Section::Shop => products::shop(s, f).await,
        Section::SessionsLive => sessions::live(s, f).await,
        Section::SessionsHistory => sessions::history(s, f).await,
        Section::Session => sessions::details(s, f, &principal).await,
        Section::SettingsPrices => settings::prices(s, f, &principal).await,
        Section::SettingsDomains => settings::domains(s, f, &principal).await,
        Section::SettingsRetention => settings::retention(s, f).await,
        Section::SettingsKeys => settings::keys(s, f, &principal).await,
    };
    match result {
        // The domain table's sort and search go into the address bar.
        Ok(markup) if section == Section::DomainCosts => (
            [("HX-Replace-Url", costs::domain_table_page_url(f))],
            markup,
        )
            .into_response(),
        Ok(markup) => markup.into_response(),
        Err(error) => {
            tracing::error!(section = section.name(), error = ?error, "dashboard section failed");
            components::section_error().into_response()
        }
    }
}

#[cfg(test)]
mod section_tests {
    use super::Section;

    #[test]
    fn every_section_is_served_under_its_own_name() {
        for section in Section::ALL {
            assert_eq!(Section::parse(section.name()), Some(*section));
        }
        let mut names: Vec<&str> = Section::ALL.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 29);
        assert_eq!(Section::parse("nope"), None);
    }
}
