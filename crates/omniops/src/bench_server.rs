//! The server `omniops bench` measures: `omniops serve` in a child process, so that its
//! memory is its own (the load client's bodies are not counted) and a crash is a crash.
//! Its resident memory is read from `/proc`: the current figure and the peak since the
//! last phase began (the kernel's high-water mark, reset through `clear_refs`).

use anyhow::Context;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Where the child keeps its data.
pub enum Storage<'a> {
    Sqlite(&'a Path),
    Postgres(&'a str),
}

pub struct BenchServer {
    pub base: String,
    /// None for a server the bench did not start (`--target`).
    child: Option<tokio::process::Child>,
    pid: Option<u32>,
}

/// Resident memory in MiB: now, and the peak since the last [`BenchServer::reset_peak`].
pub struct Rss {
    pub now: f64,
    pub peak: f64,
    /// Of `now`: heap and stacks, and pages of mapped files (the binary, SQLite's shared
    /// memory index).
    pub anon: f64,
    pub file: f64,
}

impl BenchServer {
    /// Starts `omniops serve` on a free loopback port and waits until it answers.
    pub async fn spawn(
        storage: Storage<'_>,
        retention_days: u32,
        otlp_quiet_ms: u64,
    ) -> anyhow::Result<BenchServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = tokio::process::Command::new(std::env::current_exe()?);
        command
            .arg("serve")
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--retention-days", &retention_days.to_string()])
            .args(["--otlp-quiet-ms", &otlp_quiet_ms.to_string()])
            .env("RUST_LOG", "warn,sqlx=error")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match storage {
            Storage::Sqlite(dir) => command.arg("--data-dir").arg(dir),
            Storage::Postgres(url) => command.args(["--database-url", url]),
        };
        let child = command.spawn().context("starting omniops serve")?;
        let pid = child.id().context("the server exited at once")?;
        let mut server = BenchServer {
            base: format!("http://127.0.0.1:{port}"),
            child: Some(child),
            pid: Some(pid),
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// A server started elsewhere (e.g. under a profiler), with its process id if known.
    pub async fn existing(base: &str, pid: Option<u32>) -> anyhow::Result<BenchServer> {
        let mut server = BenchServer {
            base: base.trim_end_matches('/').to_string(),
            child: None,
            pid,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .map(|c| c.try_wait())
                .transpose()?
                .flatten()
            {
                anyhow::bail!("omniops serve exited: {status}");
            }
            let url = format!("{}/healthz", self.base);
            if let Ok(r) = client.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            // Migrations on a large existing database may take a while.
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(600),
                "omniops serve did not answer within 10 minutes"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server's memory, from `/proc/PID/status` (None where `/proc` is missing).
    pub fn rss(&self) -> Option<Rss> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        let field = |name: &str| -> Option<f64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb / 1024.0)
        };
        Some(Rss {
            now: field("VmRSS:")?,
            peak: field("VmHWM:")?,
            anon: field("RssAnon:")?,
            file: field("RssFile:")? + field("RssShmem:").unwrap_or(0.0),
        })
    }

    /// Starts a new peak: writing 5 to `clear_refs` resets the high-water mark.
    pub fn reset_peak(&self) {
        if let Some(pid) = self.pid {
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
    }

    /// Prints the memory figures for the phase that just ended, and starts a new peak.
    pub fn report_phase(&self, phase: &str) {
        match self.rss() {
            Some(rss) => println!(
                "server RSS after {phase:<15} now {:>6.1} MiB (anon {:>6.1}, files {:>5.1}), phase peak {:>6.1} MiB",
                rss.now, rss.anon, rss.file, rss.peak
            ),
            None => println!("server RSS after {phase}: not readable here"),
        }
        self.reset_peak();
    }

    /// Stops a server the bench started as `kill` does (SIGTERM: a graceful shutdown),
    /// then waits for it.
    pub async fn stop(self) -> anyhow::Result<()> {
        let (Some(mut child), Some(pid)) = (self.child, self.pid) else {
            return Ok(());
        };
        tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await?;
        match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
            Ok(status) => {
                let status = status?;
                anyhow::ensure!(status.success(), "omniops serve ended with {status}");
            }
            Err(_) => {
                child.kill().await?;
                anyhow::bail!("omniops serve did not stop within 60 s of SIGTERM");
            }
        }
        Ok(())
    }
}
