//! `serve --demo`: an empty database gets 30 days of history with everything the dashboard
//! shows, and live sessions keep coming.

use crate::common::TestApp;
use omniops_server::Settings;
use omniops_testkit::{Engine, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_fills_an_empty_database() {
    let db = TestDb::open(Engine::Sqlite).await.expect("sqlite");
    let settings = Settings {
        demo: true,
        ..Settings::default()
    };
    let app = TestApp::boot(db, settings).await;
    let mut telemetry = serde_json::Value::Null;
    for _ in 0..300 {
        let (_, r) = app.get_json("/api/dashboard/telemetry?days=30", None).await;
        if r["overview"]["totalRequests"].as_i64().unwrap_or(0) > 4_000 {
            telemetry = r;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(telemetry.is_object(), "the demo history did not arrive");
    assert_eq!(
        telemetry["domainBreakdown"].as_array().map(Vec::len),
        Some(4)
    );
    assert!(
        telemetry["overview"]["unpricedRequests"]
            .as_i64()
            .unwrap_or(0)
            > 0
    );
    assert_eq!(telemetry["modelUsage"].as_array().map(Vec::len), Some(5));

    let (_, analytics) = app.get_json("/api/dashboard/analytics?days=30", None).await;
    let languages: Vec<&str> = analytics["languageDistribution"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["language"].as_str())
        .collect();
    for language in ["English", "Spanish", "French", "German", "Other"] {
        assert!(languages.contains(&language), "{languages:?}");
    }
    assert!(!analytics["failedSearches"]
        .as_array()
        .is_none_or(Vec::is_empty));

    let (_, missing) = app
        .get_json("/api/dashboard/missing-products?days=30", None)
        .await;
    let names: Vec<&str> = missing["missingProducts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    // Torque wrenches are in every demo catalogue; hedge trimmers in none.
    assert!(
        names.contains(&"hedge trimmer") && !names.contains(&"torque wrench"),
        "{names:?}"
    );

    let (_, shop) = app
        .get_json("/api/dashboard/woocommerce?days=30", None)
        .await;
    assert!(shop["totalOrders"].as_i64().unwrap_or(0) > 0, "{shop}");
    let (_, scraped) = app.get_json("/api/dashboard/scraped", None).await;
    assert_eq!(scraped["totalPages"], 160);

    // Live sessions start every 2.5 s.
    let mut live = 0;
    for _ in 0..100 {
        let (_, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
        live = r["live"]["activeSessions"].as_i64().unwrap_or(0);
        if live > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(live > 0, "no live demo session appeared");
}
