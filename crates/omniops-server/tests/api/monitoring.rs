//! `/api/monitoring/chat`: periods, model filter, details, and the POST actions.

use crate::common::TestApp;
use crate::http_test;
use crate::telemetry::fixture;
use serde_json::{json, Value};

async fn monitoring_matches_the_telemetry_fixture(app: &TestApp) {
    assert_eq!(app.ingest(fixture()).await.0, 200);

    let (status, r) = app.get_json("/api/monitoring/chat", None).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (r["period"].clone(), r["filters"].clone()),
        (json!("day"), json!({"domain": null, "model": null}))
    );
    assert_eq!(
        (
            r["overview"]["totalRequests"].clone(),
            r["cost"]["total"].clone()
        ),
        (json!(5), json!("0.5576"))
    );
    assert_eq!(r["live"]["activeSessions"], 1);
    assert!(r.get("details").is_none());
    // Durations a 1 s, c 2 s, b 3 s, d 4 s, e 5 s: the 3rd of 5 (p50) is under 3 s; the 5th
    // (p90 and up) under 5 s.
    assert_eq!(
        r["responseTimePercentiles"],
        json!({"p50": {"atMostMs": 3000}, "p90": {"atMostMs": 5000},
               "p95": {"atMostMs": 5000}, "p99": {"atMostMs": 5000}})
    );
    let (_, r) = app.get_json("/api/monitoring/chat?period=week", None).await;
    assert_eq!(r["overview"]["totalRequests"], 6);
    // gpt-4 alone over the week: sessions a and f, $0.06 each; the live session is gpt-4 too.
    let (_, r) = app
        .get_json("/api/monitoring/chat?period=week&model=gpt-4", None)
        .await;
    assert_eq!(
        (
            r["overview"]["totalRequests"].clone(),
            r["cost"]["total"].clone()
        ),
        (json!(2), json!("0.1200"))
    );
    assert_eq!(r["modelUsage"].as_array().map(Vec::len), Some(1));
    assert_eq!(r["responseTimePercentiles"], Value::Null);
    assert_eq!(
        r["domainBreakdown"],
        json!([{"domain": "shop.example", "requests": 2, "cost": "0.1200", "unpricedRequests": 0, "unpriced": false}])
    );
    assert_eq!(r["live"]["activeSessions"], 1);
    // The current hour (12:00–13:00) holds session e only.
    let (_, r) = app.get_json("/api/monitoring/chat?period=hour", None).await;
    assert_eq!(
        (
            r["overview"]["totalRequests"].clone(),
            r["overview"]["unpricedRequests"].clone()
        ),
        (json!(1), json!(1))
    );
    let (_, r) = app
        .get_json("/api/monitoring/chat?includeLive=false", None)
        .await;
    assert_eq!(r["live"], Value::Null);
    let (_, r) = app
        .get_json("/api/monitoring/chat?includeDetails=true&limit=2", None)
        .await;
    let sessions = &r["details"]["sessions"];
    assert_eq!(
        (
            sessions[0]["sessionId"].clone(),
            sessions[0]["costUsd"].clone()
        ),
        (json!("e"), Value::Null)
    );
    assert_eq!(
        (
            sessions[1]["sessionId"].clone(),
            sessions[1]["costUsd"].clone()
        ),
        (json!("d"), json!("0.006825"))
    );
    assert_eq!(
        r["details"]["pagination"],
        json!({"page": 1, "limit": 2, "total": 5, "totalPages": 3})
    );
    for (query, field) in [
        ("period=year", "period"),
        ("includeDetails=maybe", "includeDetails"),
        ("includeLive=2", "includeLive"),
    ] {
        let (status, body) = app
            .get_json(&format!("/api/monitoring/chat?{query}"), None)
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some(field)),
            "{query}"
        );
    }

    // Alerts: a daily one for shop.example and a global monthly one.
    let (status, r) = app.monitoring(json!({"action": "set-alert", "domain": "shop.example", "alert_type": "daily", "threshold_usd": 0.5})).await;
    assert_eq!(
        (status, r["alert"]["thresholdUsd"].clone()),
        (200, json!("0.5000")),
        "{r}"
    );
    assert_eq!(
        app.monitoring(
            json!({"action": "set-alert", "alert_type": "monthly", "threshold_usd": "10"})
        )
        .await
        .0,
        200
    );
    let (_, mut r) = app.monitoring(json!({"action": "check-alerts"})).await;
    // The history of fired alerts fills in the background (the alerts test covers it).
    assert!(r
        .as_object_mut()
        .and_then(|o| o.remove("history"))
        .is_some_and(|h| h.is_array()));
    // Today shop.example spent $0.48666575 (session b) plus the live session's running
    // $0.06: $0.54666575; November so far $0.61761575 + $0.06 = $0.67761575.
    assert_eq!(
        r,
        json!({"triggered": 1, "alerts": [
            {"domain": null, "alertType": "monthly", "thresholdUsd": "10.0000", "currentSpend": "0.6776", "percentage": 6.8, "triggered": false},
            {"domain": "shop.example", "alertType": "daily", "thresholdUsd": "0.5000", "currentSpend": "0.5467", "percentage": 109.3, "triggered": true}
        ]})
    );
    app.monitoring(json!({"action": "set-alert", "domain": "shop.example", "alert_type": "daily", "threshold_usd": 0.4})).await;
    let (_, r) = app
        .monitoring(json!({"action": "check-alerts", "domain": "shop.example"}))
        .await;
    assert_eq!(r["triggered"], 1);
    assert_eq!(r["alerts"].as_array().map(Vec::len), Some(1));
    // $0.54666575 of $0.40.
    assert_eq!(r["alerts"][0]["percentage"], json!(136.7));

    let (_, r) = app
        .monitoring(json!({"action": "get-summary", "days": 1}))
        .await;
    assert_eq!(
        (
            r["totalRequests"].clone(),
            r["totalCost"].clone(),
            r["unpricedRequests"].clone()
        ),
        (json!(5), json!("0.5576"), json!(1))
    );
    assert_eq!(r["byModel"].as_array().map(Vec::len), Some(5));
    let (status, r) = app.monitoring(json!({"action": "cleanup-old-data"})).await;
    assert_eq!((status, r["success"].clone()), (200, json!(true)));

    for (body, field) in [
        (json!({"action": "nope"}), "action"),
        (
            json!({"action": "set-alert", "alert_type": "weekly", "threshold_usd": 1}),
            "alert_type",
        ),
        (
            json!({"action": "set-alert", "alert_type": "daily", "threshold_usd": -1}),
            "threshold_usd",
        ),
        (json!({"action": "get-summary", "days": 0}), "days"),
    ] {
        let (status, r) = app.monitoring(body).await;
        assert_eq!((status, r["field"].as_str()), (400, Some(field)), "{r}");
    }
    let (status, _) = app.monitoring(json!({"no": "action"})).await;
    assert_eq!(status, 400);
}
http_test!(monitoring, monitoring_matches_the_telemetry_fixture);
