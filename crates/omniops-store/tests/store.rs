//! Store behaviour on both engines, with hand-computed numbers.

use omniops_core::clock::{Micros, MICROS_PER_DAY, MICROS_PER_HOUR};
use omniops_core::events::EventError;
use omniops_core::pricing::{default_prices, PriceEntry};
use omniops_core::window::Window;
use omniops_testkit::{events, on_both_engines, t, TestDb};
use rust_decimal::Decimal;

fn backfill(
    id: &str,
    model: &str,
    domain: &str,
    start: &str,
    input: i64,
    output: i64,
    success: bool,
) -> String {
    format!(
        r#"{{"type":"session","session_id":"{id}","model":"{model}","domain":"{domain}","start_time":"{start}","duration_ms":2000,"success":{success},"input_tokens":{input},"output_tokens":{output},"iterations":2,"search_count":1}}"#
    )
}

async fn prepared(db: &TestDb, _now: Micros) {
    // Opening a store stores the shipped defaults.
    assert_eq!(
        db.store.price_table().await.entries().count(),
        default_prices().len()
    );
}

async fn live_path_costs_are_exact(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    prepared(db, now).await;
    let first = events(now, &[
        r#"{"type":"session.start","session_id":"s1","model":"gpt-5-mini","domain":"shop.example","timestamp":"2026-11-26T12:00:00Z"}"#.into(),
        r#"{"type":"usage","session_id":"s1","input_tokens":1000000,"output_tokens":89012,"timestamp":"2026-11-26T12:00:01Z"}"#.into(),
    ]);
    let second = events(now, &[
        r#"{"type":"usage","session_id":"s1","input_tokens":234567,"output_tokens":0,"event_id":"u2"}"#.into(),
        r#"{"type":"usage","session_id":"s1","input_tokens":234567,"output_tokens":0,"event_id":"u2"}"#.into(),
        r#"{"type":"search","session_id":"s1","query":"hydraulic pump","results":0}"#.into(),
        r#"{"type":"usage","session_id":"nope","input_tokens":1,"output_tokens":1}"#.into(),
    ]);
    let outcome = db
        .store
        .apply_batch(&[first, second], now)
        .await
        .expect("batch");
    assert_eq!(
        outcome.rejections,
        vec![
            vec![],
            vec![(3, EventError::new("session_id", "unknown session"))]
        ]
    );

    // While live: in `live`, not in the window's requests.
    let window = Window::last_days(1, now).expect("window");
    let inputs = db
        .store
        .telemetry_inputs(&window, None, None)
        .await
        .expect("inputs");
    assert_eq!(inputs.live.len(), 1);
    assert_eq!(inputs.live[0].cost_nanos, Some(486_665_750));
    assert_eq!(inputs.sums.totals.requests, 0);

    // A retried batch with the same event id changes nothing; the end makes it a request.
    let third = events(now, &[
        r#"{"type":"usage","session_id":"s1","input_tokens":234567,"output_tokens":0,"event_id":"u2"}"#.into(),
        r#"{"type":"session.end","session_id":"s1","success":true,"timestamp":"2026-11-26T12:00:03.5Z"}"#.into(),
        r#"{"type":"log","session_id":"s1","level":"info","message":"late"}"#.into(),
    ]);
    let outcome = db.store.apply_batch(&[third], now).await.expect("batch");
    assert_eq!(
        outcome.rejections,
        vec![vec![(2, EventError::new("session_id", "session ended"))]]
    );

    let inputs = db
        .store
        .telemetry_inputs(&window, None, None)
        .await
        .expect("inputs");
    assert!(inputs.live.is_empty());
    let c = inputs.sums.totals;
    assert_eq!((c.requests, c.successes, c.cost_nanos), (1, 1, 486_665_750));
    assert_eq!(
        (c.input_tokens, c.output_tokens, c.duration_ms, c.searches),
        (1_234_567, 89_012, 3_500, 1)
    );
    assert_eq!(
        inputs.trend,
        vec![(t("2026-11-26T12:00:00Z"), 1, 486_665_750)]
    );
    assert_eq!(inputs.first_session_hour, Some(t("2026-11-26T12:00:00Z")));

    let stored = db
        .store
        .session("s1")
        .await
        .expect("query")
        .expect("stored");
    assert_eq!(stored.searches.len(), 1);
    assert_eq!(stored.duration_ms(), Some(3_500));
}
on_both_engines!(live_path, live_path_costs_are_exact);

async fn backfills_are_idempotent_and_rollups_match_raw_rows(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    prepared(db, now).await;
    let mut lines = Vec::new();
    for i in 0..120 {
        let model = ["gpt-4", "gpt-4o", "claude-haiku-4-5", "in-house-llm"][i % 4];
        let domain = ["a.example", "b.example", "c.example"][i % 3];
        let start = now - (i as i64) * 5 * MICROS_PER_HOUR - 17 * 60 * 1_000_000;
        let start = omniops_core::clock::to_rfc3339(start);
        lines.push(backfill(
            &format!("b{i}"),
            model,
            domain,
            &start,
            1_000 + i as i64,
            100 + i as i64,
            i % 7 != 0,
        ));
    }
    let request = events(now, &lines);
    let outcome = db
        .store
        .apply_batch(std::slice::from_ref(&request), now)
        .await
        .expect("batch");
    assert_eq!(outcome.backfilled, 120);
    let again = db.store.apply_batch(&[request], now).await.expect("batch");
    assert_eq!(
        (again.backfilled, again.rejections.clone()),
        (0, vec![vec![]])
    );

    // Sessions of every response-time bucket, 3 h apart, for the duration histogram.
    let durations = [
        100, 300, 900, 1_500, 2_500, 4_000, 7_000, 12_000, 19_000, 25_000, 45_000, 90_000,
    ];
    let lines: Vec<String> = (0..36i64)
        .map(|i| {
            let start = omniops_core::clock::to_rfc3339(now - i * 3 * MICROS_PER_HOUR - 17 * 60 * 1_000_000);
            let domain = ["b.example", "c.example"][(i % 2) as usize];
            let duration = durations[(i % 12) as usize];
            format!(
                r#"{{"type":"session","session_id":"d{i}","model":"gpt-4o","domain":"{domain}","start_time":"{start}","duration_ms":{duration},"success":true,"input_tokens":10,"output_tokens":1}}"#
            )
        })
        .collect();
    db.store
        .apply_batch(&[events(now, &lines)], now)
        .await
        .expect("batch");
    for days in [1, 7, 30] {
        let window = Window::last_days(days, now).expect("window");
        for domain in [None, Some("b.example")] {
            let fast = db
                .store
                .duration_histogram(&window, domain)
                .await
                .expect("histogram");
            let raw = db
                .store
                .raw_duration_histogram(&window, domain)
                .await
                .expect("raw histogram");
            assert_eq!(fast, raw, "durations days={days} domain={domain:?}");
            let fast = db
                .store
                .window_sums(&window, domain)
                .await
                .expect("rollups");
            assert_eq!(fast.totals.requests, raw.iter().sum::<i64>());
            let mut naive = db
                .store
                .naive_window_sums(&window, domain)
                .await
                .expect("raw");
            if domain.is_none() {
                // The all-domains read carries the breakdown's counters per domain.
                naive
                    .by_domain
                    .values_mut()
                    .for_each(|c| *c = c.breakdown());
            }
            assert_eq!(fast, naive, "days={days} domain={domain:?}");
        }
    }
    // 120 sessions 5 h apart: the last 7 days (168 h) hold i = 0..=33.
    let week = Window::last_days(7, now).expect("window");
    let c = db
        .store
        .window_sums(&week, None)
        .await
        .expect("rollups")
        .totals;
    // Plus the 36 duration sessions (3 h apart: all within 7 days).
    assert_eq!(c.requests, 34 + 36);
    // i % 4 == 3 is the unpriced in-house model: i = 3, 7, …, 31 → 8 sessions.
    assert_eq!(c.unpriced, 8);
    // The last day runs from 13:00 yesterday: b-sessions i = 0..=4 (2 s each, ≤ 2 s) and
    // d-sessions i = 0..=7 (i = 8 started 24 h 17 min ago), one in each of the first eight.
    let day = Window::last_days(1, now).expect("window");
    let histogram = db
        .store
        .duration_histogram(&day, None)
        .await
        .expect("histogram");
    assert_eq!(histogram, [1, 1, 1, 1 + 5, 1, 1, 1, 1, 0, 0, 0, 0]);
    let unpriced = db.store.unpriced_models(None).await.expect("unpriced");
    assert_eq!(unpriced.len(), 1);
    assert_eq!(
        (unpriced[0].model.as_str(), unpriced[0].sessions),
        ("in-house-llm", 30)
    );
}
on_both_engines!(
    backfill_rollups,
    backfills_are_idempotent_and_rollups_match_raw_rows
);

async fn price_change_recomputes_history(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    prepared(db, now).await;
    let lines = vec![
        backfill(
            "old",
            "in-house-llm",
            "a.example",
            "2026-10-01T08:00:00Z",
            1_000,
            500,
            true,
        ),
        backfill(
            "new",
            "in-house-llm",
            "a.example",
            "2026-11-20T08:00:00Z",
            2_000,
            1_000,
            true,
        ),
        backfill(
            "g4",
            "gpt-4",
            "a.example",
            "2026-11-20T08:30:00Z",
            1_000,
            500,
            true,
        ),
    ];
    db.store
        .apply_batch(&[events(now, &lines)], now)
        .await
        .expect("batch");

    // Price the in-house model from 2026-11-01: $1 in, $2 out per 1M tokens.
    let entry = PriceEntry {
        model: "in-house-llm".into(),
        aliases: vec![],
        pattern: None,
        input: Decimal::ONE,
        cached_input: None,
        cache_write: None,
        cache_write_1h: None,
        output: Decimal::TWO,
        reasoning: None,
        tiers: vec![],
        effective_from: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"),
        source: "test".into(),
        origin: omniops_core::pricing::Origin::User,
    };
    let raw_since = now - 30 * MICROS_PER_DAY;
    let report = db
        .store
        .put_price(&entry, raw_since, now)
        .await
        .expect("put price");
    let report = omniops_testkit::reprice_to_end(&db.store, report).await;
    assert_eq!(report.models, vec!["in-house-llm".to_string()]);
    assert_eq!(report.sessions_changed, 1);

    // 2,000 × $1 + 1,000 × $2 per 1M = $0.004; the October session stays unpriced.
    let new = db
        .store
        .session("new")
        .await
        .expect("query")
        .expect("stored");
    assert_eq!(new.cost_nanos, Some(4_000_000));
    let old = db
        .store
        .session("old")
        .await
        .expect("query")
        .expect("stored");
    assert_eq!(old.cost_nanos, None);
    let window = Window::last_days(7, now).expect("window");
    let inputs = db
        .store
        .telemetry_inputs(&window, None, None)
        .await
        .expect("inputs");
    let c = inputs.sums.totals;
    assert_eq!((c.requests, c.unpriced, c.cost_nanos), (2, 0, 64_000_000));
    assert_eq!(
        inputs.trend,
        vec![(t("2026-11-20T08:00:00Z"), 2, 64_000_000)]
    );
    let month = Window::last_days(90, now).expect("window");
    let c = db
        .store
        .window_sums(&month, None)
        .await
        .expect("rollups")
        .totals;
    assert_eq!((c.requests, c.unpriced, c.cost_nanos), (3, 1, 64_000_000));

    // A new gpt-4 price from 2026-11-15 reprices the gpt-4 session: 1,000 × 10 + 500 × 20.
    let mut gpt4 = default_prices()
        .into_iter()
        .find(|e| e.model == "gpt-4")
        .expect("gpt-4");
    gpt4.effective_from = chrono::NaiveDate::from_ymd_opt(2026, 11, 15).expect("date");
    gpt4.input = Decimal::from(10);
    gpt4.output = Decimal::from(20);
    let job = db
        .store
        .put_price(&gpt4, raw_since, now)
        .await
        .expect("put price");
    omniops_testkit::reprice_to_end(&db.store, job).await;
    let g4 = db
        .store
        .session("g4")
        .await
        .expect("query")
        .expect("stored");
    assert_eq!(g4.cost_nanos, Some(20_000_000));
    let inputs = db
        .store
        .telemetry_inputs(&window, None, None)
        .await
        .expect("inputs");
    assert_eq!(inputs.sums.totals.cost_nanos, 24_000_000);
    assert_eq!(
        inputs.trend,
        vec![(t("2026-11-20T08:00:00Z"), 2, 24_000_000)]
    );
    assert!(db
        .store
        .unpriced_models(None)
        .await
        .expect("unpriced")
        .iter()
        .all(|m| m.sessions == 1));
}
on_both_engines!(price_change, price_change_recomputes_history);

async fn price_change_beyond_raw_retention_uses_token_sums(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    prepared(db, now).await;
    let lines = vec![backfill(
        "ancient",
        "in-house-llm",
        "a.example",
        "2026-06-01T08:00:00Z",
        3_000,
        1_000,
        true,
    )];
    db.store
        .apply_batch(&[events(now, &lines)], now)
        .await
        .expect("batch");
    // Retention removes the raw row; the rollup stays.
    let cutoff = now - 30 * MICROS_PER_DAY;
    assert_eq!(
        db.store
            .delete_sessions_before(cutoff)
            .await
            .expect("retention"),
        1
    );
    assert!(db.store.session("ancient").await.expect("query").is_none());
    let mut entry = default_prices()
        .into_iter()
        .find(|e| e.model == "gpt-4")
        .expect("gpt-4");
    entry.model = "in-house-llm".into();
    entry.effective_from = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    let job = db
        .store
        .put_price(&entry, cutoff, now)
        .await
        .expect("put price");
    omniops_testkit::reprice_to_end(&db.store, job).await;
    let year = Window::last_days(365, now).expect("window");
    let c = db
        .store
        .window_sums(&year, None)
        .await
        .expect("rollups")
        .totals;
    // 3,000 × $30 + 1,000 × $60 per 1M = $0.15
    assert_eq!((c.requests, c.unpriced, c.cost_nanos), (1, 0, 150_000_000));
    // One hourly and one daily bucket, each with its pair row and three total rows, and
    // a duration-histogram row for the domain and for all domains.
    assert_eq!(
        db.store
            .delete_rollups_before(now)
            .await
            .expect("rollup retention"),
        8 + 4
    );
}
on_both_engines!(
    price_change_old,
    price_change_beyond_raw_retention_uses_token_sums
);

async fn api_keys_are_stored_hashed_and_revocable(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    assert_eq!(db.store.count_active_keys().await.expect("count"), 0);
    let (record, secret) = db
        .store
        .create_key(
            omniops_store::Scope::Read,
            Some("a.example"),
            Some("ci"),
            now,
        )
        .await
        .expect("create");
    assert!(secret.starts_with("omk_") && secret.len() == 52);
    let found = db
        .store
        .find_key(&secret)
        .await
        .expect("find")
        .expect("active");
    assert_eq!(found, record);
    assert!(db
        .store
        .find_key("omk_wrong")
        .await
        .expect("find")
        .is_none());
    assert_eq!(db.store.count_active_keys().await.expect("count"), 1);
    assert!(db.store.revoke_key(&record.id, now).await.expect("revoke"));
    assert!(!db
        .store
        .revoke_key(&record.id, now)
        .await
        .expect("revoke twice"));
    assert!(db.store.find_key(&secret).await.expect("find").is_none());
    assert_eq!(
        db.store.list_keys().await.expect("list")[0].revoked_at,
        Some(now)
    );
}
on_both_engines!(api_keys, api_keys_are_stored_hashed_and_revocable);

async fn price_change_reaches_live_sessions(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    prepared(db, now).await;
    let start = events(
        now,
        &[
            r#"{"type":"session.start","session_id":"l1","model":"acme-llm","domain":"a.example"}"#
                .into(),
            r#"{"type":"usage","session_id":"l1","input_tokens":1000000,"output_tokens":0}"#.into(),
        ],
    );
    db.store.apply_batch(&[start], now).await.expect("batch");
    let live = db
        .store
        .telemetry_inputs(&Window::last_days(1, now).expect("window"), None, None)
        .await
        .expect("inputs");
    assert_eq!(live.live[0].cost_nanos, None);

    let mut entry = default_prices()
        .into_iter()
        .find(|e| e.model == "gpt-4")
        .expect("gpt-4");
    entry.model = "acme-llm".into();
    entry.effective_from = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
    let job = db
        .store
        .put_price(&entry, now - 30 * MICROS_PER_DAY, now)
        .await
        .expect("put price");
    omniops_testkit::reprice_to_end(&db.store, job).await;

    // The session, live while its price changed, ends priced: 1M input tokens × $30.
    let end = events(
        now,
        &[r#"{"type":"session.end","session_id":"l1","success":true}"#.into()],
    );
    db.store.apply_batch(&[end], now).await.expect("batch");
    let inputs = db
        .store
        .telemetry_inputs(&Window::last_days(1, now).expect("window"), None, None)
        .await
        .expect("inputs");
    assert_eq!(
        (inputs.sums.totals.unpriced, inputs.sums.totals.cost_nanos),
        (0, 30_000_000_000)
    );
}
on_both_engines!(price_change_live, price_change_reaches_live_sessions);

/// Live sessions, the models seen and the unpriced ones, for all domains (a statement without
/// a parameter) and for one (`domain = $1`): each domain sees only its own.
async fn live_reads_for_all_domains_and_for_one(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    let lines: Vec<String> = [
        ("a1", "acme-llm", "a.example"),
        ("a2", "gpt-4", "a.example"),
        ("b1", "beta-llm", "b.example"),
    ]
    .iter()
    .map(|(id, model, domain)| {
        format!(r#"{{"type":"session.start","session_id":"{id}","model":"{model}","domain":"{domain}"}}"#)
    })
    .collect();
    db.store
        .apply_batch(&[events(now, &lines)], now)
        .await
        .expect("batch");
    for (domain, live, models, unpriced) in [
        (
            None,
            vec!["a1", "a2", "b1"],
            vec!["acme-llm", "beta-llm", "gpt-4"],
            vec![("acme-llm", 1), ("beta-llm", 1)],
        ),
        (
            Some("a.example"),
            vec!["a1", "a2"],
            vec!["acme-llm", "gpt-4"],
            vec![("acme-llm", 1)],
        ),
        (
            Some("b.example"),
            vec!["b1"],
            vec!["beta-llm"],
            vec![("beta-llm", 1)],
        ),
    ] {
        let mut ids: Vec<String> = db
            .store
            .live_sessions(domain)
            .await
            .expect("live")
            .into_iter()
            .map(|s| s.session_id)
            .collect();
        ids.sort();
        assert_eq!(ids, live, "{domain:?}");
        let mut seen = db.store.stored_models(domain).await.expect("models");
        seen.sort();
        assert_eq!(seen, models, "{domain:?}");
        let mut without: Vec<(String, i64)> = db
            .store
            .unpriced_models(domain)
            .await
            .expect("unpriced")
            .into_iter()
            .map(|m| (m.model, m.sessions))
            .collect();
        without.sort();
        let unpriced: Vec<(String, i64)> = unpriced
            .into_iter()
            .map(|(m, n)| (m.to_string(), n))
            .collect();
        assert_eq!(without, unpriced, "{domain:?}");
    }
}
on_both_engines!(live_reads_scoped, live_reads_for_all_domains_and_for_one);

#[tokio::test]
async fn sqlite_derives_the_spec_cost_usd_column_exactly() {
    let db = TestDb::sqlite().await;
    let now = t("2026-11-26T12:30:00Z");
    let lines = vec![backfill(
        "c",
        "gpt-5-mini",
        "a.example",
        "2026-11-26T10:00:00Z",
        1_234_567,
        89_012,
        true,
    )];
    db.store
        .apply_batch(&[events(now, &lines)], now)
        .await
        .expect("batch");
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite:{}",
        db.data_dir.join("omniops.db").display()
    ))
    .await
    .expect("open");
    let cost: String =
        sqlx::query_scalar("SELECT cost_usd FROM chat_telemetry WHERE session_id = 'c'")
            .fetch_one(&pool)
            .await
            .expect("cost_usd");
    assert_eq!(cost, "0.486665750");
}

async fn conversations_follow_session_retention(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    let lines: Vec<String> = vec![
        r#"{"type":"conversation","conversation_id":"old","domain":"a.example","timestamp":"2026-10-01T10:00:00Z"}"#.into(),
        r#"{"type":"message","conversation_id":"old","role":"user","content":"hi","timestamp":"2026-10-01T10:00:00Z"}"#.into(),
        r#"{"type":"conversation","conversation_id":"new","domain":"a.example","timestamp":"2026-11-20T10:00:00Z"}"#.into(),
        r#"{"type":"message","conversation_id":"new","role":"user","content":"hi","timestamp":"2026-11-20T10:00:00Z"}"#.into(),
        // Started before the cutoff, still active after it: kept.
        r#"{"type":"conversation","conversation_id":"long","domain":"a.example","timestamp":"2026-10-01T10:00:00Z"}"#.into(),
        r#"{"type":"message","conversation_id":"long","role":"user","content":"hi","timestamp":"2026-11-25T10:00:00Z"}"#.into(),
    ];
    db.store
        .apply_batch(&[events(now, &lines)], now)
        .await
        .expect("batch");
    let year = Window::last_days(365, now).expect("window");
    assert_eq!(
        db.store
            .conversation_count(&year, None)
            .await
            .expect("count"),
        3
    );
    let deleted = db
        .store
        .delete_conversations_before(now - 30 * MICROS_PER_DAY)
        .await
        .expect("retention");
    assert_eq!(deleted, 1);
    // The raw rows are gone (its message with it); the rollups keep the totals.
    assert_eq!(
        db.store
            .raw_conversation_count(&year, None)
            .await
            .expect("count"),
        2
    );
    assert_eq!(
        db.store
            .conversation_count(&year, None)
            .await
            .expect("count"),
        3
    );
    let raw = db
        .store
        .raw_analytics_inputs(&year, None)
        .await
        .expect("raw");
    assert_eq!(raw.messages.messages, 2);
    let rollups = db
        .store
        .analytics_inputs(&year, None, now)
        .await
        .expect("rollups");
    assert_eq!(rollups.messages.messages, 3);
}
on_both_engines!(
    conversation_retention,
    conversations_follow_session_retention
);

/// Failed queries and product examples older than the cutoff go, in every domain and for
/// every product (the statements find them through each one's index); newer ones stay.
async fn conversation_side_rows_follow_retention(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    let mut script = String::new();
    for domain in ["a.example", "b.example"] {
        for (text, at) in [
            ("old", "2026-10-01T10:00:00Z"),
            ("new", "2026-11-20T10:00:00Z"),
        ] {
            let at = t(at);
            script += &format!(
                "INSERT INTO failed_queries (domain, query, last_at) VALUES ('{domain}', '{text}', {at});"
            );
            for product in ["pump", "filter"] {
                script += &format!(
                    "INSERT INTO product_examples (domain, product, text, last_at) \
                     VALUES ('{domain}', '{product}', '{text}', {at});"
                );
            }
        }
    }
    db.run_script(&script).await;
    db.store
        .delete_conversations_before(now - 30 * MICROS_PER_DAY)
        .await
        .expect("retention");
    let count = "SELECT CAST(COUNT(*) AS BIGINT) FROM";
    assert_eq!(db.scalar(&format!("{count} failed_queries")).await, 2);
    assert_eq!(
        db.scalar(&format!("{count} failed_queries WHERE query = 'new'"))
            .await,
        2
    );
    assert_eq!(db.scalar(&format!("{count} product_examples")).await, 4);
    assert_eq!(
        db.scalar(&format!("{count} product_examples WHERE text = 'new'"))
            .await,
        4
    );
}
on_both_engines!(
    conversation_side_retention,
    conversation_side_rows_follow_retention
);

/// Rollup retention drops the old buckets of every domain and of the all-domains rows, and
/// keeps the newer ones (the statements find each domain through the key).
async fn rollup_retention_drops_old_buckets_of_every_domain(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    let mut lines = Vec::new();
    for domain in ["a.example", "b.example", "c.example"] {
        for (id, at) in [
            ("old", "2026-10-01T10:00:00Z"),
            ("new", "2026-11-20T10:00:00Z"),
        ] {
            lines.push(format!(r#"{{"type":"conversation","conversation_id":"{id}-{domain}","domain":"{domain}","timestamp":"{at}"}}"#));
            lines.push(format!(r#"{{"type":"message","conversation_id":"{id}-{domain}","role":"user","content":"do you have pumps?","timestamp":"{at}"}}"#));
        }
    }
    db.store
        .apply_batch(&[events(now, &lines)], now)
        .await
        .expect("batch");
    let year = Window::last_days(365, now).expect("window");
    let messages = |domain: Option<&'static str>| {
        let store = db.store.clone();
        async move {
            let inputs = store
                .analytics_inputs(&year, domain, now)
                .await
                .expect("rollups");
            (
                inputs.messages.messages,
                inputs.top_queries.iter().map(|q| q.1).sum::<i64>(),
            )
        }
    };
    assert_eq!(messages(None).await, (6, 6));
    let conversations = db.store.conversation_count(&year, None).await;
    assert_eq!(conversations.expect("count"), 6);
    let deleted = db
        .store
        .delete_rollups_before(now - 30 * MICROS_PER_DAY)
        .await
        .expect("retention");
    assert!(deleted > 0);
    assert_eq!(messages(None).await, (3, 3));
    // The conversation rollups too: three of the six conversations were in old buckets.
    let conversations = db.store.conversation_count(&year, None).await;
    assert_eq!(conversations.expect("count"), 3);
    for domain in ["a.example", "b.example", "c.example"] {
        assert_eq!(messages(Some(domain)).await, (1, 1), "{domain}");
    }
}
on_both_engines!(
    rollup_retention,
    rollup_retention_drops_old_buckets_of_every_domain
);

async fn conversation_rollups_match_raw_rows(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    let texts = [
        "Do you have hydraulic pumps?",
        "Thanks, great!",
        "Hola, necesito ayuda",
        "It does not work",
        "Bonjour, merci",
        "Hallo, danke",
        "油圧ポンプはありますか",
        "where are the filters?",
    ];
    let mut first = Vec::new();
    let mut later = Vec::new();
    for i in 0..60i64 {
        let start = now - i * 7 * MICROS_PER_HOUR - 13 * 60 * 1_000_000;
        let domain = ["a.example", "b.example", "c.example"][(i % 3) as usize];
        first.push(format!(
            r#"{{"type":"conversation","conversation_id":"c{i}","domain":"{domain}","timestamp":"{}"}}"#,
            omniops_core::clock::to_rfc3339(start)
        ));
        for m in 0..(i % 4) {
            let role = if m % 2 == 0 { "user" } else { "assistant" };
            let text = texts[((i + m) % 8) as usize];
            let at = omniops_core::clock::to_rfc3339(start + m * 30_000_000);
            first.push(format!(r#"{{"type":"message","conversation_id":"c{i}","role":"{role}","content":"{text}","timestamp":"{at}"}}"#));
        }
        // A later batch changes some conversations' resolution and language.
        if i % 5 == 0 {
            let at = omniops_core::clock::to_rfc3339(start + 3_600_000_000);
            later.push(format!(r#"{{"type":"message","conversation_id":"c{i}","role":"user","content":"Hola, gracias","timestamp":"{at}"}}"#));
            let at = omniops_core::clock::to_rfc3339(start + 3_700_000_000);
            later.push(format!(r#"{{"type":"message","conversation_id":"c{i}","role":"assistant","content":"De nada","timestamp":"{at}"}}"#));
        }
    }
    db.store
        .apply_batch(&[events(now, &first)], now)
        .await
        .expect("batch");
    // Failed searches: "pumps" twice (the later time counts), "belts" once, one outside a day.
    for (i, (query, hours_ago)) in [("Pumps", 30), ("belts", 5), ("pumps", 2), ("gaskets", 40)]
        .into_iter()
        .enumerate()
    {
        let start = omniops_core::clock::to_rfc3339(now - hours_ago * MICROS_PER_HOUR);
        later.push(format!(
            r#"{{"type":"session","session_id":"f{i}","model":"gpt-4","domain":"b.example","start_time":"{start}","duration_ms":5,"success":true,"input_tokens":1,"output_tokens":1,"searches":[{{"query":"{query}","results":0}}]}}"#
        ));
    }
    // Sessions that found nothing link some conversations (their product questions become
    // missing-product requests); one links a conversation that arrives only afterwards.
    for i in (1..60i64).step_by(5).chain([99]) {
        let start = omniops_core::clock::to_rfc3339(now - i * 7 * MICROS_PER_HOUR);
        later.push(format!(
            r#"{{"type":"session","session_id":"n{i}","model":"gpt-4","domain":"a.example","conversation_id":"c{i}","start_time":"{start}","duration_ms":5,"success":true,"input_tokens":1,"output_tokens":1,"searches":[{{"query":"zzz","results":0}}]}}"#
        ));
    }
    db.store
        .apply_batch(&[events(now, &later)], now)
        .await
        .expect("batch");
    let at = omniops_core::clock::to_rfc3339(now - 3 * MICROS_PER_HOUR);
    // a.example's catalogue has pumps and filters: they stay missing only where other
    // domains asked for them.
    let last = [
        r#"{"type":"extraction","domain":"a.example","extraction_type":"products","data":{"name":"Pumps"}}"#.to_string(),
        r#"{"type":"extraction","domain":"a.example","extraction_type":"products","data":{"name":"filter"}}"#.to_string(),
        format!(
            r#"{{"type":"conversation","conversation_id":"c99","domain":"b.example","timestamp":"{at}"}}"#
        ),
        format!(
            r#"{{"type":"message","conversation_id":"c99","role":"user","content":"Do you have hydraulic pumps?","timestamp":"{at}"}}"#
        ),
        format!(
            r#"{{"type":"message","conversation_id":"c1","role":"user","content":"where are the belts?","timestamp":"{at}"}}"#
        ),
    ];
    db.store
        .apply_batch(&[events(now, &last)], now)
        .await
        .expect("batch");
    for days in [1, 7, 30] {
        let window = Window::last_days(days, now).expect("window");
        for domain in [None, Some("b.example")] {
            let mut fast = db
                .store
                .analytics_inputs(&window, domain, now)
                .await
                .expect("rollups");
            let mut raw = db
                .store
                .raw_analytics_inputs(&window, domain)
                .await
                .expect("raw");
            fast.conversations.languages.sort();
            raw.conversations.languages.sort();
            assert_eq!(fast, raw, "days={days} domain={domain:?}");
            let mut fast = db
                .store
                .product_tallies(&window, domain)
                .await
                .expect("product rollups");
            let mut raw = db
                .store
                .raw_product_tallies(&window, domain)
                .await
                .expect("raw products");
            fast.sort_by(|a, b| a.product.cmp(&b.product));
            raw.sort_by(|a, b| a.product.cmp(&b.product));
            assert_eq!(fast, raw, "products days={days} domain={domain:?}");
            assert_eq!(
                db.store
                    .conversation_count(&window, domain)
                    .await
                    .expect("count"),
                db.store
                    .raw_conversation_count(&window, domain)
                    .await
                    .expect("raw count"),
                "days={days} domain={domain:?}"
            );
        }
    }
    let day = Window::last_days(1, now).expect("window");
    let failed = db
        .store
        .analytics_inputs(&day, None, now)
        .await
        .expect("rollups")
        .failed_searches;
    // "zzz" is the linking sessions' search in a.example, the latest 7 hours ago.
    assert_eq!(failed, ["pumps", "belts", "zzz"]);
    let week = Window::last_days(7, now).expect("window");
    let failed = db
        .store
        .analytics_inputs(&week, Some("b.example"), now)
        .await
        .expect("rollups")
        .failed_searches;
    assert_eq!(
        failed,
        vec![
            "pumps".to_string(),
            "belts".to_string(),
            "gaskets".to_string()
        ]
    );
    let month = Window::last_days(30, now).expect("window");
    let inputs = db
        .store
        .analytics_inputs(&month, None, now)
        .await
        .expect("rollups");
    assert!(
        inputs.messages.messages > 80 && inputs.conversations.resolved > 0,
        "{inputs:?}"
    );
    // The fixture asks for products both ways: failed searches and linked conversations.
    let tallies = db
        .store
        .product_tallies(&month, None)
        .await
        .expect("product rollups");
    let from_conversations: i64 = tallies.iter().map(|t| t.requests - t.failed_searches).sum();
    let requests_of = |name: &str| {
        tallies
            .iter()
            .find(|t| t.product == name)
            .map(|t| (t.requests, t.failed_searches))
    };
    assert_eq!(from_conversations, 3, "{tallies:?}");
    // c99 arrived after its session had found nothing; c1's belt question came after c1 was
    // known to have found nothing, beside one failed search for belts.
    assert_eq!(requests_of("hydraulic pump"), Some((1, 0)));
    assert_eq!(requests_of("belt"), Some((2, 1)));
    // Filters were asked for in a.example (whose catalogue has them) and once elsewhere.
    assert_eq!(requests_of("filter"), Some((1, 0)));
}
on_both_engines!(conversation_rollups, conversation_rollups_match_raw_rows);

/// One instance syncs a WooCommerce store at a time: the lease is held until it runs out
/// or is released; its holder may renew it.
async fn a_store_sync_lease_has_one_holder(db: &TestDb) {
    let now = t("2026-11-26T12:00:00Z");
    let minute = 60 * 1_000_000;
    let s = &db.store;
    assert!(s
        .take_sync_lease("shop.example", "a", now, now + 10 * minute)
        .await
        .expect("take"));
    assert!(!s
        .take_sync_lease("shop.example", "b", now + minute, now + 11 * minute)
        .await
        .expect("held"));
    assert!(s
        .take_sync_lease("shop.example", "a", now + minute, now + 11 * minute)
        .await
        .expect("renew"));
    // Another store is free.
    assert!(s
        .take_sync_lease("other.example", "b", now, now + minute)
        .await
        .expect("other"));
    // After it runs out, or once released, another instance takes it.
    assert!(s
        .take_sync_lease("shop.example", "b", now + 12 * minute, now + 22 * minute)
        .await
        .expect("expired"));
    s.release_sync_lease("shop.example", "b")
        .await
        .expect("release");
    assert!(s
        .take_sync_lease("shop.example", "c", now + 13 * minute, now + 23 * minute)
        .await
        .expect("released"));
}
on_both_engines!(sync_lease, a_store_sync_lease_has_one_holder);
