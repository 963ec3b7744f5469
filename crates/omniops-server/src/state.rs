//! Shared state of a running server.

use crate::auth::KeyCache;
use crate::ingest::IngestQueue;
use crate::settings::Settings;
use omniops_core::clock::Clock;
use omniops_store::Store;
use std::ops::Deref;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub settings: Settings,
    pub clock: Arc<dyn Clock>,
    pub ingest: IngestQueue,
    pub keys: KeyCache,
}

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
    ) -> Self {
        AppState(Arc::new(Inner {
            store,
            settings,
            clock,
            ingest,
            keys: KeyCache::default(),
        }))
    }
}

impl Inner {
    pub fn now(&self) -> omniops_core::clock::Micros {
        self.clock.now()
    }

    /// The oldest start time whose raw sessions are still kept.
    pub fn raw_retention_cutoff(&self) -> omniops_core::clock::Micros {
        omniops_core::clock::floor_hour(
            self.now()
                - i64::from(self.settings.retention_days) * omniops_core::clock::MICROS_PER_DAY,
        )
    }
}
