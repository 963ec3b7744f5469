//! Omniops storage: SQLite (embedded default, WAL) and PostgreSQL behind one API.
//!
//! The SQL lives once in `sql/`, one module per area, compiled for each engine (`sqlite`,
//! `postgres`), so both backends run the same statements; each engine owns its migrations.

/// Planning a write batch is pure: it lives in core, the store persists the plan.
pub use omniops_core::batch;
mod error;

pub use error::StoreError;

use anyhow::Context;
use batch::LiveCache;
use omniops_core::analytics::AnalyticsInputs;
use omniops_core::clock::Micros;
use omniops_core::events::Event;
use omniops_core::missing::ProductTally;
use omniops_core::pricing::litellm::ImportPlan;
use omniops_core::pricing::{default_prices, Origin, PriceEntry, PriceTable, DEFAULT_PRICES_JSON};
use omniops_core::rollup::{WindowSums, DURATION_BUCKETS};
use omniops_core::session::Session;
use omniops_core::telemetry::TelemetryInputs;
use omniops_core::window::Window;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

mod postgres;
mod sqlite;

#[derive(Clone)]
enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs the same query function on whichever engine the store uses.
macro_rules! on_pool {
    ($store:expr, $func:ident ( $($arg:expr),* )) => {
        match &$store.pool {
            Pool::Sqlite(p) => sqlite::$func(p, $($arg),*).await,
            Pool::Postgres(p) => postgres::$func(p, $($arg),*).await,
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: Pool,
    writer: Arc<Mutex<WriterState>>,
}

/// What the single writer works with. Batches and price changes take this lock in turn,
/// so a batch always prices with the table that is in the database.
struct WriterState {
    prices: Arc<PriceTable>,
    /// `Some` on SQLite, where no other process writes; PostgreSQL may have several instances.
    cache: Option<LiveCache>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish()
    }
}

/// What one committed batch did.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// Per request, the rejected events as (index, reason).
    pub rejections: Vec<batch::Rejections>,
    /// Live sessions that ended in this batch.
    pub ended: usize,
    /// `session` events that created a session.
    pub backfilled: usize,
    /// Live sessions this batch started, changed or ended, as they are now.
    pub live: Vec<LiveChange>,
    /// (model, domain) pairs whose first unpriced session this batch stored.
    pub unpriced: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveKind {
    Started,
    Updated,
    Ended,
}

/// A budget alert that fired: which alert, for which period, at which level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEvent {
    /// '' for the all-domains alert.
    pub domain: String,
    pub alert_type: String,
    pub period_start: Micros,
    /// A percentage of the threshold ("80", "100") or "projected".
    pub level: String,
    pub spend_nanos: i64,
    pub threshold_nanos: i64,
    /// For "projected": the UTC day the threshold will be crossed at the current rate.
    pub projected_date: Option<String>,
    pub fired_at: Micros,
}

/// One webhook call for a fired alert, and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub id: String,
    pub domain: String,
    pub alert_type: String,
    pub url: String,
    pub body: String,
    /// The alert's signing secret (`whsec_…`).
    pub secret: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: Micros,
    pub last_error: Option<String>,
    pub created_at: Micros,
    pub delivered_at: Option<Micros>,
}

/// Where a webhook delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet sent, or to be retried.
    Pending,
    Delivered,
    /// Given up after the last attempt.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        match text {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// Which ended sessions a history lists, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Outcome {
    #[default]
    All,
    Succeeded,
    Failed,
}

impl Outcome {
    /// The `status` parameter's value: "" (all), "success" or "failed".
    pub fn as_param(self) -> &'static str {
        match self {
            Outcome::All => "",
            Outcome::Succeeded => "success",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(param: &str) -> Option<Outcome> {
        match param {
            "" => Some(Outcome::All),
            "success" => Some(Outcome::Succeeded),
            "failed" => Some(Outcome::Failed),
            _ => None,
        }
    }
}

/// Which ended sessions a history lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub domain: Option<String>,
    pub model: Option<String>,
    pub status: Outcome,
}

/// A live session after a batch: what the live stream tells the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveChange {
    pub kind: LiveKind,
    pub session_id: String,
    pub domain: String,
    pub model: String,
    pub start_time: Micros,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// `None` while the model has no price.
    pub cost_nanos: Option<i64>,
    pub success: Option<bool>,
}

/// The `app_settings` key holding the fingerprint of the default prices last stored.
pub const DEFAULT_PRICES_SETTING: &str = "default_prices_sha256";
/// The `app_settings` key listing models to reprice after new default prices.
const PENDING_REPRICE_SETTING: &str = "pending_reprice_models";

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecomputeReport {
    pub models: Vec<String>,
    pub sessions: u64,
    pub buckets: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnpricedModel {
    pub model: String,
    pub sessions: i64,
    #[serde(skip)]
    pub last_seen: Micros,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: Option<String>,
    pub scope: Scope,
    pub domain: Option<String>,
    pub prefix: String,
    pub created_at: Micros,
    pub revoked_at: Option<Micros>,
}

/// What a key may do; an admin key may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Ingest,
    Read,
    Admin,
}

impl Scope {
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "ingest" => Some(Scope::Ingest),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn allows(self, required: Scope) -> bool {
        self == Scope::Admin || self == required
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A customer domain and its WooCommerce connection (secrets included: never serialise this).
#[derive(Clone, PartialEq, Eq)]
pub struct DomainConfig {
    pub domain: String,
    pub woocommerce_url: Option<String>,
    pub woocommerce_enabled: bool,
    pub consumer_key: Option<String>,
    pub consumer_secret: Option<String>,
}

impl std::fmt::Debug for DomainConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainConfig")
            .field("domain", &self.domain)
            .field("woocommerce_url", &self.woocommerce_url)
            .field("woocommerce_enabled", &self.woocommerce_enabled)
            .field("consumer_key_set", &self.consumer_key.is_some())
            .field("consumer_secret_set", &self.consumer_secret.is_some())
            .finish()
    }
}

/// An exclusive hold on a SQLite data directory (`omniops.lock`, an OS file lock that ends
/// with the process): a running server keeps one, so a command that would write to the
/// database directly can tell that a server is using it.
#[derive(Debug)]
pub struct DataDirLock(#[allow(dead_code)] std::fs::File);

impl DataDirLock {
    /// Takes the lock; `None` when another process holds it.
    pub fn acquire(data_dir: &Path) -> anyhow::Result<Option<DataDirLock>> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let path = data_dir.join("omniops.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(DataDirLock(file))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(anyhow::Error::new(e).context(format!("locking {}", path.display())))
            }
        }
    }
}

/// [`sqlite::Revocation`] and [`postgres::Revocation`] alike.
enum RevokeOutcome {
    Revoked,
    Unknown,
    LastAdmin,
}

macro_rules! revocation_from {
    ($engine:ident) => {
        impl From<$engine::Revocation> for RevokeOutcome {
            fn from(r: $engine::Revocation) -> Self {
                match r {
                    $engine::Revocation::Revoked => RevokeOutcome::Revoked,
                    $engine::Revocation::Unknown => RevokeOutcome::Unknown,
                    $engine::Revocation::LastAdmin => RevokeOutcome::LastAdmin,
                }
            }
        }
    };
}
revocation_from!(sqlite);
revocation_from!(postgres);

/// The SHA-256 of a key, as stored. Keys are long random strings, so a plain hash is enough.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// PostgreSQL schema of Omniops' tables unless configured otherwise: its own, so that the
/// spec's tables (`conversations`, `messages`, …) can live in `public` of the same database.
pub const DEFAULT_SCHEMA: &str = "omniops";

/// The tables of an installation from before schemas, moved from `public` as they are.
const TABLES: [&str; 34] = [
    "_sqlx_migrations",
    "abandoned_carts",
    "alert_events",
    "api_keys",
    "app_settings",
    "chat_telemetry",
    "conversation_rollup_daily",
    "conversation_rollup_hourly",
    "conversations",
    "cost_alerts",
    "dashboard_sessions",
    "domain_config",
    "duration_rollup_daily",
    "duration_rollup_hourly",
    "failed_queries",
    "failed_searches",
    "message_rollup_daily",
    "message_rollup_hourly",
    "messages",
    "model_prices",
    "orders",
    "page_embeddings",
    "product_examples",
    "product_rollup_daily",
    "product_rollup_hourly",
    "query_rollup_daily",
    "query_rollup_hourly",
    "rollup_daily",
    "rollup_hourly",
    "scrape_jobs",
    "scraped_pages",
    "structured_extractions",
    "unpriced_seen",
    "webhook_deliveries",
];

/// A schema name we can write unquoted: lowercase letters, digits and `_`, at most 63.
pub fn check_schema_name(schema: &str) -> anyhow::Result<()> {
    let valid = !schema.is_empty()
        && schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    anyhow::ensure!(
        valid,
        "PostgreSQL schema {schema:?} must be lowercase letters, digits and _ (at most 63)"
    );
    Ok(())
}

/// Creates `schema`; an installation whose tables are still in `public` (migrations there,
/// none in `schema`) has them moved, in one transaction, before migrations run.
async fn move_into_schema(pool: &sqlx::PgPool, schema: &str) -> anyhow::Result<()> {
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(pool)
        .await?;
    if schema == "public" {
        return Ok(());
    }
    let exists = |table: String| async move {
        sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
            .bind(table)
            .fetch_one(pool)
            .await
    };
    let old = exists("public._sqlx_migrations".into()).await?;
    let new = exists(format!("{schema}._sqlx_migrations")).await?;
    if !old || new {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    for table in TABLES {
        let present: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(format!("public.{table}"))
            .fetch_one(&mut *tx)
            .await?;
        if present {
            sqlx::query(&format!("ALTER TABLE public.{table} SET SCHEMA {schema}"))
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    tracing::info!(
        schema,
        "moved Omniops' tables from public into their own schema"
    );
    Ok(())
}

impl Store {
    /// Opens (creating if needed) `omniops.db` in `data_dir` and runs the SQLite migrations.
    pub async fn open_sqlite(data_dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let path = data_dir.join("omniops.db");
        let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite:")?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            // FULL: a commit is on disk before the request that caused it is answered.
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .with_context(|| format!("opening SQLite database {}", path.display()))?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .context("running SQLite migrations")?;
        Store::with_pool(Pool::Sqlite(pool), Some(LiveCache::default())).await
    }

    /// Connects to PostgreSQL and runs its migrations, in the default schema.
    pub async fn open_postgres(url: &str) -> anyhow::Result<Store> {
        Self::open_postgres_in(url, DEFAULT_SCHEMA).await
    }

    /// Connects to PostgreSQL with Omniops' tables in `schema` (README: Settings), moving
    /// them there from `public` when an installation from before schemas is found, and runs
    /// the migrations.
    pub async fn open_postgres_in(url: &str, schema: &str) -> anyhow::Result<Store> {
        check_schema_name(schema)?;
        // Every connection of the pool, the listener's included, finds our tables first.
        let options = sqlx::postgres::PgConnectOptions::from_str(url)
            .context("reading the PostgreSQL URL")?
            .options([("search_path", schema)]);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            // During an outage a request waits at most this long for a connection, then
            // answers 503 with Retry-After instead of hanging.
            .acquire_timeout(Duration::from_secs(1))
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL")?;
        move_into_schema(&pool, schema)
            .await
            .with_context(|| format!("preparing the PostgreSQL schema {schema}"))?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .context("running PostgreSQL migrations")?;
        Store::with_pool(Pool::Postgres(pool), None).await
    }

    /// Whether other processes may write to this database (PostgreSQL), so that changes
    /// must be announced to them.
    pub fn is_shared(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// PostgreSQL: sends `payload` (under 8,000 bytes) to every instance listening on
    /// `channel`. SQLite: nothing to do.
    pub async fn notify(&self, channel: &str, payload: &str) -> anyhow::Result<()> {
        if let Pool::Postgres(pool) = &self.pool {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// PostgreSQL: forwards every notification on `channel` to `sender` until the receiver
    /// is dropped, reconnecting after errors. Returns whether it listens (false on SQLite).
    pub fn listen(&self, channel: &'static str, sender: tokio::sync::mpsc::Sender<String>) -> bool {
        let Pool::Postgres(pool) = &self.pool else {
            return false;
        };
        let pool = pool.clone();
        tokio::spawn(async move {
            loop {
                let listener = async {
                    let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
                    listener.listen(channel).await?;
                    Ok::<_, sqlx::Error>(listener)
                };
                let mut listener = match listener.await {
                    Ok(l) => l,
                    // The store was closed (the server is stopping): nothing to listen for.
                    Err(_) if pool.is_closed() => return,
                    Err(error) => {
                        tracing::warn!(%error, channel, "listening for notifications; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                loop {
                    let received = tokio::select! {
                        // The receiver is gone (the server stopped): let the connection go.
                        () = sender.closed() => return,
                        received = listener.recv() => received,
                    };
                    match received {
                        Ok(notification) => {
                            if sender
                                .send(notification.payload().to_string())
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                        Err(_) if pool.is_closed() => return,
                        Err(error) => {
                            tracing::warn!(%error, channel, "notification listener lost; reconnecting");
                            break;
                        }
                    }
                }
                if sender.is_closed() {
                    return;
                }
            }
        });
        true
    }

    async fn with_pool(pool: Pool, cache: Option<LiveCache>) -> anyhow::Result<Store> {
        let store = Store {
            pool,
            writer: Arc::new(Mutex::new(WriterState {
                prices: Arc::default(),
                cache,
            })),
        };
        store.reload_prices().await?;
        store
            .sync_default_prices(chrono::Utc::now().timestamp_micros())
            .await?;
        Ok(store)
    }

    /// Stores the shipped default prices when they differ from those stored at the last
    /// start (a new release): default rows are replaced, models a user priced are left
    /// alone. The stored models whose price changed are recorded for repricing
    /// ([`Store::pending_reprice`]), which a server does in the background.
    async fn sync_default_prices(&self, now: Micros) -> anyhow::Result<()> {
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

    /// Reprices the models [`Store::pending_reprice`] names and clears the record.
    pub async fn run_pending_reprice(&self, raw_since: Micros) -> anyhow::Result<RecomputeReport> {
        let Some(models) = self.pending_reprice().await? else {
            return Ok(RecomputeReport::default());
        };
        let from = omniops_core::pricing::default_effective_from()
            .and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_micros());
        let report = self.reprice(&models, from, raw_since).await?;
        on_pool!(self, delete_setting(PENDING_REPRICE_SETTING))?;
        Ok(report)
    }

    /// Replaces the default rows when the shipped file changed; returns the stored models
    /// whose price in force changed.
    async fn default_price_changes(
        &self,
        shipped: &[PriceEntry],
        fingerprint: &str,
        now: Micros,
    ) -> anyhow::Result<Vec<String>> {
        let mut writer = self.writer.lock().await;
        let before = writer.prices.clone();
        on_pool!(self, replace_default_prices(shipped, fingerprint, now))?;
        let after = Arc::new(PriceTable::new(self.prices().await?));
        writer.prices = after.clone();
        if let Some(cache) = writer.cache.as_mut() {
            cache.clear();
        }
        drop(writer);
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

    /// Re-reads the price table (after a change made elsewhere).
    pub async fn reload_prices(&self) -> anyhow::Result<()> {
        // Read under the writer's lock: a reload that read before a price change committed
        // must not install its older table after the change's.
        let mut writer = self.writer.lock().await;
        writer.prices = Arc::new(PriceTable::new(self.prices().await?));
        Ok(())
    }

    /// The price table batches are priced with.
    pub async fn price_table(&self) -> Arc<PriceTable> {
        self.writer.lock().await.prices.clone()
    }

    /// PostgreSQL when `database_url` is given, else SQLite in `data_dir`.
    pub async fn open(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Store> {
        Self::open_in(database_url, data_dir, DEFAULT_SCHEMA).await
    }

    /// As [`Store::open`], PostgreSQL's tables in `schema`.
    pub async fn open_in(
        database_url: Option<&str>,
        data_dir: &Path,
        schema: &str,
    ) -> anyhow::Result<Store> {
        match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Self::open_postgres_in(url, schema).await
            }
            Some(_) => anyhow::bail!("database URL must start with postgres:// or postgresql://"),
            None => Self::open_sqlite(data_dir).await,
        }
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }

    /// A round trip to the database.
    pub async fn ping(&self) -> anyhow::Result<()> {
        match &self.pool {
            Pool::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.map(drop)?,
            Pool::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.map(drop)?,
        }
        Ok(())
    }

    /// Applies ingest requests as one transaction, priced with the current price table.
    pub async fn apply_batch(
        &self,
        requests: &[Vec<Event>],
        now: Micros,
    ) -> Result<BatchOutcome, StoreError> {
        let requests: Vec<batch::Request> = requests
            .iter()
            .map(|r| batch::Request::unscoped(r))
            .collect();
        self.apply_requests(&requests, now).await
    }

    /// As [`Store::apply_batch`], each request held to its key's domain, if any.
    pub async fn apply_requests(
        &self,
        requests: &[batch::Request<'_>],
        now: Micros,
    ) -> Result<BatchOutcome, StoreError> {
        let mut writer = self.writer.lock().await;
        let WriterState { prices, cache } = &mut *writer;
        let prices = prices.clone();
        Ok(on_pool!(
            self,
            apply_batch(requests, &prices, now, cache.as_mut())
        )?)
    }

    /// Everything the telemetry report needs, from rollups and the live sessions; for all
    /// models, or one (the monitoring endpoint's `model` filter).
    pub async fn telemetry_inputs(
        &self,
        window: &Window,
        domain: Option<&str>,
        model: Option<&str>,
    ) -> anyhow::Result<TelemetryInputs> {
        let scope = domain.unwrap_or("");
        let (groups, trend, first_session_hour, live) = tokio::try_join!(
            async { on_pool!(self, window_groups(window, scope, model)) },
            async { on_pool!(self, trend(window, scope, model.unwrap_or(""))) },
            async { on_pool!(self, first_session_hour(scope)) },
            async { on_pool!(self, live_sessions(scope)) },
        )?;
        let sums = match model {
            Some(m) => WindowSums::from_model_groups(domain, m, groups),
            None => WindowSums::from_rollup_groups(domain, groups),
        };
        let live = live
            .into_iter()
            .filter(|s| model.is_none_or(|m| s.model == m))
            .collect();
        Ok(TelemetryInputs {
            sums,
            trend,
            first_session_hour,
            live,
        })
    }

    /// A window's sums from the rollups.
    pub async fn window_sums(
        &self,
        window: &Window,
        domain: Option<&str>,
    ) -> anyhow::Result<WindowSums> {
        let groups = on_pool!(self, window_groups(window, domain.unwrap_or(""), None))?;
        Ok(WindowSums::from_rollup_groups(domain, groups))
    }

    /// The same sums the spec's way, from raw rows: kept for benchmarks and consistency tests.
    pub async fn naive_window_sums(
        &self,
        window: &Window,
        domain: Option<&str>,
    ) -> anyhow::Result<WindowSums> {
        let pairs = on_pool!(self, naive_window_sums(window, domain.unwrap_or("")))?;
        Ok(WindowSums::from_pairs(pairs))
    }

    /// Everything the analytics report needs for a window.
    /// `now` lets a window that ends now read the failed queries' latest times.
    pub async fn analytics_inputs(
        &self,
        window: &Window,
        domain: Option<&str>,
        now: Micros,
    ) -> anyhow::Result<AnalyticsInputs> {
        let scope = domain.unwrap_or("");
        let (messages, conversations, top_queries, failed_searches) = tokio::try_join!(
            async { on_pool!(self, message_stats(window, scope)) },
            async {
                on_pool!(self, conversation_counts_of_window(window, scope)).map(|c| c.stats())
            },
            async { on_pool!(self, top_queries(window, scope, 10)) },
            async { on_pool!(self, failed_search_queries(window, scope, 20, now)) },
        )?;
        Ok(AnalyticsInputs {
            messages,
            conversations,
            top_queries,
            failed_searches,
        })
    }

    /// The same from raw messages and conversations: for consistency tests and the bench.
    pub async fn raw_analytics_inputs(
        &self,
        window: &Window,
        domain: Option<&str>,
    ) -> anyhow::Result<AnalyticsInputs> {
        let scope = domain.unwrap_or("");
        let (messages, conversations, top_queries, failed_searches) = tokio::try_join!(
            async { on_pool!(self, raw_message_stats(window, scope)) },
            async { on_pool!(self, raw_conversation_stats(window, scope)) },
            async { on_pool!(self, raw_top_queries(window, scope, 10)) },
            async { on_pool!(self, failed_search_queries(window, scope, 20, i64::MAX)) },
        )?;
        Ok(AnalyticsInputs {
            messages,
            conversations,
            top_queries,
            failed_searches,
        })
    }

    pub async fn conversation_count(
        &self,
        window: &Window,
        domain: Option<&str>,
    ) -> anyhow::Result<i64> {
        let counts = on_pool!(
            self,
            conversation_counts_of_window(window, domain.unwrap_or(""))
        )?;
        Ok(counts.conversations)
    }

    pub async fn prices(&self) -> anyhow::Result<Vec<PriceEntry>> {
        on_pool!(self, load_prices())
    }

    /// Stores a user's price entry and reprices the history it decides from its date on;
    /// batches wait meanwhile and price with the new table afterwards.
    pub async fn put_price(
        &self,
        entry: &PriceEntry,
        raw_since: Micros,
        now: Micros,
    ) -> anyhow::Result<RecomputeReport> {
        let mut entry = entry.clone();
        entry.model = entry.model.trim().to_lowercase();
        entry.aliases = entry
            .aliases
            .iter()
            .map(|a| a.trim().to_lowercase())
            .collect();
        entry.origin = Origin::User;
        let mut writer = self.writer.lock().await;
        on_pool!(self, put_user_price(&entry, now))?;
        let table = Arc::new(PriceTable::new(self.prices().await?));
        writer.prices = table.clone();
        if let Some(cache) = writer.cache.as_mut() {
            cache.clear();
        }
        let models: Vec<String> = on_pool!(self, stored_models(""))?
            .into_iter()
            .filter(|m| table.decides(&entry, m))
            .collect();
        let from = entry.effective_from_micros();
        let report = on_pool!(self, reprice_history(&table, &models, from, raw_since))?;
        Ok(report)
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
    ) -> anyhow::Result<(ImportPlan, Option<RecomputeReport>)> {
        let mut writer = self.writer.lock().await;
        let stored = self.prices().await?;
        let plan = omniops_core::pricing::litellm::plan_import(&stored, entries);
        if !apply || plan.writes.is_empty() {
            return Ok((plan, None));
        }
        on_pool!(self, put_imported_prices(&plan.writes, now))?;
        let table = Arc::new(PriceTable::new(self.prices().await?));
        writer.prices = table.clone();
        if let Some(cache) = writer.cache.as_mut() {
            cache.clear();
        }
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
        let report = on_pool!(self, reprice_history(&table, &models, from, raw_since))?;
        Ok((plan, Some(report)))
    }

    /// Prices the history of `models` from `from` on again with the current table (after
    /// new defaults); batches wait meanwhile.
    pub async fn reprice(
        &self,
        models: &[String],
        from: Micros,
        raw_since: Micros,
    ) -> anyhow::Result<RecomputeReport> {
        let writer = self.writer.lock().await;
        let table = writer.prices.clone();
        let report = on_pool!(self, reprice_history(&table, models, from, raw_since))?;
        drop(writer);
        Ok(report)
    }

    /// Creates a key; returns its record and the secret, which is shown once and stored
    /// only as a hash.
    pub async fn create_key(
        &self,
        scope: Scope,
        domain: Option<&str>,
        name: Option<&str>,
        now: Micros,
    ) -> anyhow::Result<(ApiKeyRecord, String)> {
        use rand::RngCore;
        let mut bytes = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = format!("omk_{}", hex::encode(bytes));
        let record = ApiKeyRecord {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.map(str::to_string),
            scope,
            domain: domain.map(str::to_string),
            prefix: secret[..12].to_string(),
            created_at: now,
            revoked_at: None,
        };
        on_pool!(self, insert_key(&record, &hash_key(&secret)))?;
        Ok((record, secret))
    }

    /// Revokes a key: `Ok(false)` when no active key has that id, [`StoreError::Conflict`]
    /// for the last active admin key not held to a domain.
    pub async fn revoke_key(&self, id: &str, now: Micros) -> Result<bool, StoreError> {
        let outcome = match &self.pool {
            Pool::Sqlite(p) => sqlite::revoke_key(p, id, now).await?.into(),
            Pool::Postgres(p) => postgres::revoke_key(p, id, now).await?.into(),
        };
        match outcome {
            RevokeOutcome::Revoked => Ok(true),
            RevokeOutcome::Unknown => Ok(false),
            RevokeOutcome::LastAdmin => Err(StoreError::Conflict(
                "this is the last admin key not held to a domain: create another one before revoking it".into(),
            )),
        }
    }
}

/// Store methods that only run one query function on the store's engine: generated, so
/// each is one line of signature and call rather than a hand-written forwarder.
macro_rules! dispatch {
    ($($(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty = $call:ident($($expr:expr),*);)*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> anyhow::Result<$ret> {
                    Ok(on_pool!(self, $call($($expr),*))?)
                }
            )*
        }
    };
}

dispatch! {
    /// The content index: pages (scraped in `window`, if given) and pending scrape jobs.
    fn scraped_inputs(&self, window: Option<&Window>, domain: Option<&str>) -> omniops_core::shop::ScrapedInputs = scraped_inputs(window, domain.unwrap_or(""));
    /// The catalogue, and the orders and abandoned carts of the window.
    fn shop_inputs(&self, window: &Window, domain: Option<&str>) -> omniops_core::shop::ShopInputs = shop_inputs(window, domain.unwrap_or(""));
    /// Sets (or changes) the alert of a domain (`None`: all domains) and type.
    fn upsert_alert(&self, domain: Option<&str>, alert_type: &str, threshold_nanos: i64, now: Micros) -> () = upsert_alert(domain.unwrap_or(""), alert_type, threshold_nanos, now);
    /// (domain, alert type, threshold nanos); `domain` `None` lists every alert.
    fn list_alerts(&self, domain: Option<&str>) -> Vec<(String, String, i64)> = list_alerts(domain.unwrap_or(""), domain.is_none());
    /// Every alert: (domain, type, threshold, notify_at as a JSON list of percentages).
    fn alert_rules(&self) -> Vec<(String, String, i64, String)> = alert_rules();
    fn set_alert_levels(&self, domain: Option<&str>, alert_type: &str, notify_at: &str) -> () = set_alert_levels(domain.unwrap_or(""), alert_type, notify_at);
    /// Stores a fired alert unless it fired before for that period and level.
    fn record_alert_event(&self, event: &AlertEvent) -> bool = record_alert_event(event);
    /// The newest fired alerts of a domain (or of all, with `None`).
    fn alert_history(&self, domain: Option<&str>, limit: i64) -> Vec<AlertEvent> = alert_history(domain.unwrap_or(""), domain.is_none(), limit);
    /// An alert's webhook: (url, slack, secret).
    fn alert_webhook(&self, domain: Option<&str>, alert_type: &str) -> Option<(String, bool, String)> = alert_webhook(domain.unwrap_or(""), alert_type);
    fn set_alert_webhook(&self, domain: Option<&str>, alert_type: &str, url: Option<&str>, slack: bool, secret: Option<&str>) -> () = set_alert_webhook(domain.unwrap_or(""), alert_type, url, slack, secret);
    /// Deletes an alert; false when there was none.
    fn delete_alert(&self, domain: Option<&str>, alert_type: &str) -> bool = delete_alert(domain.unwrap_or(""), alert_type);
    fn queue_delivery(&self, delivery: &WebhookDelivery) -> () = queue_delivery(delivery);
    /// Due deliveries, each leased for `lease` so only one sender takes it.
    fn claim_deliveries(&self, now: Micros, lease: Micros, limit: i64) -> Vec<WebhookDelivery> = claim_deliveries(now, lease, limit);
    fn finish_attempt(&self, id: &str, status: DeliveryStatus, next_attempt_at: Micros, error: Option<&str>, now: Micros) -> () = finish_attempt(id, status, next_attempt_at, error, now);
    /// The delivery log, newest first, of a domain (or of all, with `None`).
    fn recent_deliveries(&self, domain: Option<&str>, limit: i64) -> Vec<WebhookDelivery> = recent_deliveries(domain.unwrap_or(""), domain.is_none(), limit);
    /// Priced cost of sessions started in [start, end), whole hours, for a domain or all.
    fn cost_between(&self, start: Micros, end: Micros, domain: Option<&str>) -> i64 = cost_between(start, end, domain.unwrap_or(""));
    /// Ended sessions of the window, newest first, with their count when `count` is set.
    fn sessions_in_window(&self, window: &Window, filter: &SessionFilter, limit: i64, offset: i64, count: bool) -> (Vec<Session>, Option<i64>) = sessions_in_window(window, filter, limit, offset, count);
    /// Ended sessions older than `after` (start time, session id), newest first.
    fn sessions_after(&self, window: &Window, filter: &SessionFilter, after: Option<(Micros, String)>, limit: i64) -> Vec<Session> = sessions_after(window, filter, after, limit);
    /// The first `limit` messages of a conversation of `domain`: (role, content, time).
    fn conversation_messages(&self, conversation_id: &str, domain: &str, limit: i64) -> Vec<(String, String, Micros)> = conversation_messages(conversation_id, domain, limit);
    fn domain_configs(&self) -> Vec<DomainConfig> = list_domain_configs();
    /// Upserts `configs` and deletes `removed`, in one transaction.
    fn put_domain_configs(&self, configs: &[DomainConfig], removed: &[String], now: Micros) -> () = put_domain_configs(configs, removed, now);
    fn setting(&self, key: &str) -> Option<String> = get_setting(key);
    fn put_setting(&self, key: &str, value: &str) -> () = put_setting(key, value);
    /// Ended sessions of the window per response-time bucket (`DURATION_BOUNDS_MS`).
    fn duration_histogram(&self, window: &Window, domain: Option<&str>) -> [i64; DURATION_BUCKETS] = duration_histogram(window, domain.unwrap_or(""));
    /// The same from raw sessions: for consistency tests.
    fn raw_duration_histogram(&self, window: &Window, domain: Option<&str>) -> [i64; DURATION_BUCKETS] = raw_duration_histogram(window, domain.unwrap_or(""));
    /// Per day of the window with user messages: (day, positive, negative, user messages).
    fn sentiment_by_day(&self, window: &Window, domain: Option<&str>) -> Vec<(Micros, i64, i64, i64)> = sentiment_by_day(window, domain.unwrap_or(""));
    /// Sessions running now (of one domain, or all), with their running cost.
    fn live_sessions(&self, domain: Option<&str>) -> Vec<omniops_core::telemetry::LiveSession> = live_sessions(domain.unwrap_or(""));
    /// Live sessions silent since before `cutoff`: (session id, last event time, whether
    /// it was built from spans).
    fn stale_live_sessions(&self, cutoff: Micros, limit: i64) -> Vec<(String, Micros, bool)> = stale_live_sessions(cutoff, limit);
    /// Span-built sessions whose root span ended and which heard nothing since `quiet_before`.
    fn settling_sessions(&self, quiet_before: Micros, limit: i64) -> Vec<String> = settling_sessions(quiet_before, limit);
    /// Domains with sessions since `since`, and configured ones, sorted.
    fn known_domains(&self, since: Micros) -> Vec<String> = known_domains(since);
    /// Requests per product the catalogue lacks in the window, from rollups.
    fn product_tallies(&self, window: &Window, domain: Option<&str>) -> Vec<ProductTally> = product_tallies(window, domain.unwrap_or(""));
    /// The same from raw failed searches and messages: for consistency tests.
    fn raw_product_tallies(&self, window: &Window, domain: Option<&str>) -> Vec<ProductTally> = raw_product_tallies(window, domain.unwrap_or(""));
    /// Requests per UTC day of the window for each of `products`: (product, day, requests).
    fn product_daily_counts(&self, window: &Window, domain: Option<&str>, products: &[String]) -> Vec<(String, Micros, i64)> = product_daily_counts(window, domain.unwrap_or(""), products);
    /// Up to `per_product` newest distinct texts that asked for each of `products`.
    fn product_examples(&self, window: &Window, domain: Option<&str>, products: &[String], per_product: i64) -> HashMap<String, Vec<String>> = product_examples(window, domain.unwrap_or(""), products, per_product);
    /// Conversations started in the window, counted the spec's way (raw rows).
    fn raw_conversation_count(&self, window: &Window, domain: Option<&str>) -> i64 = raw_conversation_count(window, domain.unwrap_or(""));
    /// Conversations of the window, newest first: (id, first user message, created_at).
    fn recent_conversations(&self, window: &Window, domain: Option<&str>, limit: i64, offset: i64) -> Vec<(String, Option<String>, Micros)> = recent_conversations(window, domain.unwrap_or(""), limit, offset);
    fn session(&self, session_id: &str) -> Option<Session> = session(session_id);
    /// Models of stored sessions and rollups, as sent: of one domain, or all.
    fn stored_models(&self, domain: Option<&str>) -> Vec<String> = stored_models(domain.unwrap_or(""));
    /// Models seen without a price: of one domain, or all.
    fn unpriced_models(&self, domain: Option<&str>) -> Vec<UnpricedModel> = unpriced_models(domain.unwrap_or(""));
    fn list_keys(&self) -> Vec<ApiKeyRecord> = list_keys();
    /// The active key with this secret, if any.
    fn find_key(&self, secret: &str) -> Option<ApiKeyRecord> = find_key(&hash_key(secret));
    /// Stores a dashboard login: the cookie's hash, its key, its CSRF token.
    fn create_dashboard_session(&self, token_hash: &str, key_id: &str, csrf_token: &str, now: Micros, expires_at: Micros) -> () = create_dashboard_session(token_hash, key_id, csrf_token, now, expires_at);
    /// The key behind a live dashboard session, and the session's CSRF token.
    fn find_dashboard_session(&self, token_hash: &str, now: Micros) -> Option<(ApiKeyRecord, String)> = find_dashboard_session(token_hash, now);
    fn delete_dashboard_session(&self, token_hash: &str) -> () = delete_dashboard_session(token_hash);
    fn count_active_keys(&self) -> i64 = count_active_keys();
    fn delete_sessions_before(&self, cutoff: Micros) -> u64 = delete_sessions_before(cutoff);
    fn delete_conversations_before(&self, cutoff: Micros) -> u64 = delete_conversations_before(cutoff);
    fn delete_rollups_before(&self, cutoff: Micros) -> u64 = delete_rollups_before(cutoff);
}
