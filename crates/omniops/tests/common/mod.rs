//! The real binary on a free loopback port, for tests that need the whole program.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// On SQLite in `data_dir`.
    pub async fn start(data_dir: &std::path::Path) -> Server {
        let dir = data_dir.to_string_lossy().into_owned();
        Self::start_with(&["--data-dir", &dir]).await
    }

    /// On PostgreSQL at `url`.
    pub async fn start_postgres(url: &str) -> Server {
        Self::start_with(&["--database-url", url]).await
    }

    /// `omniops serve` with these extra arguments.
    pub async fn start_with(args: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_omniops"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(args)
            .env_remove("OMNIOPS_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start omniops");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..500 {
            if let Ok(r) = client.get(format!("{}/healthz", server.base)).send().await {
                if r.status().is_success() {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("omniops did not start");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's peak resident memory so far, in bytes (Linux: `VmHWM`).
    pub fn peak_rss(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}
