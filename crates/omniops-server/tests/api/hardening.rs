//! Guessing keys is slowed down (429 with Retry-After, never for a correct key), a login
//! form on another site cannot log anyone in, the cookie is Secure over HTTPS, every answer
//! carries the security headers, and every /api error is JSON naming its field — 405 too.

use crate::common::{t, TestApp, NOW};
use crate::http_test_with;
use serde_json::Value;

fn strict() -> omniops_server::Settings {
    omniops_server::Settings {
        login_failures_allowed: 3,
        login_lockout_max_secs: 60,
        trust_proxy_headers: true,
        ..omniops_server::Settings::default()
    }
}

async fn key_guessing_is_slowed_and_login_is_hardened(app: &TestApp) {
    let (_, read) = app
        .db
        .store
        .create_key(omniops_store::Scope::Read, None, None, t(NOW))
        .await
        .expect("key");
    let get = |key: String| {
        let request = app
            .client
            .get(app.url("/api/dashboard/telemetry"))
            .bearer_auth(key);
        async move {
            let r = request.send().await.expect("GET");
            (
                r.status().as_u16(),
                r.headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap_or("").to_string()),
            )
        }
    };
    // Three wrong keys are 401; the fourth locks the address out with a Retry-After.
    for i in 0..3 {
        assert_eq!(get(format!("omk_wrong_{i}")).await, (401, None));
    }
    let (status, retry) = get("omk_wrong_3".into()).await;
    assert_eq!((status, retry.as_deref()), (429, Some("1")));
    assert_eq!(get("omk_wrong_4".into()).await.0, 429);
    // The right key is never refused.
    assert_eq!(get(read.clone()).await.0, 200);

    // The login form: the same, and a correct key logs in while the address waits.
    let login = |key: &str, headers: &[(&str, &str)]| {
        let mut request = app
            .client
            .post(app.url("/login"))
            .form(&[("key", key), ("next", "/dashboard")]);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        async move {
            let r = request.send().await.expect("POST");
            let cookie = r
                .headers()
                .get("set-cookie")
                .map(|v| v.to_str().unwrap_or("").to_string());
            (r.status().as_u16(), cookie)
        }
    };
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let app_login = |key: String, headers: Vec<(&'static str, String)>| {
        let mut request = no_redirects
            .post(app.url("/login"))
            .form(&[("key", key.as_str()), ("next", "/dashboard")]);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        async move {
            let r = request.send().await.expect("POST");
            let cookie = r
                .headers()
                .get("set-cookie")
                .map(|v| v.to_str().unwrap_or("").to_string());
            (r.status().as_u16(), cookie)
        }
    };
    assert_eq!(login("omk_wrong_5", &[]).await.0, 429);
    let (status, cookie) = app_login(read.clone(), vec![]).await;
    assert_eq!(status, 303);
    assert!(
        !cookie.unwrap_or_default().contains("Secure"),
        "plain HTTP: no Secure"
    );
    // Behind a TLS proxy (trusted here), the cookie is Secure.
    let (status, cookie) =
        app_login(read.clone(), vec![("x-forwarded-proto", "https".into())]).await;
    assert_eq!(status, 303);
    assert!(cookie.unwrap_or_default().contains("; Secure"));
    // A form on another site posting a valid key: refused, no cookie (login CSRF).
    let (status, cookie) = app_login(
        read.clone(),
        vec![("origin", "https://evil.example".into())],
    )
    .await;
    assert_eq!((status, cookie), (403, None));
    let origin = format!("http://{}", app.addr);
    assert_eq!(
        app_login(read.clone(), vec![("origin", origin)]).await.0,
        303
    );

    // Another client address (as the trusted proxy reports it) is not held back.
    let other = app
        .client
        .get(app.url("/api/dashboard/telemetry"))
        .bearer_auth("omk_zzzzzzzzzz_x")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .expect("GET");
    assert_eq!(other.status().as_u16(), 401);
}
http_test_with!(
    guessing,
    key_guessing_is_slowed_and_login_is_hardened,
    super::strict()
);

async fn answers_carry_security_headers_and_json_errors(app: &TestApp) {
    for path in [
        "/dashboard",
        "/api/dashboard/telemetry",
        "/healthz",
        "/nowhere",
    ] {
        let r = app.client.get(app.url(path)).send().await.expect("GET");
        let h = r.headers();
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(
            h.get("x-frame-options").map(|v| v.as_bytes()),
            Some(&b"DENY"[..]),
            "{path}"
        );
        assert_eq!(
            h.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{path}"
        );
        assert_eq!(
            h.get("referrer-policy").map(|v| v.as_bytes()),
            Some(&b"same-origin"[..]),
            "{path}"
        );
    }
    // Every method a route lacks: a JSON 405 naming the method.
    for (method, path) in [
        ("DELETE", "/api/dashboard/telemetry"),
        ("PUT", "/api/v1/ingest"),
        ("PATCH", "/api/keys"),
    ] {
        let r = app
            .client
            .request(method.parse().expect("method"), app.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 405, "{method} {path}");
        let body: Value = r
            .json()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON: {e}"));
        assert_eq!(body["field"], "method");
    }
    // A body that is not JSON, and one with a value of the wrong type, name what is wrong.
    let r = app
        .client
        .post(app.url("/api/v1/ingest"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("POST");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["field"], "body");
    let r = app.client.post(app.url("/api/monitoring/chat")).json(&serde_json::json!({"action": "set-alert", "alert_type": "daily", "threshold_usd": [1]}))
        .send().await.expect("POST");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["field"], "threshold_usd", "{body}");
}
http_test_with!(
    headers_and_errors,
    answers_carry_security_headers_and_json_errors,
    omniops_server::Settings::default()
);
