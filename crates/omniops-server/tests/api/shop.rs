//! `/api/dashboard/scraped` and `/api/dashboard/woocommerce` against a hand-computed fixture.

use crate::common::TestApp;
use crate::http_test;
use serde_json::json;

async fn content_and_shop_match_hand_computed_values(app: &TestApp) {
    let (_, r) = app.get_json("/api/dashboard/woocommerce", None).await;
    assert_eq!(
        (
            r["status"].clone(),
            r["totalOrders"].clone(),
            r["revenue"].clone()
        ),
        (json!("not_configured"), json!(0), json!(0.0))
    );
    let (_, r) = app.get_json("/api/dashboard/scraped", None).await;
    assert_eq!(
        (r["totalPages"].clone(), r["lastUpdated"].clone()),
        (json!(0), json!(null))
    );

    let events = json!([
        {"type": "page", "url": "https://shop.example/a", "domain": "shop.example", "content": "hello world",
         "embeddings": 2, "previews": ["hello", "world"], "timestamp": "2026-11-26T10:00:00Z"},
        {"type": "page", "url": "https://shop.example/b", "domain": "shop.example", "content_length": 1000,
         "timestamp": "2026-11-20T10:00:00Z"},
        {"type": "page", "url": "https://parts.example/c", "domain": "parts.example", "content_length": 500,
         "embeddings": 3, "timestamp": "2026-10-01T10:00:00Z"},
        // A new scrape of /a replaces it.
        {"type": "page", "url": "https://shop.example/a", "domain": "shop.example", "content": "hello",
         "embeddings": 1, "timestamp": "2026-11-26T11:00:00Z"},
        {"type": "scrape_job", "domain": "shop.example", "url": "https://shop.example/d", "status": "queued"},
        {"type": "scrape_job", "domain": "shop.example", "url": "https://shop.example/d", "status": "running"},
        {"type": "scrape_job", "domain": "parts.example", "url": "https://parts.example/e", "status": "running"},
        {"type": "scrape_job", "domain": "shop.example", "url": "https://shop.example/f", "status": "done"},
        {"type": "extraction", "domain": "shop.example", "extraction_type": "products", "data": {"name": "Hydraulic Pump", "price": "199.00"}},
        {"type": "extraction", "domain": "shop.example", "extraction_type": "products", "data": {"name": "Oil Filter", "price": 12.5}},
        {"type": "extraction", "domain": "parts.example", "extraction_type": "products", "data": {"name": "Oil Filter", "price": "13.50"}},
        {"type": "extraction", "domain": "shop.example", "extraction_type": "faq", "data": {"q": "Shipping?", "a": "2 days"}},
        {"type": "order", "domain": "shop.example", "order_id": "o1", "total": "129.99", "currency": "USD", "timestamp": "2026-11-25T10:00:00Z"},
        {"type": "order", "domain": "shop.example", "order_id": "o1", "total": "129.99", "currency": "USD", "timestamp": "2026-11-25T10:00:00Z"},
        {"type": "order", "domain": "shop.example", "order_id": "o2", "total": 70.01, "currency": "usd", "timestamp": "2026-11-24T10:00:00Z"},
        {"type": "order", "domain": "parts.example", "order_id": "o3", "total": 50, "currency": "EUR", "timestamp": "2026-11-20T10:00:00Z"},
        {"type": "order", "domain": "shop.example", "order_id": "o4", "total": 999, "currency": "USD", "timestamp": "2026-09-01T10:00:00Z"},
        {"type": "cart.abandoned", "domain": "shop.example", "cart_id": "c1", "value": "45.50", "currency": "USD", "timestamp": "2026-11-26T09:00:00Z"},
        {"type": "cart.abandoned", "domain": "parts.example", "cart_id": "c2", "value": 10, "currency": "USD", "timestamp": "2026-11-25T09:00:00Z"}
    ]);
    let (status, answer) = app.ingest(events).await;
    assert_eq!(
        (status, answer["rejected"].clone()),
        (200, json!([])),
        "{answer}"
    );

    // The whole index: /a (5 characters, 1 chunk), /b (1,000, none), /c (500, 3 chunks).
    let (status, r) = app.get_json("/api/dashboard/scraped", None).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        r,
        json!({
            "totalPages": 3, "lastUpdated": "2026-11-26T11:00:00Z", "queuedJobs": 2,
            "statistics": {"uniqueDomains": 2, "totalEmbeddings": 4, "avgContentLength": 502, "embeddingCoverage": 66.7},
            "domains": ["shop.example", "parts.example"]
        })
    );
    let (_, r) = app.get_json("/api/dashboard/scraped?days=30", None).await;
    assert_eq!(r["totalPages"], 2);
    // (5 + 1,000) / 2 = 502.5, rounded half away from zero.
    assert_eq!(
        r["statistics"],
        json!({"uniqueDomains": 1, "totalEmbeddings": 1, "avgContentLength": 503, "embeddingCoverage": 50.0})
    );
    let (_, r) = app
        .get_json("/api/dashboard/scraped?domain=parts.example", None)
        .await;
    assert_eq!(
        (r["totalPages"].clone(), r["queuedJobs"].clone()),
        (json!(1), json!(1))
    );

    let (status, r) = app.get_json("/api/dashboard/woocommerce", None).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        r,
        json!({
            "totalProducts": 2, "totalOrders": 3, "revenue": 200.0, "currency": "USD",
            "revenueByCurrency": [
                {"currency": "EUR", "count": 1, "amount": 50.0},
                {"currency": "USD", "count": 2, "amount": 200.0}
            ],
            "abandonedCarts": {"count": 2, "value": 55.5, "currency": "USD"},
            // (199.00 + 12.50 + 13.50) / 3 = 75
            // No store is configured: the data came as events.
            "statistics": {"avgProductPrice": 75.0, "configuredDomains": 0, "productsIndexed": 3},
            "status": "active",
            "lastError": null, "lastErrorAt": null, "lastSync": null, "stores": [],
            "domains": ["parts.example", "shop.example"]
        })
    );
    let (_, r) = app
        .get_json("/api/dashboard/woocommerce?domain=parts.example", None)
        .await;
    assert_eq!(
        (
            r["totalProducts"].clone(),
            r["revenue"].clone(),
            r["currency"].clone()
        ),
        (json!(1), json!(50.0), json!("EUR"))
    );
    assert_eq!(r["statistics"]["avgProductPrice"], json!(13.5));
    let (_, r) = app
        .get_json("/api/dashboard/woocommerce?days=365", None)
        .await;
    assert_eq!(
        (r["totalOrders"].clone(), r["revenue"].clone()),
        (json!(4), json!(1199.0))
    );
}
http_test!(
    content_and_shop,
    content_and_shop_match_hand_computed_values
);
