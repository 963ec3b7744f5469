//! `omniops migrate`: a SQLite installation with demo data moved to PostgreSQL with every
//! table and total equal, and from there back to SQLite.

use crate::common::{t, TestApp, NOW};
use omniops_server::commands;
use omniops_server::Settings;
use omniops_store::migrate::Migration;

fn sqlite_at(dir: &std::path::Path) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        ..Settings::default()
    }
}

fn postgres_at(url: &str) -> Settings {
    Settings {
        database_url: Some(omniops_server::settings::Secret::new(url)),
        ..Settings::default()
    }
}

/// A demo installation: 30 days of history, content, shop data, an alert and a key.
async fn demo_installation(dir: &std::path::Path) {
    let db = omniops_testkit::TestDb::sqlite_in(dir).await;
    let settings = Settings {
        demo: true,
        ..Settings::default()
    };
    let app = TestApp::boot(db, settings).await;
    for _ in 0..300 {
        let (_, r) = app.get_json("/api/dashboard/telemetry?days=30", None).await;
        if r["overview"]["totalRequests"].as_i64().unwrap_or(0) > 4_000 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, _) = app
        .monitoring(
            serde_json::json!({"action": "set-alert", "domain": "autoparts.example",
            "alert_type": "monthly", "threshold_usd": "0.01", "notify_at": [50, 100]}),
        )
        .await;
    assert_eq!(status, 200);
    // It fires at once: the month's spend is past it.
    for _ in 0..300 {
        let (_, r) = app
            .monitoring(
                serde_json::json!({"action": "check-alerts", "domain": "autoparts.example"}),
            )
            .await;
        if !r["history"].as_array().is_none_or(Vec::is_empty) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.db
        .store
        .create_key(omniops_store::Scope::Admin, None, Some("ops"), t(NOW))
        .await
        .expect("key");
    app.db.store.close().await;
}

fn check(report: &Migration, sessions_at_least: i64) {
    let count = |table: &str| {
        report
            .tables
            .iter()
            .find(|c| c.table == table)
            .unwrap_or_else(|| panic!("no {table} in {report:?}"))
            .clone()
    };
    assert!(
        count("chat_telemetry").target >= sessions_at_least,
        "{report:?}"
    );
    for table in [
        "rollup_hourly",
        "messages",
        "structured_extractions",
        "api_keys",
        "model_prices",
        "cost_alerts",
        "alert_events",
    ] {
        assert!(count(table).target > 0, "{table}: {report:?}");
    }
    assert!(report.verified(), "{report:?}");
    assert_eq!(
        report.windows.iter().map(|w| w.days).collect::<Vec<_>>(),
        [1, 7, 30, 365]
    );
    assert!(
        report.windows[2].requests >= sessions_at_least,
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_data_moves_to_postgres_and_back() {
    let Some((url, admin, name)) = omniops_testkit::fresh_postgres_database().await else {
        return;
    };
    let source = tempfile::tempdir().expect("dir");
    demo_installation(source.path()).await;
    let quiet = &mut |_: &str, _: i64| {};

    // Not while a server holds the SQLite source.
    let held = omniops_store::DataDirLock::acquire(source.path())
        .expect("lock")
        .expect("free");
    let refused = commands::migrate(&sqlite_at(source.path()), &postgres_at(&url), t(NOW), quiet)
        .await
        .expect_err("a server holds it");
    assert!(
        refused.to_string().contains("a server is using"),
        "{refused:#}"
    );
    drop(held);

    let there = commands::migrate(&sqlite_at(source.path()), &postgres_at(&url), t(NOW), quiet)
        .await
        .expect("to PostgreSQL");
    check(&there, 4_000);
    // Into a target that holds sessions: refused.
    let again = commands::migrate(&sqlite_at(source.path()), &postgres_at(&url), t(NOW), quiet)
        .await
        .expect_err("not empty");
    assert!(
        again.to_string().contains("already holds sessions"),
        "{again:#}"
    );

    let back = tempfile::tempdir().expect("dir");
    let returned = commands::migrate(&postgres_at(&url), &sqlite_at(back.path()), t(NOW), quiet)
        .await
        .expect("back to SQLite");
    check(&returned, 4_000);
    assert_eq!(there.windows, returned.windows);
    omniops_testkit::drop_database(&admin, &name).await;
}
