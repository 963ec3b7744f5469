//! `/api/dashboard/config` and `/api/dashboard/test-connection`, against a store on loopback.

use crate::common::TestApp;
use crate::{http_test, http_test_with};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{json, Value};

/// A WooCommerce stand-in that accepts only consumer key ck_1 with secret cs_1.
async fn fake_store() -> String {
    let app = axum::Router::new().route(
        "/wp-json/wc/v3/system_status",
        get(|headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if auth == "Basic Y2tfMTpjc18x" {
                (
                    StatusCode::OK,
                    axum::Json(json!({"environment": {"version": "9.0"}})),
                )
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"code": "woocommerce_rest_cannot_view"})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn put(app: &TestApp, body: Value) -> (u16, Value) {
    let r = app
        .client
        .put(app.url("/api/dashboard/config"))
        .json(&body)
        .send()
        .await
        .expect("PUT");
    (r.status().as_u16(), r.json().await.expect("json"))
}

async fn config_and_store_connections(app: &TestApp) {
    let (status, r) = app.get_json("/api/dashboard/config", None).await;
    assert_eq!(
        (status, r),
        (
            200,
            json!({"domains": [], "settings": {"retentionDays": 30, "rollupRetentionDays": 400}})
        )
    );

    let store = fake_store().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("address"))
    };
    let (status, r) = put(app, json!({
        "domains": [
            {"domain": "shop.example", "woocommerce": {"url": format!("{store}/"), "enabled": true, "consumerKey": "ck_1", "consumerSecret": "cs_1"}},
            {"domain": "parts.example", "woocommerce": {"url": closed, "enabled": true, "consumerKey": "ck_2", "consumerSecret": "cs_2"}},
            {"domain": "blog.example"}
        ],
        "retentionDays": 14
    })).await;
    assert_eq!(status, 200, "{r}");
    assert!(
        !r.to_string().contains("cs_1") && !r.to_string().contains("ck_1"),
        "secrets leaked: {r}"
    );
    assert_eq!(r["settings"]["retentionDays"], 14);
    assert_eq!(
        r["domains"][2],
        json!({"domain": "shop.example", "woocommerce": {
            "url": store, "enabled": true, "consumerKeySet": true, "consumerSecretSet": true
        }})
    );
    assert_eq!(r["domains"][0]["woocommerce"]["consumerKeySet"], false);

    let (status, r) = app.get_json("/api/dashboard/test-connection", None).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["ok"], false);
    assert_eq!(
        (
            r["database"]["ok"].clone(),
            r["database"]["backend"].clone()
        ),
        (json!(true), json!(app.db.store.backend().name()))
    );
    let woo = r["woocommerce"].as_array().expect("list");
    assert_eq!(woo.len(), 2);
    assert_eq!(
        (
            woo[0]["domain"].clone(),
            woo[0]["ok"].clone(),
            woo[0]["error"].clone()
        ),
        (
            json!("parts.example"),
            json!(false),
            json!("could not connect")
        )
    );
    assert_eq!(
        (
            woo[1]["domain"].clone(),
            woo[1]["ok"].clone(),
            woo[1]["status"].clone()
        ),
        (json!("shop.example"), json!(true), json!(200))
    );

    // A wrong secret is reported with the store's answer; absent fields keep their value.
    put(
        app,
        json!({"domains": [{"domain": "shop.example", "woocommerce": {"consumerSecret": "nope"}}]}),
    )
    .await;
    put(
        app,
        json!({"domains": [{"domain": "parts.example", "remove": true}]}),
    )
    .await;
    let (_, r) = app.get_json("/api/dashboard/test-connection", None).await;
    let woo = r["woocommerce"].as_array().expect("list");
    assert_eq!(woo.len(), 1);
    assert_eq!(
        (
            woo[0]["ok"].clone(),
            woo[0]["status"].clone(),
            woo[0]["error"].clone()
        ),
        (
            json!(false),
            json!(401),
            json!("the store answered HTTP 401")
        )
    );
    let (_, r) = app.get_json("/api/dashboard/config", None).await;
    assert_eq!(r["domains"].as_array().map(Vec::len), Some(2));

    for (body, field) in [
        (
            json!({"domains": [{"domain": "new.example", "woocommerce": {"enabled": true}}]}),
            "woocommerce.enabled",
        ),
        (
            json!({"domains": [{"domain": "new.example", "woocommerce": {"url": "ftp://x"}}]}),
            "woocommerce.url",
        ),
        (json!({"domains": [{"domain": " "}]}), "domain"),
        (json!({"retentionDays": 0}), "retentionDays"),
    ] {
        let (status, r) = put(app, body).await;
        assert_eq!((status, r["field"].as_str()), (400, Some(field)), "{r}");
    }
    let (status, _) = put(app, json!({"unknown": 1})).await;
    assert_eq!(status, 400);
}
// The stand-in store listens on loopback: the tests allow private outbound calls.
http_test_with!(
    config,
    config_and_store_connections,
    omniops_server::Settings {
        allow_private_outbound: true,
        ..omniops_server::Settings::default()
    }
);

/// Without --allow-private-outbound, a store on this machine is refused when saved: a key
/// could otherwise make the server call any internal address with its credentials.
async fn a_loopback_store_is_refused_by_default(app: &TestApp) {
    let r = app
        .client
        .put(app.url("/api/dashboard/config"))
        .json(&json!({"domains": [{"domain": "shop.example", "woocommerce": {"url": "http://127.0.0.1:9", "enabled": false}}]}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["field"], "woocommerce.url");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("--allow-private-outbound"),
        "{body}"
    );
}
http_test!(loopback_store, a_loopback_store_is_refused_by_default);
