//! Price changes: the shipped defaults synced at start, a user's price, an import, and
//! the repricing of stored history each may need.

use crate::{
    postgres, sqlite, Pool, RepriceJob, RepricePhase, Store, DEFAULT_PRICES_SETTING,
    PENDING_REPRICE_SETTING,
};
use omniops_core::clock::Micros;
use omniops_core::pricing::litellm::ImportPlan;
use omniops_core::pricing::{default_prices, Origin, PriceEntry, PriceTable, DEFAULT_PRICES_JSON};
use sha2::{Digest, Sha256};
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Store {
    /// Stores the shipped default prices when they differ from those stored at the last
    /// start (a new release): default rows are replaced, models a user priced are left
    /// alone. The stored models whose price changed are recorded for repricing
    /// ([`Store::pending_reprice`]), which a server does in the background.
    pub(crate) async fn sync_default_prices(&self, now: Micros) -> anyhow::Result<()> {
        let fingerprint = hex::encode(Sha256::digest(DEFAULT_PRICES_JSON.as_bytes()));
        self.sync_defaults(&default_prices(), &fingerprint, now)
            .await
    }

    /// [`Store::sync_default_prices`] with given defaults (a release) and their fingerprint.
    pub async fn sync_defaults(
        &self,
        shipped: &[PriceEntry],
        fingerprint: &str,
        now: Micros,
    ) -> anyhow::Result<()> {
        if self.setting(DEFAULT_PRICES_SETTING).await?.as_deref() == Some(fingerprint) {
            return Ok(());
        }
        let changed = self
            .default_price_changes(shipped, fingerprint, now)
            .await?;
        if changed.is_empty() {
            return Ok(());
        }
        let mut pending = self.pending_reprice().await?.unwrap_or_default();
        pending.extend(changed);
        pending.sort();
        pending.dedup();
        self.put_setting(PENDING_REPRICE_SETTING, &serde_json::to_string(&pending)?)
            .await
    }

    /// Models whose history must be repriced from the defaults' date on since the
    /// shipped prices changed, if any.
    pub async fn pending_reprice(&self) -> anyhow::Result<Option<Vec<String>>> {
        match self.setting(PENDING_REPRICE_SETTING).await? {
            None => Ok(None),
            Some(text) => Ok(Some(serde_json::from_str(&text).unwrap_or_default())),
        }
    }

    /// Queues the repricing [`Store::pending_reprice`] names and clears the record.
    pub async fn queue_pending_reprice(
        &self,
        raw_since: Micros,
        now: Micros,
    ) -> anyhow::Result<Option<RepriceJob>> {
        let Some(models) = self.pending_reprice().await? else {
            return Ok(None);
        };
        let from = omniops_core::pricing::default_effective_from()
            .and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_micros());
        let job = self
            .queue_reprice("new default prices", &models, from, raw_since, now)
            .await?;
        on_pool!(self, delete_setting(PENDING_REPRICE_SETTING))?;
        Ok(job)
    }

    /// Replaces the default rows when the shipped file changed; returns the stored models
    /// whose price in force changed.
    async fn default_price_changes(
        &self,
        shipped: &[PriceEntry],
        fingerprint: &str,
        now: Micros,
    ) -> anyhow::Result<Vec<String>> {
        let changing = self.price_writes.lock().await;
        let before = self.price_table().await;
        on_pool!(self, replace_default_prices(shipped, fingerprint, now))?;
        let after = self.reload_prices().await?;
        drop(changing);
        let models = on_pool!(self, stored_models(""))?;
        let start = omniops_core::pricing::default_effective_from()
            .and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_micros());
        let same = |m: &String, at| {
            let (a, b) = (before.lookup(m, at), after.lookup(m, at));
            match (a, b) {
                (None, None) => true,
                (Some(a), Some(b)) => a.key() == b.key() && a.same_rates(b),
                _ => false,
            }
        };
        Ok(models
            .into_iter()
            .filter(|m| !(same(m, start) && same(m, now)))
            .collect())
    }

    /// Re-reads the price table for the batches after this (a change stored here or
    /// elsewhere), and drops the live sessions cached at the old prices.
    ///
    /// A change is stored before this, under `price_writes` but not the writer's lock: a
    /// write that waits for the database (another writer holding it) then holds no batch.
    /// Batches priced with the old table meanwhile are stored before the repricing job is
    /// queued, so it reprices them.
    pub async fn reload_prices(&self) -> anyhow::Result<Arc<PriceTable>> {
        // Read under the writer's lock: a reload that read before a price change committed
        // must not install its older table after the change's.
        let mut writer = self.writer.write().await;
        let table = Arc::new(PriceTable::new(self.prices().await?));
        writer.prices = table.clone();
        if let Some(cache) = writer.cache.as_mut() {
            cache.clear();
        }
        Ok(table)
    }

    /// The price table batches are priced with.
    pub async fn price_table(&self) -> Arc<PriceTable> {
        self.writer.read().await.prices.clone()
    }

    pub async fn prices(&self) -> anyhow::Result<Vec<PriceEntry>> {
        on_pool!(self, load_prices())
    }

    /// Stores a user's price entry, and queues the repricing of the history it decides from
    /// its date on (`None`: no stored session is of a model it prices). Batches after this
    /// price with the new table.
    pub async fn put_price(
        &self,
        entry: &PriceEntry,
        raw_since: Micros,
        now: Micros,
    ) -> anyhow::Result<Option<RepriceJob>> {
        let mut entry = entry.clone();
        entry.model = entry.model.trim().to_lowercase();
        entry.aliases = entry
            .aliases
            .iter()
            .map(|a| a.trim().to_lowercase())
            .collect();
        entry.origin = Origin::User;
        let changing = self.price_writes.lock().await;
        on_pool!(self, put_user_price(&entry, now))?;
        // Batches from here on price with the new table; those before are in the models read.
        let table = self.reload_prices().await?;
        drop(changing);
        let models: Vec<String> = on_pool!(self, stored_models(""))?
            .into_iter()
            .filter(|m| table.decides(&entry, m))
            .collect();
        let reason = format!("price {}", entry.model);
        self.queue_reprice(
            &reason,
            &models,
            entry.effective_from_micros(),
            raw_since,
            now,
        )
        .await
    }

    /// Imports price entries (of origin `import`): what changes, and with `apply`, stores
    /// it; with `recompute` too, reprices the history of the models it added or changed
    /// from the entries' date on. A model a user priced is never changed.
    pub async fn import_prices(
        &self,
        entries: Vec<PriceEntry>,
        apply: bool,
        recompute: bool,
        raw_since: Micros,
        now: Micros,
    ) -> anyhow::Result<(ImportPlan, Option<RepriceJob>)> {
        let changing = self.price_writes.lock().await;
        let stored = self.prices().await?;
        let plan = omniops_core::pricing::litellm::plan_import(&stored, entries);
        if !apply || plan.writes.is_empty() {
            return Ok((plan, None));
        }
        on_pool!(self, put_imported_prices(&plan.writes, now))?;
        let table = self.reload_prices().await?;
        drop(changing);
        if !recompute {
            return Ok((plan, None));
        }
        let models: Vec<String> = on_pool!(self, stored_models(""))?
            .into_iter()
            .filter(|m| plan.writes.iter().any(|e| table.decides(e, m)))
            .collect();
        let from = plan
            .writes
            .iter()
            .map(PriceEntry::effective_from_micros)
            .min()
            .unwrap_or(now);
        let job = self
            .queue_reprice("price import", &models, from, raw_since, now)
            .await?;
        Ok((plan, job))
    }

    /// Queues a repricing of `models` from `from` on (none for no models) and counts its
    /// sessions.
    pub async fn queue_reprice(
        &self,
        reason: &str,
        models: &[String],
        from: Micros,
        raw_since: Micros,
        now: Micros,
    ) -> anyhow::Result<Option<RepriceJob>> {
        if models.is_empty() {
            return Ok(None);
        }
        let id = on_pool!(
            self,
            create_reprice_job(reason, models, from, raw_since, now)
        )?;
        on_pool!(self, count_reprice_job(&id))?;
        self.reprice_job(&id).await
    }

    /// One step of job `id` (a slice of sessions, or a day of old rollup hours) with the
    /// current table, in its own transaction. On SQLite the step holds the one writer, so a
    /// batch waits for one step at most; on PostgreSQL batches run beside it: the step locks
    /// the sessions it reprices, in the order batches lock them. A price change waits for
    /// the step either way. Returns the job after it, or `None` if there is no such job.
    pub async fn reprice_step(&self, id: &str, now: Micros) -> anyhow::Result<Option<RepriceJob>> {
        // Each step's time is taken once it holds the writer state: on SQLite the wait for
        // a batch ahead of it is not the step's own.
        match &self.pool {
            Pool::Postgres(pool) => {
                let writer = self.writer.read().await;
                let started = std::time::Instant::now();
                let slice = writer.reprice_slice.load(Ordering::Relaxed);
                let step = postgres::reprice_step(pool, id, &writer.prices, slice, now).await?;
                let next = next_slice(slice, started.elapsed(), REPRICE_STEP_TARGET_SHARED);
                writer.reprice_slice.store(next, Ordering::Relaxed);
                Ok(step.map(|(job, _)| job))
            }
            Pool::Sqlite(pool) => {
                let mut writer = self.writer.write().await;
                let started = std::time::Instant::now();
                let slice = writer.reprice_slice.load(Ordering::Relaxed);
                // Through the ingest connection, like batches: the log's checkpoint holds
                // it to start the log over between two writes.
                let conn = writer.ingest.clone().unwrap_or_else(|| pool.clone());
                let step = sqlite::reprice_step(&conn, id, &writer.prices, slice, now).await?;
                let next = next_slice(slice, started.elapsed(), REPRICE_STEP_TARGET);
                writer.reprice_slice.store(next, Ordering::Relaxed);
                let Some((job, live)) = step else {
                    return Ok(None);
                };
                // A live session repriced here must be read again by the next batch, not
                // written back from the cache with its old prices.
                if let Some(cache) = writer.cache.as_mut() {
                    cache.take(live);
                }
                Ok(Some(job))
            }
        }
    }

    /// Runs every open job to its end (the command line, and tests; a server runs them in
    /// the background, step by step).
    pub async fn run_reprice_jobs(&self, now: Micros) -> anyhow::Result<Vec<RepriceJob>> {
        let mut finished = Vec::new();
        for id in self.open_reprice_jobs().await? {
            while let Some(job) = self.reprice_step(&id, now).await? {
                if job.phase == RepricePhase::Done {
                    finished.push(job);
                    break;
                }
            }
        }
        Ok(finished)
    }
}

/// Sessions of the first repricing step; later steps adapt (see the bench's
/// `--price-change`).
pub const REPRICE_SLICE: i64 = 500;

/// About how long a repricing step takes: on SQLite a batch may wait for one step; on
/// PostgreSQL one that shares a rollup row with it (today's totals) may. A slow step makes
/// the next ones smaller.
pub const REPRICE_STEP_TARGET: std::time::Duration = std::time::Duration::from_millis(10);

/// On PostgreSQL, where batches run beside a step: what a batch may wait for is a live
/// session of the slice, or a rollup row from the step's last statements to its commit.
/// Longer steps spend less of their time on each step's round trips and commit.
pub const REPRICE_STEP_TARGET_SHARED: std::time::Duration = std::time::Duration::from_millis(40);

/// The slice after a step of `slice` sessions took `took`: scaled toward `target`, at most
/// halved or doubled at once, within 50 to 2,000 sessions.
pub(crate) fn next_slice(
    slice: i64,
    took: std::time::Duration,
    target: std::time::Duration,
) -> i64 {
    let took = took.as_micros().max(1);
    let target = target.as_micros();
    let scaled =
        i64::try_from(i128::from(slice) * target as i128 / took as i128).unwrap_or(i64::MAX);
    scaled
        .clamp(slice / 2, slice.saturating_mul(2))
        .clamp(50, 2_000)
}

#[cfg(test)]
mod tests {
    use super::{next_slice, REPRICE_STEP_TARGET};

    #[test]
    fn slices_adapt_toward_the_step_target() {
        let target = REPRICE_STEP_TARGET;
        assert_eq!(next_slice(500, target, target), 500);
        assert_eq!(next_slice(500, target * 2, target), 250);
        // At most halved or doubled per step.
        assert_eq!(next_slice(500, target * 64, target), 250);
        assert_eq!(next_slice(500, target / 10, target), 1_000);
        // Within 50 to 2,000.
        assert_eq!(next_slice(60, target * 5, target), 50);
        assert_eq!(next_slice(1_500, target / 4, target), 2_000);
    }
}
