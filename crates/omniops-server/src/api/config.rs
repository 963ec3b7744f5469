//! `GET/PUT /api/dashboard/config` and `GET /api/dashboard/test-connection`.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::request::parse_json;
use crate::request::read_body;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use omniops_core::domain::Domain;
use omniops_core::money::Rounded;
use omniops_store::DomainConfig;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use utoipa::ToSchema;

const RETENTION_KEY: &str = "retention_days";
const STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// At start: a retention set through the API wins over the configured one.
pub async fn load_retention_override(state: &AppState) -> anyhow::Result<()> {
    if let Some(days) = state
        .store
        .setting(RETENTION_KEY)
        .await?
        .and_then(|v| v.parse::<u32>().ok())
    {
        state.retention_days.store(days, Ordering::Relaxed);
    }
    Ok(())
}

fn visible(principal: &Principal, domain: &str) -> bool {
    principal.domain.as_deref().is_none_or(|own| own == domain)
}

/// The configuration as `GET` and `PUT /api/dashboard/config` answer it.
#[derive(Serialize, ToSchema)]
pub struct ConfigAnswer {
    domains: Vec<DomainAnswer>,
    settings: RetentionAnswer,
}

#[derive(Serialize, ToSchema)]
pub struct DomainAnswer {
    domain: String,
    woocommerce: StoreAnswer,
}

/// A store's settings; secrets are write-only, so only whether they are set.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreAnswer {
    url: Option<String>,
    enabled: bool,
    consumer_key_set: bool,
    consumer_secret_set: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetentionAnswer {
    retention_days: u32,
    rollup_retention_days: u32,
}

fn public(c: &DomainConfig) -> DomainAnswer {
    DomainAnswer {
        domain: c.domain.clone(),
        woocommerce: StoreAnswer {
            url: c.woocommerce_url.clone(),
            enabled: c.woocommerce_enabled,
            consumer_key_set: c.consumer_key.is_some(),
            consumer_secret_set: c.consumer_secret.is_some(),
        },
    }
}

async fn config_answer(state: &AppState, principal: &Principal) -> Result<ConfigAnswer, ApiError> {
    let domains = state
        .store
        .domain_configs()
        .await?
        .iter()
        .filter(|c| visible(principal, &c.domain))
        .map(public)
        .collect();
    Ok(ConfigAnswer {
        domains,
        settings: RetentionAnswer {
            retention_days: state.retention_days(),
            rollup_retention_days: state.settings.rollup_retention_days,
        },
    })
}

/// `GET /api/dashboard/config`: the customer domains with their WooCommerce settings
/// (secrets only as "set or not"), and the settings a user may change.
#[utoipa::path(get, path = "/api/dashboard/config", tag = "settings",
    responses((status = 200, body = ConfigAnswer), super::errors::Common))]
pub async fn get(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<ConfigAnswer>, ApiError> {
    Ok(Json(config_answer(&state, &principal).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigChange {
    #[serde(default)]
    domains: Vec<DomainChange>,
    retention_days: Option<u32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DomainChange {
    domain: String,
    #[serde(default)]
    remove: bool,
    woocommerce: Option<WooChange>,
}

/// Absent fields keep their value; an empty secret clears it.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WooChange {
    url: Option<String>,
    enabled: Option<bool>,
    consumer_key: Option<String>,
    consumer_secret: Option<String>,
}

/// `PUT /api/dashboard/config` (admin, checked by the route's layer): upserts or removes domains, sets the retention.
#[utoipa::path(put, path = "/api/dashboard/config", tag = "settings", request_body = ConfigChange,
    responses((status = 200, body = ConfigAnswer), super::errors::Common))]
pub async fn put(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ConfigAnswer>, ApiError> {
    let bytes = read_body(body, 256 * 1024).await?;
    let change: ConfigChange = parse_json(&headers, &bytes)?;
    if change.retention_days.is_some() {
        principal.require_unscoped("set the retention, which every domain shares")?;
    }
    let existing = state.store.domain_configs().await?;
    let mut upserts = Vec::new();
    let mut removed = Vec::new();
    for d in change.domains {
        let domain = Domain::parse(&d.domain)
            .map_err(|e| ApiError::field("domain", e.to_string()))?
            .into_string();
        if !visible(&principal, &domain) {
            return Err(ApiError::Forbidden(format!(
                "this key may not configure {domain}"
            )));
        }
        if d.remove {
            removed.push(domain);
            continue;
        }
        let mut config = existing
            .iter()
            .find(|c| c.domain == domain)
            .cloned()
            .unwrap_or(DomainConfig {
                domain: domain.clone(),
                woocommerce_url: None,
                woocommerce_enabled: false,
                consumer_key: None,
                consumer_secret: None,
            });
        if let Some(w) = d.woocommerce {
            if let Some(url) = w.url {
                let url = url.trim().trim_end_matches('/').to_string();
                // A store on this machine or the LAN needs --allow-private-outbound: a key
                // could otherwise make the server call any internal address.
                state.outbound.check_resolving(&url).await.map_err(|e| {
                    ApiError::field("woocommerce.url", format!("woocommerce.url: {e}"))
                })?;
                config.woocommerce_url = Some(url);
            }
            if let Some(key) = w.consumer_key {
                config.consumer_key = (!key.is_empty()).then_some(key);
            }
            if let Some(secret) = w.consumer_secret {
                config.consumer_secret = (!secret.is_empty()).then_some(secret);
            }
            if let Some(enabled) = w.enabled {
                config.woocommerce_enabled = enabled;
            }
        }
        if config.woocommerce_enabled
            && (config.woocommerce_url.is_none()
                || config.consumer_key.is_none()
                || config.consumer_secret.is_none())
        {
            return Err(ApiError::field(
                "woocommerce.enabled",
                "an enabled store needs url, consumerKey and consumerSecret",
            ));
        }
        upserts.push(config);
    }
    if let Some(days) = change.retention_days {
        if !(1..=3650).contains(&days) || days > state.settings.rollup_retention_days {
            return Err(ApiError::field(
                "retentionDays",
                "retentionDays must be from 1 to 3650 and within the rollup retention",
            ));
        }
    }
    state
        .store
        .put_domain_configs(&upserts, &removed, state.now())
        .await?;
    if let Some(days) = change.retention_days {
        state
            .store
            .put_setting(RETENTION_KEY, &days.to_string())
            .await?;
        state.retention_days.store(days, Ordering::Relaxed);
    }
    Ok(Json(config_answer(&state, &principal).await?))
}

/// `GET /api/dashboard/test-connection`'s answer.
#[derive(Serialize, ToSchema)]
pub struct ConnectionReport {
    ok: bool,
    database: DatabaseCheck,
    woocommerce: Vec<StoreCheck>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseCheck {
    ok: bool,
    backend: &'static str,
    latency_ms: Rounded,
    error: Option<&'static str>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreCheck {
    domain: String,
    url: String,
    ok: bool,
    /// The store's HTTP status, when it answered.
    status: Option<u16>,
    latency_ms: Rounded,
    error: Option<String>,
}

/// `GET /api/dashboard/test-connection`: the database round trip, and for each enabled
/// WooCommerce store a call to its REST API (`/wp-json/wc/v3/system_status`, 5 s timeout).
#[utoipa::path(get, path = "/api/dashboard/test-connection", tag = "settings",
    responses((status = 200, body = ConnectionReport), super::errors::Common))]
pub async fn test_connection(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<ConnectionReport>, ApiError> {
    let started = Instant::now();
    let reached = state.store.ping().await;
    if let Err(error) = &reached {
        tracing::error!(?error, "test-connection: database unreachable");
    }
    let database = DatabaseCheck {
        ok: reached.is_ok(),
        backend: state.store.backend().name(),
        latency_ms: elapsed_ms(started),
        error: reached.is_err().then_some("database unreachable"),
    };
    let stores: Vec<DomainConfig> = state
        .store
        .domain_configs()
        .await?
        .into_iter()
        .filter(|c| c.woocommerce_enabled && visible(&principal, &c.domain))
        .collect();
    // All stores at once, answers in domain order.
    let mut checks = tokio::task::JoinSet::new();
    for (i, config) in stores.into_iter().enumerate() {
        let outbound = state.outbound.clone();
        checks.spawn(async move { (i, check_store(&outbound, &config).await) });
    }
    let mut woocommerce: Vec<(usize, StoreCheck)> = checks.join_all().await;
    woocommerce.sort_by_key(|(i, _)| *i);
    let woocommerce: Vec<StoreCheck> = woocommerce.into_iter().map(|(_, v)| v).collect();
    let ok = database.ok && woocommerce.iter().all(|w| w.ok);
    Ok(Json(ConnectionReport {
        ok,
        database,
        woocommerce,
    }))
}

fn elapsed_ms(started: Instant) -> Rounded {
    omniops_core::money::json_number(
        rust_decimal::Decimal::from(started.elapsed().as_micros() as i64)
            / rust_decimal::Decimal::from(1000),
        3,
    )
}

async fn check_store(outbound: &crate::outbound::Outbound, c: &DomainConfig) -> StoreCheck {
    let url = format!(
        "{}/wp-json/wc/v3/system_status",
        c.woocommerce_url.as_deref().unwrap_or_default()
    );
    let started = Instant::now();
    let request = match outbound.get(&url) {
        Ok(r) => r,
        Err(e) => {
            return StoreCheck {
                domain: c.domain.clone(),
                url,
                ok: false,
                status: None,
                latency_ms: elapsed_ms(started),
                error: Some(e.to_string()),
            }
        }
    };
    let response = request
        .timeout(STORE_TIMEOUT)
        .basic_auth(
            c.consumer_key.as_deref().unwrap_or_default(),
            c.consumer_secret.as_deref(),
        )
        .send()
        .await;
    let (ok, status, error) = match response {
        Ok(r) if r.status().is_success() => (true, Some(r.status().as_u16()), None),
        Ok(r) => (
            false,
            Some(r.status().as_u16()),
            Some(format!("the store answered HTTP {}", r.status().as_u16())),
        ),
        Err(e) if e.is_timeout() => (false, None, Some("no answer within 5 s".to_string())),
        Err(_) => (false, None, Some("could not connect".to_string())),
    };
    StoreCheck {
        domain: c.domain.clone(),
        url,
        ok,
        status,
        latency_ms: elapsed_ms(started),
        error,
    }
}
