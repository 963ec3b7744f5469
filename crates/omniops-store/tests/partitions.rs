//! PostgreSQL: raw sessions are partitioned by week of their start (migration 0018). An
//! existing database is converted with its rows; retention drops whole weeks; a session id
//! stays unique across weeks, also when two instances create it at once.

use omniops_core::clock::Micros;
use omniops_store::Store;
use omniops_testkit::{events, t};
use sqlx::{Connection, Executor};

async fn scalar(url: &str, query: &str) -> i64 {
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    c.execute("SET search_path = omniops").await.expect("path");
    sqlx::query_scalar(query)
        .fetch_one(&mut c)
        .await
        .expect(query)
}

async fn texts(url: &str, query: &str) -> Vec<String> {
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    c.execute("SET search_path = omniops").await.expect("path");
    sqlx::query_scalar(query)
        .fetch_all(&mut c)
        .await
        .expect(query)
}

/// The partitions of `chat_telemetry` and the sessions each holds.
async fn layout(url: &str) -> Vec<String> {
    texts(
        url,
        "SELECT c.relname || ':' || (SELECT COUNT(*) FROM chat_telemetry t WHERE t.tableoid = c.oid) \
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'chat_telemetry'::regclass ORDER BY c.relname",
    )
    .await
}

/// An installation at migration 0017, as earlier versions left it, with raw rows: two
/// ended sessions in the week of 2026-10-05, one in that of 2026-10-12, one still live
/// in that of 2026-10-19.
async fn unpartitioned(url: &str) {
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("url");
    let pool = sqlx::PgPool::connect_with(options.options([("search_path", "omniops")]))
        .await
        .expect("connect");
    pool.execute("CREATE SCHEMA omniops").await.expect("schema");
    let mut migrator = sqlx::migrate!("./migrations/postgres");
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= 17)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    migrator.run(&pool).await.expect("migrations up to 0017");
    let row = |id: &str, start: &str, ended: bool| {
        let start = t(start);
        let end = if ended {
            (start + 2_000_000).to_string()
        } else {
            "NULL".into()
        };
        format!(
            "('{id}-row', '{id}', 'gpt-4', 'shop.example', {start}, {end}, 1000, 0, 30000000, {start}, {start})"
        )
    };
    let values = [
        row("a1", "2026-10-05T00:00:00Z", true),
        row("a2", "2026-10-11T23:59:59Z", true),
        row("b1", "2026-10-12T09:00:00Z", true),
        row("c1", "2026-10-20T09:00:00Z", false),
    ]
    .join(", ");
    pool.execute(
        format!(
            "INSERT INTO chat_telemetry (id, session_id, model, domain, start_time, end_time, \
             input_tokens, output_tokens, cost_nanos, last_event_at, created_at) VALUES {values}"
        )
        .as_str(),
    )
    .await
    .expect("rows");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_database_is_partitioned_and_retention_drops_whole_weeks() {
    let Some((url, admin, name)) = omniops_testkit::fresh_postgres_database().await else {
        return;
    };
    unpartitioned(&url).await;
    let store = Store::open_postgres(&url).await.expect("upgrade");
    assert_eq!(
        layout(&url).await,
        [
            "chat_telemetry_default:0",
            "chat_telemetry_w20261005:2",
            "chat_telemetry_w20261012:1",
            "chat_telemetry_w20261019:1",
        ]
    );
    assert_eq!(
        scalar(&url, "SELECT COUNT(*) FROM chat_telemetry_keys").await,
        4
    );
    let a1 = store.session("a1").await.expect("read").expect("a1 kept");
    assert_eq!(a1.cost_nanos, Some(30_000_000));

    // A session of a week without a partition lands in the default partition; once the
    // week is prepared, the next one lands in its own.
    let now = t("2026-12-01T12:30:00Z");
    let backfill = |id: &str, start: &str| {
        format!(
            r#"{{"type":"session","session_id":"{id}","model":"gpt-4","domain":"shop.example","start_time":"{start}","duration_ms":2000,"success":true,"input_tokens":1000,"output_tokens":0}}"#
        )
    };
    let batch = events(now, &[backfill("d1", "2026-11-25T10:00:00Z")]);
    store.apply_batch(&[batch], now).await.expect("batch");
    let created = store
        .prepare_partitions(t("2026-11-25T00:00:00Z"), now)
        .await
        .expect("prepare");
    // The week of 2026-11-23 holds d1 in the default partition, so only 2026-11-30's is made.
    assert_eq!(created, 1);
    let batch = events(
        now,
        &[
            backfill("e1", "2026-11-30T10:00:00Z"),
            // Already stored (week of 2026-10-05): a repeat stores nothing.
            backfill("a1", "2026-11-30T10:00:00Z"),
        ],
    );
    store.apply_batch(&[batch], now).await.expect("batch");
    assert_eq!(
        layout(&url).await,
        [
            "chat_telemetry_default:1",
            "chat_telemetry_w20261005:2",
            "chat_telemetry_w20261012:1",
            "chat_telemetry_w20261019:1",
            "chat_telemetry_w20261130:1",
        ]
    );

    // The live session of 2026-10-20 ends through an update of its row.
    let end = events(
        now,
        &[r#"{"type":"session.end","session_id":"c1","success":true}"#.to_string()],
    );
    store.apply_batch(&[end], now).await.expect("end");
    let c1 = store.session("c1").await.expect("read").expect("c1");
    assert_eq!(c1.success, Some(true));

    // Cutoff inside the week of 2026-10-12: the week before is dropped whole (2 sessions),
    // the cutoff's week stays although b1 started before the cutoff, and the default
    // partition's older rows are deleted one by one (none here: d1 is newer).
    let cutoff = t("2026-10-14T00:00:00Z");
    assert_eq!(
        store
            .delete_sessions_before(cutoff)
            .await
            .expect("retention"),
        2
    );
    assert_eq!(
        layout(&url).await,
        [
            "chat_telemetry_default:1",
            "chat_telemetry_w20261012:1",
            "chat_telemetry_w20261019:1",
            "chat_telemetry_w20261130:1",
        ]
    );
    assert!(store.session("a1").await.expect("read").is_none());
    assert_eq!(
        scalar(&url, "SELECT COUNT(*) FROM chat_telemetry_keys").await,
        4
    );
    // Its key went with it: the id can be used again.
    let batch = events(now, &[backfill("a1", "2026-11-30T11:00:00Z")]);
    store.apply_batch(&[batch], now).await.expect("batch");
    assert!(store.session("a1").await.expect("read").is_some());

    // A week holding a live session is kept until the session ends.
    let live = events(
        now,
        &[r#"{"type":"session.start","session_id":"f1","model":"gpt-4","domain":"shop.example","timestamp":"2026-11-30T12:00:00Z"}"#.to_string()],
    );
    store.apply_batch(&[live], now).await.expect("live");
    let later: Micros = t("2027-01-01T00:00:00Z");
    assert_eq!(
        store
            .delete_sessions_before(later)
            .await
            .expect("retention"),
        3,
        "b1, c1 and d1 (from the default partition); not e1 and a1, in live f1's week"
    );
    assert_eq!(
        layout(&url).await,
        ["chat_telemetry_default:0", "chat_telemetry_w20261130:3"]
    );
    store.close().await;
    omniops_testkit::drop_database(&admin, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_created_by_two_instances_at_once_is_stored_once() {
    let Some((url, admin, name)) = omniops_testkit::fresh_postgres_database().await else {
        return;
    };
    let store = Store::open_postgres(&url).await.expect("open");
    let now = t("2026-11-26T12:30:00Z");
    // Another instance is creating session s1 and has not committed yet.
    let mut other = sqlx::PgConnection::connect(&url).await.expect("connect");
    other
        .execute("SET search_path = omniops")
        .await
        .expect("path");
    let mut tx = other.begin().await.expect("begin");
    tx.execute(
        "INSERT INTO chat_telemetry_keys VALUES ('s1'); \
         INSERT INTO chat_telemetry (id, session_id, model, domain, start_time, last_event_at, created_at) \
         VALUES ('other-row', 's1', 'gpt-4', 'shop.example', 1795687200000000, 1795687200000000, 1795687200000000)",
    )
    .await
    .expect("other instance's insert");
    // This instance plans s1 as new, waits on the other's key, then plans again and finds it.
    let start = events(
        now,
        &[r#"{"type":"session.start","session_id":"s1","model":"gpt-4","domain":"shop.example","timestamp":"2026-11-26T12:00:00Z"}"#.to_string(),
          r#"{"type":"session.end","session_id":"s1","success":true}"#.to_string()],
    );
    let writer = tokio::spawn(async move {
        let outcome = store.apply_batch(&[start], now).await;
        (store, outcome)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    tx.commit().await.expect("commit");
    let (store, outcome) = writer.await.expect("writer");
    outcome.expect("batch");
    assert_eq!(
        scalar(
            &url,
            "SELECT COUNT(*) FROM chat_telemetry WHERE session_id = 's1'"
        )
        .await,
        1
    );
    let s1 = store.session("s1").await.expect("read").expect("s1");
    assert_eq!((s1.id.as_str(), s1.success), ("other-row", Some(true)));
    store.close().await;
    omniops_testkit::drop_database(&admin, &name).await;
}
