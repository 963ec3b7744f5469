//! The access matrix, built from the router's own route table: every route × ten kinds of
//! caller, on both engines. Each cell is decided by the route's declared access (and
//! whether it is about what every domain shares), so a new route is covered by being
//! declared.

use crate::common::{t, TestApp, NOW};
use crate::http_test_with;
use omniops_server::routes::{specs, Access, Spec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    WrongKey,
    Ingest,
    ScopedIngest,
    Read,
    ScopedRead,
    Admin,
    ScopedAdmin,
    /// An admin's dashboard session, sending its CSRF token.
    Cookie,
    /// The same session without the token.
    CookieWithoutCsrf,
}

const CALLERS: [Caller; 10] = [
    Caller::Anonymous,
    Caller::WrongKey,
    Caller::Ingest,
    Caller::ScopedIngest,
    Caller::Read,
    Caller::ScopedRead,
    Caller::Admin,
    Caller::ScopedAdmin,
    Caller::Cookie,
    Caller::CookieWithoutCsrf,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Past the access check: neither 401 nor 403.
    Pass,
    Unauthorized,
    Forbidden,
    /// A page sends a visitor without a key to the login form.
    ToLogin,
}

fn expected(spec: &Spec, caller: Caller) -> Expect {
    use Caller::*;
    use Expect::*;
    let changes = spec.method != axum::http::Method::GET;
    let scoped = matches!(caller, ScopedIngest | ScopedRead | ScopedAdmin);
    let decided = match (spec.access, caller) {
        (Access::Open, _) => return Pass,
        (Access::Page, Anonymous | WrongKey) => return ToLogin,
        (_, Anonymous | WrongKey) => Unauthorized,
        (_, CookieWithoutCsrf) if changes => Forbidden,
        (Access::Ingest, Ingest | ScopedIngest | Admin | ScopedAdmin | Cookie) => Pass,
        (Access::Ingest, _) => Forbidden,
        (Access::Read | Access::Page, Ingest | ScopedIngest) => Forbidden,
        (Access::Read | Access::Page, _) => Pass,
        (Access::Admin, Admin | ScopedAdmin | Cookie | CookieWithoutCsrf) => Pass,
        (Access::Admin, _) => Forbidden,
    };
    // What every domain shares refuses a key held to one, past the scope check.
    if decided == Pass && spec.global && scoped {
        return Forbidden;
    }
    decided
}

/// The route's path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{id}", "nobody")
        .replace("{dataset}", "sessions")
        .replace("{name}", "stats")
}

async fn every_route_admits_exactly_its_callers(app: &TestApp) {
    let now = t(NOW);
    let store = &app.db.store;
    let key = |scope: &'static str, domain: Option<&'static str>| async move {
        store
            .create_key(
                omniops_store::Scope::parse(scope).expect("scope"),
                domain,
                None,
                now,
            )
            .await
            .expect("key")
            .1
    };
    let admin = key("admin", None).await;
    let keys = [
        (Caller::Ingest, key("ingest", None).await),
        (Caller::ScopedIngest, key("ingest", Some("a.example")).await),
        (Caller::Read, key("read", None).await),
        (Caller::ScopedRead, key("read", Some("a.example")).await),
        (Caller::ScopedAdmin, key("admin", Some("a.example")).await),
        (Caller::Admin, admin.clone()),
        (
            Caller::WrongKey,
            "omk_000000000000000000000000000000000000000000000000".to_string(),
        ),
    ];
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    // A dashboard session of the admin key, and its CSRF token from a page.
    let login = plain
        .post(app.url("/login"))
        .form(&[("key", admin.as_str()), ("next", "/dashboard")])
        .send()
        .await
        .expect("login");
    let session = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let page = plain
        .get(app.url("/dashboard"))
        .header("cookie", &session)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let csrf = page
        .split("X-CSRF-Token&quot;:&quot;")
        .nth(1)
        .and_then(|r| r.split("&quot;").next())
        .expect("csrf")
        .to_string();

    let mut cells = 0;
    let mut wrong = Vec::new();
    for spec in specs() {
        for caller in CALLERS {
            let url = app.url(&concrete(spec.path));
            let mut request = plain.request(spec.method.clone(), &url);
            if spec.method != axum::http::Method::GET {
                request = request
                    .header("content-type", "application/json")
                    .body("{}");
            }
            request = match caller {
                Caller::Anonymous => request,
                Caller::Cookie => request
                    .header("cookie", &session)
                    .header("x-csrf-token", &csrf),
                Caller::CookieWithoutCsrf => request.header("cookie", &session),
                other => {
                    request.bearer_auth(&keys.iter().find(|(c, _)| *c == other).expect("key").1)
                }
            };
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let got = match (status, location.starts_with("/login")) {
                (401, _) => Expect::Unauthorized,
                (403, _) => Expect::Forbidden,
                (303, true) => Expect::ToLogin,
                _ => Expect::Pass,
            };
            let want = expected(&spec, caller);
            cells += 1;
            if got != want {
                wrong.push(format!(
                    "{} {} as {caller:?}: {status}, expected {want:?}",
                    spec.method, spec.path
                ));
            }
            // A live stream answers at once and never ends: let it go.
            drop(response);
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    println!(
        "access matrix: {} routes × {} callers = {cells} cells",
        specs().len(),
        CALLERS.len()
    );
}

http_test_with!(
    access_matrix,
    every_route_admits_exactly_its_callers,
    omniops_server::Settings {
        // The wrong-key caller tries every route: not a guessing attack to slow down.
        login_failures_allowed: 100_000,
        ..omniops_server::Settings::default()
    }
);
