//! The Omniops SDK: the spec's `ChatTelemetry` for a Rust chat backend.
//!
//! Calls never block or fail the caller: events go into a bounded buffer and a background
//! task sends them in batches (by size and time) to `/api/v1/ingest`. Every event carries an
//! id, so a retried batch is never counted twice. 429 and 503 are retried honouring
//! `Retry-After`; when the buffer is full, events are dropped and counted
//! ([`Omniops::dropped`]). [`Omniops::shutdown`] sends what is left.
//!
//! ```no_run
//! # async fn run() {
//! use omniops_client::{Config, Omniops};
//! let omniops = Omniops::new(Config::new("http://127.0.0.1:8080"));
//! let chat = omniops.create_session("session-1", "gpt-4o", "shop.example");
//! chat.track_iteration();
//! chat.track_search("hydraulic pumps", 3);
//! chat.track_token_usage(serde_json::json!({"prompt_tokens": 2000, "completion_tokens": 100}));
//! chat.complete(true, None);
//! omniops.shutdown().await;
//! # }
//! ```

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Where to send, and how to batch.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server's base URL, e.g. `http://127.0.0.1:8080`.
    pub endpoint: String,
    /// An ingest (or admin) key, when the server has keys.
    pub api_key: Option<String>,
    /// Events per request at most.
    pub batch_size: usize,
    /// A partial batch is sent after this long.
    pub flush_interval: Duration,
    /// Events held in memory at most; more are dropped and counted.
    pub max_buffer: usize,
    /// Attempts per batch (429, 503 and network errors are retried).
    pub max_attempts: u32,
}

impl Config {
    pub fn new(endpoint: impl Into<String>) -> Self {
        Config {
            endpoint: endpoint.into().trim_end_matches('/').to_string(),
            api_key: None,
            batch_size: 500,
            flush_interval: Duration::from_secs(1),
            max_buffer: 10_000,
            max_attempts: 5,
        }
    }

    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }
}

enum Command {
    Event(Value),
    Flush(oneshot::Sender<()>),
}

/// The client: cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct Omniops {
    sender: mpsc::Sender<Command>,
    dropped: Arc<AtomicU64>,
    worker: Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl Omniops {
    /// Starts the background sender on the current Tokio runtime.
    pub fn new(config: Config) -> Self {
        let (sender, receiver) = mpsc::channel(config.max_buffer.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let worker = tokio::spawn(run(config, receiver, dropped.clone()));
        Omniops {
            sender,
            dropped,
            worker: Arc::new(std::sync::Mutex::new(Some(worker))),
        }
    }

    /// Events dropped because the buffer was full or a batch could not be delivered.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn send(&self, mut event: Value) {
        event["event_id"] = json!(uuid::Uuid::new_v4().to_string());
        if self.sender.try_send(Command::Event(event)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Starts a session (the spec's `createSession`).
    pub fn create_session(&self, session_id: &str, model: &str, domain: &str) -> ChatTelemetry {
        self.send(
            json!({"type": "session.start", "session_id": session_id, "model": model,
                         "domain": domain, "timestamp": now()}),
        );
        ChatTelemetry {
            client: self.clone(),
            session_id: session_id.to_string(),
            iterations: Arc::new(std::sync::atomic::AtomicU32::new(0)),
        }
    }

    /// Sends everything buffered now and waits until it has been sent (or given up).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Command::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Flushes, then stops the background sender.
    pub async fn shutdown(self) {
        self.flush().await;
        let worker = self.worker.lock().ok().and_then(|mut w| w.take());
        drop(self.sender);
        if let Some(worker) = worker {
            worker.abort();
            let _ = worker.await;
        }
    }
}

/// One chat session (the spec's `ChatTelemetry`). Every method returns at once.
#[derive(Clone)]
pub struct ChatTelemetry {
    client: Omniops,
    session_id: String,
    /// Reasoning cycles so far (the server keeps the highest number it sees).
    iterations: Arc<std::sync::atomic::AtomicU32>,
}

impl ChatTelemetry {
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// One more reasoning cycle (numbered from 1).
    pub fn track_iteration(&self) {
        let iteration = self.iterations.fetch_add(1, Ordering::Relaxed) + 1;
        self.client
            .send(json!({"type": "iteration", "session_id": self.session_id,
                                "iteration": iteration, "timestamp": now()}));
    }

    pub fn track_search(&self, query: &str, results: u64) {
        self.client.send(
            json!({"type": "search", "session_id": self.session_id, "query": query,
                                "results": results, "timestamp": now()}),
        );
    }

    /// Token usage as the provider reported it: OpenAI's `usage` (Chat or Responses) or
    /// Anthropic's, passed through; the server normalises and prices it.
    /// One model call: the provider's `usage` object as it came (OpenAI Chat or
    /// Responses, Anthropic). Each call is priced on its own, at its context tier.
    pub fn track_token_usage(&self, usage: Value) {
        self.client.send(json!({"type": "usage", "session_id": self.session_id, "usage": usage, "timestamp": now()}));
    }

    /// One model call that ran at a service tier (OpenAI's response `service_tier`:
    /// `default`, `flex`, `priority`; or `batch`), priced at that tier's rates.
    pub fn track_token_usage_at_tier(&self, usage: Value, service_tier: &str) {
        self.client.send(
            json!({"type": "usage", "session_id": self.session_id, "usage": usage,
                                "service_tier": service_tier, "timestamp": now()}),
        );
    }

    pub fn log(&self, level: &str, message: &str) {
        self.client.send(
            json!({"type": "log", "session_id": self.session_id, "level": level,
                                "message": message, "timestamp": now()}),
        );
    }

    /// Ends the session (the spec's `complete`).
    pub fn complete(self, success: bool, error: Option<&str>) {
        let mut event = json!({"type": "session.end", "session_id": self.session_id, "success": success, "timestamp": now()});
        if let Some(error) = error {
            event["error"] = json!(error);
        }
        self.client.send(event);
    }
}

/// Now as RFC 3339 (UTC, microseconds), without a date-time dependency.
fn now() -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, micros) = (since.as_secs() as i64, since.subsec_micros());
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

async fn run(config: Config, mut receiver: mpsc::Receiver<Command>, dropped: Arc<AtomicU64>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let mut buffer: Vec<Value> = Vec::new();
    let mut ticker = tokio::time::interval(config.flush_interval);
    loop {
        let command = tokio::select! {
            command = receiver.recv() => command,
            _ = ticker.tick() => {
                send_all(&client, &config, &mut buffer, &dropped).await;
                continue;
            }
        };
        match command {
            Some(Command::Event(event)) => {
                buffer.push(event);
                if buffer.len() >= config.batch_size {
                    send_all(&client, &config, &mut buffer, &dropped).await;
                }
            }
            Some(Command::Flush(done)) => {
                send_all(&client, &config, &mut buffer, &dropped).await;
                let _ = done.send(());
            }
            None => {
                send_all(&client, &config, &mut buffer, &dropped).await;
                return;
            }
        }
    }
}

async fn send_all(
    client: &reqwest::Client,
    config: &Config,
    buffer: &mut Vec<Value>,
    dropped: &AtomicU64,
) {
    while !buffer.is_empty() {
        let take = buffer.len().min(config.batch_size.max(1));
        let batch: Vec<Value> = buffer.drain(..take).collect();
        if !send_batch(client, config, &batch).await {
            dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
    }
}

/// Sends one batch; true once the server has it. Retries 429, 503 and network errors with
/// backoff (or the server's `Retry-After`); the same event ids make a retry harmless.
async fn send_batch(client: &reqwest::Client, config: &Config, batch: &[Value]) -> bool {
    let body = json!({"events": batch});
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=config.max_attempts.max(1) {
        let mut request = client
            .post(format!("{}/api/v1/ingest", config.endpoint))
            .json(&body);
        if let Some(key) = &config.api_key {
            request = request.bearer_auth(key);
        }
        let retry_after = match request.send().await {
            Ok(response) if response.status().is_success() => {
                if let Ok(answer) = response.json::<Value>().await {
                    for rejected in answer["rejected"].as_array().into_iter().flatten() {
                        tracing::warn!(%rejected, "omniops rejected an event");
                    }
                }
                return true;
            }
            Ok(response) if matches!(response.status().as_u16(), 429 | 503) => response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
            Ok(response) => {
                tracing::warn!(status = %response.status(), "omniops refused a batch; not retried");
                return false;
            }
            Err(error) => {
                tracing::warn!(%error, attempt, "sending to omniops failed");
                None
            }
        };
        if attempt < config.max_attempts {
            tokio::time::sleep(retry_after.unwrap_or(delay)).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }
    false
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_rfc3339() {
        let text = super::now();
        assert_eq!(text.len(), "2026-11-26T12:30:00.000000Z".len(), "{text}");
        assert!(
            text.starts_with("20") && text.ends_with('Z') && &text[10..11] == "T",
            "{text}"
        );
    }
}
