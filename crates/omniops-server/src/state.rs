//! Shared state of a running server.

use crate::auth::KeyCache;
use crate::ingest::IngestQueue;
use crate::settings::Settings;
use omniops_core::clock::Clock;
use omniops_core::pricing::PriceTable;
use omniops_store::Store;
use std::ops::Deref;
use std::sync::{Arc, RwLock};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub settings: Settings,
    pub clock: Arc<dyn Clock>,
    prices: RwLock<Arc<PriceTable>>,
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
        prices: PriceTable,
        ingest: IngestQueue,
    ) -> Self {
        AppState(Arc::new(Inner {
            store,
            settings,
            clock,
            prices: RwLock::new(Arc::new(prices)),
            ingest,
            keys: KeyCache::default(),
        }))
    }
}

impl Inner {
    pub fn prices(&self) -> Arc<PriceTable> {
        match self.prices.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads prices from the store, after a change.
    pub async fn reload_prices(&self) -> anyhow::Result<()> {
        let table = Arc::new(PriceTable::new(self.store.prices().await?));
        match self.prices.write() {
            Ok(mut p) => *p = table,
            Err(poisoned) => *poisoned.into_inner() = table,
        }
        Ok(())
    }

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
