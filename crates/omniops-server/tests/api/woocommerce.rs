//! WooCommerce sync against a stand-in store on loopback that speaks the REST API v3:
//! pages of `per_page` items with `X-WP-TotalPages`, `modified_after`, a `429` with
//! `Retry-After`, and OAuth 1.0a signatures checked with the consumer secret (a wrong
//! signature gets 401, as WooCommerce answers).

use crate::common::TestApp;
use crate::http_test_with;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use omniops_server::woocommerce::oauth;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Shop {
    products: Vec<Value>,
    orders: Vec<Value>,
    /// Answers 429 to this many requests first.
    throttle: u32,
    /// Every request that passed the signature check: (kind, its query).
    seen: Vec<(String, HashMap<String, String>)>,
    throttled: u32,
}

type Shared = Arc<Mutex<Shop>>;

const KEY: &str = "ck_live";
const SECRET: &str = "cs_live";

async fn serve_kind(
    State((shop, base)): State<(Shared, String)>,
    Path(kind): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    // One-legged OAuth 1.0a: the signature over every other parameter, keyed by our secret.
    let mut params: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| k.as_str() != "oauth_signature")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    params.sort();
    let url = format!("{base}/wp-json/wc/v3/{kind}");
    let expected = oauth::signature("GET", &url, &params, SECRET);
    let signed = query.get("oauth_consumer_key").map(String::as_str) == Some(KEY)
        && query.get("oauth_signature") == Some(&expected)
        && headers.get("authorization").is_none();
    if !signed {
        let body = json!({"code": "woocommerce_rest_authentication_error", "message": "Invalid signature - provided signature does not match."});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let mut shop = shop.lock().expect("shop");
    if shop.throttle > 0 {
        shop.throttle -= 1;
        shop.throttled += 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response();
    }
    shop.seen.push((kind.clone(), query.clone()));
    let items = if kind == "products" {
        &shop.products
    } else {
        &shop.orders
    };
    let after = query.get("modified_after");
    let matching: Vec<&Value> = items
        .iter()
        .filter(|i| {
            after.is_none_or(|a| i["date_modified_gmt"].as_str().unwrap_or("") > a.as_str())
        })
        .collect();
    let per_page: usize = query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(10);
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let pages = matching.len().div_ceil(per_page).max(1);
    let body: Vec<&Value> = matching
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .copied()
        .collect();
    (
        [
            ("x-wp-total", matching.len().to_string()),
            ("x-wp-totalpages", pages.to_string()),
        ],
        axum::Json(json!(body)),
    )
        .into_response()
}

/// The stand-in, on a free loopback port: its URL and its state.
async fn stand_in(shop: Shop) -> (String, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let shared = Arc::new(Mutex::new(shop));
    let app = axum::Router::new()
        .route("/wp-json/wc/v3/{kind}", axum::routing::get(serve_kind))
        .with_state((shared.clone(), base.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, shared)
}

/// 150 products (two pages of 100): 15 colours × 10 tools, each a distinct name.
fn products() -> Vec<Value> {
    let colours = [
        "red", "blue", "green", "black", "white", "grey", "yellow", "orange", "purple", "brown",
        "pink", "silver", "golden", "navy", "olive",
    ];
    let tools = [
        "hammer",
        "wrench",
        "screwdriver",
        "chisel",
        "saw",
        "drill",
        "plier",
        "spanner",
        "mallet",
        "file",
    ];
    let mut list = Vec::new();
    for (i, (c, t)) in colours
        .iter()
        .flat_map(|c| tools.iter().map(move |t| (c, t)))
        .enumerate()
    {
        list.push(json!({
            "id": 1000 + i, "name": format!("{c} {t}"), "sku": format!("SKU-{i}"),
            "price": "10.00", "stock_status": if i % 2 == 0 { "instock" } else { "outofstock" },
            "categories": [{"id": 1, "name": "Tools"}],
            "date_modified_gmt": format!("2026-11-20T10:{:02}:{:02}", i / 60, i % 60),
        }));
    }
    list
}

fn order(id: i64, total: &str, status: &str, created: &str) -> Value {
    json!({"id": id, "total": total, "currency": "EUR", "status": status,
           "date_created_gmt": created, "date_modified_gmt": created})
}

fn refunded(mut order: Value, refund: &str) -> Value {
    order["refunds"] = json!([{"id": 77, "reason": "damaged", "total": refund}]);
    order
}

async fn sync(app: &TestApp, query: &str) -> Value {
    let r = app
        .client
        .post(app.url(&format!("/api/dashboard/woocommerce/sync{query}")))
        .send()
        .await
        .expect("POST sync");
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.expect("json")
}

async fn configure(app: &TestApp, stores: Value) {
    let r = app
        .client
        .put(app.url("/api/dashboard/config"))
        .json(&json!({ "domains": stores }))
        .send()
        .await
        .expect("PUT config");
    assert_eq!(
        r.status().as_u16(),
        200,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

async fn stores_are_synced_page_by_page_and_incrementally(app: &TestApp) {
    let (store, shop) = stand_in(Shop {
        products: products(),
        orders: vec![
            order(1, "100.00", "processing", "2026-11-25T09:00:00"),
            // 10.50 of it refunded.
            refunded(
                order(2, "50.50", "completed", "2026-11-25T10:00:00"),
                "-10.50",
            ),
            order(3, "30.00", "refunded", "2026-11-25T11:00:00"),
            order(4, "20.00", "cancelled", "2026-11-25T12:00:00"),
            order(5, "10.00", "failed", "2026-11-25T13:00:00"),
        ],
        throttle: 1,
        ..Shop::default()
    })
    .await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("address"))
    };
    let woo = |url: &str, secret: &str| json!({"url": url, "enabled": true, "consumerKey": KEY, "consumerSecret": secret});
    configure(
        app,
        json!([
            {"domain": "shop.example", "woocommerce": woo(&store, SECRET)},
            {"domain": "forged.example", "woocommerce": woo(&store, "cs_wrong")},
            {"domain": "down.example", "woocommerce": woo(&closed, SECRET)},
        ]),
    )
    .await;
    let (_, r) = app
        .get_json("/api/dashboard/woocommerce?domain=shop.example", None)
        .await;
    assert_eq!(
        (
            r["status"].clone(),
            r["statistics"]["configuredDomains"].clone()
        ),
        (json!("not_configured"), json!(1))
    );

    // First sync: everything, in pages of 100, after one 429 honoured.
    let answer = sync(app, "?domain=shop.example").await;
    assert_eq!(
        answer,
        json!({"stores": [{"domain": "shop.example", "ok": true, "products": 150, "orders": 5, "skipped": 0, "error": null}]})
    );
    {
        let shop = shop.lock().expect("shop");
        assert_eq!(shop.throttled, 1);
        let pages: Vec<(String, String, Option<String>)> = shop
            .seen
            .iter()
            .map(|(k, q)| {
                (
                    k.clone(),
                    q["page"].clone(),
                    q.get("modified_after").cloned(),
                )
            })
            .collect();
        assert_eq!(
            pages,
            [
                ("products".into(), "1".into(), None),
                ("products".into(), "2".into(), None),
                ("orders".into(), "1".into(), None)
            ]
        );
        assert!(shop.seen.iter().all(|(_, q)| q["per_page"] == "100"));
    }
    // Revenue: processing 100.00 + completed 50.50 less its refund of 10.50; refunded,
    // cancelled and failed orders are not revenue.
    let (_, r) = app
        .get_json(
            "/api/dashboard/woocommerce?domain=shop.example&from=2026-11-01T00:00:00Z&to=2026-11-30T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(
        (
            r["totalProducts"].clone(),
            r["totalOrders"].clone(),
            r["revenue"].clone(),
            r["currency"].clone()
        ),
        (json!(150), json!(5), json!(140.0), json!("EUR")),
        "{r}"
    );
    assert_eq!(
        r["revenueByCurrency"],
        json!([{"currency": "EUR", "count": 2, "amount": 140.0}])
    );
    assert_eq!(
        (r["status"].clone(), r["lastError"].clone()),
        (json!("active"), Value::Null)
    );
    assert_eq!(r["stores"][0]["productsSynced"], 150);

    // Incremental: only what changed after the newest modification seen.
    {
        let mut shop = shop.lock().expect("shop");
        shop.seen.clear();
        shop.products[0]["price"] = json!("12.00");
        shop.products[0]["date_modified_gmt"] = json!("2026-11-26T08:00:00");
        shop.orders[2]["status"] = json!("completed");
        shop.orders[2]["date_modified_gmt"] = json!("2026-11-26T08:00:00");
        shop.orders
            .push(order(6, "5.25", "processing", "2026-11-26T09:00:00"));
    }
    let answer = sync(app, "?domain=shop.example").await;
    assert_eq!(
        (
            answer["stores"][0]["products"].clone(),
            answer["stores"][0]["orders"].clone()
        ),
        (json!(1), json!(2))
    );
    {
        let shop = shop.lock().expect("shop");
        let after: Vec<Option<String>> = shop
            .seen
            .iter()
            .map(|(_, q)| q.get("modified_after").cloned())
            .collect();
        // The newest product was modified at 10:02:29 (item 149), the newest order at 13:00.
        assert_eq!(
            after,
            [
                Some("2026-11-20T10:02:29".into()),
                Some("2026-11-25T13:00:00".into())
            ]
        );
    }
    let (_, r) = app
        .get_json(
            "/api/dashboard/woocommerce?domain=shop.example&from=2026-11-01T00:00:00Z&to=2026-11-30T00:00:00Z",
            None,
        )
        .await;
    // 100.00 + 40.00 + 30.00 (now completed) + 5.25; still 150 products, one at 12.00.
    assert_eq!(
        (
            r["totalProducts"].clone(),
            r["totalOrders"].clone(),
            r["revenue"].clone()
        ),
        (json!(150), json!(6), json!(175.25))
    );
    assert_eq!(r["statistics"]["avgProductPrice"], json!(10.01));

    // Nothing new: nothing stored twice.
    let answer = sync(app, "?domain=shop.example").await;
    assert_eq!(
        (
            answer["stores"][0]["products"].clone(),
            answer["stores"][0]["orders"].clone()
        ),
        (json!(0), json!(0))
    );
    let (_, again) = app
        .get_json(
            "/api/dashboard/woocommerce?domain=shop.example&from=2026-11-01T00:00:00Z&to=2026-11-30T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(
        (again["totalOrders"].clone(), again["revenue"].clone()),
        (json!(6), json!(175.25))
    );

    // A full sync finds a product the store no longer has: it leaves the catalogue.
    shop.lock().expect("shop").products.remove(5);
    let answer = sync(app, "?domain=shop.example&full=true").await;
    assert_eq!(answer["stores"][0]["products"], json!(149));
    let (_, r) = app
        .get_json("/api/dashboard/woocommerce?domain=shop.example", None)
        .await;
    assert_eq!(r["totalProducts"], json!(149));

    // A wrong secret is refused by the store's signature check; a store that is down fails.
    let answer = sync(app, "").await;
    let by_domain: HashMap<String, Value> = answer["stores"]
        .as_array()
        .expect("stores")
        .iter()
        .map(|s| {
            (
                s["domain"].as_str().unwrap_or_default().to_string(),
                s.clone(),
            )
        })
        .collect();
    assert_eq!(
        by_domain["forged.example"]["error"],
        json!("the store answered HTTP 401 for products page 1")
    );
    assert_eq!(
        by_domain["down.example"]["error"],
        json!("could not connect to the store")
    );
    assert_eq!(by_domain["shop.example"]["ok"], json!(true));
    let (_, r) = app
        .get_json("/api/dashboard/woocommerce?domain=forged.example", None)
        .await;
    assert_eq!(r["status"], "error");
    assert_eq!(
        r["lastError"],
        "the store answered HTTP 401 for products page 1"
    );
    assert!(r["lastErrorAt"].is_string(), "{r}");
    let (_, r) = app.get_json("/api/dashboard/woocommerce", None).await;
    assert_eq!(
        (
            r["status"].clone(),
            r["statistics"]["configuredDomains"].clone()
        ),
        (json!("error"), json!(3))
    );
    let statuses: Vec<(Value, Value)> = r["stores"]
        .as_array()
        .expect("stores")
        .iter()
        .map(|s| (s["domain"].clone(), s["status"].clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            (json!("down.example"), json!("error")),
            (json!("forged.example"), json!("error")),
            (json!("shop.example"), json!("active"))
        ]
    );
}
// The stand-in listens on loopback: the tests allow private outbound calls.
http_test_with!(
    woocommerce_sync,
    stores_are_synced_page_by_page_and_incrementally,
    omniops_server::Settings {
        allow_private_outbound: true,
        ..omniops_server::Settings::default()
    }
);

/// In the browser: "Sync now" in Settings syncs the stores; each shows how its last sync
/// went, and the products page shows the shop's status, figures and last error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_sync_now_and_the_shop_section() {
    let Some(browser) = crate::browser::Browser::start().await else {
        return;
    };
    let settings = omniops_server::Settings {
        allow_private_outbound: true,
        ..omniops_server::Settings::default()
    };
    let app = TestApp::spawn_with(omniops_testkit::Engine::Sqlite, settings)
        .await
        .expect("sqlite");
    // The test server's clock reads 2026-11-26T12:30:00Z.
    let now = "2026-11-26T10:00:00";
    let (store, _shop) = stand_in(Shop {
        products: products().into_iter().take(3).collect(),
        orders: vec![
            order(1, "20.00", "completed", now),
            order(2, "7.50", "refunded", now),
        ],
        ..Shop::default()
    })
    .await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("address"))
    };
    let woo = |url: &str| json!({"url": url, "enabled": true, "consumerKey": KEY, "consumerSecret": SECRET});
    configure(
        &app,
        json!([
            {"domain": "shop.example", "woocommerce": woo(&store)},
            {"domain": "down.example", "woocommerce": woo(&closed)},
        ]),
    )
    .await;
    let b = &browser;
    b.goto(&app.url("/dashboard/settings")).await;
    b.wait_until("document.querySelectorAll('[data-sync=none]').length === 2")
        .await;
    b.click("form[aria-label='Sync stores'] button[type=submit]")
        .await;
    b.wait_until(
        "document.querySelector('[data-sync=ok]') && document.querySelector('[data-sync=error]')",
    )
    .await;
    let listed = b.text("[data-testid=domain-configs]").await;
    assert!(listed.contains("3 products, 2 orders"), "{listed}");
    assert!(
        listed.contains("could not connect to the store"),
        "{listed}"
    );

    b.goto(&app.url("/dashboard/products?days=1&domain=shop.example"))
        .await;
    assert_eq!(b.text("[data-testid=shop-status]").await, "active");
    assert_eq!(b.text("[data-testid=shop-orders] .stat-value").await, "2");
    // The completed order only: the refunded one is not revenue.
    assert_eq!(
        b.text("[data-testid=shop-revenue] .stat-value").await,
        "20.00 EUR"
    );
    b.goto(&app.url("/dashboard/products?days=1")).await;
    assert_eq!(b.text("[data-testid=shop-status]").await, "error");
    assert!(b
        .text("[data-testid=shop-error]")
        .await
        .contains("could not connect to the store"));
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    browser.close().await;
}
