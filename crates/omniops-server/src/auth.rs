//! API keys and access. With no key configured the server answers everyone (it then only
//! binds loopback); once any key exists every route but `/healthz` and the OpenAPI document
//! needs one. Key lookups are cached for two seconds, so a key created or revoked with
//! `omniops keys` takes effect within that time on every running instance.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use omniops_core::domain::Domain;
use omniops_store::ApiKeyRecord;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CACHE_TTL: Duration = Duration::from_secs(2);
const CACHE_MAX_ENTRIES: usize = 10_000;

pub use omniops_store::Scope;

/// Who is asking: `key_id` and `scope` are `None` on a server without keys.
#[derive(Debug, Clone, Default)]
pub struct Principal {
    pub key_id: Option<String>,
    pub scope: Option<Scope>,
    pub domain: Option<String>,
    /// Set when the request came with a dashboard session cookie: the token its
    /// state-changing requests must send back in `X-CSRF-Token`.
    pub csrf: Option<String>,
}

impl Principal {
    /// For routes that mix reads and changes: changes need admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.scope {
            None | Some(Scope::Admin) => Ok(()),
            Some(scope) => Err(ApiError::Forbidden(format!(
                "this action needs an admin key, not {}",
                scope.as_str()
            ))),
        }
    }

    /// For what is global (prices, retention, keys, the whole server's metrics): a key not
    /// held to a domain, with admin scope when `admin`.
    pub fn require_unscoped(&self, what: &str) -> Result<(), ApiError> {
        match &self.domain {
            Some(domain) => Err(ApiError::Forbidden(format!(
                "a key held to {domain} cannot {what}: that needs a key not held to a domain"
            ))),
            None => Ok(()),
        }
    }

    /// The domain a request may see: a domain-scoped key sees its own domain (also when
    /// none is asked for) and gets 403 for any other.
    pub fn resolve_domain(&self, requested: Option<Domain>) -> Result<Option<String>, ApiError> {
        match (&self.domain, requested) {
            (Some(own), None) => Ok(Some(own.clone())),
            (Some(own), Some(asked)) if asked == *own => Ok(Some(own.clone())),
            (Some(own), Some(_)) => Err(ApiError::Forbidden(format!(
                "this key may only see domain {own}"
            ))),
            (None, asked) => Ok(asked.map(Domain::into_string)),
        }
    }
}

#[derive(Default)]
pub struct KeyCache {
    keys_exist: Mutex<Option<(bool, Instant)>>,
    lookups: Mutex<HashMap<String, (Option<ApiKeyRecord>, Instant)>>,
}

impl KeyCache {
    pub fn invalidate(&self) {
        if let Ok(mut k) = self.keys_exist.lock() {
            *k = None;
        }
        if let Ok(mut l) = self.lookups.lock() {
            l.clear();
        }
    }
}

async fn keys_exist(state: &AppState) -> Result<bool, ApiError> {
    let cache = &state.keys;
    if let Some((exist, at)) = cache.keys_exist.lock().ok().and_then(|k| *k) {
        if at.elapsed() < CACHE_TTL {
            return Ok(exist);
        }
    }
    let exist = state.store.count_active_keys().await? > 0;
    if let Ok(mut k) = cache.keys_exist.lock() {
        *k = Some((exist, Instant::now()));
    }
    Ok(exist)
}

async fn lookup(state: &AppState, secret: &str) -> Result<Option<ApiKeyRecord>, ApiError> {
    let hash = omniops_store::hash_key(secret);
    if let Some((record, at)) = state
        .keys
        .lookups
        .lock()
        .ok()
        .and_then(|l| l.get(&hash).cloned())
    {
        if at.elapsed() < CACHE_TTL {
            return Ok(record);
        }
    }
    let record = state.store.find_key(secret).await?;
    if let Ok(mut l) = state.keys.lookups.lock() {
        if l.len() >= CACHE_MAX_ENTRIES {
            l.clear();
        }
        l.insert(hash, (record.clone(), Instant::now()));
    }
    Ok(record)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The dashboard's session cookie.
pub const SESSION_COOKIE: &str = "omniops_session";
/// The header that carries a session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A cookie's value from the `Cookie` header.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// How a request proves who it is.
enum Credential {
    /// A key, and who sent it (for the guard against guessing).
    Bearer(String, crate::guard::Attempt),
    /// A dashboard session cookie, and whether the request changes state.
    Session {
        token: String,
        changes_state: bool,
        csrf_sent: Option<String>,
    },
    None,
}

fn credential(state: &AppState, request: &Request) -> Credential {
    let headers = request.headers();
    if let Some(secret) = bearer(headers) {
        let client = crate::guard::client_address(
            &state.settings,
            headers,
            request
                .extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>(),
        );
        let attempt = crate::guard::Attempt::new(&client, &secret);
        return Credential::Bearer(secret, attempt);
    }
    match cookie(headers, SESSION_COOKIE) {
        Some(token) => Credential::Session {
            token,
            changes_state: !matches!(
                *request.method(),
                axum::http::Method::GET | axum::http::Method::HEAD
            ),
            csrf_sent: headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        },
        None => Credential::None,
    }
}

async fn principal(
    state: &AppState,
    credential: Credential,
    required: Scope,
) -> Result<Principal, ApiError> {
    if !keys_exist(state).await? {
        // Open only while bound to loopback: checked on every request, since keys can
        // disappear while the server runs. The peer's address does not count (a proxy on
        // the same host makes every peer loopback).
        if state.bound.is_some_and(|a| a.ip().is_loopback()) {
            return Ok(Principal::default());
        }
        return Err(ApiError::Unauthorized);
    }
    let (record, csrf) = match credential {
        Credential::Bearer(secret, attempt) => match lookup(state, &secret).await? {
            // A correct key is never refused, whatever came before it.
            Some(record) => (record, None),
            None => return Err(refuse_guess(state, &attempt)),
        },
        Credential::Session {
            token,
            changes_state,
            csrf_sent,
        } => {
            let hash = omniops_store::hash_key(&token);
            let (record, csrf) = state
                .store
                .find_dashboard_session(&hash, state.now())
                .await?
                .ok_or(ApiError::Unauthorized)?;
            // A cross-site form cannot read the token, so it cannot send it back.
            if changes_state && csrf_sent.as_deref() != Some(csrf.as_str()) {
                return Err(ApiError::Forbidden("missing or wrong CSRF token".into()));
            }
            (record, Some(csrf))
        }
        Credential::None => return Err(ApiError::Unauthorized),
    };
    let scope = record.scope;
    if !scope.allows(required) {
        return Err(ApiError::Forbidden(format!(
            "this key has scope {}; this route needs {} (or admin)",
            scope.as_str(),
            required.as_str()
        )));
    }
    Ok(Principal {
        key_id: Some(record.id),
        scope: Some(scope),
        domain: record.domain,
        csrf,
    })
}

/// A wrong key: 429 while its address or prefix is locked out (or now becomes so), else 401.
pub fn refuse_guess(state: &AppState, attempt: &crate::guard::Attempt) -> ApiError {
    let wait = state
        .guard
        .wait(attempt)
        .or_else(|| state.guard.fail(attempt, &state.settings));
    match wait {
        Some(wait) => ApiError::TooManyAttempts(wait),
        None => ApiError::Unauthorized,
    }
}

/// Middleware: admits the request when its key has `required` scope (or admin) and hands
/// the handler a [`Principal`].
async fn require(state: AppState, required: Scope, mut request: Request, next: Next) -> Response {
    let credential = credential(&state, &request);
    match principal(&state, credential, required).await {
        Ok(p) => {
            request.extensions_mut().insert(p);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// Middleware for dashboard pages: as a read, but a visitor without a valid key or session
/// is sent to the login form (and back here after it).
pub async fn require_page(State(s): State<AppState>, mut request: Request, next: Next) -> Response {
    let credential = credential(&s, &request);
    match principal(&s, credential, Scope::Read).await {
        Ok(p) => {
            request.extensions_mut().insert(p);
            next.run(request).await
        }
        Err(ApiError::Unauthorized) => {
            let next_path = request
                .uri()
                .path_and_query()
                .map_or("/dashboard", |p| p.as_str());
            axum::response::Redirect::to(&format!(
                "/login?next={}",
                crate::request::encode(next_path)
            ))
            .into_response()
        }
        Err(e) => e.into_response(),
    }
}

pub async fn require_ingest(State(s): State<AppState>, request: Request, next: Next) -> Response {
    require(s, Scope::Ingest, request, next).await
}

pub async fn require_read(State(s): State<AppState>, request: Request, next: Next) -> Response {
    require(s, Scope::Read, request, next).await
}

pub async fn require_admin(State(s): State<AppState>, request: Request, next: Next) -> Response {
    require(s, Scope::Admin, request, next).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_keys_see_only_their_domain() {
        let scoped = Principal {
            key_id: Some("k".into()),
            scope: Some(Scope::Read),
            domain: Some("a.example".into()),
            csrf: None,
        };
        assert!(scoped.require_admin().is_err());
        assert!(Principal::default().require_admin().is_ok());
        assert_eq!(
            scoped.resolve_domain(None).ok().flatten().as_deref(),
            Some("a.example")
        );
        assert_eq!(
            scoped
                .resolve_domain(Some(Domain::parse("a.example").expect("domain")))
                .ok()
                .flatten()
                .as_deref(),
            Some("a.example")
        );
        assert!(matches!(
            scoped.resolve_domain(Some(Domain::parse("b.example").expect("domain"))),
            Err(ApiError::Forbidden(_))
        ));
        let open = Principal::default();
        assert_eq!(open.resolve_domain(None).ok().flatten(), None);
        assert_eq!(
            open.resolve_domain(Some(Domain::parse("b.example").expect("domain")))
                .ok()
                .flatten()
                .as_deref(),
            Some("b.example")
        );
    }

    #[test]
    fn admin_allows_everything_other_scopes_only_themselves() {
        assert!(Scope::Admin.allows(Scope::Ingest));
        assert!(Scope::Read.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Ingest));
        assert!(!Scope::Ingest.allows(Scope::Admin));
    }
}
