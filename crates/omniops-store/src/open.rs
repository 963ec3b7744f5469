//! Opening a store: SQLite in a data directory or PostgreSQL in its own schema, migrations,
//! and PostgreSQL's notifications between instances.

use crate::batch::LiveCache;
use crate::{Backend, Pool, Store, WriterState};
use anyhow::Context;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::RwLock;

/// PostgreSQL schema of Omniops' tables unless configured otherwise: its own, so that the
/// spec's tables (`conversations`, `messages`, …) can live in `public` of the same database.
pub const DEFAULT_SCHEMA: &str = "omniops";

/// The tables of an installation from before schemas, moved from `public` as they are.
const TABLES: [&str; 38] = [
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
    "customer_hours",
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
    "product_needs",
    "product_rollup_daily",
    "product_rollup_hourly",
    "query_rollup_daily",
    "query_rollup_hourly",
    "reprice_jobs",
    "rollup_daily",
    "rollup_hourly",
    "scrape_jobs",
    "scraped_pages",
    "structured_extractions",
    "unpriced_seen",
    "webhook_deliveries",
    "woocommerce_sync",
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
    // Our tables, with the week partitions of raw sessions, their key table and functions.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
         AND (tablename = ANY($1) OR tablename LIKE 'chat\\_telemetry\\_%')",
    )
    .bind(&TABLES[..])
    .fetch_all(&mut *tx)
    .await?;
    for table in tables {
        sqlx::query(&format!("ALTER TABLE public.{table} SET SCHEMA {schema}"))
            .execute(&mut *tx)
            .await?;
    }
    let functions: Vec<String> = sqlx::query_scalar(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname = 'public' AND p.proname LIKE 'chat\\_telemetry\\_%'",
    )
    .fetch_all(&mut *tx)
    .await?;
    for function in functions {
        sqlx::query(&format!("ALTER FUNCTION {function} SET SCHEMA {schema}"))
            .execute(&mut *tx)
            .await?;
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
            // 4 MiB of pages per connection; the operating system's cache holds the rest
            // without counting against the server's memory (README: Sizing and scale-out).
            .pragma("cache_size", "-4096")
            .pragma("temp_store", "memory")
            // No commit copies the log into the file: `checkpoint` does, beside the writers.
            // A repricing step commits holding the writer, and a checkpoint inside it held
            // every batch as long.
            .pragma("wal_autocheckpoint", "0")
            // When the log starts over, its file is cut back to this (README: Sizing and scale-out).
            .pragma(
                "journal_size_limit",
                (crate::checkpoint::RESTART_FRAMES * 4096).to_string(),
            );
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("opening SQLite database {}", path.display()))?;
        // The ingest connection writes batches of up to 50,000 events: with a small cache
        // SQLite spills dirty pages to the file mid-transaction.
        let ingest = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.pragma("cache_size", "-16384"))
            .await?;
        // Before the migrations, which may rewrite large tables: no commit checkpoints.
        crate::checkpoint::spawn(pool.clone(), ingest.clone());
        if let Err(e) = sqlx::migrate!("migrations/sqlite").run(&pool).await {
            pool.close().await; // which ends the task
            ingest.close().await;
            return Err(anyhow::Error::new(e).context("running SQLite migrations"));
        }
        Store::with_pool(Pool::Sqlite(pool), Some(LiveCache::default()), Some(ingest)).await
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
        let options = postgres_options(url, schema)?;
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
        let autovacuum: String = sqlx::query_scalar("SELECT current_setting('autovacuum')")
            .fetch_one(&pool)
            .await?;
        if autovacuum != "on" {
            // Every batch updates rollup rows: without vacuum their dead versions pile up
            // and every read walks them (README: Sizing and scale-out).
            tracing::warn!("PostgreSQL's autovacuum is off: run VACUUM ANALYZE regularly, or reads slow down as rollups are updated");
        }
        Store::with_pool(Pool::Postgres(pool), None, None).await
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

    async fn with_pool(
        pool: Pool,
        cache: Option<LiveCache>,
        ingest: Option<sqlx::SqlitePool>,
    ) -> anyhow::Result<Store> {
        let store = Store {
            pool,
            writer: Arc::new(RwLock::new(WriterState {
                prices: Arc::default(),
                cache,
                ingest,
                reprice_slice: crate::price_changes::REPRICE_SLICE.into(),
            })),
            price_writes: Arc::default(),
        };
        store.reload_prices().await?;
        store
            .sync_default_prices(chrono::Utc::now().timestamp_micros())
            .await?;
        Ok(store)
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
        if let Some(ingest) = &self.writer.read().await.ingest {
            ingest.close().await;
        }
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
}

/// A SQLite store in a temporary directory, for tests of its SQL and connections.
/// The options of every connection of the pool, the listener's included.
fn postgres_options(url: &str, schema: &str) -> anyhow::Result<sqlx::postgres::PgConnectOptions> {
    Ok(sqlx::postgres::PgConnectOptions::from_str(url)
        .context("reading the PostgreSQL URL")?
        // Our tables are found first.
        .options([
            ("search_path", schema),
            // JIT compiles a plan whose estimate looks costly (a stale estimate of live
            // sessions did): 15 ms of compiling for a query that runs in 1 ms. Dashboard
            // queries are short, so it never pays.
            ("jit", "off"),
            // Nor do parallel workers: the telemetry rollup sum (530 rows) was planned with
            // two, and starting them took 10 to 22 ms at 10M sessions; alone it runs in
            // 0.6 to 1.2 ms. Requests run side by side instead.
            ("max_parallel_workers_per_gather", "0"),
        ]))
}

#[cfg(test)]
pub(crate) struct TestSqlite {
    pub store: Store,
    _dir: tempfile::TempDir,
}

#[cfg(test)]
impl TestSqlite {
    pub async fn open() -> TestSqlite {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::open_sqlite(dir.path()).await.expect("open");
        TestSqlite { store, _dir: dir }
    }

    pub fn pool(&self) -> &sqlx::SqlitePool {
        match &self.store.pool {
            Pool::Sqlite(pool) => pool,
            Pool::Postgres(_) => unreachable!("opened on SQLite"),
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every connection asks PostgreSQL for our schema first, no JIT and no parallel
    /// workers (each costs dashboard reads more than the query itself).
    #[test]
    fn postgres_connections_run_without_jit_or_parallel_workers() {
        let options =
            super::postgres_options("postgres://u@127.0.0.1:5432/db", "omniops").expect("options");
        let sent = options.get_options().expect("options are sent");
        for setting in [
            "search_path=omniops",
            "jit=off",
            "max_parallel_workers_per_gather=0",
        ] {
            assert!(sent.contains(setting), "{setting} in {sent}");
        }
    }
}
