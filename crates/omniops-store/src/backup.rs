//! Backups of the embedded database (README: Backups). A backup is one consistent
//! SQLite file taken with `VACUUM INTO` while the server keeps writing: it reads a single
//! snapshot, and in WAL mode a reader never blocks the writer. A restore checks the file's
//! integrity and schema before it replaces anything, and keeps the database it replaces.

use anyhow::Context;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use std::path::{Path, PathBuf};
use std::str::FromStr;

const DATABASE: &str = "omniops.db";

/// What a backup file holds, read from the file itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupInfo {
    pub file: PathBuf,
    pub bytes: u64,
    /// The newest migration applied in it.
    pub schema_version: i64,
    pub sessions: i64,
}

async fn connect(path: &Path, read_only: bool) -> anyhow::Result<SqliteConnection> {
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        .read_only(read_only)
        .busy_timeout(std::time::Duration::from_secs(30));
    SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("opening {}", path.display()))
}

/// The newest migration this version of Omniops knows.
fn newest_migration() -> i64 {
    sqlx::migrate!("migrations/sqlite")
        .migrations
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// Copies the database in `data_dir` to `output`, consistently, while a server may be
/// writing to it. The copy is written beside `output` and renamed into place when whole.
pub async fn backup(data_dir: &Path, output: &Path) -> anyhow::Result<BackupInfo> {
    let database = data_dir.join(DATABASE);
    if !database.exists() {
        anyhow::bail!("there is no database to back up at {}", database.display());
    }
    if output.exists() {
        anyhow::bail!(
            "{} exists; a backup never overwrites a file",
            output.display()
        );
    }
    let partial = output.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let mut source = connect(&database, true).await?;
    let target = partial
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("the output path must be UTF-8"))?;
    sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut source)
        .await
        .with_context(|| format!("writing the backup to {}", partial.display()))?;
    source.close().await?;
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", partial.display()))?;
    std::fs::rename(&partial, output)
        .with_context(|| format!("moving the backup to {}", output.display()))?;
    check(output).await
}

/// Checks a backup file: SQLite's integrity check passes, it is an Omniops database, and
/// its schema is not newer than this version's.
pub async fn check(file: &Path) -> anyhow::Result<BackupInfo> {
    let bytes = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    let mut conn = connect(file, true)
        .await
        .with_context(|| format!("{} is not a SQLite database", file.display()))?;
    let problems: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .with_context(|| format!("{} is not a readable SQLite database", file.display()))?;
    if problems != ["ok"] {
        anyhow::bail!(
            "{} fails SQLite's integrity check: {}",
            file.display(),
            problems.join("; ")
        );
    }
    let schema_version: i64 =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut conn)
            .await
            .with_context(|| format!("{} is not an Omniops database", file.display()))?;
    if schema_version > newest_migration() {
        anyhow::bail!(
            "{} comes from a newer Omniops (schema {schema_version}, this one knows {})",
            file.display(),
            newest_migration()
        );
    }
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chat_telemetry")
        .fetch_one(&mut conn)
        .await
        .with_context(|| format!("{} is not an Omniops database", file.display()))?;
    conn.close().await?;
    Ok(BackupInfo {
        file: file.to_path_buf(),
        bytes,
        schema_version,
        sessions,
    })
}

/// Replaces the database in `data_dir` with `file` after checking it. The database it
/// replaces, with its WAL, is kept as `omniops.db.before-restore-<time>`. No server may be
/// using `data_dir` (the caller holds its lock). Returns the backup's facts and the name
/// of the kept database, if there was one.
pub async fn restore(
    file: &Path,
    data_dir: &Path,
    now: i64,
) -> anyhow::Result<(BackupInfo, Option<PathBuf>)> {
    let info = check(file).await?;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let restoring = data_dir.join(format!("{DATABASE}.restoring"));
    std::fs::copy(file, &restoring)
        .with_context(|| format!("copying {} into {}", file.display(), data_dir.display()))?;
    std::fs::File::open(&restoring).and_then(|f| f.sync_all())?;
    let database = data_dir.join(DATABASE);
    let kept = if database.exists() {
        let kept = data_dir.join(format!("{DATABASE}.before-restore-{now}"));
        std::fs::rename(&database, &kept)?;
        // The WAL and its index belong to the kept database now.
        for suffix in ["-wal", "-shm"] {
            let from = data_dir.join(format!("{DATABASE}{suffix}"));
            if from.exists() {
                let to = PathBuf::from(format!("{}{suffix}", kept.display()));
                std::fs::rename(&from, to)?;
            }
        }
        Some(kept)
    } else {
        None
    };
    std::fs::rename(&restoring, &database)?;
    std::fs::File::open(data_dir).and_then(|d| d.sync_all())?;
    Ok((info, kept))
}
