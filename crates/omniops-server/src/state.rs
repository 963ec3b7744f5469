//! Shared state of a running server.

use crate::auth::KeyCache;
use crate::ingest::IngestQueue;
use crate::settings::Settings;
use omniops_core::clock::Clock;
use omniops_store::Store;
use std::ops::Deref;
use std::sync::Arc;

/// The PostgreSQL channel on which a price change is announced to every instance.
pub const PRICES_CHANNEL: &str = "omniops_prices";

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    /// The address the server listens on; without API keys it answers only while this is
    /// loopback (`None`: no listener, as for `omniops export`).
    pub bound: Option<std::net::SocketAddr>,
    pub settings: Settings,
    pub clock: Arc<dyn Clock>,
    pub ingest: IngestQueue,
    pub keys: KeyCache,
    /// Days raw data are kept: the configured value, or the one last set through the API.
    pub retention_days: std::sync::atomic::AtomicU32,
    /// Committed live-session changes, for the live stream.
    pub live: crate::live::LiveHub,
    /// Woken after a batch that ended sessions: budget alerts are evaluated then.
    pub alert_wakeup: tokio::sync::Notify,
    pub metrics: crate::metrics::Metrics,
    /// Woken when a webhook delivery is queued.
    pub delivery_wakeup: tokio::sync::Notify,
    /// Woken when a repricing job is queued.
    pub reprice_wakeup: tokio::sync::Notify,
    /// One WooCommerce sync at a time: the schedule's and those asked for wait in turn.
    pub woocommerce_sync: tokio::sync::Mutex<()>,
    /// Cancelled when the server starts shutting down: open streams end then.
    pub stopping: tokio_util::sync::CancellationToken,
    /// Which session each recent trace belongs to, for spans that do not name theirs.
    pub otlp_traces: std::sync::Mutex<crate::ingest::otlp::TraceSessions>,
    /// Failed logins and wrong keys, per client address and key prefix.
    pub guard: crate::guard::Guard,
    /// The one client for calls to the outside (webhooks, stores).
    pub outbound: crate::outbound::Outbound,
    /// The latest storage fault (not a transient outage): when, and what. `/healthz`
    /// reports it for [`FAULT_REPORT_MICROS`].
    pub last_fault: std::sync::Mutex<Option<(omniops_core::clock::Micros, String)>>,
    /// Bumped after every change this process committed or heard of: shared reports are
    /// keyed by it.
    pub generation: crate::queries::cache::Generation,
    pub reports: crate::queries::cache::Reports,
}

/// How long `/healthz` reports a storage fault: ten minutes.
pub const FAULT_REPORT_MICROS: omniops_core::clock::Micros = 10 * 60 * 1_000_000;

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        store: Store,
        settings: Settings,
        clock: Arc<dyn Clock>,
        ingest: IngestQueue,
        bound: Option<std::net::SocketAddr>,
    ) -> Self {
        AppState(Arc::new(Inner {
            store,
            bound,
            clock,
            ingest,
            keys: KeyCache::default(),
            live: crate::live::LiveHub::default(),
            stopping: tokio_util::sync::CancellationToken::new(),
            otlp_traces: std::sync::Mutex::default(),
            last_fault: std::sync::Mutex::default(),
            guard: crate::guard::Guard::default(),
            outbound: crate::outbound::Outbound::new(
                settings.allow_private_outbound,
                std::time::Duration::from_secs(10),
            ),
            alert_wakeup: tokio::sync::Notify::new(),
            delivery_wakeup: tokio::sync::Notify::new(),
            reprice_wakeup: tokio::sync::Notify::new(),
            woocommerce_sync: tokio::sync::Mutex::new(()),
            metrics: crate::metrics::Metrics::default(),
            retention_days: std::sync::atomic::AtomicU32::new(settings.retention_days),
            generation: crate::queries::cache::Generation::default(),
            reports: crate::queries::cache::Reports::new(std::time::Duration::from_millis(
                settings.report_cache_ms,
            )),
            settings,
        }))
    }
}

impl Inner {
    pub fn retention_days(&self) -> u32 {
        self.retention_days
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn now(&self) -> omniops_core::clock::Micros {
        self.clock.now()
    }

    /// The oldest start time whose raw sessions are still kept.
    pub fn raw_retention_cutoff(&self) -> omniops_core::clock::Micros {
        omniops_core::clock::floor_hour(
            self.now() - i64::from(self.retention_days()) * omniops_core::clock::MICROS_PER_DAY,
        )
    }

    /// After this instance changed prices: the other instances on the same PostgreSQL
    /// reload theirs.
    pub async fn prices_changed(&self) {
        self.generation.bump();
        if let Err(error) = self.store.notify(PRICES_CHANNEL, "reload").await {
            tracing::warn!(?error, "announcing a price change");
        }
    }

    /// Remembers a storage fault for `/healthz`.
    pub fn record_fault(&self, error: &str) {
        if let Ok(mut fault) = self.last_fault.lock() {
            *fault = Some((self.now(), error.chars().take(500).collect()));
        }
    }

    /// The storage fault of the last ten minutes, if any.
    pub fn recent_fault(&self) -> Option<(omniops_core::clock::Micros, String)> {
        let fault = self.last_fault.lock().ok()?.clone()?;
        (self.now() - fault.0 < FAULT_REPORT_MICROS).then_some(fault)
    }
}
