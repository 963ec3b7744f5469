//! `omniops import`: a PostgreSQL database built with the spec's schema, its rows' costs
//! known, imported into each engine; the dashboards checked against hand-computed values.

use crate::common::TestApp;
use crate::http_test_with;
use omniops_server::import::{run, ImportOptions, Progress, Sink};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The spec's tables (dashboard-implementation-guide.md, "Database Schema"), with the
/// pgvector column declared `real[]`: pgvector cannot be installed here, and the importer
/// never reads it.
const SCHEMA: &str = r#"
CREATE TABLE chat_telemetry (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(), session_id TEXT UNIQUE, model TEXT,
    start_time TIMESTAMPTZ, end_time TIMESTAMPTZ, duration_ms INTEGER, iterations INTEGER,
    search_count INTEGER, total_results INTEGER, searches JSONB DEFAULT '[]',
    input_tokens INTEGER, output_tokens INTEGER,
    total_tokens INTEGER GENERATED ALWAYS AS (input_tokens + output_tokens) STORED,
    cost_usd NUMERIC(10,6), success BOOLEAN, error TEXT, domain TEXT, logs JSONB,
    created_at TIMESTAMPTZ DEFAULT now(), conversation_id UUID);
CREATE TABLE conversations (id UUID PRIMARY KEY, created_at TIMESTAMPTZ DEFAULT now(),
    updated_at TIMESTAMPTZ DEFAULT now(), metadata JSONB);
CREATE TABLE messages (id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id UUID REFERENCES conversations(id), role TEXT, content TEXT,
    created_at TIMESTAMPTZ DEFAULT now(), metadata JSONB);
CREATE TABLE structured_extractions (id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    extraction_type TEXT, data JSONB, domain TEXT);
CREATE TABLE scraped_pages (id UUID PRIMARY KEY, url TEXT, domain TEXT, content TEXT,
    content_length INTEGER, scraped_at TIMESTAMPTZ);
CREATE TABLE page_embeddings (id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    page_id UUID REFERENCES scraped_pages(id), chunk_index INTEGER, embedding REAL[],
    content_preview TEXT);
CREATE TABLE woocommerce_abandoned_carts (id TEXT PRIMARY KEY, domain TEXT,
    cart_total NUMERIC(12,2), currency TEXT, created_at TIMESTAMPTZ DEFAULT now());
"#;

/// Stored costs as the spec's trigger wrote them (four models known to it); Omniops'
/// prices per 1M tokens: gpt-4 $30/$60, gpt-4o $2.50/$10, gpt-5-mini $0.25/$2,
/// claude-3-5-sonnet-20241022 $3/$15.
/// - s1 gpt-4 1,000/500: $0.060000 stored, $0.06 Omniops. Three searches, one unreadable.
/// - s2 gpt-4o 2,000/1,000: $0 stored (unknown to the trigger), $0.015 Omniops.
/// - s3 gpt-5-mini 10,000/2,000, failed: $0.006500 stored, $0.0065 Omniops.
/// - s4 claude dated 1,000/1,000: no stored cost; $0.018 Omniops.
/// - s5 no domain: not mapped. s6 an unknown model: unpriced. s7 ends before it starts.
const ROWS: &str = r#"
INSERT INTO chat_telemetry (session_id, model, start_time, end_time, duration_ms, iterations,
    search_count, total_results, searches, input_tokens, output_tokens, cost_usd, success,
    error, domain, logs, created_at) VALUES
 ('s1', 'gpt-4', '2026-11-25T10:00:00Z', NULL, 2000, 2, 3, 3,
  '[{"query": "drill", "results": 3}, {"query": "saw", "resultCount": 0}, {"q": "x"}]',
  1000, 500, 0.060000, true, NULL, 'shop.example', '[{"level": "info", "message": "ok"}]',
  '2026-11-25T10:00:02Z'),
 ('s2', 'gpt-4o', '2026-11-25T11:00:00Z', '2026-11-25T11:00:04Z', NULL, 1, 0, 0, '[]',
  2000, 1000, 0.000000, true, NULL, 'shop.example', NULL, '2026-11-25T11:00:04Z'),
 ('s3', 'gpt-5-mini', '2026-11-26T09:00:00Z', NULL, 1000, 1, 0, 0, '[]',
  10000, 2000, 0.006500, false, 'timeout', 'shop.example', NULL, '2026-11-26T09:00:01Z'),
 ('s4', 'claude-3-5-sonnet-20241022', '2026-11-26T10:00:00Z', NULL, 3000, 1, 0, 0, NULL,
  1000, 1000, NULL, true, NULL, 'parts.example', NULL, '2026-11-26T10:00:03Z'),
 ('s5', 'gpt-4', '2026-11-26T10:30:00Z', NULL, 100, 1, 0, 0, '[]',
  10, 10, 0.000900, true, NULL, NULL, NULL, '2026-11-26T10:30:01Z'),
 ('s6', 'mystery-model', '2026-11-26T11:00:00Z', NULL, 500, 1, 0, 0, '[]',
  100, 100, 0.001000, true, NULL, 'parts.example', NULL, '2026-11-26T11:00:01Z'),
 ('s7', 'gpt-4', '2026-11-26T11:30:00Z', '2026-11-26T11:00:00Z', NULL, 1, 0, 0, '[]',
  10, 10, 0.000900, true, NULL, 'shop.example', NULL, '2026-11-26T11:30:01Z');
-- A deployment that added `conversation_id`: s1 belongs to c1.
UPDATE chat_telemetry SET conversation_id = '00000000-0000-0000-0000-0000000000c1' WHERE session_id = 's1';
INSERT INTO conversations (id, created_at, metadata) VALUES
 ('00000000-0000-0000-0000-0000000000c1', '2026-11-25T10:00:00Z',
  '{"domain": "shop.example", "customer_id": "u1"}'),
 ('00000000-0000-0000-0000-0000000000c2', '2026-11-26T09:00:00Z', '{}');
INSERT INTO messages (id, conversation_id, role, content, created_at) VALUES
 ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000c1', 'user',
  'Do you have a torque wrench?', '2026-11-25T10:00:10Z'),
 ('00000000-0000-0000-0000-0000000000a2', '00000000-0000-0000-0000-0000000000c1',
  'assistant', 'Yes, two of them.', '2026-11-25T10:00:20Z'),
 ('00000000-0000-0000-0000-0000000000a3', '00000000-0000-0000-0000-0000000000c2', 'user',
  'hello', '2026-11-26T09:00:10Z'),
 ('00000000-0000-0000-0000-0000000000a4', '00000000-0000-0000-0000-0000000000c1', 'system',
  'You are a shop assistant.', '2026-11-25T10:00:30Z');
INSERT INTO structured_extractions (extraction_type, data, domain) VALUES
 ('products', '{"name": "Torque Wrench", "price": "49.90"}', 'shop.example'),
 ('products', '{"products": [{"name": "Cordless Drill", "price": 99}, {"name": "Hand Saw", "price": "19.50"}]}',
  'shop.example'),
 ('faq', '{"question": "Returns?", "answer": "30 days"}', 'shop.example'),
 ('weird', '{"x": 1}', 'shop.example');
INSERT INTO scraped_pages (id, url, domain, content, content_length, scraped_at) VALUES
 ('00000000-0000-0000-0000-0000000000b1', 'https://shop.example/a', 'shop.example',
  'hello world', 11, '2026-11-26T10:00:00Z'),
 ('00000000-0000-0000-0000-0000000000b2', 'https://parts.example/b', 'parts.example', NULL,
  501, '2026-11-26T11:00:00Z');
INSERT INTO page_embeddings (page_id, chunk_index, embedding, content_preview) VALUES
 ('00000000-0000-0000-0000-0000000000b1', 1, '{0.1, 0.2}', 'world'),
 ('00000000-0000-0000-0000-0000000000b1', 0, '{0.3, 0.4}', 'hello'),
 ('00000000-0000-0000-0000-0000000000b2', 0, '{0.5, 0.6}', NULL);
INSERT INTO woocommerce_abandoned_carts (id, domain, cart_total, currency, created_at) VALUES
 ('k1', 'shop.example', 25.50, 'USD', '2026-11-26T08:00:00Z'),
 ('k2', 'shop.example', 30.00, 'USD', '2026-11-26T08:30:00Z');
"#;

/// The assistant's own database, made for one test and dropped after it.
pub struct SourceDb {
    pub url: String,
    pool: sqlx::PgPool,
    admin: String,
    name: String,
}

impl SourceDb {
    pub async fn create(script: &str) -> Option<SourceDb> {
        let (url, admin, name) = omniops_testkit::fresh_postgres_database().await?;
        let pool = sqlx::PgPool::connect(&url).await.expect("source");
        let source = SourceDb {
            url,
            pool,
            admin,
            name,
        };
        source.run(script).await;
        Some(source)
    }

    pub async fn run(&self, script: &str) {
        sqlx::raw_sql(script)
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}: {script}"));
    }

    pub async fn drop(self) {
        self.pool.close().await;
        omniops_testkit::drop_database(&self.admin, &self.name).await;
    }
}

fn options(source: &SourceDb) -> ImportOptions {
    ImportOptions {
        from: source.url.clone(),
        ..ImportOptions::default()
    }
}

/// Every read computes: an import writes beside the server, not through its writer.
fn uncached() -> omniops_server::Settings {
    omniops_server::Settings {
        report_cache_ms: 0,
        ..omniops_server::Settings::default()
    }
}

fn direct(app: &TestApp) -> Sink {
    Sink::Store(app.db.store.clone())
}

async fn import(app: &TestApp, options: &ImportOptions) -> Value {
    run(
        &direct(app),
        options,
        &mut |_: &Progress| {},
        &CancellationToken::new(),
    )
    .await
    .expect("import")
}

fn table<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["table"] == name))
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

/// What the dashboards show of the fixture, hand-computed (now is 2026-11-26T12:30Z).
async fn dashboards_show_the_fixture(app: &TestApp) {
    let (status, r) = app.get_json("/api/dashboard/telemetry?days=7", None).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (
            &r["overview"]["totalRequests"],
            &r["overview"]["failedRequests"],
            &r["overview"]["unpricedRequests"]
        ),
        (&json!(5), &json!(1), &json!(1))
    );
    // 0.06 + 0.015 + 0.0065 + 0.018; s6 is unpriced.
    assert_eq!(r["cost"]["total"], "0.0995");
    // Input 1,000 + 2,000 + 10,000 + 1,000 + 100; output 500 + 1,000 + 2,000 + 1,000 + 100.
    assert_eq!(r["tokens"]["totalInput"], 14_100);
    assert_eq!(r["tokens"]["totalOutput"], 4_600);
    assert_eq!(r["performance"]["totalSearches"], 3);
    let (_, c) = app
        .get_json("/api/dashboard/conversations?days=7", None)
        .await;
    assert_eq!(c["total"], 1, "{c}");
    assert_eq!(
        c["recent"][0]["message"], "Do you have a torque wrench?",
        "{c}"
    );
    let (_, w) = app.get_json("/api/dashboard/woocommerce", None).await;
    assert_eq!(w["totalProducts"], 3, "{w}");
    assert_eq!(
        w["abandonedCarts"],
        json!({"count": 2, "value": 55.5, "currency": "USD"})
    );
    let (status, d) = app.get_json("/api/sessions/s1", None).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        (&d["costUsd"], &d["conversationId"], &d["searchCount"]),
        (
            &json!("0.060000"),
            &json!("00000000-0000-0000-0000-0000000000c1"),
            &json!(3)
        ),
        "{d}"
    );
    let (_, s) = app.get_json("/api/dashboard/scraped", None).await;
    assert_eq!(
        (&s["totalPages"], &s["lastUpdated"]),
        (&json!(2), &json!("2026-11-26T11:00:00Z"))
    );
    // (11 + 501) / 2 characters; three chunks, both pages with some.
    assert_eq!(
        s["statistics"],
        json!({"uniqueDomains": 2, "totalEmbeddings": 3, "avgContentLength": 256, "embeddingCoverage": 100.0})
    );
}

async fn the_specs_tables_are_imported(app: &TestApp) {
    let Some(source) = SourceDb::create(&format!("{SCHEMA}{ROWS}")).await else {
        return;
    };
    let report = import(app, &options(&source)).await;
    let telemetry = table(&report, "chat_telemetry");
    assert_eq!(
        (
            &telemetry["read"],
            &telemetry["imported"],
            &telemetry["unmapped"],
            &telemetry["unreadableSearches"]
        ),
        (&json!(7), &json!(5), &json!(2), &json!(1)),
        "{report}"
    );
    let reasons = telemetry["unmappedRows"].to_string();
    assert!(reasons.contains("domain is empty"), "{reasons}");
    assert!(
        reasons.contains("end_time must not be before start_time"),
        "{reasons}"
    );
    // c2 names no domain; its message then has no conversation; a system message is no
    // user or assistant turn; an extraction of an unknown type.
    for (name, read, imported) in [
        ("conversations", 2, 1),
        ("messages", 4, 2),
        ("structured_extractions", 4, 3),
        ("scraped_pages", 2, 2),
        ("woocommerce_abandoned_carts", 2, 2),
    ] {
        let t = table(&report, name);
        assert_eq!(
            (&t["read"], &t["imported"]),
            (&json!(read), &json!(imported)),
            "{t}"
        );
    }
    assert_eq!(
        report["costAudit"],
        json!({
            "sessions": 5, "compared": 3, "differing": 1,
            "storedUsd": "0.066500000", "omniopsUsd": "0.081500000",
            "differenceUsd": "0.015000000", "unpriced": 1, "noStoredCost": 1,
            "models": [
                {"model": "gpt-4o", "sessions": 1, "compared": 1, "differing": 1,
                 "storedUsd": "0.000000000", "omniopsUsd": "0.015000000",
                 "differenceUsd": "0.015000000", "unpriced": 0, "noStoredCost": 0},
                {"model": "claude-3-5-sonnet-20241022", "sessions": 1, "compared": 0,
                 "differing": 0, "storedUsd": "0.000000000", "omniopsUsd": "0.000000000",
                 "differenceUsd": "0.000000000", "unpriced": 0, "noStoredCost": 1},
                {"model": "gpt-4", "sessions": 1, "compared": 1, "differing": 0,
                 "storedUsd": "0.060000000", "omniopsUsd": "0.060000000",
                 "differenceUsd": "0.000000000", "unpriced": 0, "noStoredCost": 0},
                {"model": "gpt-5-mini", "sessions": 1, "compared": 1, "differing": 0,
                 "storedUsd": "0.006500000", "omniopsUsd": "0.006500000",
                 "differenceUsd": "0.000000000", "unpriced": 0, "noStoredCost": 0},
                {"model": "mystery-model", "sessions": 1, "compared": 0, "differing": 0,
                 "storedUsd": "0.000000000", "omniopsUsd": "0.000000000",
                 "differenceUsd": "0.000000000", "unpriced": 1, "noStoredCost": 0}
            ]
        })
    );
    dashboards_show_the_fixture(app).await;

    // A second import reads nothing new; one that lost its checkpoints reads everything
    // again and stores nothing twice.
    let again = import(app, &options(&source)).await;
    assert_eq!(table(&again, "chat_telemetry")["read"], 7);
    assert_eq!(again["costAudit"]["sessions"], 5);
    app.db
        .run_script("DELETE FROM app_settings WHERE key LIKE 'import:%'")
        .await;
    let fresh = import(app, &options(&source)).await;
    assert_eq!(table(&fresh, "chat_telemetry")["imported"], 5);
    dashboards_show_the_fixture(app).await;
    source.drop().await;
}
http_test_with!(
    spec_tables,
    the_specs_tables_are_imported,
    super::uncached()
);

/// By default the import goes through a running server's ingest API, its checkpoints in
/// a state file: the same dashboards, and a second run reads nothing new.
async fn imported_through_the_server(app: &TestApp) {
    let Some(source) = SourceDb::create(&format!("{SCHEMA}{ROWS}")).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("state.json");
    let sink = Sink::server(&app.url(""), None, state.clone());
    let quiet = &mut |_: &Progress| {};
    let report = run(&sink, &options(&source), quiet, &CancellationToken::new())
        .await
        .expect("import");
    let telemetry = table(&report, "chat_telemetry");
    assert_eq!(
        (&telemetry["read"], &telemetry["imported"]),
        (&json!(7), &json!(5))
    );
    // The server names the field it refused.
    assert!(
        telemetry["unmappedRows"].to_string().contains("end_time"),
        "{telemetry}"
    );
    assert_eq!(report["costAudit"]["differenceUsd"], "0.015000000");
    dashboards_show_the_fixture(app).await;
    let saved = std::fs::read_to_string(&state).expect("state file");
    assert!(saved.contains("chat_telemetry"), "{saved}");
    let again = run(&sink, &options(&source), quiet, &CancellationToken::new())
        .await
        .expect("again");
    assert_eq!(table(&again, "chat_telemetry")["read"], 7);
    dashboards_show_the_fixture(app).await;
    source.drop().await;
}
http_test_with!(
    through_the_server,
    imported_through_the_server,
    super::uncached()
);

/// Stopped after its first page, the import resumes from that page's checkpoint: every
/// row read once, the audit counting each session once.
async fn an_interrupted_import_resumes(app: &TestApp) {
    let Some(source) = SourceDb::create(&format!("{SCHEMA}{ROWS}")).await else {
        return;
    };
    let options = ImportOptions {
        page_rows: 2,
        ..options(&source)
    };
    let stop = CancellationToken::new();
    let stopping = stop.clone();
    let first = run(
        &direct(app),
        &options,
        &mut |p: &Progress| {
            assert_eq!((p.table, p.done, p.total), ("chat_telemetry", 2, 7));
            stopping.cancel();
        },
        &stop,
    )
    .await
    .expect("first part");
    assert_eq!(table(&first, "chat_telemetry")["read"], 2);
    assert_eq!(first["tables"].as_array().map(Vec::len), Some(1));
    let mut seen = Vec::new();
    let rest = run(
        &direct(app),
        &options,
        &mut |p: &Progress| seen.push((p.table, p.done, p.total)),
        &CancellationToken::new(),
    )
    .await
    .expect("the rest");
    // The rest of chat_telemetry: 5 rows left, in pages of 2.
    assert_eq!(
        seen[..3],
        [
            ("chat_telemetry", 2, 5),
            ("chat_telemetry", 4, 5),
            ("chat_telemetry", 5, 5)
        ]
    );
    let telemetry = table(&rest, "chat_telemetry");
    assert_eq!(
        (&telemetry["read"], &telemetry["imported"]),
        (&json!(7), &json!(5))
    );
    assert_eq!(rest["costAudit"]["sessions"], 5);
    assert_eq!(rest["costAudit"]["differenceUsd"], "0.015000000");
    dashboards_show_the_fixture(app).await;
    source.drop().await;
}
http_test_with!(
    interrupted,
    an_interrupted_import_resumes,
    super::uncached()
);

/// `follow` picks up a session the assistant writes after the import started.
async fn follow_picks_up_new_rows(app: &TestApp) {
    let Some(source) = SourceDb::create(&format!("{SCHEMA}{ROWS}")).await else {
        return;
    };
    let options = ImportOptions {
        follow: true,
        poll: Duration::from_millis(200),
        ..options(&source)
    };
    let stop = CancellationToken::new();
    let sink = direct(app);
    let following = {
        let stop = stop.clone();
        tokio::spawn(async move { run(&sink, &options, &mut |_: &Progress| {}, &stop).await })
    };
    let requests = || async {
        let (_, r) = app.get_json("/api/dashboard/telemetry?days=7", None).await;
        r["overview"]["totalRequests"].clone()
    };
    wait_for(|| async { requests().await == 5 }).await;
    source
        .run(
            "INSERT INTO chat_telemetry (session_id, model, start_time, duration_ms, \
             input_tokens, output_tokens, cost_usd, success, domain) VALUES \
             ('s8', 'gpt-4', '2026-11-26T12:00:00Z', 1000, 100, 100, 0.009, true, 'shop.example')",
        )
        .await;
    wait_for(|| async { requests().await == 6 }).await;
    // Committed late: its time lies before the checkpoint, inside the overlap window.
    source
        .run(
            "INSERT INTO chat_telemetry (session_id, model, start_time, duration_ms, \
             input_tokens, output_tokens, cost_usd, success, domain, created_at) VALUES \
             ('s9', 'gpt-4', '2026-11-26T12:01:00Z', 1000, 100, 100, 0.009, true, 'shop.example', \
              (SELECT created_at - INTERVAL '10 seconds' FROM chat_telemetry WHERE session_id = 's8'))",
        )
        .await;
    wait_for(|| async { requests().await == 7 }).await;
    stop.cancel();
    let report = following.await.expect("task").expect("follow");
    // Rows read again in the overlap are not counted again.
    let telemetry = table(&report, "chat_telemetry");
    assert_eq!(
        (&telemetry["read"], &telemetry["imported"]),
        (&json!(9), &json!(7))
    );
    // 100 × $30 + 100 × $60 per 1M = $0.009, as stored.
    assert_eq!(report["costAudit"]["compared"], 5);
    assert_eq!(report["costAudit"]["differing"], 1);
    source.drop().await;
}
http_test_with!(follow, follow_picks_up_new_rows, super::uncached());

async fn wait_for<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not reached within 15 s");
}

/// `--since` reads only rows from that time on: of the seven sessions, the five created
/// on 2026-11-26 (s3 to s7; s1 and s2 were created on the 25th), of which s5 (no domain) and
/// s7 (ends before it starts) cannot be mapped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_limits_the_rows_read() {
    let db = omniops_testkit::TestDb::sqlite().await;
    let Some(source) = SourceDb::create(&format!("{SCHEMA}{ROWS}")).await else {
        return;
    };
    let options = ImportOptions {
        since: omniops_core::clock::parse_rfc3339("2026-11-26T00:00:00Z"),
        ..options(&source)
    };
    let report = run(
        &Sink::Store(db.store.clone()),
        &options,
        &mut |_: &Progress| {},
        &CancellationToken::new(),
    )
    .await
    .expect("import");
    let telemetry = table(&report, "chat_telemetry");
    assert_eq!(
        (
            &telemetry["read"],
            &telemetry["imported"],
            &telemetry["unmapped"]
        ),
        (&json!(5), &json!(3), &json!(2))
    );
    // s3, s4 and s6: $0.0065 stored against $0.0065; s4 has none; s6 is unpriced.
    assert_eq!(
        (
            &report["costAudit"]["compared"],
            &report["costAudit"]["differing"]
        ),
        (&json!(1), &json!(0))
    );
    // c2 and its message, and the pages scraped on the 26th; messages of c1 are older.
    assert_eq!(table(&report, "conversations")["read"], 1);
    assert_eq!(table(&report, "messages")["read"], 1);
    assert_eq!(table(&report, "scraped_pages")["read"], 2);
    source.drop().await;
}

/// A carts table without a domain is reported and left; the rest is imported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmappable_carts_table_is_reported() {
    let db = omniops_testkit::TestDb::sqlite().await;
    let schema = SCHEMA.replace(
        "woocommerce_abandoned_carts (id TEXT PRIMARY KEY, domain TEXT,",
        "woocommerce_abandoned_carts (id TEXT PRIMARY KEY, shop TEXT,",
    );
    let Some(source) = SourceDb::create(&schema).await else {
        return;
    };
    let report = run(
        &Sink::Store(db.store.clone()),
        &options(&source),
        &mut |_: &Progress| {},
        &CancellationToken::new(),
    )
    .await
    .expect("import");
    assert_eq!(
        report["skippedTables"],
        json!([{"table": "woocommerce_abandoned_carts",
                "reason": "table woocommerce_abandoned_carts has no column `domain` (TEXT)"}])
    );
    assert_eq!(table(&report, "chat_telemetry")["read"], 0);
    source.drop().await;
}

/// A missing table or a column of another type is an error naming it, before anything
/// is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_source_schema_is_named() {
    let db = omniops_testkit::TestDb::sqlite().await;
    let without_messages = SCHEMA.replace("CREATE TABLE messages", "CREATE TABLE old_messages");
    let text_tokens = SCHEMA
        .replace("input_tokens INTEGER", "input_tokens TEXT")
        .replace("(input_tokens + output_tokens)", "(output_tokens)");
    for (schema, expected) in [
        (without_messages, "the source has no table `messages`"),
        (
            text_tokens,
            "column chat_telemetry.input_tokens is of type text; expected INTEGER",
        ),
    ] {
        let Some(source) = SourceDb::create(&schema).await else {
            return;
        };
        let error = run(
            &Sink::Store(db.store.clone()),
            &options(&source),
            &mut |_: &Progress| {},
            &CancellationToken::new(),
        )
        .await
        .expect_err("a bad schema");
        assert!(error.to_string().contains(expected), "{error:#}");
        source.drop().await;
    }
}
