use omniops_core::clock::{parse_rfc3339, ManualClock, Micros};
use omniops_server::Settings;
use omniops_testkit::{Engine, TestDb};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const NOW: &str = "2026-11-26T12:30:00Z";

pub fn t(text: &str) -> Micros {
    parse_rfc3339(text).expect("time")
}

/// The real server on `listener` until the returned sender fires or is dropped.
pub fn spawn_server(
    store: omniops_store::Store,
    settings: Settings,
    listener: tokio::net::TcpListener,
    clock: Arc<dyn omniops_core::clock::Clock>,
) -> (oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>) {
    let (shutdown, stop) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let stopped = async {
            let _ = stop.await;
        };
        omniops_server::serve(store, settings, listener, stopped, clock).await
    });
    (shutdown, server)
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub db: TestDb,
    /// Dropping the app drops this sender, which shuts the server down.
    _shutdown: oneshot::Sender<()>,
    _server: JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    /// Boots the real server on `127.0.0.1:0` with the clock at [`NOW`]; `None` when the
    /// engine is unavailable locally (never under CI).
    pub async fn spawn(engine: Engine) -> Option<TestApp> {
        Self::spawn_with(engine, Settings::default()).await
    }

    pub async fn spawn_with(engine: Engine, settings: Settings) -> Option<TestApp> {
        let db = TestDb::open(engine).await?;
        Some(Self::boot(db, settings).await)
    }

    pub async fn boot(db: TestDb, settings: Settings) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let clock = ManualClock::at(t(NOW));
        let (shutdown, server) = spawn_server(
            db.store.clone(),
            settings,
            listener,
            Arc::new(clock.clone()),
        );
        let app = TestApp {
            addr,
            client: reqwest::Client::new(),
            clock,
            db,
            _shutdown: shutdown,
            _server: server,
        };
        app.wait_ready().await;
        app
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.client.get(self.url("/healthz")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("server did not become ready");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn ingest(&self, events: Value) -> (u16, Value) {
        self.ingest_as(events, None).await
    }

    pub async fn ingest_as(&self, events: Value, key: Option<&str>) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.url("/api/v1/ingest"))
            .json(&serde_json::json!({"events": events}));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("ingest request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json answer"))
    }

    /// `POST /api/monitoring/chat` with an action, without a key.
    pub async fn monitoring(&self, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url("/api/monitoring/chat"))
            .json(&body)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json answer"))
    }

    /// The body of a GET that must answer 200, as text (pages, `/metrics`).
    pub async fn get_text(&self, path: &str) -> String {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        response.text().await.expect("text")
    }

    pub async fn get_json(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        let mut request = self.client.get(self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json answer"))
    }

    /// Waits (up to 30 s) until the background repricing has done job `id`, and returns it.
    pub async fn repriced(&self, id: &Value) -> Value {
        for _ in 0..600 {
            let (status, list) = self.get_json("/api/v1/prices/repricing", None).await;
            assert_eq!(status, 200, "{list}");
            let job = list["jobs"]
                .as_array()
                .and_then(|jobs| jobs.iter().find(|j| j["id"] == *id))
                .cloned()
                .unwrap_or_else(|| panic!("no repricing job {id}: {list}"));
            if job["phase"] == "done" {
                return job;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("repricing job {id} did not finish within 30 s");
    }
}

/// Defines `mod $name { sqlite, postgres }` running `$body(TestApp)` on each engine.
#[macro_export]
macro_rules! http_test {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::common::TestApp::spawn(omniops_testkit::Engine::Sqlite)
                    .await
                    .expect("sqlite");
                super::$body(&app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) =
                    $crate::common::TestApp::spawn(omniops_testkit::Engine::Postgres).await
                else {
                    return;
                };
                super::$body(&app).await;
            }
        }
    };
}

/// As [`http_test!`], the server booted with `$settings`.
#[macro_export]
macro_rules! http_test_with {
    ($name:ident, $body:ident, $settings:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app =
                    $crate::common::TestApp::spawn_with(omniops_testkit::Engine::Sqlite, $settings)
                        .await
                        .expect("sqlite");
                super::$body(&app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = $crate::common::TestApp::spawn_with(
                    omniops_testkit::Engine::Postgres,
                    $settings,
                )
                .await
                else {
                    return;
                };
                super::$body(&app).await;
            }
        }
    };
}
