//! Prices on both engines: a new release of the shipped defaults, and repricing that keeps
//! every rollup the exact sum of its sessions, with hand-computed costs.

use omniops_core::clock::{Micros, MICROS_PER_DAY};
use omniops_core::pricing::{default_prices, Origin, PriceEntry, Rates, Tier};
use omniops_core::usage::ServiceTier;
use omniops_core::window::Window;
use omniops_testkit::{events, on_both_engines, t, TestDb};
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A finished session of `input` and `output` tokens sent as totals.
fn totals(id: &str, model: &str, start: &str, input: i64, output: i64) -> String {
    format!(
        r#"{{"type":"session","session_id":"{id}","model":"{model}","domain":"a.example","start_time":"{start}","duration_ms":1000,"success":true,"input_tokens":{input},"output_tokens":{output}}}"#
    )
}

fn entry(model: &str) -> PriceEntry {
    default_prices()
        .into_iter()
        .find(|e| e.model == model)
        .unwrap_or_else(|| panic!("{model} is shipped"))
}

async fn cost(db: &TestDb, id: &str) -> Option<i64> {
    db.store
        .session(id)
        .await
        .expect("query")
        .expect("stored")
        .cost_nanos
}

/// Rollups and raw rows agree on every window up to a month.
async fn rollups_match_sessions(db: &TestDb, now: Micros) {
    for days in [1, 7, 30] {
        let window = Window::last_days(days, now).expect("window");
        let rolled = db
            .store
            .window_sums(&window, None)
            .await
            .expect("rollups")
            .totals;
        let raw = db
            .store
            .naive_window_sums(&window, None)
            .await
            .expect("raw")
            .totals;
        assert_eq!(
            (rolled.cost_nanos, rolled.unpriced),
            (raw.cost_nanos, raw.unpriced),
            "{days} days"
        );
    }
}

async fn a_new_release_of_default_prices_reaches_the_installation(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    let raw_since = now - 30 * MICROS_PER_DAY;
    // The user's own gpt-4 price from 2026-11-01: $1 in, $1 out per million.
    let mut mine = entry("gpt-4");
    mine.input = Decimal::ONE;
    mine.output = Decimal::ONE;
    mine.effective_from = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
    mine.origin = Origin::User;
    let job = db
        .store
        .put_price(&mine, raw_since, now)
        .await
        .expect("put");
    // Nothing is stored yet: there is no history to reprice.
    assert!(job.is_none());
    // 1,000,000 in and 100,000 out each.
    let lines = vec![
        totals("g4", "gpt-4", "2026-11-20T10:00:00Z", 1_000_000, 100_000),
        totals(
            "g4-old",
            "gpt-4",
            "2026-10-20T10:00:00Z",
            1_000_000,
            100_000,
        ),
        totals("o", "gpt-4o", "2026-11-20T10:00:00Z", 1_000_000, 100_000),
        totals(
            "n",
            "newmodel-x",
            "2026-11-20T10:00:00Z",
            1_000_000,
            100_000,
        ),
        totals(
            "m",
            "gpt-4o-mini",
            "2026-11-20T10:00:00Z",
            1_000_000,
            100_000,
        ),
    ];
    db.store
        .apply_batch(&[events(now, &lines)], now)
        .await
        .expect("batch");
    assert_eq!(cost(db, "g4").await, Some(1_100_000_000)); // 1 + 0.1, the user's price
    assert_eq!(cost(db, "g4-old").await, Some(36_000_000_000)); // before it: 30 + 6
    assert_eq!(cost(db, "o").await, Some(3_500_000_000)); // 2.50 + 1.00
    assert_eq!(cost(db, "n").await, None);

    // The next release: gpt-4 cheaper (the user's model: left alone), gpt-4o dearer, a new
    // model, gpt-4o-mini as it was.
    let mut release = default_prices();
    for e in release.iter_mut() {
        match e.model.as_str() {
            "gpt-4" => e.input = Decimal::from(15),
            "gpt-4o" => e.input = Decimal::from(5),
            _ => {}
        }
    }
    let mut new = entry("gpt-4o-mini");
    new.model = "newmodel-x".into();
    new.input = Decimal::TWO;
    new.output = Decimal::from(4);
    release.push(new);
    db.store
        .sync_defaults(&release, "release-2", now)
        .await
        .expect("sync");
    assert_eq!(
        db.store.pending_reprice().await.expect("pending"),
        Some(vec!["gpt-4o".to_string(), "newmodel-x".to_string()])
    );
    let job = db
        .store
        .queue_pending_reprice(raw_since, now)
        .await
        .expect("queue");
    let report = omniops_testkit::reprice_to_end(&db.store, job).await;
    assert_eq!(report.sessions_changed, 2);
    assert_eq!(cost(db, "o").await, Some(6_000_000_000)); // 5 + 1
    assert_eq!(cost(db, "n").await, Some(2_400_000_000)); // 2 + 0.4
    assert_eq!(cost(db, "g4").await, Some(1_100_000_000));
    assert_eq!(
        cost(db, "g4-old").await,
        Some(36_000_000_000),
        "the user's model keeps its defaults"
    );
    let table = db.store.price_table().await;
    let before_mine = table
        .lookup("gpt-4", t("2026-10-20T10:00:00Z"))
        .map(|e| e.input);
    assert_eq!(
        before_mine,
        Some(Decimal::from(30)),
        "the release's $15 did not reach it"
    );
    assert_eq!(db.store.pending_reprice().await.expect("pending"), None);
    rollups_match_sessions(db, now).await;
    let week = Window::last_days(7, now).expect("window");
    let c = db
        .store
        .window_sums(&week, None)
        .await
        .expect("sums")
        .totals;
    // 1.10 + 6.00 + 2.40 + 0.21
    assert_eq!((c.cost_nanos, c.unpriced), (9_710_000_000, 0));
    // The same release again changes nothing.
    db.store
        .sync_defaults(&release, "release-2", now)
        .await
        .expect("sync");
    assert_eq!(db.store.pending_reprice().await.expect("pending"), None);
}
on_both_engines!(
    new_release,
    a_new_release_of_default_prices_reaches_the_installation
);

async fn repricing_keeps_rollups_the_sum_of_their_calls(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    let call = |id: &str, input: i64, output: i64| {
        format!(
            r#"{{"type":"usage","session_id":"{id}","input_tokens":{input},"output_tokens":{output},"timestamp":"2026-11-26T10:00:01Z"}}"#
        )
    };
    let lines = vec![
        r#"{"type":"session.start","session_id":"s1","model":"gemini-2.5-pro","domain":"a.example","timestamp":"2026-11-26T10:00:00Z"}"#.to_string(),
        call("s1", 250_000, 1_000),
        call("s1", 100_000, 1_000),
        r#"{"type":"session.end","session_id":"s1","success":true,"timestamp":"2026-11-26T10:00:05Z"}"#.to_string(),
        r#"{"type":"session.start","session_id":"live","model":"gemini-2.5-pro","domain":"a.example","timestamp":"2026-11-26T12:00:00Z"}"#.to_string(),
        call("live", 150_000, 0),
        totals("b1", "gemini-2.5-pro", "2026-11-22T10:00:00Z", 350_000, 2_000),
    ];
    db.store
        .apply_batch(&[events(now, &lines)], now)
        .await
        .expect("batch");
    // Shipped: $0.640 + $0.135 for s1's calls; b1 as totals at the base rates,
    // 350,000 × 1.25 + 2,000 × 10 = $0.4575.
    assert_eq!(cost(db, "s1").await, Some(775_000_000));
    assert_eq!(cost(db, "b1").await, Some(457_500_000));
    rollups_match_sessions(db, now).await;

    // A user's price with its own tier: $2 / $20, above 100k input tokens $4 / $30, and
    // batch calls at half.
    let mut mine = entry("gemini-2.5-pro");
    mine.input = Decimal::TWO;
    mine.output = Decimal::from(20);
    mine.cached_input = None;
    mine.tiers = vec![
        Tier {
            above_input_tokens: Some(100_000),
            service_tier: ServiceTier::Default,
            rates: Rates {
                input: Some(Decimal::from(4)),
                output: Some(Decimal::from(30)),
                ..Rates::default()
            },
        },
        Tier {
            above_input_tokens: None,
            service_tier: ServiceTier::Batch,
            rates: Rates {
                input: Some(Decimal::ONE),
                output: Some(Decimal::TEN),
                ..Rates::default()
            },
        },
    ];
    mine.effective_from = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
    let report = db
        .store
        .put_price(&mine, now - 30 * MICROS_PER_DAY, now)
        .await
        .expect("put");
    let report = omniops_testkit::reprice_to_end(&db.store, report).await;
    assert_eq!(report.sessions_changed, 3);
    // s1: 250,000 × 4 + 1,000 × 30 = $1.03 (above 100k); 100,000 is not above it:
    // 100,000 × 2 + 1,000 × 20 = $0.22; the session $1.25.
    assert_eq!(cost(db, "s1").await, Some(1_250_000_000));
    // The live session's one call: 150,000 × 4 = $0.60.
    assert_eq!(cost(db, "live").await, Some(600_000_000));
    // b1 stays at the base rates: 350,000 × 2 + 2,000 × 20 = $0.74.
    assert_eq!(cost(db, "b1").await, Some(740_000_000));
    rollups_match_sessions(db, now).await;
    let month = Window::last_days(30, now).expect("window");
    let c = db
        .store
        .window_sums(&month, None)
        .await
        .expect("sums")
        .totals;
    assert_eq!((c.requests, c.cost_nanos), (2, 1_990_000_000));
}
/// The issue's price change, small: a model's history repriced in several steps while
/// batches go on between them, then resumed by another store (a restart). Every step
/// leaves the rollups the exact sum of their sessions; no session is repriced twice.
async fn repricing_runs_in_steps_and_resumes(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    let raw_since = now - 30 * MICROS_PER_DAY;
    // 2,500 gpt-4o sessions of 1,000 input and 100 output tokens over the last ten days:
    // three steps or more at REPRICE_SLICE (500). Each costs $0.014 at the new price.
    seed_gpt_4o(db, now, 2_500).await;
    let mine = flat_gpt_4o();
    let job = db
        .store
        .put_price(&mine, raw_since, now)
        .await
        .expect("put")
        .expect("a job");
    assert_eq!(job.sessions_total, 2_500);
    assert_eq!(job.sessions_seen, 0);

    let step = db
        .store
        .reprice_step(&job.id, now)
        .await
        .expect("step")
        .expect("job");
    assert_eq!(step.sessions_seen, omniops_store::REPRICE_SLICE);
    assert_eq!(step.phase, omniops_store::RepricePhase::Sessions);
    rollups_match_sessions(db, now).await;
    assert_eq!(cost(db, "s0000").await, Some(14_000_000));
    // A batch between two steps is not held up, and prices with the new table. Stored
    // two minutes after the change, the job does not read it again.
    let late = totals("late", "gpt-4o", "2026-11-26T12:00:00Z", 1_000, 100);
    let later = now + 120_000_000;
    db.store
        .apply_batch(&[events(later, &[late])], later)
        .await
        .expect("batch during repricing");
    assert_eq!(cost(db, "late").await, Some(14_000_000));
    db.store
        .reprice_step(&job.id, now)
        .await
        .expect("step")
        .expect("job");
    rollups_match_sessions(db, now).await;

    // A restart: another store on the same database resumes at the committed cursor.
    let again = omniops_store::Store::open(db.database_url.as_deref(), &db.data_dir)
        .await
        .expect("reopen");
    assert_eq!(
        again.open_reprice_jobs().await.expect("open"),
        vec![job.id.clone()]
    );
    let done = again.run_reprice_jobs(now).await.expect("resume");
    again.close().await;
    assert_eq!(done.len(), 1);
    // Every session stored before the change read once; not the late one.
    assert_eq!(done[0].sessions_seen, 2_500);
    assert_eq!(done[0].sessions_changed, 2_500);
    assert_eq!(done[0].phase, omniops_store::RepricePhase::Done);
    assert_eq!(cost(db, "s2499").await, Some(14_000_000));
    rollups_match_sessions(db, now).await;
    let month = Window::last_days(30, now).expect("window");
    let sums = db.store.window_sums(&month, None).await.expect("sums");
    // 2,501 sessions × $0.014.
    assert_eq!(sums.totals.cost_nanos, 2_501 * 14_000_000);
}

on_both_engines!(repricing_steps, repricing_runs_in_steps_and_resumes);

/// A job's total is counted from the rollups and the live sessions, not the raw rows: the
/// ended sessions from the first hour it reads (kept raw since 12:00, a partial day) and
/// the whole days after, and the live ones; not those before, nor another model's. It
/// is what the job then reads.
async fn repricing_counts_what_it_will_read(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    let raw_since = t("2026-11-06T12:30:00Z");
    let start = |id: &str, at: &str| {
        format!(
            r#"{{"type":"session.start","session_id":"{id}","model":"gpt-4o","domain":"a.example","timestamp":"{at}"}}"#
        )
    };
    let lines = [
        totals("before", "gpt-4o", "2026-11-06T11:00:00Z", 1_000, 100),
        totals("first-hour", "gpt-4o", "2026-11-06T12:10:00Z", 1_000, 100),
        totals("same-day", "gpt-4o", "2026-11-06T23:50:00Z", 1_000, 100),
        totals("later", "gpt-4o", "2026-11-20T09:00:00Z", 1_000, 100),
        totals("other", "gpt-4o-mini", "2026-11-20T09:00:00Z", 1_000, 100),
        start("live", "2026-11-25T10:00:00Z"),
        start("live-before", "2026-11-06T11:30:00Z"),
    ];
    db.store
        .apply_batch(&[events(now, &lines)], now)
        .await
        .expect("batch");
    let job = db
        .store
        .put_price(&flat_gpt_4o(), raw_since, now)
        .await
        .expect("put")
        .expect("a job");
    assert_eq!(job.sessions_total, 4);
    let done = db.store.run_reprice_jobs(now).await.expect("run");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].sessions_seen, 4);
}

on_both_engines!(repricing_count, repricing_counts_what_it_will_read);

on_both_engines!(
    reprice_calls,
    repricing_keeps_rollups_the_sum_of_their_calls
);

/// gpt-4o at $10 in and $40 out per million from 2026-11-01, no tiers: a call of 1,000
/// input and 100 output tokens costs $0.014.
fn flat_gpt_4o() -> PriceEntry {
    let mut mine = entry("gpt-4o");
    mine.input = Decimal::from(10);
    mine.output = Decimal::from(40);
    mine.tiers.clear();
    mine.effective_from = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
    mine
}

/// `n` finished gpt-4o sessions of 1,000 input and 100 output tokens, five minutes apart
/// from ten days before `now`.
async fn seed_gpt_4o(db: &TestDb, now: Micros, n: usize) {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let at = now - 10 * MICROS_PER_DAY + i as i64 * 300_000_000;
            let start = omniops_core::clock::to_rfc3339(at);
            totals(&format!("s{i:04}"), "gpt-4o", &start, 1_000, 100)
        })
        .collect();
    for chunk in lines.chunks(500) {
        db.store
            .apply_batch(&[events(now, chunk)], now)
            .await
            .expect("batch");
    }
}

/// PostgreSQL: a repricing step locks the sessions it reprices, not the writer, so a batch
/// never waits for a step (issue 15: a step that took 160 ms held every batch as long).
/// Here another connection holds the job's row, so the step waits inside its transaction;
/// the batch must commit meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_batch_does_not_wait_for_a_repricing_step() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let now = t("2026-11-26T12:30:00Z");
    seed_gpt_4o(&db, now, 600).await;
    let job = db
        .store
        .put_price(&flat_gpt_4o(), now - 30 * MICROS_PER_DAY, now)
        .await
        .expect("put")
        .expect("a job");
    let url = db.raw_postgres_url().expect("PostgreSQL");
    let mut held = hold_postgres(
        &url,
        &format!(
            "SELECT id FROM reprice_jobs WHERE id = '{}' FOR UPDATE",
            job.id
        ),
    )
    .await;
    let step = tokio::spawn({
        let (store, id) = (db.store.clone(), job.id.clone());
        async move { store.reprice_step(&id, now).await }
    });
    // Until the step waits for the job's row, inside its transaction.
    assert_eq!(
        lock_waiters(&url).await,
        1,
        "the step waits for the job's row"
    );

    let late = totals("late", "gpt-4o", "2026-11-26T12:00:00Z", 1_000, 100);
    let batch = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        db.store.apply_batch(&[events(now, &[late])], now),
    )
    .await;
    release_postgres(&mut held).await;
    assert!(
        matches!(batch, Ok(Ok(_))),
        "the batch waited for the repricing step"
    );
    step.await.expect("task").expect("step").expect("job");
    let done = db.store.run_reprice_jobs(now).await.expect("repricing");
    assert_eq!(done.len(), 1);
    assert_eq!(cost(&db, "late").await, Some(14_000_000));
    rollups_match_sessions(&db, now).await;
    let month = Window::last_days(30, now).expect("window");
    let sums = db.store.window_sums(&month, None).await.expect("sums");
    assert_eq!(sums.totals.cost_nanos, 601 * 14_000_000);
}

/// PostgreSQL: a step locks only the sessions the new table changes. One stored after the
/// change is priced with it already, and the job reads it (a job's end reads only such
/// sessions): held by another transaction, as by a batch writing it, it does not stop the
/// job. Locking every session read made the job's last steps wait for such batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_step_leaves_the_sessions_it_does_not_change_unlocked() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let now = t("2026-11-26T12:30:00Z");
    seed_gpt_4o(&db, now, 10).await;
    db.store
        .put_price(&flat_gpt_4o(), now - 30 * MICROS_PER_DAY, now)
        .await
        .expect("put")
        .expect("a job");
    let late = totals("late", "gpt-4o", "2026-11-26T12:00:00Z", 1_000, 100);
    db.store
        .apply_batch(&[events(now, &[late])], now)
        .await
        .expect("batch");
    assert_eq!(cost(&db, "late").await, Some(14_000_000));
    let url = db.raw_postgres_url().expect("PostgreSQL");
    let mut held = hold_postgres(
        &url,
        "SELECT id FROM chat_telemetry WHERE session_id = 'late' FOR UPDATE",
    )
    .await;
    let done = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        db.store.run_reprice_jobs(now),
    )
    .await;
    release_postgres(&mut held).await;
    let done = done
        .expect("the job waited for a session it does not change")
        .expect("repricing");
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].sessions_seen, done[0].sessions_changed), (11, 10));
    rollups_match_sessions(&db, now).await;
    let month = Window::last_days(30, now).expect("window");
    let sums = db.store.window_sums(&month, None).await.expect("sums");
    assert_eq!(sums.totals.cost_nanos, 11 * 14_000_000);
}

/// Statements of the PostgreSQL database at `url` waiting for a lock, once there are any
/// (0 after ten seconds without).
async fn lock_waiters(url: &str) -> i64 {
    use sqlx::Connection;
    let mut watcher = sqlx::PgConnection::connect(url).await.expect("connect");
    let mut waiting = 0;
    for _ in 0..500 {
        waiting = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .expect("activity");
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    waiting
}

/// A connection to the PostgreSQL database at `url` in a transaction that ran `lock` (a
/// row or table lock), held until [`release_postgres`].
async fn hold_postgres(url: &str, lock: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::raw_sql(&format!("BEGIN; {lock}"))
        .execute(&mut conn)
        .await
        .expect("take the lock");
    conn
}

async fn release_postgres(conn: &mut sqlx::PgConnection) {
    sqlx::raw_sql("ROLLBACK")
        .execute(conn)
        .await
        .expect("release the lock");
}

/// Usage added to live sessions while their model's history is repriced: on PostgreSQL
/// the two run at once, so each must see the other's writes (row locks, in one order).
/// The live sessions are spread over the history, so that every slice holds some. No call
/// is lost and every call costs the new price.
async fn repricing_beside_live_usage_loses_no_call(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    seed_gpt_4o(db, now, 1_500).await;
    let call = |i: usize, n: usize| {
        format!(
            r#"{{"type":"usage","session_id":"live{i:03}","event_id":"u{n}","input_tokens":1000,"output_tokens":100}}"#
        )
    };
    // 100 live sessions, 2.4 hours apart, with one call each at the old price.
    let starts: Vec<String> = (0..100)
        .flat_map(|i| {
            let at = now - 10 * MICROS_PER_DAY + i as i64 * 8_640_000_000;
            let at = omniops_core::clock::to_rfc3339(at);
            [
                format!(
                    r#"{{"type":"session.start","session_id":"live{i:03}","model":"gpt-4o","domain":"a.example","timestamp":"{at}"}}"#
                ),
                call(i, 0),
            ]
        })
        .collect();
    db.store
        .apply_batch(&[events(now, &starts)], now)
        .await
        .expect("starts");
    let job = db
        .store
        .put_price(&flat_gpt_4o(), now - 30 * MICROS_PER_DAY, now)
        .await
        .expect("put")
        .expect("a job");
    let done = Arc::new(AtomicBool::new(false));
    let repricing = tokio::spawn({
        let (store, done) = (db.store.clone(), done.clone());
        async move {
            let jobs = store.run_reprice_jobs(now).await;
            done.store(true, Ordering::Relaxed);
            jobs
        }
    });
    // Rounds of one more call per session, in batches of 10 sessions from two tasks at
    // once, until the repricing is done (at least one round).
    let mut rounds = 0;
    while rounds == 0 || !done.load(Ordering::Relaxed) {
        rounds += 1;
        let mut tasks = Vec::new();
        for half in 0..2 {
            let store = db.store.clone();
            tasks.push(tokio::spawn(async move {
                for group in (half * 50..half * 50 + 50).step_by(10) {
                    let lines: Vec<String> = (group..group + 10).map(|i| call(i, rounds)).collect();
                    store
                        .apply_batch(&[events(now, &lines)], now)
                        .await
                        .expect("usage");
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
    }
    let finished = repricing.await.expect("task").expect("repricing");
    assert_eq!(finished.first().map(|j| j.id.clone()), Some(job.id));
    let ends: Vec<String> = (0..100)
        .map(|i| format!(r#"{{"type":"session.end","session_id":"live{i:03}","success":true}}"#))
        .collect();
    db.store
        .apply_batch(&[events(now, &ends)], now)
        .await
        .expect("ends");
    let calls = 1 + rounds as i64;
    for i in 0..100 {
        // Every call at $0.014.
        let id = format!("live{i:03}");
        assert_eq!(cost(db, &id).await, Some(calls * 14_000_000), "{id}");
    }
    rollups_match_sessions(db, now).await;
    let month = Window::last_days(30, now).expect("window");
    let sums = db.store.window_sums(&month, None).await.expect("sums");
    assert_eq!(
        sums.totals.input_tokens,
        1_500 * 1_000 + 100 * calls * 1_000
    );
    assert_eq!(sums.totals.cost_nanos, (1_500 + 100 * calls) * 14_000_000);
}

on_both_engines!(
    reprice_beside_live,
    repricing_beside_live_usage_loses_no_call
);

/// Another writer holding the database: SQLite's one write lock, or PostgreSQL's lock on
/// the price table (reads and ingest go on).
enum Holder {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Holder {
    async fn take(db: &TestDb) -> Holder {
        use sqlx::Connection;
        match db.raw_postgres_url() {
            Some(url) => Holder::Postgres(
                hold_postgres(&url, "LOCK TABLE model_prices IN EXCLUSIVE MODE").await,
            ),
            None => {
                let path = db.data_dir.join("omniops.db");
                let mut conn =
                    sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
                        .await
                        .expect("connect");
                sqlx::raw_sql("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .expect("take the write lock");
                Holder::Sqlite(conn)
            }
        }
    }

    /// Until a statement of the store waits for this holder (PostgreSQL shows it; SQLite
    /// waits in its busy handler, unseen: a pause).
    async fn until_waited_for(&self, db: &TestDb) {
        match db.raw_postgres_url() {
            Some(url) => assert!(lock_waiters(&url).await > 0, "nothing waited for the lock"),
            None => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
        }
    }

    async fn release(self) {
        let released = match self {
            Holder::Sqlite(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.map(drop)
            }
            Holder::Postgres(mut conn) => {
                release_postgres(&mut conn).await;
                Ok(())
            }
        };
        released.expect("release");
    }
}

/// A price change whose write waits for the database (another writer holds it) leaves the
/// ingest writer free meanwhile. It took the writer first, so batches waited behind the
/// other writer and then the change: at 10M sessions an hourly retention pass held a PUT's
/// write 180 ms, and the ingest request behind it 204 ms (issue 15). On PostgreSQL a batch
/// commits meanwhile; on SQLite, whose batches need the same lock, the writer's state
/// answers. The change then prices the batches after it, and repricing the ones before.
async fn a_price_change_waiting_for_the_database_holds_no_batch(db: &TestDb) {
    let now = t("2026-11-26T12:30:00Z");
    seed_gpt_4o(db, now, 10).await;
    let holder = Holder::take(db).await;
    let change = tokio::spawn({
        let store = db.store.clone();
        async move {
            store
                .put_price(&flat_gpt_4o(), now - 30 * MICROS_PER_DAY, now)
                .await
        }
    });
    holder.until_waited_for(db).await;
    assert!(
        !change.is_finished(),
        "the price change did not wait for the other writer"
    );
    // Shorter than SQLite's busy timeout (10 s), after which the change would give up.
    let wait = std::time::Duration::from_secs(5);
    let writer_free = tokio::time::timeout(wait, db.store.price_table()).await;
    let batch = match db.database_url {
        Some(_) => {
            let late = [events(
                now,
                &[totals("late", "gpt-4o", "2026-11-26T12:00:00Z", 1_000, 100)],
            )];
            Some(tokio::time::timeout(wait, db.store.apply_batch(&late, now)).await)
        }
        None => None,
    };
    holder.release().await;
    assert!(
        writer_free.is_ok(),
        "the price change held the writer while it waited for the database"
    );
    if let Some(batch) = batch {
        assert!(
            matches!(batch, Ok(Ok(_))),
            "the batch waited for the price change"
        );
    }
    let job = change.await.expect("task").expect("put");
    omniops_testkit::reprice_to_end(&db.store, job).await;
    assert_eq!(cost(db, "s0000").await, Some(14_000_000));
    if db.database_url.is_some() {
        assert_eq!(cost(db, "late").await, Some(14_000_000));
    }
    rollups_match_sessions(db, now).await;
}

on_both_engines!(
    price_change_waits_alone,
    a_price_change_waiting_for_the_database_holds_no_batch
);
