//! Migration 0015 folds domains stored under case variants (before domains were normalised
//! where they enter) into their lowercase domain, rollups included, on both engines.

use omniops_core::events::parse;
use omniops_testkit::{on_both_engines, t, TestDb};

/// Every table with a `domain` column.
const TABLES: [&str; 29] = [
    "abandoned_carts",
    "alert_events",
    "api_keys",
    "chat_telemetry",
    "conversation_rollup_daily",
    "conversation_rollup_hourly",
    "conversations",
    "cost_alerts",
    "domain_config",
    "duration_rollup_daily",
    "duration_rollup_hourly",
    "failed_queries",
    "failed_searches",
    "message_rollup_daily",
    "message_rollup_hourly",
    "messages",
    "orders",
    "product_examples",
    "product_rollup_daily",
    "product_rollup_hourly",
    "query_rollup_daily",
    "query_rollup_hourly",
    "rollup_daily",
    "rollup_hourly",
    "scrape_jobs",
    "scraped_pages",
    "structured_extractions",
    "unpriced_seen",
    "webhook_deliveries",
];

async fn case_variants_fold_into_one_domain(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    // Two gpt-4 sessions in one hour: $0.03 for shop.example, $0.06 and a failed search
    // and a conversation for zz.example, which becomes `Shop.Example` below.
    let lines = [
        r#"{"type":"session","session_id":"a","model":"gpt-4","domain":"shop.example","start_time":"2026-11-26T10:00:00Z","duration_ms":2000,"success":true,"input_tokens":1000,"output_tokens":0}"#,
        r#"{"type":"session","session_id":"b","model":"gpt-4","domain":"zz.example","start_time":"2026-11-26T10:10:00Z","duration_ms":2000,"success":false,"input_tokens":2000,"output_tokens":0,"searches":[{"query":"torque wrench","results":0}]}"#,
        r#"{"type":"conversation","conversation_id":"c","domain":"zz.example"}"#,
        r#"{"type":"message","conversation_id":"c","role":"user","content":"Do you have a torque wrench?"}"#,
    ];
    let events = lines
        .iter()
        .map(|l| parse(l, now).expect("event"))
        .collect();
    db.store.apply_batch(&[events], now).await.expect("batch");
    let (start, end) = (t("2026-11-26T00:00:00Z"), t("2026-11-27T00:00:00Z"));
    let all_before = db.store.cost_between(start, end, None).await.expect("cost");
    assert_eq!(all_before, 90_000_000);

    // As stored before domains were normalised: `Shop.Example` beside `shop.example`.
    let rename: String = TABLES
        .iter()
        .map(|t| format!("UPDATE {t} SET domain = 'Shop.Example' WHERE domain = 'zz.example';\n"))
        .collect();
    db.run_script(&rename).await;
    assert_eq!(
        db.store
            .cost_between(start, end, Some("shop.example"))
            .await
            .expect("cost"),
        30_000_000
    );

    let migration = match db.database_url {
        Some(_) => include_str!("../migrations/postgres/0015_fold_domains.sql"),
        None => include_str!("../migrations/sqlite/0015_fold_domains.sql"),
    };
    db.run_script(migration).await;
    // $0.03 + $0.06 under shop.example; all domains together unchanged.
    assert_eq!(
        db.store
            .cost_between(start, end, Some("shop.example"))
            .await
            .expect("cost"),
        90_000_000
    );
    assert_eq!(
        db.store.cost_between(start, end, None).await.expect("cost"),
        all_before
    );
    let count = |table: &str, domain: &str| {
        format!("SELECT COUNT(*) FROM {table} WHERE domain = '{domain}'")
    };
    assert_eq!(db.scalar(&count("chat_telemetry", "shop.example")).await, 2);
    // One hourly rollup row for the two sessions: 2 requests, 1 failure.
    assert_eq!(
        db.scalar("SELECT requests * 10 + failures FROM rollup_hourly WHERE domain = 'shop.example' AND model = 'gpt-4'").await,
        21
    );
    // No row is left under the variant.
    for table in TABLES {
        assert_eq!(db.scalar(&count(table, "Shop.Example")).await, 0, "{table}");
    }
}
on_both_engines!(fold, case_variants_fold_into_one_domain);
