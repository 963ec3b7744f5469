//! Where imported events go (README: Importing): a running server's ingest API by
//! default, so the import works beside a server on either engine and passes the same
//! checks; or this installation's store, written directly when no server runs on it.

use anyhow::Context;
use omniops_core::events::Event;
use omniops_store::Store;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Events per ingest request and the body size they may reach (the API's own limits are
/// 10,000 events and 10 MiB).
const EVENTS_PER_REQUEST: usize = 5_000;
const BYTES_PER_REQUEST: usize = 8 * 1024 * 1024;

/// How long a server answering 503 (its queue full) or 429 is waited for, in all.
const BUSY_FOR: Duration = Duration::from_secs(120);

pub enum Sink {
    /// Written directly; checkpoints kept in the installation's settings.
    Store(Store),
    /// `POST {url}/api/v1/ingest` with an ingest key; checkpoints kept in `state_file`.
    Server {
        url: String,
        key: Option<String>,
        state_file: PathBuf,
        client: reqwest::Client,
    },
}

/// A page's events in the form its sink takes.
pub enum Batch {
    Events(Vec<Event>),
    /// Each event's JSON, for a server.
    Texts(Vec<String>),
}

impl Batch {
    pub fn len(&self) -> usize {
        match self {
            Batch::Events(e) => e.len(),
            Batch::Texts(t) => t.len(),
        }
    }
}

impl Sink {
    pub fn server(url: &str, key: Option<String>, state_file: PathBuf) -> Sink {
        Sink::Server {
            url: url.trim_end_matches('/').to_string(),
            key,
            state_file,
            client: reqwest::Client::new(),
        }
    }

    pub fn wants_text(&self) -> bool {
        matches!(self, Sink::Server { .. })
    }

    /// Where the events were stored, for the report.
    pub fn name(&self) -> String {
        match self {
            Sink::Store(store) => format!("this installation ({})", store.backend().name()),
            Sink::Server { url, .. } => url.clone(),
        }
    }

    /// Stores a batch; returns the events refused, as (index, reason).
    pub async fn apply(&self, batch: Batch, now: i64) -> anyhow::Result<Vec<(usize, String)>> {
        match (self, batch) {
            (Sink::Store(store), Batch::Events(events)) => {
                let outcome = store
                    .apply_batch(std::slice::from_ref(&events), now)
                    .await?;
                Ok(outcome
                    .rejections
                    .into_iter()
                    .flatten()
                    .map(|(i, e)| (i, e.to_string()))
                    .collect())
            }
            (Sink::Server { .. }, Batch::Texts(texts)) => self.send(&texts).await,
            _ => anyhow::bail!("a batch in the wrong form for its sink"),
        }
    }

    /// Sends a page as requests within the API's limits, all at once: the server's
    /// writer commits requests that wait together in one transaction.
    async fn send(&self, texts: &[String]) -> anyhow::Result<Vec<(usize, String)>> {
        let mut requests = Vec::new();
        let mut start = 0;
        while start < texts.len() {
            let mut end = start;
            let mut bytes = 16;
            while end < texts.len()
                && end - start < EVENTS_PER_REQUEST
                && (end == start || bytes + texts[end].len() < BYTES_PER_REQUEST)
            {
                bytes += texts[end].len() + 1;
                end += 1;
            }
            let body = format!("{{\"events\":[{}]}}", texts[start..end].join(","));
            requests.push(async move { self.post(body).await.map(|r| (start, r)) });
            start = end;
        }
        let mut refused = Vec::new();
        for answer in futures_util::future::join_all(requests).await {
            let (start, rejected) = answer?;
            for rejected in rejected {
                let index = rejected["index"].as_u64().unwrap_or(0) as usize;
                let reason = match rejected["field"].as_str() {
                    Some(field) => format!("{field}: {}", rejected["error"].as_str().unwrap_or("")),
                    None => rejected["error"].as_str().unwrap_or("").to_string(),
                };
                refused.push((start + index, reason));
            }
        }
        Ok(refused)
    }

    /// One ingest request, retried while the server is busy; its `rejected` list.
    async fn post(&self, body: String) -> anyhow::Result<Vec<Value>> {
        let Sink::Server {
            url, key, client, ..
        } = self
        else {
            anyhow::bail!("not a server");
        };
        let endpoint = format!("{url}/api/v1/ingest");
        let started = std::time::Instant::now();
        let mut wait = Duration::from_millis(100);
        loop {
            let mut request = client
                .post(&endpoint)
                .header("content-type", "application/json")
                .body(body.clone());
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let response = request
                .send()
                .await
                .with_context(|| format!("sending to {endpoint}"))?;
            let status = response.status();
            if (status.as_u16() == 503 || status.as_u16() == 429) && started.elapsed() < BUSY_FOR {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
                continue;
            }
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                anyhow::bail!(
                    "{endpoint} answered {status}: {}",
                    answer["error"].as_str().unwrap_or("no reason given")
                );
            }
            return Ok(answer["rejected"].as_array().cloned().unwrap_or_default());
        }
    }

    /// A table's saved state, if any.
    pub async fn load(&self, key: &str) -> anyhow::Result<Option<String>> {
        match self {
            Sink::Store(store) => Ok(store.setting(key).await?),
            Sink::Server { state_file, .. } => Ok(read_states(state_file)?
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_string)),
        }
    }

    pub async fn save(&self, key: &str, value: &str) -> anyhow::Result<()> {
        match self {
            Sink::Store(store) => Ok(store.put_setting(key, value).await?),
            Sink::Server { state_file, .. } => {
                let mut states = read_states(state_file)?;
                states.insert(key.to_string(), Value::String(value.to_string()));
                // Written beside it and renamed: a crash leaves the old file or the new one.
                let partial = state_file.with_extension("partial");
                std::fs::write(&partial, serde_json::to_vec(&states)?)
                    .with_context(|| format!("writing {}", partial.display()))?;
                std::fs::rename(&partial, state_file)
                    .with_context(|| format!("writing {}", state_file.display()))?;
                Ok(())
            }
        }
    }
}

fn read_states(file: &std::path::Path) -> anyhow::Result<serde_json::Map<String, Value>> {
    match std::fs::read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not an import state file", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::Map::new()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", file.display()))),
    }
}
