//! Every route in one table: its method, path and who may call it. The router is built from
//! this table, and so is the access-matrix test, so no route exists without a decision on
//! its access.

use crate::state::AppState;
use crate::{api, auth, ingest, live, metrics, pages};
use axum::http::Method;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;

/// Who may call a route once API keys exist (without keys, on loopback, everyone may).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Everyone: health, the OpenAPI document, assets, the login form.
    Open,
    /// An ingest or admin key.
    Ingest,
    /// A read or admin key, or a dashboard session.
    Read,
    /// An admin key, or a dashboard session of one.
    Admin,
    /// A dashboard page: as `Read`, but a visitor without a key goes to the login form.
    Page,
}

/// One route of the table.
#[derive(Debug, Clone)]
pub struct Spec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    /// The route is about what every domain shares (prices, keys, the server's metrics):
    /// a key held to one domain is refused by the handler even with the right scope.
    pub global: bool,
}

const fn spec(method: Method, path: &'static str, access: Access) -> Spec {
    Spec {
        method,
        path,
        access,
        global: false,
    }
}

const fn global(method: Method, path: &'static str, access: Access) -> Spec {
    Spec {
        method,
        path,
        access,
        global: true,
    }
}

/// The table: each route with its handler.
fn table() -> Vec<(Spec, MethodRouter<AppState>)> {
    use Access::*;
    use Method as M;
    vec![
        (spec(M::GET, "/healthz", Open), get(api::health::get)),
        (
            spec(M::GET, "/api/openapi.json", Open),
            get(api::openapi::openapi_json),
        ),
        (
            spec(M::POST, "/api/v1/ingest", Ingest),
            post(ingest::ingest),
        ),
        (
            spec(M::POST, "/v1/traces", Ingest),
            post(ingest::otlp::traces),
        ),
        (
            spec(M::GET, "/api/dashboard/telemetry", Read),
            get(api::telemetry::get),
        ),
        (
            spec(M::GET, "/api/dashboard/analytics", Read),
            get(api::analytics::analytics),
        ),
        (
            spec(M::GET, "/api/dashboard/conversations", Read),
            get(api::analytics::conversations),
        ),
        (
            spec(M::GET, "/api/dashboard/missing-products", Read),
            get(api::analytics::missing_products),
        ),
        (
            spec(M::GET, "/api/dashboard/scraped", Read),
            get(api::shop::scraped),
        ),
        (
            spec(M::GET, "/api/dashboard/woocommerce", Read),
            get(api::shop::woocommerce),
        ),
        (
            spec(M::POST, "/api/dashboard/woocommerce/sync", Admin),
            post(api::shop::sync),
        ),
        (
            spec(M::GET, "/api/dashboard/config", Read),
            get(api::config::get),
        ),
        (
            spec(M::PUT, "/api/dashboard/config", Admin),
            put(api::config::put),
        ),
        (
            spec(M::GET, "/api/dashboard/test-connection", Admin),
            get(api::config::test_connection),
        ),
        (
            spec(M::GET, "/api/monitoring/chat", Read),
            get(api::monitoring::get),
        ),
        // Reads and changes: each action that changes something checks for admin itself.
        (
            spec(M::POST, "/api/monitoring/chat", Read),
            post(api::monitoring::post),
        ),
        (spec(M::GET, "/api/v1/prices", Read), get(api::prices::list)),
        (
            global(M::PUT, "/api/v1/prices", Admin),
            put(api::prices::put),
        ),
        (
            global(M::GET, "/api/v1/prices/repricing", Read),
            get(api::prices::repricing),
        ),
        (
            global(M::POST, "/api/v1/prices/import", Admin),
            post(api::prices::import),
        ),
        (spec(M::GET, "/api/live", Read), get(live::stream)),
        (
            spec(M::GET, "/api/sessions", Read),
            get(api::sessions::list),
        ),
        (
            spec(M::GET, "/api/sessions/{id}", Read),
            get(api::sessions::get),
        ),
        (
            spec(M::GET, "/api/export/{dataset}", Read),
            get(api::export::get),
        ),
        (global(M::GET, "/api/keys", Admin), get(api::keys::list)),
        (global(M::POST, "/api/keys", Admin), post(api::keys::create)),
        (
            global(M::DELETE, "/api/keys/{id}", Admin),
            delete(api::keys::revoke),
        ),
        (global(M::GET, "/metrics", Read), get(metrics::render)),
        (spec(M::GET, "/", Open), get(pages::root)),
        (spec(M::GET, "/login", Open), get(pages::login::login_form)),
        (spec(M::POST, "/login", Open), post(pages::login::login)),
        (spec(M::POST, "/logout", Open), post(pages::login::logout)),
        (
            spec(M::GET, "/assets/{name}", Open),
            get(pages::assets::serve),
        ),
        (spec(M::GET, "/dashboard", Page), get(pages::overview_page)),
        (
            spec(M::GET, "/dashboard/analytics", Page),
            get(pages::analytics_page),
        ),
        (
            spec(M::GET, "/dashboard/costs", Page),
            get(pages::costs_page),
        ),
        (
            spec(M::GET, "/dashboard/sessions", Page),
            get(pages::sessions_page),
        ),
        (
            spec(M::GET, "/dashboard/products", Page),
            get(pages::products_page),
        ),
        (
            spec(M::GET, "/dashboard/settings", Page),
            get(pages::settings_page),
        ),
        (
            spec(M::GET, "/dashboard/partials/{name}", Read),
            get(pages::partial),
        ),
    ]
}

/// The table without its handlers: for tests and documentation checks.
pub fn specs() -> Vec<Spec> {
    table().into_iter().map(|(s, _)| s).collect()
}

/// The routes of the table in one sub-router per access level, each behind its one
/// check (axum's `route_layer`, so unknown paths still fall through to the 404).
pub fn build(state: &AppState) -> Router<AppState> {
    use axum::middleware::from_fn_with_state;
    let mut groups: Vec<(Access, Router<AppState>)> = Vec::new();
    for (spec, handler) in table() {
        match groups.iter_mut().find(|(access, _)| *access == spec.access) {
            Some((_, group)) => *group = std::mem::take(group).route(spec.path, handler),
            None => groups.push((spec.access, Router::new().route(spec.path, handler))),
        }
    }
    groups
        .into_iter()
        .fold(Router::new(), |router, (access, group)| {
            let group = match access {
                Access::Open => group,
                Access::Ingest => {
                    group.route_layer(from_fn_with_state(state.clone(), auth::require_ingest))
                }
                Access::Read => {
                    group.route_layer(from_fn_with_state(state.clone(), auth::require_read))
                }
                Access::Admin => {
                    group.route_layer(from_fn_with_state(state.clone(), auth::require_admin))
                }
                Access::Page => {
                    group.route_layer(from_fn_with_state(state.clone(), auth::require_page))
                }
            };
            router.merge(group)
        })
        .layer(from_fn_with_state(
            state.clone(),
            crate::queries::cache::cache_rules,
        ))
}
