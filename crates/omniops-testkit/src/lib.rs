//! Fresh databases for tests. Every store test runs on SQLite and on PostgreSQL.
//!
//! PostgreSQL comes from `OMNIOPS_TEST_DATABASE_URL` (an admin URL; each test creates and
//! later drops its own database), defaulting to the local server. When it cannot be
//! reached the test fails under CI (`CI` set) and is skipped with a printed reason locally.

use omniops_store::Store;
use std::path::PathBuf;

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub enum Engine {
    Sqlite,
    Postgres,
}

/// A store on a database that exists only for one test.
pub struct TestDb {
    pub store: Store,
    /// The PostgreSQL URL of this test's own database, for tests that open a second store.
    pub database_url: Option<String>,
    pub data_dir: PathBuf,
    /// The temporary directory this test owns, if the data directory is one.
    _dir: Option<tempfile::TempDir>,
    cleanup: Option<(String, String)>,
}

fn admin_url() -> String {
    std::env::var("OMNIOPS_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

fn with_database(url: &str, database: &str) -> String {
    let authority = url.find("://").map_or(0, |i| i + 3);
    let path = url[authority..]
        .find('/')
        .map_or(url.len(), |i| authority + i);
    let query = url[path..].find('?').map_or("", |q| &url[path + q..]);
    format!("{}/{database}{query}", &url[..path])
}

/// A fresh empty PostgreSQL database; `None` (with a printed reason) when PostgreSQL is
/// unreachable outside CI.
pub async fn fresh_postgres_database() -> Option<(String, String, String)> {
    use sqlx::Connection;
    let admin = admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL is required in CI but {admin} is unreachable: {e}");
            }
            eprintln!("SKIPPED (PostgreSQL part): cannot reach {admin}: {e}");
            return None;
        }
    };
    let name = format!("omniops_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
    let url = with_database(&admin, &name);
    Some((url, admin, name))
}

/// Drops a database made by [`fresh_postgres_database`].
pub async fn drop_database(admin: &str, name: &str) {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(admin).await.expect("connect");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut c)
        .await
        .expect("drop");
}

impl TestDb {
    /// Runs SQL statements on the test database directly (as an older version left it, or
    /// as a migration would).
    pub async fn run_script(&self, script: &str) {
        match &self.raw_postgres_url() {
            Some(url) => {
                let pool = sqlx::PgPool::connect(url).await.expect("connect");
                sqlx::raw_sql(script).execute(&pool).await.expect("script");
            }
            None => {
                let url = format!("sqlite:{}", self.data_dir.join("omniops.db").display());
                let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
                sqlx::raw_sql(script).execute(&pool).await.expect("script");
            }
        }
    }

    /// The one integer `query` answers, read directly from the test database.
    pub async fn scalar(&self, query: &str) -> i64 {
        match &self.raw_postgres_url() {
            Some(url) => {
                let pool = sqlx::PgPool::connect(url).await.expect("connect");
                sqlx::query_scalar(query)
                    .fetch_one(&pool)
                    .await
                    .expect("query")
            }
            None => {
                let url = format!("sqlite:{}", self.data_dir.join("omniops.db").display());
                let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
                sqlx::query_scalar(query)
                    .fetch_one(&pool)
                    .await
                    .expect("query")
            }
        }
    }

    /// The PostgreSQL URL for raw SQL in tests, finding Omniops' tables in their schema.
    pub fn raw_postgres_url(&self) -> Option<String> {
        self.database_url.as_ref().map(|url| {
            let join = if url.contains('?') { '&' } else { '?' };
            format!(
                "{url}{join}options[search_path]={}",
                omniops_store::DEFAULT_SCHEMA
            )
        })
    }

    pub async fn open(engine: Engine) -> Option<TestDb> {
        match engine {
            Engine::Sqlite => Some(Self::sqlite().await),
            Engine::Postgres => Self::postgres().await,
        }
    }

    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::open_sqlite(dir.path())
            .await
            .expect("open SQLite store");
        TestDb {
            store,
            database_url: None,
            data_dir: dir.path().to_path_buf(),
            _dir: Some(dir),
            cleanup: None,
        }
    }

    /// A SQLite store in a directory the test owns (to reopen it, or replace its file).
    pub async fn sqlite_in(data_dir: &std::path::Path) -> TestDb {
        let store = Store::open_sqlite(data_dir)
            .await
            .expect("open SQLite store");
        TestDb {
            store,
            database_url: None,
            data_dir: data_dir.to_path_buf(),
            _dir: None,
            cleanup: None,
        }
    }

    pub async fn postgres() -> Option<TestDb> {
        let (url, admin, name) = fresh_postgres_database().await?;
        let store = Store::open_postgres(&url)
            .await
            .expect("open PostgreSQL store");
        let dir = tempfile::tempdir().expect("temporary directory");
        Some(TestDb {
            store,
            database_url: Some(url),
            data_dir: dir.path().to_path_buf(),
            _dir: Some(dir),
            cleanup: Some((admin, name)),
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.cleanup.take() else {
            return;
        };
        let store = self.store.clone();
        // Drop runs inside the test's runtime; a helper thread with its own runtime may block.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                use sqlx::Connection;
                store.close().await;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Defines `mod $name { sqlite, postgres }`, running `$body(TestDb)` on each engine.
#[macro_export]
macro_rules! on_both_engines {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::TestDb::sqlite().await;
                super::$body(&db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = $crate::TestDb::postgres().await else {
                    return;
                };
                super::$body(&db).await;
            }
        }
    };
}

/// Runs a queued repricing to its end, as a server's background job does step by step, and
/// returns the finished job.
pub async fn reprice_to_end(
    store: &Store,
    job: Option<omniops_store::RepriceJob>,
) -> omniops_store::RepriceJob {
    let job = job.expect("a repricing job");
    let done = store
        .run_reprice_jobs(job.created_at)
        .await
        .expect("repricing");
    let finished = done
        .into_iter()
        .find(|j| j.id == job.id)
        .expect("the job finished");
    assert_eq!(finished.phase, omniops_store::RepricePhase::Done);
    finished
}

/// A time in RFC 3339, as tests write them.
pub fn t(text: &str) -> omniops_core::clock::Micros {
    omniops_core::clock::parse_rfc3339(text).expect("time")
}

/// Parses events given as JSON lines, each of which must be valid.
pub fn events(
    now: omniops_core::clock::Micros,
    lines: &[String],
) -> Vec<omniops_core::events::Event> {
    lines
        .iter()
        .map(|l| omniops_core::events::parse(l, now).expect("valid event"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_in_a_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
    }
}
