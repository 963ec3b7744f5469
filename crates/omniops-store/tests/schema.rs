//! PostgreSQL: Omniops' tables live in their own schema, so the spec's own tables
//! (`conversations`, `messages`, …) can share the database; an installation from before
//! schemas has its tables moved there, data and all.

use omniops_core::clock::parse_rfc3339;
use omniops_core::events::parse;
use omniops_store::Store;
use sqlx::Connection;

async fn scalar(url: &str, query: &str) -> i64 {
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar(query)
        .fetch_one(&mut c)
        .await
        .expect(query)
}

async fn execute(url: &str, query: &str) {
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::raw_sql(query).execute(&mut c).await.expect(query);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_live_in_their_schema_beside_the_specs() {
    let Some((url, admin, name)) = omniops_testkit::fresh_postgres_database().await else {
        return;
    };
    // The spec's own `conversations`, with its own columns, already in public.
    execute(&url, "CREATE TABLE conversations (id UUID PRIMARY KEY, session_id TEXT, metadata JSONB);
                   INSERT INTO conversations VALUES ('6f1c0e4e-8d2b-4c55-9a55-0f3e2f1b7a10', 's', '{}')").await;
    let store = Store::open_postgres(&url)
        .await
        .expect("open beside the spec's tables");
    let now = parse_rfc3339("2026-11-26T12:30:00Z").expect("time");
    let event = parse(
        r#"{"type":"conversation","conversation_id":"c1","domain":"shop.example"}"#,
        now,
    )
    .expect("event");
    store.apply_batch(&[vec![event]], now).await.expect("batch");
    store.close().await;
    assert_eq!(
        scalar(&url, "SELECT COUNT(*) FROM public.conversations").await,
        1
    );
    assert_eq!(
        scalar(&url, "SELECT COUNT(*) FROM omniops.conversations").await,
        1
    );
    assert_eq!(
        scalar(
            &url,
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        .await,
        1,
        "only the spec's table is in public"
    );
    omniops_testkit::drop_database(&admin, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_in_public_moves_into_the_schema() {
    let Some((url, admin, name)) = omniops_testkit::fresh_postgres_database().await else {
        return;
    };
    // As earlier versions stored it: everything in public.
    let old = Store::open_postgres_in(&url, "public")
        .await
        .expect("old layout");
    let now = parse_rfc3339("2026-11-26T12:30:00Z").expect("time");
    let line = r#"{"type":"session","session_id":"s1","model":"gpt-4","domain":"shop.example","start_time":"2026-11-26T10:00:00Z","duration_ms":5,"success":true,"input_tokens":1000,"output_tokens":0}"#;
    old.apply_batch(&[vec![parse(line, now).expect("event")]], now)
        .await
        .expect("batch");
    old.close().await;

    let store = Store::open_postgres(&url).await.expect("upgrade");
    let (start, end) = (
        parse_rfc3339("2026-11-26T00:00:00Z").expect("time"),
        parse_rfc3339("2026-11-27T00:00:00Z").expect("time"),
    );
    // 1,000 gpt-4 input tokens at $30 per million, read from the moved rollups.
    assert_eq!(
        store.cost_between(start, end, None).await.expect("cost"),
        30_000_000
    );
    store.close().await;
    assert_eq!(
        scalar(
            &url,
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(&url, "SELECT COUNT(*) FROM omniops.chat_telemetry").await,
        1
    );
    // Opening again changes nothing.
    let again = Store::open_postgres(&url).await.expect("reopen");
    assert_eq!(
        again.cost_between(start, end, None).await.expect("cost"),
        30_000_000
    );
    again.close().await;
    omniops_testkit::drop_database(&admin, &name).await;
}
