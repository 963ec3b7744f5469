//! Slowing down key guessing. Failed logins and wrong bearer keys are counted per client
//! address and per key prefix (the first 12 characters sent); past `login_failures_allowed`
//! failures within 15 minutes, further failures of that address or prefix are answered 429
//! with `Retry-After`, a wait that doubles with each failure up to `login_lockout_max_secs`.
//! Only failures count, and a correct key is never refused.

use crate::settings::Settings;
use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures older than this are forgotten.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Addresses and prefixes remembered at most; past it the oldest quiet ones go.
const MAX_TRACKED: usize = 100_000;
/// Characters of a key that name its prefix.
const PREFIX_CHARS: usize = 12;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Guard {
    failures: Mutex<HashMap<String, Failures>>,
}

/// Who a guess comes from: its client address and the prefix of the key it tried.
#[derive(Debug, Clone)]
pub struct Attempt {
    keys: [String; 2],
}

impl Attempt {
    pub fn new(client: &str, key: &str) -> Attempt {
        let prefix: String = key.chars().take(PREFIX_CHARS).collect();
        Attempt {
            keys: [format!("addr:{client}"), format!("key:{prefix}")],
        }
    }
}

impl Guard {
    /// How long the attempt must wait, if its address or key prefix is locked out now.
    pub fn wait(&self, attempt: &Attempt) -> Option<Duration> {
        let now = Instant::now();
        let failures = self.failures.lock().ok()?;
        attempt
            .keys
            .iter()
            .filter_map(|k| failures.get(k).and_then(|f| f.blocked_until))
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// Counts a failure; returns the lock-out it starts, if any.
    pub fn fail(&self, attempt: &Attempt, settings: &Settings) -> Option<Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().ok()?;
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, f| now.duration_since(f.last) < WINDOW);
        }
        let mut longest = None;
        for key in &attempt.keys {
            let f = failures.entry(key.clone()).or_insert(Failures {
                count: 0,
                last: now,
                blocked_until: None,
            });
            if now.duration_since(f.last) >= WINDOW {
                *f = Failures {
                    count: 0,
                    last: now,
                    blocked_until: None,
                };
            }
            f.count = f.count.saturating_add(1);
            f.last = now;
            if f.count > settings.login_failures_allowed {
                let excess = f.count - settings.login_failures_allowed - 1;
                let secs = 1u64
                    .checked_shl(excess.min(32))
                    .unwrap_or(u64::MAX)
                    .min(settings.login_lockout_max_secs);
                let wait = Duration::from_secs(secs);
                f.blocked_until = Some(now + wait);
                longest = longest.max(Some(wait));
            }
        }
        longest
    }
}

/// The client's address: the connection's peer, or with `trust_proxy_headers` the first
/// address of `X-Forwarded-For` (which only a proxy in front can be trusted to set).
pub fn client_address(
    settings: &Settings,
    headers: &HeaderMap,
    peer: Option<&ConnectInfo<SocketAddr>>,
) -> String {
    if settings.trust_proxy_headers {
        if let Some(first) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            return first.to_string();
        }
    }
    peer.map_or_else(
        || "unknown".to_string(),
        |ConnectInfo(a)| a.ip().to_string(),
    )
}

/// Whether the request reached us over HTTPS: only a trusted proxy's
/// `X-Forwarded-Proto` can say so (Omniops itself speaks plain HTTP).
pub fn is_https(settings: &Settings, headers: &HeaderMap) -> bool {
    settings.trust_proxy_headers
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_allowance_lock_out_with_doubling_waits() {
        let settings = Settings {
            login_failures_allowed: 3,
            login_lockout_max_secs: 4,
            ..Settings::default()
        };
        let guard = Guard::default();
        let attempt = Attempt::new("10.0.0.1", "omk_abcdefgh_guess1");
        for _ in 0..3 {
            assert_eq!(guard.fail(&attempt, &settings), None);
        }
        assert!(guard.wait(&attempt).is_none());
        assert_eq!(
            guard.fail(&attempt, &settings),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            guard.fail(&attempt, &settings),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            guard.fail(&attempt, &settings),
            Some(Duration::from_secs(4))
        );
        assert_eq!(
            guard.fail(&attempt, &settings),
            Some(Duration::from_secs(4)),
            "capped"
        );
        assert!(guard.wait(&attempt).is_some());
        // Another address guessing the same prefix is held back too; a new one is not.
        assert!(guard
            .wait(&Attempt::new("10.0.0.2", "omk_abcdefgh_other"))
            .is_some());
        assert!(guard
            .wait(&Attempt::new("10.0.0.2", "omk_zzzzzzzz_other"))
            .is_none());
    }
}
