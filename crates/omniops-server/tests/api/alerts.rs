//! Budget alerts evaluated after batches: levels of the threshold fire once per period, and a
//! monthly alert warns ahead of time with the day it will be crossed.

use crate::common::TestApp;
use crate::http_test;
use serde_json::{json, Value};

/// gpt-4 sessions of shop.example on 10 November: `input` tokens at $30 per million.
fn spend(id: &str, input: i64, output: i64) -> Value {
    json!([{"type": "session", "session_id": id, "model": "gpt-4", "domain": "shop.example",
            "start_time": "2026-11-10T10:00:00Z", "duration_ms": 10, "success": true,
            "input_tokens": input, "output_tokens": output}])
}

async fn history_with(app: &TestApp, entries: usize) -> Vec<Value> {
    for _ in 0..300 {
        let (_, r) = app
            .monitoring(json!({"action": "check-alerts", "domain": "shop.example"}))
            .await;
        let history = r["history"].as_array().cloned().unwrap_or_default();
        if history.len() >= entries {
            return history;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the alert history did not reach {entries} entries");
}

async fn alerts_fire_once_per_level_and_look_ahead(app: &TestApp) {
    let (status, body) = app
        .monitoring(
            json!({"action": "set-alert", "domain": "shop.example", "alert_type": "monthly",
                                          "threshold_usd": "1.30", "notify_at": [0]}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("notify_at")));
    let (status, _) = app
        .monitoring(
            json!({"action": "set-alert", "domain": "shop.example", "alert_type": "monthly",
                                       "threshold_usd": "1.30", "notify_at": [100, 50]}),
        )
        .await;
    assert_eq!(status, 200);

    // $0.60 + $0.60 = $1.20 of $1.30 (92.3 %): the 50 % level, and a projection. At $1.20 per
    // 612.5 h since 1 November, $1.30 is reached after 663.5 h: on 28 November.
    assert_eq!(app.ingest(spend("a", 20_000, 10_000)).await.0, 200);
    let history = history_with(app, 2).await;
    let mut levels: Vec<(String, Value)> = history
        .iter()
        .map(|e| {
            (
                e["level"].as_str().unwrap_or_default().to_string(),
                e["projectedDate"].clone(),
            )
        })
        .collect();
    levels.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        levels,
        [
            ("50".to_string(), Value::Null),
            ("projected".to_string(), json!("2026-11-28"))
        ]
    );
    assert_eq!(
        (
            history[0]["currentSpend"].clone(),
            history[0]["thresholdUsd"].clone(),
            history[0]["percentage"].clone(),
            history[0]["triggered"].clone()
        ),
        (json!("1.2000"), json!("1.3000"), json!(92.3), json!(false))
    );
    assert_eq!(history[0]["periodStart"], "2026-11-01T00:00:00Z");

    // Another batch that ends a session without spend: nothing fires twice.
    let free = json!([{"type": "session", "session_id": "free", "model": "some-unpriced-model", "domain": "shop.example",
                       "start_time": "2026-11-10T11:00:00Z", "duration_ms": 10, "success": true, "input_tokens": 1, "output_tokens": 1}]);
    assert_eq!(app.ingest(free).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
    assert_eq!(history_with(app, 2).await.len(), 2);

    // $0.12 more: $1.32 crosses the threshold; only the 100 % level is new.
    assert_eq!(app.ingest(spend("b", 4_000, 0)).await.0, 200);
    let history = history_with(app, 3).await;
    assert_eq!(history.len(), 3);
    let newest = &history[0];
    assert_eq!(
        (
            newest["level"].clone(),
            newest["currentSpend"].clone(),
            newest["triggered"].clone()
        ),
        (json!("100"), json!("1.3200"), json!(true))
    );
}
http_test!(budget_alerts, alerts_fire_once_per_level_and_look_ahead);

/// One definition of spend: a live session's running cost counts in `check-alerts`, the
/// budget panel and the notifications alike. Before, the evaluator counted it and the
/// other two did not, so a "50 % reached" notification sat beside a panel saying 0 %.
async fn live_running_cost_counts_everywhere(app: &TestApp) {
    let (status, _) = app
        .monitoring(
            json!({"action": "set-alert", "domain": "shop.example", "alert_type": "daily",
                           "threshold_usd": "1.00", "notify_at": [50]}),
        )
        .await;
    assert_eq!(status, 200);
    // A live gpt-4 session (now, by the test clock) with 20,000 input tokens at $30 per
    // million: $0.60 running, not ended.
    let live = json!([
        {"type": "session.start", "session_id": "live", "model": "gpt-4", "domain": "shop.example"},
        {"type": "usage", "session_id": "live", "input_tokens": 20_000, "output_tokens": 0}
    ]);
    assert_eq!(app.ingest(live).await.1["accepted"], 2);
    let history = history_with(app, 1).await;
    assert_eq!(
        (
            history[0]["level"].clone(),
            history[0]["currentSpend"].clone()
        ),
        (json!("50"), json!("0.6000"))
    );
    let (_, r) = app
        .monitoring(json!({"action": "check-alerts", "domain": "shop.example"}))
        .await;
    let alert = &r["alerts"][0];
    assert_eq!(
        (
            alert["currentSpend"].clone(),
            alert["percentage"].clone(),
            alert["triggered"].clone()
        ),
        (json!("0.6000"), json!(60.0), json!(false))
    );
    let panel = app
        .client
        .get(app.url("/dashboard/partials/alerts?domain=shop.example"))
        .send()
        .await
        .expect("panel")
        .text()
        .await
        .expect("html");
    assert!(panel.contains("$0.60"), "{panel}");
}
http_test!(live_spend, live_running_cost_counts_everywhere);
