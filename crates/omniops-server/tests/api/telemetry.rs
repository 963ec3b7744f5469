//! `/api/dashboard/telemetry` against a hand-computed fixture.

use crate::common::{TestApp, NOW};
use crate::http_test;
use serde_json::{json, Value};

fn session(
    id: &str,
    model: &str,
    domain: &str,
    start: &str,
    ms: i64,
    success: bool,
    tokens: Value,
) -> Value {
    let mut s = json!({
        "type": "session", "session_id": id, "model": model, "domain": domain,
        "start_time": start, "duration_ms": ms, "success": success,
        "iterations": 2, "search_count": 1
    });
    if let (Some(obj), Some(t)) = (s.as_object_mut(), tokens.as_object()) {
        obj.extend(t.clone());
    }
    s
}

/// Now is 2026-11-26T12:30Z; the 24-hour window runs from 2026-11-25T13:00Z.
/// Priced costs: gpt-4 $0.060000, gpt-5-mini $0.48666575, gpt-4o cached $0.004125,
/// claude-sonnet-4-5 with cache read and write $0.006825; one unpriced model.
pub fn fixture() -> Value {
    json!([
        session("a", "gpt-4", "shop.example", "2026-11-25T14:10:00Z", 1000, true,
            json!({"input_tokens": 1000, "output_tokens": 500})),
        session("b", "gpt-5-mini", "shop.example", "2026-11-26T09:00:00Z", 3000, true,
            json!({"input_tokens": 1234567, "output_tokens": 89012})),
        session("c", "gpt-4o", "parts.example", "2026-11-26T09:20:00Z", 2000, false,
            json!({"usage": {"prompt_tokens": 2000, "completion_tokens": 100,
                   "prompt_tokens_details": {"cached_tokens": 1500}}})),
        session("d", "claude-sonnet-4-5", "parts.example", "2026-11-26T11:59:59Z", 4000, true,
            json!({"usage": {"input_tokens": 100, "cache_read_input_tokens": 3000,
                   "cache_creation_input_tokens": 500, "output_tokens": 250}})),
        session("e", "acme-llm-7b", "parts.example", "2026-11-26T12:05:00Z", 5000, true,
            json!({"input_tokens": 700, "output_tokens": 300})),
        // Outside the 24-hour window, inside the 7-day one.
        session("f", "gpt-4", "shop.example", "2026-11-24T08:00:00Z", 1000, true,
            json!({"input_tokens": 1000, "output_tokens": 500})),
        // A live session: in `live`, not a request.
        {"type": "session.start", "session_id": "live-1", "model": "gpt-4", "domain": "shop.example",
         "timestamp": "2026-11-26T12:28:00Z"},
        {"type": "usage", "session_id": "live-1", "input_tokens": 2000, "output_tokens": 0}
    ])
}

async fn report_matches_hand_computed_values(app: &TestApp) {
    let (status, answer) = app.ingest(fixture()).await;
    assert_eq!(
        (status, &answer),
        (200, &json!({"accepted": 8, "rejected": []}))
    );

    let (status, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        r["overview"],
        json!({
            "totalRequests": 5, "successfulRequests": 4, "failedRequests": 1,
            "successRate": 80.0, "errorRate": 20.0, "activeSessions": 1,
            "timeRange": "Last 24 hours", "unpricedRequests": 1
        })
    );
    // $0.55761575 over 4 priced requests; the rate runs over the 23.5 h since 13:00.
    assert_eq!(r["cost"]["total"], "0.5576");
    assert_eq!(r["cost"]["average"], "0.139404");
    // 0.55761575 / 23.5 = 0.0237283298 per hour; × 24 = 0.5694799; × 720 = 17.0843974
    assert_eq!(r["cost"]["perHour"], "0.0237");
    assert_eq!(r["cost"]["projectedDaily"], "0.5695");
    assert_eq!(r["cost"]["projectedMonthly"], "17.0844");
    // First half (13:00–01:00) $0.06, second half $0.49761575: increasing.
    assert_eq!(r["cost"]["trend"], "increasing");
    // Input 1,000 + 1,234,567 + 2,000 + 3,600 + 700; output 500 + 89,012 + 100 + 250 + 300.
    assert_eq!(
        r["tokens"],
        json!({
            "totalInput": 1_241_867, "totalOutput": 90_162, "total": 1_332_029, "avgPerRequest": 266_406
        })
    );
    assert_eq!(
        r["performance"],
        json!({
            "avgResponseTime": 3000, "totalSearches": 5,
            "avgSearchesPerRequest": "1.00", "avgIterations": "2.00"
        })
    );
    assert_eq!(
        r["modelUsage"],
        json!([
            {"model": "acme-llm-7b", "count": 1, "cost": null, "tokens": 1000, "percentage": 20.0, "unpriced": true},
            {"model": "claude-sonnet-4-5", "count": 1, "cost": "0.0068", "tokens": 3850, "percentage": 20.0, "unpriced": false},
            {"model": "gpt-4", "count": 1, "cost": "0.0600", "tokens": 1500, "percentage": 20.0, "unpriced": false},
            {"model": "gpt-4o", "count": 1, "cost": "0.0041", "tokens": 2100, "percentage": 20.0, "unpriced": false},
            {"model": "gpt-5-mini", "count": 1, "cost": "0.4867", "tokens": 1_323_579, "percentage": 20.0, "unpriced": false}
        ])
    );
    assert_eq!(
        r["domainBreakdown"],
        json!([
            {"domain": "shop.example", "requests": 2, "cost": "0.5467", "unpricedRequests": 0, "unpriced": false},
            // parts.example's third request used a model without a price.
            {"domain": "parts.example", "requests": 3, "cost": "0.0110", "unpricedRequests": 1, "unpriced": true}
        ])
    );
    let trend = r["hourlyTrend"].as_array().expect("trend");
    assert_eq!(trend.len(), 24);
    assert_eq!(
        trend[0],
        json!({"hour": "2026-11-25T13:00:00Z", "cost": 0.0, "requests": 0})
    );
    assert_eq!(
        trend[1],
        json!({"hour": "2026-11-25T14:00:00Z", "cost": 0.06, "requests": 1})
    );
    assert_eq!(
        trend[20],
        json!({"hour": "2026-11-26T09:00:00Z", "cost": 0.490791, "requests": 2})
    );
    assert_eq!(
        trend[22],
        json!({"hour": "2026-11-26T11:00:00Z", "cost": 0.006825, "requests": 1})
    );
    assert_eq!(
        trend[23],
        json!({"hour": "2026-11-26T12:00:00Z", "cost": 0.0, "requests": 1})
    );
    // live-1: 2,000 input tokens of gpt-4 = $0.06, two minutes old.
    assert_eq!(
        r["live"],
        json!({
            "activeSessions": 1, "currentCost": "0.0600",
            "sessionsData": [{"id": "live-1", "uptime": 120, "cost": "0.0600", "model": "gpt-4",
                              "domain": "shop.example", "unpriced": false}]
        })
    );

    // One domain: only its sessions, live ones included.
    let (_, r) = app
        .get_json("/api/dashboard/telemetry?days=1&domain=parts.example", None)
        .await;
    assert_eq!(r["overview"]["totalRequests"], 3);
    assert_eq!(r["overview"]["activeSessions"], 0);
    assert_eq!(r["cost"]["total"], "0.0110");
    // The 7-day window adds session f.
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=7", None).await;
    assert_eq!(r["overview"]["totalRequests"], 6);
    assert_eq!(r["cost"]["total"], "0.6176");
    assert_eq!(r["overview"]["timeRange"], "Last 7 days");
    assert_eq!(r["hourlyTrend"].as_array().map(Vec::len), Some(168));
    // Default is 7 days.
    let (_, default) = app.get_json("/api/dashboard/telemetry", None).await;
    assert_eq!(default["overview"], r["overview"]);
    // from/to
    let (_, r) = app
        .get_json(
            "/api/dashboard/telemetry?from=2026-11-26T09:00:00Z&to=2026-11-26T10:00:00Z",
            None,
        )
        .await;
    assert_eq!(r["overview"]["totalRequests"], 2);
    assert_eq!(r["cost"]["total"], "0.4908");
    assert_eq!(r["hourlyTrend"].as_array().map(Vec::len), Some(1));
    let _ = NOW;
}
http_test!(hand_computed_report, report_matches_hand_computed_values);

async fn live_session_moves_from_live_to_requests(app: &TestApp) {
    let start = json!([{"type": "session.start", "session_id": "s", "model": "gpt-4", "domain": "d.example"}]);
    assert_eq!(app.ingest(start).await.0, 200);
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(
        (
            r["overview"]["totalRequests"].clone(),
            r["live"]["activeSessions"].clone()
        ),
        (json!(0), json!(1))
    );
    app.clock.advance(90 * 1_000_000);
    let end = json!([
        {"type": "usage", "session_id": "s", "input_tokens": 1000, "output_tokens": 500},
        {"type": "session.end", "session_id": "s", "success": true}
    ]);
    assert_eq!(
        app.ingest(end).await,
        (200, json!({"accepted": 2, "rejected": []}))
    );
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(r["overview"]["totalRequests"], 1);
    assert_eq!(r["live"]["activeSessions"], 0);
    assert_eq!(r["cost"]["total"], "0.0600");
    assert_eq!(r["performance"]["avgResponseTime"], 90_000);
}
http_test!(live_to_request, live_session_moves_from_live_to_requests);

async fn bad_parameters_get_400_naming_the_field(app: &TestApp) {
    for (query, field) in [
        ("days=0", "days"),
        ("days=366", "days"),
        ("days=abc", "days"),
        ("from=yesterday&to=2026-11-26T00:00:00Z", "from"),
        ("from=2026-11-26T00:00:00Z", "from"),
        (
            "days=7&from=2026-11-26T00:00:00Z&to=2026-11-27T00:00:00Z",
            "days",
        ),
        ("domain=has%20space", "domain"),
    ] {
        let (status, body) = app
            .get_json(&format!("/api/dashboard/telemetry?{query}"), None)
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
}
http_test!(bad_parameters, bad_parameters_get_400_naming_the_field);
