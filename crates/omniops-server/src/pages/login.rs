//! Logging in to the dashboard with an API key: a session cookie (HttpOnly,
//! SameSite=Strict) that stands for the key, with a CSRF token for state-changing requests.

use crate::auth::{cookie, Scope, SESSION_COOKIE};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup, DOCTYPE};
use omniops_core::clock::MICROS_PER_HOUR;
use serde::Deserialize;

/// How long a login lasts.
const SESSION_HOURS: i64 = 12;

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    key: String,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

/// Only paths on this server: never `//host` or a full URL.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/dashboard".to_string(),
    }
}

fn form(next: &str, problem: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (super::layout::head_common("Log in")) }
            body {
                main.login {
                    section.card {
                        h1 { "Omniops" }
                        p.subtitle { "This server has API keys: log in with a read or admin key." }
                        @if let Some(problem) = problem { p.error role="alert" data-testid="login-error" { (problem) } }
                        form method="post" action="/login" {
                            input type="hidden" name="next" value=(next);
                            label { span.stat-label { "API key" } br;
                                input type="password" name="key" id="key" autocomplete="current-password" required autofocus; }
                            p { button.primary type="submit" { "Log in" } }
                        }
                        p.muted { "Create a key with " code { "omniops keys create --scope read" } "." }
                    }
                }
            }
        }
    }
}

/// `GET /login`
pub async fn login_form(State(state): State<AppState>, Query(query): Query<NextQuery>) -> Response {
    let next = safe_next(query.next.as_deref());
    match state.store.count_active_keys().await {
        Ok(0) => Redirect::to(&next).into_response(),
        Ok(_) => form(&next, None).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn random_hex(bytes: usize) -> String {
    let data: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(data)
}

/// Whether a form post comes from this server's own pages: its `Origin`, when the browser
/// sends one, names the host it was sent to. A login form on another site cannot log a
/// visitor in (login CSRF).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// `POST /login` (form): checks the key, starts a session, returns to `next`.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    if !same_origin(&headers) {
        return ApiError::Forbidden("a login must come from this server's own page".into())
            .into_response();
    }
    let client = crate::guard::client_address(
        &state.settings,
        &headers,
        extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>(),
    );
    let attempt = crate::guard::Attempt::new(&client, f.key.trim());
    let record = match state.store.find_key(f.key.trim()).await {
        Ok(record) => record,
        Err(e) => return ApiError::from(e).into_response(),
    };
    // A correct key is never refused; a wrong one counts, and may have to wait.
    let Some(record) = record.filter(|r| r.scope != Scope::Ingest) else {
        tracing::warn!(%client, "dashboard login refused");
        return match crate::auth::refuse_guess(&state, &attempt) {
            ApiError::TooManyAttempts(wait) => {
                let secs = wait.as_secs().max(1);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, secs.to_string())],
                    form(
                        &next,
                        Some(&format!("Too many failed attempts: try again in {secs} s.")),
                    ),
                )
                    .into_response()
            }
            _ => (
                StatusCode::UNAUTHORIZED,
                form(&next, Some("Unknown key, or a key that may only ingest.")),
            )
                .into_response(),
        };
    };
    let token = random_hex(32);
    let csrf = random_hex(16);
    let now = state.now();
    if let Err(e) = state
        .store
        .create_dashboard_session(
            &omniops_store::hash_key(&token),
            &record.id,
            &csrf,
            now,
            now + SESSION_HOURS * MICROS_PER_HOUR,
        )
        .await
    {
        return ApiError::from(e).into_response();
    }
    // `Secure` when the visitor came over HTTPS (as a trusted proxy says): the browser then
    // never sends the cookie over plain HTTP.
    let secure = if crate::guard::is_https(&state.settings, &headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        SESSION_HOURS * 3600
    );
    (
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, cookie), (header::LOCATION, next)],
    )
        .into_response()
}

/// `POST /logout` (form with the session's CSRF token): ends the session.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LogoutForm>,
) -> Response {
    let clear = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        let hash = omniops_store::hash_key(&token);
        match state.store.find_dashboard_session(&hash, state.now()).await {
            Ok(Some((_, csrf))) if csrf == f.csrf => {
                if let Err(e) = state.store.delete_dashboard_session(&hash).await {
                    return ApiError::from(e).into_response();
                }
            }
            Ok(Some(_)) => {
                return ApiError::Forbidden("missing or wrong CSRF token".into()).into_response()
            }
            Ok(None) => {}
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, clear),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_posted_from_another_site_is_not_ours() {
        let headers = |origin: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, "omniops.internal:8080".parse().expect("host"));
            if let Some(o) = origin {
                h.insert(header::ORIGIN, o.parse().expect("origin"));
            }
            h
        };
        assert!(same_origin(&headers(Some("http://omniops.internal:8080"))));
        assert!(same_origin(&headers(None)), "curl sends no Origin");
        assert!(!same_origin(&headers(Some("https://evil.example"))));
        assert!(!same_origin(&headers(Some("null"))));
    }

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(
            safe_next(Some("/dashboard/costs?days=7")),
            "/dashboard/costs?days=7"
        );
        assert_eq!(safe_next(Some("//evil.example/")), "/dashboard");
        assert_eq!(safe_next(Some("https://evil.example/")), "/dashboard");
        assert_eq!(safe_next(None), "/dashboard");
    }
}
