//! Missing-product demand stored before needs were counted once is counted again from the
//! raw rows (README: analytics), on both engines.

use omniops_core::window::Window;
use omniops_testkit::{events, on_both_engines, t, TestDb};

async fn tallies(
    db: &TestDb,
    window: &Window,
) -> (Vec<(String, i64, i64)>, Vec<(String, i64, i64)>) {
    let sorted = |list: Vec<omniops_core::missing::ProductTally>| {
        let mut v: Vec<(String, i64, i64)> = list
            .into_iter()
            .map(|t| (t.product, t.requests, t.failed_searches))
            .collect();
        v.sort();
        v
    };
    (
        sorted(
            db.store
                .product_tallies(window, None)
                .await
                .expect("rollups"),
        ),
        sorted(
            db.store
                .raw_product_tallies(window, None)
                .await
                .expect("raw"),
        ),
    )
}

async fn stored_demand_is_counted_again_once_per_need(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    let session = |id: &str, conversation: &str, query: &str, at: &str| {
        format!(
            r#"{{"type":"session","session_id":"{id}","model":"gpt-4","domain":"shop.example","conversation_id":"{conversation}","start_time":"{at}","duration_ms":10,"success":true,"input_tokens":1,"output_tokens":1,"searches":[{{"query":"{query}","results":0}}]}}"#
        )
    };
    let conversation = |id: &str| {
        format!(
            r#"{{"type":"conversation","conversation_id":"{id}","domain":"shop.example","timestamp":"2026-11-26T09:00:00Z"}}"#
        )
    };
    let message = |id: &str, text: &str, at: &str| {
        format!(
            r#"{{"type":"message","conversation_id":"{id}","role":"user","content":"{text}","timestamp":"{at}"}}"#
        )
    };
    let lines = vec![
        conversation("c1"),
        session("s1", "c1", "torque wrench", "2026-11-26T10:00:00Z"),
        message("c1", "Do you have torque wrench?", "2026-11-26T10:00:30Z"),
        conversation("c2"),
        session("s2", "c2", "filter", "2026-11-26T11:00:00Z"),
        message("c2", "oil filters?", "2026-11-26T11:00:30Z"),
    ];
    db.store
        .apply_batch(&[events(now, &lines)], now)
        .await
        .expect("batch");
    let window = Window::last_days(30, now).expect("window");
    // torque wrench: one need, a failed search; oil filter: one need (its head noun
    // "filter", a failed search, counts for it).
    let expected = vec![
        ("oil filter".to_string(), 1, 0),
        ("torque wrench".to_string(), 1, 1),
    ];
    assert_eq!(
        tallies(db, &window).await,
        (expected.clone(), expected.clone())
    );

    // As an earlier version stored it: every failed search and question counted.
    db.run_script(
        "UPDATE product_rollup_hourly SET requests = requests + 1; \
         UPDATE product_rollup_daily SET requests = requests + 1; DELETE FROM product_needs",
    )
    .await;
    assert_ne!(tallies(db, &window).await.0, expected);
    let changed = db
        .store
        .recount_product_demand(t("2026-11-01T00:00:00Z"))
        .await
        .expect("recount");
    // Two needs counted; rows replaced: three products (filter, oil filter, torque wrench)
    // for the domain and for all domains, hourly and daily.
    assert_eq!(changed, 2 + 3 * 2 * 2);
    assert_eq!(tallies(db, &window).await, (expected.clone(), expected));
}
on_both_engines!(recount, stored_demand_is_counted_again_once_per_need);
