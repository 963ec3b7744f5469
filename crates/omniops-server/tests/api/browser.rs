//! A real headless Chromium driven through chromedriver. Without them a test skips with a
//! printed reason locally and fails under CI.

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Browser {
    pub client: Client,
    driver: Child,
    driver_url: String,
    _profile: tempfile::TempDir,
}

fn find(candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
}

impl Browser {
    pub async fn start() -> Option<Browser> {
        let driver = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
        let chromium = find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            if std::env::var_os("CI").is_some() {
                panic!("Chromium or chromedriver is missing; CI must install chromium and chromium-driver");
            }
            eprintln!("skipping browser test: chromium and chromedriver are not installed");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let driver_url = format!("http://127.0.0.1:{port}");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--window-size=1300,1000", format!("--user-data-dir={}", profile.path().display())]
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let mut last_error = None;
        for _ in 0..100 {
            // chromedriver is on loopback: plain HTTP, no TLS stack needed.
            let mut builder = ClientBuilder::new(HttpConnector::new());
            match builder
                .capabilities(caps.clone())
                .connect(&driver_url)
                .await
            {
                Ok(client) => {
                    return Some(Browser {
                        client,
                        driver: child,
                        driver_url,
                        _profile: profile,
                    });
                }
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start: {last_error:?}");
    }

    /// Waits for an element and clicks it.
    pub async fn click(&self, css: &str) {
        self.element(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Waits for an input, empties it and types `text` into it.
    pub async fn replace_text(&self, css: &str, text: &str) {
        let input = self.element(css).await;
        input
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        input
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Waits for an input and returns its current value.
    pub async fn value(&self, css: &str) -> String {
        self.element(css)
            .await
            .prop("value")
            .await
            .unwrap_or_else(|e| panic!("value of {css}: {e}"))
            .unwrap_or_default()
    }

    /// Waits for an input and types `text` into it.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.element(css)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Waits for an element and returns its text.
    pub async fn text(&self, css: &str) -> String {
        self.element(css).await.text().await.expect("element text")
    }

    pub async fn attr(&self, css: &str, name: &str) -> String {
        self.element(css)
            .await
            .attr(name)
            .await
            .expect("attribute")
            .unwrap_or_else(|| panic!("{css} has no {name}"))
    }

    /// Texts of all elements matching `css` (waiting for the first one).
    pub async fn texts(&self, css: &str) -> Vec<String> {
        self.text(css).await;
        let mut out = Vec::new();
        for e in self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("elements")
        {
            out.push(e.text().await.expect("text"));
        }
        out
    }

    /// Waits until `script` (a JS expression) is true, for 10 s at most.
    pub async fn wait_until(&self, script: &str) {
        self.wait_within(script, Duration::from_secs(10)).await;
    }

    /// Waits until `script` is true, for `limit` at most.
    pub async fn wait_within(&self, script: &str, limit: Duration) {
        for _ in 0..limit.as_millis() / 100 {
            let value = self
                .client
                .execute(&format!("return !!({script});"), vec![])
                .await
                .expect("script");
            if value == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {script}");
    }

    /// The browser console's errors since the last call (chromedriver's log endpoint).
    pub async fn console_errors(&self) -> Vec<String> {
        let session = self
            .client
            .session_id()
            .await
            .expect("session")
            .expect("session id");
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/session/{session}/se/log", self.driver_url))
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .expect("log request")
            .json()
            .await
            .expect("log json");
        answer["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
