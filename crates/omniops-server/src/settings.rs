//! Settings, layered: defaults < config file < `OMNIOPS_*` environment < command line.
//! The binary gathers the file and the env/CLI overrides; `resolve` layers them.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A value that must not appear in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    /// Shows a URL's scheme and host but never its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                write!(f, "\"{}://***{}\"", &self.0[..scheme], &self.0[at..])
            }
            _ => f.write_str("\"***\""),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<Secret>,
    /// PostgreSQL schema of Omniops' tables.
    pub postgres_schema: String,
    /// Raw sessions older than this are deleted by the hourly retention job.
    pub retention_days: u32,
    /// Rollups are kept this long, so totals for windows up to 365 days stay complete.
    pub rollup_retention_days: u32,
    /// Ingest requests waiting for the writer; a full queue answers 503.
    pub queue_capacity: usize,
    /// Events per write transaction at most.
    pub max_batch_events: usize,
    /// Batches committed at once on PostgreSQL (SQLite has one writer).
    pub ingest_writers: usize,
    /// Fill an empty database with 30 days of demo data and keep sessions coming.
    pub demo: bool,
    /// A live session silent this long is closed as failed ("timed out").
    pub live_timeout_minutes: u32,
    /// How often the reaper looks for silent sessions (tests shorten it).
    pub reaper_interval_ms: u64,
    /// Let alert webhooks call loopback and private addresses (off: only public ones).
    pub allow_private_outbound: bool,
    /// How often due webhook deliveries are sent (tests shorten it).
    pub delivery_interval_ms: u64,
    /// How often each enabled WooCommerce store is synced (README: WooCommerce).
    pub woocommerce_sync_minutes: u32,
    /// Seconds between polls of `omniops import --follow` (README: Importing).
    pub import_poll_seconds: u32,
    /// Seconds each import pass reads again before its checkpoint (README: Importing).
    pub import_overlap_seconds: u32,
    /// A session built from OpenTelemetry spans ends this long after its last span arrived,
    /// once its root span has ended.
    pub otlp_quiet_ms: u64,
    /// How long a computed report may be shared by reads while nothing changed (0: never);
    /// README: Caches.
    pub report_cache_ms: u64,
    /// Open connections at most (also kept below the open-file limit); more are closed.
    pub max_connections: usize,
    /// Request-body bytes held at once across all connections; more get 503.
    pub body_bytes_in_flight: usize,
    /// A client must send a request's headers within this time.
    pub header_timeout_ms: u64,
    /// A connection with no request for this long is closed.
    pub idle_timeout_ms: u64,
    /// A request body that sends nothing for this long is dropped.
    pub body_timeout_ms: u64,
    /// Trust `X-Forwarded-For` and `X-Forwarded-Proto` (only behind a proxy that sets them).
    pub trust_proxy_headers: bool,
    /// Failed logins (or wrong keys) from one client address or for one key prefix before
    /// further failures are refused with 429 for a while.
    pub login_failures_allowed: u32,
    /// The longest such wait, in seconds; it doubles with each failure past the allowance.
    pub login_lockout_max_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./omniops-data"),
            database_url: None,
            postgres_schema: omniops_store::DEFAULT_SCHEMA.to_string(),
            retention_days: 30,
            rollup_retention_days: 400,
            queue_capacity: 256,
            max_batch_events: 50_000,
            ingest_writers: 2,
            demo: false,
            live_timeout_minutes: 10,
            reaper_interval_ms: 60_000,
            allow_private_outbound: false,
            delivery_interval_ms: 1_000,
            woocommerce_sync_minutes: 15,
            import_poll_seconds: 5,
            import_overlap_seconds: 60,
            otlp_quiet_ms: 5_000,
            report_cache_ms: 1_000,
            max_connections: 4_096,
            body_bytes_in_flight: 64 * 1024 * 1024,
            header_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            body_timeout_ms: 30_000,
            trust_proxy_headers: false,
            login_failures_allowed: 10,
            login_lockout_max_secs: 900,
        }
    }
}

/// Every setting as optional: one layer of configuration (a file, or env + flags).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SettingsLayer {
    pub bind: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub postgres_schema: Option<String>,
    pub retention_days: Option<u32>,
    pub rollup_retention_days: Option<u32>,
    pub queue_capacity: Option<usize>,
    pub max_batch_events: Option<usize>,
    pub ingest_writers: Option<usize>,
    pub demo: Option<bool>,
    pub live_timeout_minutes: Option<u32>,
    pub reaper_interval_ms: Option<u64>,
    pub allow_private_webhooks: Option<bool>,
    /// The same as `allow_private_webhooks`, for every outbound call (webhooks and stores).
    pub allow_private_outbound: Option<bool>,
    pub delivery_interval_ms: Option<u64>,
    pub woocommerce_sync_minutes: Option<u32>,
    pub import_poll_seconds: Option<u32>,
    pub import_overlap_seconds: Option<u32>,
    pub otlp_quiet_ms: Option<u64>,
    pub report_cache_ms: Option<u64>,
    pub max_connections: Option<usize>,
    pub body_bytes_in_flight: Option<usize>,
    pub header_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    pub body_timeout_ms: Option<u64>,
    pub trust_proxy_headers: Option<bool>,
    pub login_failures_allowed: Option<u32>,
    pub login_lockout_max_secs: Option<u64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("retention_days must be from 1 to 3650")]
    Retention,
    #[error("rollup_retention_days must be at least 366 and at least retention_days")]
    RollupRetention,
    #[error("queue_capacity and max_batch_events must be at least 1, ingest_writers from 1 to 16")]
    Queue,
    #[error("live_timeout_minutes must be from 1 to 10080, and reaper_interval_ms above 0")]
    LiveTimeout,
    #[error("database_url must start with postgres:// or postgresql://")]
    DatabaseUrl,
    #[error("otlp_quiet_ms must be from 1 to 3600000")]
    OtlpQuiet,
    #[error("woocommerce_sync_minutes must be from 1 to 1440")]
    WooCommerceSync,
    #[error("import_poll_seconds must be from 1 to 3600, import_overlap_seconds at most 86400")]
    ImportPoll,
    #[error("report_cache_ms must be from 0 to 60000")]
    ReportCache,
    #[error("max_connections must be at least 16, body_bytes_in_flight at least 1048576, and the timeouts from 100 ms to 1 hour")]
    Transport,
    #[error(
        "login_failures_allowed must be at least 1 and login_lockout_max_secs from 1 to 86400"
    )]
    Login,
    #[error("postgres_schema must be lowercase letters, digits and _ (at most 63), starting with a letter or _")]
    Schema,
}

impl Settings {
    /// Layers are applied in order; later layers win.
    pub fn resolve(layers: &[SettingsLayer]) -> Result<Settings, SettingsError> {
        let mut s = Settings::default();
        for layer in layers {
            let l = layer.clone();
            s.bind = l.bind.unwrap_or(s.bind);
            s.data_dir = l.data_dir.unwrap_or(s.data_dir);
            s.database_url = l
                .database_url
                .filter(|u| !u.is_empty())
                .map(Secret::new)
                .or(s.database_url);
            s.postgres_schema = l.postgres_schema.unwrap_or(s.postgres_schema);
            s.retention_days = l.retention_days.unwrap_or(s.retention_days);
            s.rollup_retention_days = l.rollup_retention_days.unwrap_or(s.rollup_retention_days);
            s.queue_capacity = l.queue_capacity.unwrap_or(s.queue_capacity);
            s.max_batch_events = l.max_batch_events.unwrap_or(s.max_batch_events);
            s.ingest_writers = l.ingest_writers.unwrap_or(s.ingest_writers);
            s.demo = l.demo.unwrap_or(s.demo);
            s.live_timeout_minutes = l.live_timeout_minutes.unwrap_or(s.live_timeout_minutes);
            s.reaper_interval_ms = l.reaper_interval_ms.unwrap_or(s.reaper_interval_ms);
            s.allow_private_outbound = l
                .allow_private_outbound
                .or(l.allow_private_webhooks)
                .unwrap_or(s.allow_private_outbound);
            s.delivery_interval_ms = l.delivery_interval_ms.unwrap_or(s.delivery_interval_ms);
            s.woocommerce_sync_minutes = l
                .woocommerce_sync_minutes
                .unwrap_or(s.woocommerce_sync_minutes);
            s.import_poll_seconds = l.import_poll_seconds.unwrap_or(s.import_poll_seconds);
            s.import_overlap_seconds = l.import_overlap_seconds.unwrap_or(s.import_overlap_seconds);
            s.otlp_quiet_ms = l.otlp_quiet_ms.unwrap_or(s.otlp_quiet_ms);
            s.report_cache_ms = l.report_cache_ms.unwrap_or(s.report_cache_ms);
            s.max_connections = l.max_connections.unwrap_or(s.max_connections);
            s.body_bytes_in_flight = l.body_bytes_in_flight.unwrap_or(s.body_bytes_in_flight);
            s.header_timeout_ms = l.header_timeout_ms.unwrap_or(s.header_timeout_ms);
            s.idle_timeout_ms = l.idle_timeout_ms.unwrap_or(s.idle_timeout_ms);
            s.body_timeout_ms = l.body_timeout_ms.unwrap_or(s.body_timeout_ms);
            s.trust_proxy_headers = l.trust_proxy_headers.unwrap_or(s.trust_proxy_headers);
            s.login_failures_allowed = l.login_failures_allowed.unwrap_or(s.login_failures_allowed);
            s.login_lockout_max_secs = l.login_lockout_max_secs.unwrap_or(s.login_lockout_max_secs);
        }
        s.validate()?;
        Ok(s)
    }

    /// Opens the store these settings name: PostgreSQL (in `postgres_schema`) or SQLite.
    pub async fn open_store(&self) -> anyhow::Result<omniops_store::Store> {
        omniops_store::Store::open_in(
            self.database_url.as_ref().map(Secret::expose),
            &self.data_dir,
            &self.postgres_schema,
        )
        .await
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        if !(1..=3650).contains(&self.retention_days) {
            return Err(SettingsError::Retention);
        }
        if self.rollup_retention_days < 366 || self.rollup_retention_days < self.retention_days {
            return Err(SettingsError::RollupRetention);
        }
        if self.queue_capacity == 0
            || self.max_batch_events == 0
            || !(1..=16).contains(&self.ingest_writers)
        {
            return Err(SettingsError::Queue);
        }
        if !(1..=10_080).contains(&self.live_timeout_minutes)
            || self.reaper_interval_ms == 0
            || self.delivery_interval_ms == 0
        {
            return Err(SettingsError::LiveTimeout);
        }
        if !(1..=3_600_000).contains(&self.otlp_quiet_ms) {
            return Err(SettingsError::OtlpQuiet);
        }
        if !(1..=1_440).contains(&self.woocommerce_sync_minutes) {
            return Err(SettingsError::WooCommerceSync);
        }
        if !(1..=3_600).contains(&self.import_poll_seconds) || self.import_overlap_seconds > 86_400
        {
            return Err(SettingsError::ImportPoll);
        }
        if self.report_cache_ms > 60_000 {
            return Err(SettingsError::ReportCache);
        }
        let timeout_ok = |ms: u64| (100..=3_600_000).contains(&ms);
        if self.max_connections < 16
            || self.body_bytes_in_flight < 1024 * 1024
            || !timeout_ok(self.header_timeout_ms)
            || !timeout_ok(self.idle_timeout_ms)
            || !timeout_ok(self.body_timeout_ms)
        {
            return Err(SettingsError::Transport);
        }
        if self.login_failures_allowed == 0 || !(1..=86_400).contains(&self.login_lockout_max_secs)
        {
            return Err(SettingsError::Login);
        }
        if omniops_store::check_schema_name(&self.postgres_schema).is_err() {
            return Err(SettingsError::Schema);
        }
        if let Some(url) = &self.database_url {
            let url = url.expose();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(SettingsError::DatabaseUrl);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_layers_win_and_unset_values_fall_through() {
        let file = SettingsLayer {
            retention_days: Some(10),
            queue_capacity: Some(5),
            ..Default::default()
        };
        let env_and_cli = SettingsLayer {
            retention_days: Some(20),
            ..Default::default()
        };
        let s = Settings::resolve(&[file, env_and_cli]).expect("valid");
        assert_eq!(s.retention_days, 20);
        assert_eq!(s.queue_capacity, 5);
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn rejects_bad_values() {
        let bad = SettingsLayer {
            retention_days: Some(0),
            ..Default::default()
        };
        assert_eq!(
            Settings::resolve(&[bad]).err(),
            Some(SettingsError::Retention)
        );
        let bad = SettingsLayer {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        };
        assert_eq!(
            Settings::resolve(&[bad]).err(),
            Some(SettingsError::DatabaseUrl)
        );
        for writers in [0, 17] {
            let bad = SettingsLayer {
                ingest_writers: Some(writers),
                ..Default::default()
            };
            assert_eq!(Settings::resolve(&[bad]).err(), Some(SettingsError::Queue));
        }
        let most = SettingsLayer {
            ingest_writers: Some(16),
            ..Default::default()
        };
        assert_eq!(Settings::resolve(&[most]).map(|s| s.ingest_writers), Ok(16));
        for quiet in [0, 3_600_001] {
            let bad = SettingsLayer {
                otlp_quiet_ms: Some(quiet),
                ..Default::default()
            };
            assert_eq!(
                Settings::resolve(&[bad]).err(),
                Some(SettingsError::OtlpQuiet)
            );
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let s = Secret::new("postgres://omniops:hunter2@db.internal:5432/omniops");
        assert_eq!(
            format!("{s:?}"),
            "\"postgres://***@db.internal:5432/omniops\""
        );
        assert_eq!(format!("{:?}", Secret::new("token")), "\"***\"");
    }
}
