//! Reports computed once per change: a page's sections (and the API) asking for the same
//! report while nothing changed share one computation (README: Caches).
//!
//! An entry is keyed by what the report depends on and by the server's *generation*, which
//! every local commit bumps before its request is answered (and every change heard from
//! another instance). So a read after a 200 never sees a report from before that write: its
//! generation differs. Another instance's writes that announce nothing (backfill) are seen
//! within the cache's freshness (`report_cache_ms`, 1 s by default): no entry is older.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// Entries kept at most; older ones are dropped first.
const CAPACITY: usize = 256;

/// The count of changes this process has committed or heard of.
#[derive(Debug, Default)]
pub struct Generation(AtomicU64);

impl Generation {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Called after a change committed, before anyone is told it did.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

struct Entry<V> {
    generation: u64,
    made: Instant,
    cell: Arc<OnceCell<Arc<V>>>,
}

tokio::task_local! {
    /// Set for a request that sent `Cache-Control: no-cache`: it computes its own reports.
    static BYPASS: bool;
}

/// Middleware: any request that may have changed something (not GET or HEAD) bumps the
/// generation once it is handled, before its answer leaves — config, keys, alerts, actions
/// and prices alike, so no write path has to remember it. A request with
/// `Cache-Control: no-cache` shares no report (the bench times computations this way).
pub async fn cache_rules(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let writes = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let bypass = request
        .headers()
        .get_all(axum::http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-cache"))
        });
    let response = BYPASS.scope(bypass, next.run(request)).await;
    if writes {
        state.generation.bump();
    }
    response
}

/// One kind of report, by key.
pub struct ReportCache<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
    /// Reports computed (not shared), for `/metrics`.
    computed: AtomicU64,
    /// Reads answered with a shared report.
    shared: AtomicU64,
    /// The longest an entry is served (for writes no notification announces); zero: never.
    fresh_for: Duration,
}

impl<K, V> ReportCache<K, V> {
    pub fn new(fresh_for: Duration) -> Self {
        ReportCache {
            entries: Mutex::default(),
            computed: AtomicU64::new(0),
            shared: AtomicU64::new(0),
            fresh_for,
        }
    }
}

impl<K: Eq + Hash + Clone, V> ReportCache<K, V> {
    /// The report for `key` at `generation`: a shared one if it was made (or is being made)
    /// at this generation less than the freshness ago, else computed by `compute`.
    pub async fn get_or_compute<F, Fut>(
        &self,
        key: K,
        generation: u64,
        compute: F,
    ) -> anyhow::Result<Arc<V>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<V>>,
    {
        if self.fresh_for.is_zero() || BYPASS.try_with(|b| *b).unwrap_or(false) {
            self.computed.fetch_add(1, Ordering::Relaxed);
            return Ok(Arc::new(compute().await?));
        }
        let cell = self.cell(key, generation);
        let mut ran = false;
        let value = cell
            .get_or_try_init(|| {
                ran = true;
                self.computed.fetch_add(1, Ordering::Relaxed);
                async { compute().await.map(Arc::new) }
            })
            .await?;
        if !ran {
            self.shared.fetch_add(1, Ordering::Relaxed);
        }
        Ok(value.clone())
    }

    /// An owned copy of the report for `key` at the current `generation` (the one call
    /// the query layer makes).
    pub async fn shared<F, Fut>(
        &self,
        generation: &Generation,
        key: K,
        compute: F,
    ) -> anyhow::Result<V>
    where
        V: Clone,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<V>>,
    {
        let value = self
            .get_or_compute(key, generation.current(), compute)
            .await?;
        Ok(V::clone(&value))
    }

    /// (computed, shared) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.computed.load(Ordering::Relaxed),
            self.shared.load(Ordering::Relaxed),
        )
    }

    fn cell(&self, key: K, generation: u64) -> Arc<OnceCell<Arc<V>>> {
        let now = Instant::now();
        let fresh = |e: &Entry<V>| {
            e.generation == generation && now.duration_since(e.made) < self.fresh_for
        };
        // A poisoned lock only means another request panicked while holding it; the map
        // itself is still whole.
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = entries.get(&key) {
            if fresh(entry) {
                return entry.cell.clone();
            }
        }
        if entries.len() >= CAPACITY {
            entries.retain(|_, e| fresh(e));
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        let cell = Arc::new(OnceCell::new());
        entries.insert(
            key,
            Entry {
                generation,
                made: now,
                cell: cell.clone(),
            },
        );
        cell
    }
}

/// The reports shared this way: their store inputs, so that what depends on the time of
/// the read (live sessions' uptime) is still computed per read.
pub struct Reports {
    /// Telemetry inputs by (window start, end, domain, model).
    pub telemetry: ReportCache<TelemetryKey, omniops_core::telemetry::TelemetryInputs>,
    /// Analytics inputs by (window start, end, domain, second of the read).
    pub analytics: ReportCache<AnalyticsKey, omniops_core::analytics::AnalyticsInputs>,
}

pub type TelemetryKey = (i64, i64, Option<String>, Option<String>);
pub type AnalyticsKey = (i64, i64, Option<String>, i64);

impl Reports {
    pub fn new(fresh_for: Duration) -> Self {
        Reports {
            telemetry: ReportCache::new(fresh_for),
            analytics: ReportCache::new(fresh_for),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    async fn count(cache: &ReportCache<u8, usize>, runs: &AtomicUsize, generation: u64) -> usize {
        let value = cache
            .get_or_compute(1, generation, || async {
                Ok(runs.fetch_add(1, Ordering::SeqCst) + 1)
            })
            .await
            .expect("computed");
        *value
    }

    #[tokio::test]
    async fn one_computation_per_generation() {
        let cache = ReportCache::new(Duration::from_secs(1));
        let runs = AtomicUsize::new(0);
        let (a, b, c) = tokio::join!(
            count(&cache, &runs, 7),
            count(&cache, &runs, 7),
            count(&cache, &runs, 7)
        );
        assert_eq!((a, b, c), (1, 1, 1));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // A change: the next read computes again, and sees the new value.
        assert_eq!(count(&cache, &runs, 8).await, 2);
        assert_eq!(count(&cache, &runs, 8).await, 2);
    }

    #[tokio::test]
    async fn entries_expire() {
        let cache = ReportCache::new(Duration::from_millis(50));
        let runs = AtomicUsize::new(0);
        assert_eq!(count(&cache, &runs, 1).await, 1);
        assert_eq!(count(&cache, &runs, 1).await, 1);
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(count(&cache, &runs, 1).await, 2);
    }

    #[tokio::test]
    async fn zero_freshness_computes_every_time() {
        let cache = ReportCache::new(Duration::ZERO);
        let runs = AtomicUsize::new(0);
        assert_eq!(count(&cache, &runs, 1).await, 1);
        assert_eq!(count(&cache, &runs, 1).await, 2);
    }

    #[tokio::test]
    async fn a_failure_is_not_kept() {
        let cache: ReportCache<u8, usize> = ReportCache::new(Duration::from_secs(1));
        let failed = cache
            .get_or_compute(1, 1, || async { Err(anyhow::anyhow!("down")) })
            .await;
        assert!(failed.is_err());
        let value = cache
            .get_or_compute(1, 1, || async { Ok(5) })
            .await
            .expect("computed");
        assert_eq!(*value, 5);
    }
}
