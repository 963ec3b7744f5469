//! `/api/dashboard/missing-products` against a hand-computed fixture.

use crate::common::TestApp;
use crate::http_test;
use serde_json::json;

async fn missing_products_match_hand_computed_values(app: &TestApp) {
    let events = json!([
        // The catalogue of shop.example has oil filters.
        {"type": "extraction", "domain": "shop.example", "extraction_type": "products",
         "data": {"name": "Oil Filters", "price": "12.90"}},
        {"type": "conversation", "conversation_id": "c1", "domain": "shop.example", "timestamp": "2026-11-26T10:00:00Z"},
        {"type": "message", "conversation_id": "c1", "role": "user", "content": "Do you have hydraulic pumps?", "timestamp": "2026-11-26T10:00:00Z"},
        {"type": "message", "conversation_id": "c1", "role": "user", "content": "Thanks, perfect!", "timestamp": "2026-11-26T10:00:30Z"},
        // c1's session searched three times and found nothing.
        {"type": "session.start", "session_id": "s1", "model": "gpt-4", "domain": "shop.example",
         "conversation_id": "c1", "timestamp": "2026-11-26T11:00:00Z"},
        {"type": "search", "session_id": "s1", "query": "Hydraulic  Pumps", "results": 0, "timestamp": "2026-11-26T11:00:05Z"},
        {"type": "search", "session_id": "s1", "query": "torque wrench", "results": 0, "timestamp": "2026-11-26T11:00:09Z"},
        {"type": "search", "session_id": "s1", "query": "oil filters", "results": 0, "timestamp": "2026-11-26T11:00:11Z"},
        {"type": "session.end", "session_id": "s1", "success": true, "timestamp": "2026-11-26T11:00:20Z"},
        // c2's session found something: its question is not a missing product.
        {"type": "conversation", "conversation_id": "c2", "domain": "parts.example", "timestamp": "2026-11-25T10:00:00Z"},
        {"type": "message", "conversation_id": "c2", "role": "user", "content": "I'm looking for a torque wrench.", "timestamp": "2026-11-25T10:00:00Z"},
        {"type": "session", "session_id": "s2", "model": "gpt-4", "domain": "parts.example", "conversation_id": "c2",
         "start_time": "2026-11-25T10:00:01Z", "duration_ms": 10, "success": true, "input_tokens": 1, "output_tokens": 1,
         "searches": [{"query": "torque wrench", "results": 5}]},
        // A backfilled session with a failed search.
        {"type": "session", "session_id": "b1", "model": "gpt-4", "domain": "parts.example",
         "start_time": "2026-11-20T10:00:00Z", "duration_ms": 10, "success": true, "input_tokens": 1, "output_tokens": 1,
         "searches": [{"query": "Ball Bearings", "results": 0}]}
    ]);
    let (status, answer) = app.ingest(events).await;
    assert_eq!(
        (status, answer["rejected"].clone()),
        (200, json!([])),
        "{answer}"
    );

    let (status, r) = app.get_json("/api/dashboard/missing-products", None).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        r["missingProducts"],
        // c1's question and its session's failed search name the hydraulic pump: one need,
        // first asked at 10:00:00. Ties in count: the most recently asked first.
        json!([
            {"name": "torque wrench", "count": 1, "lastRequested": "2026-11-26T11:00:09Z", "examples": ["torque wrench"]},
            {"name": "hydraulic pump", "count": 1, "lastRequested": "2026-11-26T10:00:00Z",
             "examples": ["hydraulic pumps", "Do you have hydraulic pumps?"]},
            {"name": "ball bearing", "count": 1, "lastRequested": "2026-11-20T10:00:00Z", "examples": ["ball bearings"]}
        ])
    );
    assert_eq!(
        r["statistics"],
        json!({
            "totalMissingProducts": 3, "totalRequests": 3, "avgRequestsPerProduct": 1.0, "timeRange": "Last 30 days"
        })
    );
    assert_eq!(
        r["categories"],
        json!({
            "tools": ["torque wrench"], "parts": ["ball bearing"], "equipment": ["hydraulic pump"], "other": []
        })
    );
    assert_eq!(
        r["recommendations"],
        json!([
            "Add \"torque wrench\" to the catalogue: requested 1 time (last 30 days).",
            // Three categories with 1 request each: the first by name.
            "Equipment is the most requested missing category: 1 request for 1 product.",
            "3 products were asked for only once: watch them before stocking.",
            "3 searches found nothing: check product names and synonyms in the search index."
        ])
    );
    assert_eq!(
        r["pagination"],
        json!({"page": 1, "limit": 20, "total": 3, "totalPages": 1})
    );

    let (_, r) = app
        .get_json("/api/dashboard/missing-products?domain=parts.example", None)
        .await;
    assert_eq!(r["missingProducts"].as_array().map(Vec::len), Some(1));
    assert_eq!(r["missingProducts"][0]["name"], "ball bearing");
    let (_, r) = app
        .get_json("/api/dashboard/missing-products?limit=1&page=2", None)
        .await;
    assert_eq!(r["missingProducts"][0]["name"], "hydraulic pump");
    let (_, r) = app
        .get_json("/api/dashboard/missing-products?days=1", None)
        .await;
    assert_eq!(r["statistics"]["totalRequests"], 2);

    // Once the catalogue has hydraulic pumps, they are no longer missing.
    let (_, answer) = app
        .ingest(
            json!([{"type": "extraction", "domain": "shop.example", "extraction_type": "products",
                        "data": {"name": "hydraulic pump", "price": 199}}]),
        )
        .await;
    assert_eq!(answer["accepted"], 1);
    let (_, r) = app.get_json("/api/dashboard/missing-products", None).await;
    assert_eq!(r["statistics"]["totalMissingProducts"], 2);

    // Later questions of c1 count as they arrive (c1 already found nothing). c3's session
    // found nothing before c3 itself arrived: c3's question joins its session's need once c3
    // arrives. Chainsaws: one need in c1, one in c3.
    let (_, answer) = app
        .ingest(json!([
            {"type": "message", "conversation_id": "c1", "role": "user", "content": "Do you have garden hoses?",
             "timestamp": "2026-11-26T12:05:00Z"},
            {"type": "message", "conversation_id": "c1", "role": "user", "content": "Do you have chainsaws?",
             "timestamp": "2026-11-26T12:06:00Z"},
            {"type": "session", "session_id": "s3", "model": "gpt-4", "domain": "shop.example", "conversation_id": "c3",
             "start_time": "2026-11-26T12:00:00Z", "duration_ms": 10, "success": true, "input_tokens": 1, "output_tokens": 1,
             "searches": [{"query": "Chainsaws", "results": 0}]}
        ]))
        .await;
    assert_eq!(answer["accepted"], 3, "{answer}");
    let (_, answer) = app
        .ingest(json!([
            {"type": "conversation", "conversation_id": "c3", "domain": "shop.example", "timestamp": "2026-11-26T12:10:00Z"},
            {"type": "message", "conversation_id": "c3", "role": "user", "content": "Do you have chainsaws?",
             "timestamp": "2026-11-26T12:10:30Z"}
        ]))
        .await;
    assert_eq!(answer["accepted"], 2, "{answer}");
    let (_, r) = app.get_json("/api/dashboard/missing-products", None).await;
    assert_eq!(
        r["missingProducts"],
        json!([
            {"name": "chainsaw", "count": 2, "lastRequested": "2026-11-26T12:06:00Z",
             "examples": ["Do you have chainsaws?", "chainsaws"]},
            {"name": "garden hose", "count": 1, "lastRequested": "2026-11-26T12:05:00Z",
             "examples": ["Do you have garden hoses?"]},
            {"name": "torque wrench", "count": 1, "lastRequested": "2026-11-26T11:00:09Z", "examples": ["torque wrench"]},
            {"name": "ball bearing", "count": 1, "lastRequested": "2026-11-20T10:00:00Z", "examples": ["ball bearings"]}
        ])
    );
    assert_eq!(r["statistics"]["totalRequests"], 5);

    // The forecast over 7 days (2026-11-19T13:00 to 11-26T13:00 touches 8 UTC days).
    // Chainsaws: 0 × 7 then 2 → least squares slope 1/6 (0.2), intercept −1/3; the next
    // 7 days (x = 8…14) sum to 10.5; day 7 is fitted at 0.8333 (0.8).
    let (status, r) = app
        .get_json("/api/dashboard/missing-products?days=7&forecast=true", None)
        .await;
    assert_eq!(status, 200, "{r}");
    let chainsaw = &r["forecast"][0];
    assert_eq!(
        (
            chainsaw["name"].clone(),
            chainsaw["perDayChange"].clone(),
            chainsaw["next7Days"].clone()
        ),
        (json!("chainsaw"), json!(0.2), json!(10.5))
    );
    assert_eq!(chainsaw["daily"].as_array().map(Vec::len), Some(15));
    assert_eq!(
        chainsaw["daily"][7],
        json!({"day": "2026-11-26", "requests": 2, "fitted": 0.8})
    );
    assert_eq!(
        chainsaw["daily"][14],
        json!({"day": "2026-12-03", "requests": null, "fitted": 2.0})
    );
    assert_eq!(
        r["forecast"][3]["daily"][1]["requests"], 1,
        "ball bearings on 11-20"
    );

    // A product one catalogue has is counted per domain in the forecast too: parts.example
    // lacks hydraulic pumps (1 request on 11-24); shop.example's request on 11-26 is not
    // counted, since its catalogue has them now.
    let (_, answer) = app
        .ingest(json!([{"type": "session", "session_id": "b2", "model": "gpt-4", "domain": "parts.example",
            "start_time": "2026-11-24T10:00:00Z", "duration_ms": 10, "success": true, "input_tokens": 1,
            "output_tokens": 1, "searches": [{"query": "hydraulic pumps", "results": 0}]}]))
        .await;
    assert_eq!(answer["accepted"], 1, "{answer}");
    let (_, r) = app
        .get_json("/api/dashboard/missing-products?days=7&forecast=true", None)
        .await;
    let pump = r["forecast"]
        .as_array()
        .and_then(|f| f.iter().find(|p| p["name"] == "hydraulic pump"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (
            pump["daily"][5].clone(),
            pump["daily"][7]["requests"].clone()
        ),
        (
            json!({"day": "2026-11-24", "requests": 1, "fitted": 0.2}),
            json!(0)
        ),
        "{pump}"
    );

    let (status, body) = app
        .get_json("/api/dashboard/missing-products?forecast=maybe", None)
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("forecast")));

    let (status, body) = app
        .get_json("/api/dashboard/missing-products?limit=500", None)
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("limit")));
}
http_test!(
    missing_products,
    missing_products_match_hand_computed_values
);

/// The fixtures: each customer need counts once (README: analytics).
async fn each_need_counts_once(app: &TestApp) {
    let session = |id: &str, conversation: &str, query: &str, at: &str| {
        json!({"type": "session", "session_id": id, "model": "gpt-4", "domain": "need.example",
               "conversation_id": conversation, "start_time": at, "duration_ms": 10, "success": true,
               "input_tokens": 1, "output_tokens": 1, "searches": [{"query": query, "results": 0}]})
    };
    let conversation = |id: &str| json!({"type": "conversation", "conversation_id": id, "domain": "need.example", "timestamp": "2026-11-26T09:00:00Z"});
    let message = |id: &str, text: &str, at: &str| json!({"type": "message", "conversation_id": id, "role": "user", "content": text, "timestamp": at});
    let batches = [
        // c10: a failed search and a question for the torque wrench.
        json!([
            conversation("c10"),
            message("c10", "Do you have torque wrench?", "2026-11-26T10:00:00Z"),
            session("s10", "c10", "torque wrench", "2026-11-26T10:00:05Z")
        ]),
        // c11: "oil filters?" and then the bare "filter", both after a failed search.
        json!([
            conversation("c11"),
            session("s11", "c11", "oil filters", "2026-11-26T10:10:00Z"),
            message("c11", "oil filters?", "2026-11-26T10:10:05Z"),
            message("c11", "filter", "2026-11-26T10:10:10Z")
        ]),
        // c12: the bare "filter" first (counted alone), then the phrase in a later request.
        json!([
            conversation("c12"),
            session("s12", "c12", "filter", "2026-11-26T10:20:00Z")
        ]),
        json!([message(
            "c12",
            "Do you have oil filters?",
            "2026-11-26T10:20:30Z"
        )]),
        // c13: a greeting and filler name no product.
        json!([
            conversation("c13"),
            session(
                "s13",
                "c13",
                "Hola, necesito un producto",
                "2026-11-26T10:30:00Z"
            ),
            message("c13", "Hola, necesito un producto", "2026-11-26T10:30:05Z")
        ]),
    ];
    for batch in batches {
        let (status, answer) = app.ingest(batch).await;
        assert_eq!(
            (status, answer["rejected"].clone()),
            (200, json!([])),
            "{answer}"
        );
    }
    let (status, r) = app
        .get_json("/api/dashboard/missing-products?domain=need.example", None)
        .await;
    assert_eq!(status, 200, "{r}");
    let counts: Vec<(String, i64)> = r["missingProducts"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["count"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    // oil filter: c11 and c12; torque wrench: c10; no "filter", nothing from c13.
    assert_eq!(
        counts,
        [
            ("oil filter".to_string(), 2),
            ("torque wrench".to_string(), 1)
        ]
    );
    assert_eq!(r["statistics"]["totalRequests"], 3);
}
http_test!(needs, each_need_counts_once);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_products_page_lists_and_forecasts() {
    use crate::browser::Browser;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(omniops_testkit::Engine::Sqlite)
        .await
        .expect("sqlite");
    let failed = |id: &str, at: &str, query: &str| {
        json!({"type": "session", "session_id": id, "model": "gpt-4", "domain": "shop.example",
               "start_time": at, "duration_ms": 10, "success": true, "input_tokens": 1, "output_tokens": 1,
               "searches": [{"query": query, "results": 0}]})
    };
    let events = json!([
        failed("p1", "2026-11-24T10:00:00Z", "hydraulic pumps"),
        failed("p2", "2026-11-25T10:00:00Z", "Hydraulic Pumps"),
        failed("p3", "2026-11-26T10:00:00Z", "hydraulic pump"),
        failed("c1", "2026-11-26T11:00:00Z", "chainsaws")
    ]);
    assert_eq!(app.ingest(events).await.0, 200);
    let b = &browser;
    b.goto(&app.url("/dashboard/products?days=7")).await;
    assert_eq!(
        b.texts("[data-testid=missing-products] tbody td:first-child")
            .await,
        ["hydraulic pump", "chainsaw"]
    );
    assert_eq!(
        b.text("[data-testid=missing-products] tr[data-product='hydraulic pump'] td.num")
            .await,
        "3"
    );
    assert_eq!(b.text("[data-testid=missing-total] .stat-value").await, "2");
    // 0,0,0,0,0,1,1,1 over 8 days: slope 7.5/42, intercept −0.25; days 8…14 sum to 12.0.
    assert_eq!(
        b.text("[data-testid=forecast-table] tr[data-product='hydraulic pump'] td:last-child")
            .await,
        "12.0"
    );
    let (_, api) = app
        .get_json("/api/dashboard/missing-products?days=7&forecast=true", None)
        .await;
    assert_eq!(api["forecast"][0]["next7Days"], json!(12.0));
    b.wait_until("document.querySelector('[data-testid=forecast-chart][data-drawn] canvas')")
        .await;
    assert!(b
        .text("[data-testid=recommendations]")
        .await
        .contains("Add \"hydraulic pump\" to the catalogue"));
    assert_eq!(
        b.text("[data-testid=product-page]").await,
        "Page 1 of 1 · 2 products"
    );
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "{errors:?}");
    browser.close().await;
}
