//! Omniops storage: SQLite (embedded default, WAL) and PostgreSQL behind one API.
//!
//! The SQL lives once in `sql/`, one module per area, compiled for each engine (`sqlite`,
//! `postgres`), so both backends run the same statements; each engine owns its migrations.

/// Planning a write batch is pure: it lives in core, the store persists the plan.
pub use omniops_core::batch;
pub mod backup;
mod checkpoint;
mod error;
pub mod migrate;

pub use error::StoreError;
pub use open::{check_schema_name, DEFAULT_SCHEMA};
pub use price_changes::REPRICE_SLICE;

use anyhow::Context;
use batch::LiveCache;
use omniops_core::analytics::AnalyticsInputs;
use omniops_core::clock::Micros;
use omniops_core::events::Event;
use omniops_core::missing::ProductTally;
use omniops_core::pricing::PriceTable;
use omniops_core::rollup::{WindowSums, DURATION_BUCKETS};
use omniops_core::session::Session;
use omniops_core::telemetry::TelemetryInputs;
use omniops_core::window::Window;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::RwLock;

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

// After `on_pool!`, which they use.
mod open;
mod price_changes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
    writer: Arc<RwLock<WriterState>>,
    /// Held by a price change (or import) from reading the stored prices to installing the
    /// new table, so that changes of this instance neither interleave (an import planned
    /// before a user's price must not be stored after it) nor hold up batches meanwhile.
    price_writes: Arc<tokio::sync::Mutex<()>>,
}

/// What the writers work with. A price change takes this lock alone to install its table:
/// batches from then on price with it; those before it that priced with the old one are
/// stored before its repricing is queued, which reprices them. On PostgreSQL batches share
/// it: several run at once, as several instances' would (row locks and the session keys
/// order them); SQLite has one writer, and its batches take the lock alone for the live
/// cache.
struct WriterState {
    prices: Arc<PriceTable>,
    /// `Some` on SQLite, where no other process writes; PostgreSQL may have several instances.
    cache: Option<LiveCache>,
    /// On SQLite, the one connection ingest batches write through. Their multi-row
    /// statements take megabytes each once prepared; kept in one connection's statement
    /// cache rather than in every pooled one's, they cost memory once.
    ingest: Option<sqlx::SqlitePool>,
    /// Sessions the next repricing step reads: adapted so that a step takes about
    /// [`price_changes::REPRICE_STEP_TARGET`]. Atomic: on PostgreSQL a step shares the lock.
    reprice_slice: std::sync::atomic::AtomicI64,
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
/// What an alert fired for: a share of its threshold reached, the threshold projected to
/// be crossed before the period ends, or a test sent by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertLevel {
    /// A percentage of the threshold (`notify_at`).
    Percent(u32),
    Projected,
    Test,
}

impl AlertLevel {
    /// As stored and sent: "80", "100", "projected" or "test".
    pub fn as_text(self) -> String {
        match self {
            AlertLevel::Percent(p) => p.to_string(),
            AlertLevel::Projected => "projected".into(),
            AlertLevel::Test => "test".into(),
        }
    }

    pub fn parse(text: &str) -> Option<AlertLevel> {
        match text {
            "projected" => Some(AlertLevel::Projected),
            "test" => Some(AlertLevel::Test),
            p => p.parse().ok().map(AlertLevel::Percent),
        }
    }
}

impl std::fmt::Display for AlertLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_text())
    }
}

impl serde::Serialize for AlertLevel {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_text())
    }
}

/// The period a budget alert watches: the UTC day or the UTC month.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum AlertType {
    Daily,
    Monthly,
}

impl AlertType {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertType::Daily => "daily",
            AlertType::Monthly => "monthly",
        }
    }

    pub fn parse(text: &str) -> Option<AlertType> {
        match text {
            "daily" => Some(AlertType::Daily),
            "monthly" => Some(AlertType::Monthly),
            _ => None,
        }
    }
}

impl std::fmt::Display for AlertType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEvent {
    /// '' for the all-domains alert.
    pub domain: String,
    pub alert_type: AlertType,
    pub period_start: Micros,
    pub level: AlertLevel,
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
    pub alert_type: AlertType,
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

/// Where a repricing job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RepricePhase {
    /// Repricing raw sessions, model by model.
    Sessions,
    /// Repricing rollup hours older than the raw sessions, from their token sums.
    Buckets,
    Done,
}

impl RepricePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            RepricePhase::Sessions => "sessions",
            RepricePhase::Buckets => "buckets",
            RepricePhase::Done => "done",
        }
    }

    pub fn parse(text: &str) -> Option<RepricePhase> {
        [
            RepricePhase::Sessions,
            RepricePhase::Buckets,
            RepricePhase::Done,
        ]
        .into_iter()
        .find(|p| p.as_str() == text)
    }
}

fn rfc3339<S: serde::Serializer>(at: &Micros, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&omniops_core::clock::to_rfc3339(*at))
}

fn rfc3339_option<S: serde::Serializer>(
    at: &Option<Micros>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// A repricing of stored history after a price change, done in the background one short
/// transaction at a time (README: Prices).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepriceJob {
    pub id: String,
    /// What asked for it: `price gpt-4o`, `import`, `defaults`.
    pub reason: String,
    pub models: Vec<String>,
    #[serde(skip)]
    pub from_time: Micros,
    #[serde(skip)]
    pub raw_since: Micros,
    pub phase: RepricePhase,
    #[serde(skip)]
    pub cursor_model: i64,
    #[serde(skip)]
    pub cursor_time: Micros,
    #[serde(skip)]
    pub cursor_id: String,
    /// Sessions to read, counted when the job was queued.
    pub sessions_total: i64,
    pub sessions_seen: i64,
    /// Sessions whose cost changed.
    pub sessions_changed: i64,
    /// Rollup hours older than the raw sessions whose cost changed.
    pub buckets_changed: i64,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Micros,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Micros,
    #[serde(serialize_with = "rfc3339_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Micros>,
    /// The last failure of a step; steps are retried.
    pub error: Option<String>,
}

impl RepriceJob {
    /// Sessions read, in percent of those counted at the start (100 when done).
    pub fn percent(&self) -> i64 {
        match (self.phase, self.sessions_total) {
            (RepricePhase::Done, _) => 100,
            (_, 0) => 0,
            (_, total) => (self.sessions_seen.min(total) * 100) / total,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnpricedModel {
    pub model: String,
    pub sessions: i64,
    #[serde(skip)]
    pub last_seen: Micros,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: Option<String>,
    pub scope: Scope,
    pub domain: Option<String>,
    pub prefix: String,
    /// Microseconds since the Unix epoch.
    #[schema(value_type = i64)]
    pub created_at: Micros,
    #[schema(value_type = Option<i64>)]
    pub revoked_at: Option<Micros>,
}

/// What a key may do; an admin key may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
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

/// How a WooCommerce sync of one store ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Every page was read: where the next sync resumes (`None`: where it was), and how
    /// many products and orders were stored.
    Synced {
        products_after: Option<String>,
        orders_after: Option<String>,
        products: i64,
        orders: i64,
        /// It read everything, not only what changed.
        full: bool,
    },
    Failed(String),
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

impl Store {
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
        let pool = match &self.pool {
            Pool::Postgres(pool) => {
                let writer = self.writer.read().await;
                return Ok(postgres::apply_batch(pool, requests, &writer.prices, now, None).await?);
            }
            Pool::Sqlite(pool) => pool,
        };
        let mut writer = self.writer.write().await;
        let WriterState {
            prices,
            cache,
            ingest,
            ..
        } = &mut *writer;
        // Batches write through the ingest connection, which `open_sqlite` always opens.
        let pool = ingest.as_ref().unwrap_or(pool);
        Ok(sqlite::apply_batch(pool, requests, prices, now, cache.as_mut()).await?)
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
            self.window_groups(window, scope, model),
            async { Ok(on_pool!(self, trend(window, scope, model.unwrap_or("")))?) },
            async { Ok(on_pool!(self, first_session_hour(scope))?) },
            async { Ok(on_pool!(self, live_sessions(scope))?) },
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

    /// A window's rollup rows; for all domains and models, with every domain's totals.
    async fn window_groups(
        &self,
        window: &Window,
        scope: &str,
        model: Option<&str>,
    ) -> anyhow::Result<Vec<(String, String, omniops_core::rollup::Counters)>> {
        if !scope.is_empty() || model.is_some() {
            return Ok(on_pool!(self, window_groups(window, scope, model))?);
        }
        let (mut groups, domains) = tokio::try_join!(
            async { on_pool!(self, window_groups(window, scope, model)) },
            async { on_pool!(self, domain_totals(window)) },
        )?;
        groups.extend(domains);
        Ok(groups)
    }

    /// A window's sums from the rollups.
    pub async fn window_sums(
        &self,
        window: &Window,
        domain: Option<&str>,
    ) -> anyhow::Result<WindowSums> {
        let groups = self
            .window_groups(window, domain.unwrap_or(""), None)
            .await?;
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
        let (messages, conversations, top_queries, failed_searches, users) = tokio::try_join!(
            async { on_pool!(self, message_stats(window, scope)) },
            async {
                on_pool!(self, conversation_counts_of_window(window, scope)).map(|c| c.stats())
            },
            async { on_pool!(self, top_queries(window, scope, 10)) },
            async { on_pool!(self, failed_search_queries(window, scope, 20, now)) },
            async { on_pool!(self, distinct_customers(window, scope)) },
        )?;
        Ok(AnalyticsInputs {
            messages,
            conversations,
            top_queries,
            failed_searches,
            users,
        })
    }

    /// The same from raw messages and conversations: for consistency tests and the bench.
    pub async fn raw_analytics_inputs(
        &self,
        window: &Window,
        domain: Option<&str>,
    ) -> anyhow::Result<AnalyticsInputs> {
        let scope = domain.unwrap_or("");
        let (messages, conversations, top_queries, failed_searches, users) = tokio::try_join!(
            async { on_pool!(self, raw_message_stats(window, scope)) },
            async { on_pool!(self, raw_conversation_stats(window, scope)) },
            async { on_pool!(self, raw_top_queries(window, scope, 10)) },
            async { on_pool!(self, failed_search_queries(window, scope, 20, i64::MAX)) },
            async { on_pool!(self, distinct_customers(window, scope)) },
        )?;
        Ok(AnalyticsInputs {
            messages,
            conversations,
            top_queries,
            failed_searches,
            users,
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
    /// A repricing job.
    fn reprice_job(&self, id: &str) -> Option<RepriceJob> = reprice_job(id);
    /// The newest repricing jobs first.
    fn reprice_jobs(&self, limit: i64) -> Vec<RepriceJob> = reprice_jobs(limit);
    /// Repricing jobs not done, oldest first.
    fn open_reprice_jobs(&self) -> Vec<String> = open_reprice_jobs();
    /// Records the last failure of a job's step.
    fn note_reprice_error(&self, id: &str, error: &str) -> () = note_reprice_error(id, error);
    /// The content index: pages (scraped in `window`, if given) and pending scrape jobs.
    fn scraped_inputs(&self, window: Option<&Window>, domain: Option<&str>) -> omniops_core::shop::ScrapedInputs = scraped_inputs(window, domain.unwrap_or(""));
    /// The catalogue, and the orders and abandoned carts of the window.
    fn shop_inputs(&self, window: &Window, domain: Option<&str>) -> omniops_core::shop::ShopInputs = shop_inputs(window, domain.unwrap_or(""));
    /// Sets (or changes) the alert of a domain (`None`: all domains) and type.
    fn upsert_alert(&self, domain: Option<&str>, alert_type: AlertType, threshold_nanos: i64, now: Micros) -> () = upsert_alert(domain.unwrap_or(""), alert_type, threshold_nanos, now);
    /// (domain, alert type, threshold nanos); `domain` `None` lists every alert.
    fn list_alerts(&self, domain: Option<&str>) -> Vec<(String, AlertType, i64)> = list_alerts(domain.unwrap_or(""), domain.is_none());
    /// Every alert: (domain, type, threshold, notify_at as a JSON list of percentages).
    fn alert_rules(&self) -> Vec<(String, AlertType, i64, String)> = alert_rules();
    fn set_alert_levels(&self, domain: Option<&str>, alert_type: AlertType, notify_at: &str) -> () = set_alert_levels(domain.unwrap_or(""), alert_type, notify_at);
    /// Stores a fired alert unless it fired before for that period and level.
    fn record_alert_event(&self, event: &AlertEvent) -> bool = record_alert_event(event);
    /// The newest fired alerts of a domain (or of all, with `None`).
    fn alert_history(&self, domain: Option<&str>, limit: i64) -> Vec<AlertEvent> = alert_history(domain.unwrap_or(""), domain.is_none(), limit);
    /// An alert's webhook: (url, slack, secret).
    fn alert_webhook(&self, domain: Option<&str>, alert_type: AlertType) -> Option<(String, bool, String)> = alert_webhook(domain.unwrap_or(""), alert_type);
    fn set_alert_webhook(&self, domain: Option<&str>, alert_type: AlertType, url: Option<&str>, slack: bool, secret: Option<&str>) -> () = set_alert_webhook(domain.unwrap_or(""), alert_type, url, slack, secret);
    /// Deletes an alert; false when there was none.
    fn delete_alert(&self, domain: Option<&str>, alert_type: AlertType) -> bool = delete_alert(domain.unwrap_or(""), alert_type);
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
    /// Counts missing-product demand again, once per need, from the raw rows since `since`
    /// (a day boundary); older product rollups stay. Returns the needs counted plus the
    /// rollup rows replaced: zero means no report changed.
    fn recount_product_demand(&self, since: Micros) -> u64 = recount_product_demand(since);
    /// The same from raw failed searches and messages: for consistency tests.
    fn raw_product_tallies(&self, window: &Window, domain: Option<&str>) -> Vec<ProductTally> = raw_product_tallies(window, domain.unwrap_or(""));
    /// Requests per UTC day of the window for each of `products`: (product, day, requests).
    fn product_daily_counts(&self, window: &Window, domain: Option<&str>, products: &[String]) -> Vec<(String, Micros, i64)> = product_daily_counts(window, domain.unwrap_or(""), products);
    /// Up to `per_product` newest distinct texts that asked for each of `products`.
    fn product_examples(&self, window: &Window, domain: Option<&str>, products: &[String], per_product: i64) -> HashMap<String, Vec<String>> = product_examples(window, domain.unwrap_or(""), products, per_product);
    /// Distinct customers of the window's conversations; `None` when none names one.
    fn distinct_customers(&self, window: &Window, domain: Option<&str>) -> Option<i64> = distinct_customers(window, domain.unwrap_or(""));
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
    /// Retention of raw sessions: on PostgreSQL whole weeks are dropped (README: Retention).
    fn delete_sessions_before(&self, cutoff: Micros) -> u64 = delete_sessions_before(cutoff);
    /// PostgreSQL: creates the week partitions of raw sessions from `from` to `to` that do
    /// not exist yet; returns how many. SQLite: nothing to do.
    fn prepare_partitions(&self, from: Micros, to: Micros) -> u64 = prepare_partitions(from, to);
    fn delete_conversations_before(&self, cutoff: Micros) -> u64 = delete_conversations_before(cutoff);
    fn delete_rollups_before(&self, cutoff: Micros) -> u64 = delete_rollups_before(cutoff);
    /// Records a WooCommerce sync's outcome for a store (README: WooCommerce).
    fn record_store_sync(&self, domain: &str, outcome: &SyncOutcome, at: Micros) -> () = record_store_sync(domain, outcome, at);
    /// Takes (or renews) a store's sync lease for `owner` until `until`; false while another holds it.
    fn take_sync_lease(&self, domain: &str, owner: &str, now: Micros, until: Micros) -> bool = take_sync_lease(domain, owner, now, until);
    fn release_sync_lease(&self, domain: &str, owner: &str) -> () = release_sync_lease(domain, owner);
    /// After a full sync: synced products the store no longer has leave the catalogue.
    fn mark_removed_products(&self, domain: &str, kept: &[String], now: Micros) -> u64 = mark_removed_products(domain, kept, now);
    fn last_full_sync(&self, domain: &str) -> Option<Micros> = last_full_sync(domain);
    /// The sync state of the enabled stores synced at least once (of one domain, or all).
    fn store_syncs(&self, domain: Option<&str>) -> Vec<omniops_core::shop::StoreSync> = store_syncs(domain.unwrap_or(""));
    /// Where a store's incremental sync resumes: (products, orders) modified after.
    fn store_sync_cursors(&self, domain: &str) -> (Option<String>, Option<String>) = store_sync_cursors(domain);
}
