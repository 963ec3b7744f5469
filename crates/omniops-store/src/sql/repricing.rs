// Repricing stored history in the background: a job per price change, done one short
// transaction (a slice) at a time. Each slice moves the job's cursor in the transaction that
// changes its sessions and their rollups, so what a reader sees is always exact, and a
// restart resumes at the last commit: no session is repriced twice or skipped.
use super::ingest::{begin_batch, Tx};
use super::prices::{reprice_buckets, reprice_slice};
use super::DB;
use crate::{RepriceJob, RepricePhase};
use omniops_core::clock::{floor_hour, Micros, MICROS_PER_DAY};
use omniops_core::pricing::PriceTable;
use omniops_core::window::Window;
use sqlx::{Pool, Row};

const JOB_COLUMNS: &str = "id, reason, models, from_time, raw_since, phase, cursor_model, \
     cursor_time, cursor_id, sessions_total, sessions_seen, sessions_changed, buckets_changed, \
     created_at, updated_at, finished_at, error";

fn job_from_row(row: &<DB as sqlx::Database>::Row) -> anyhow::Result<RepriceJob> {
    let models: String = row.try_get(2)?;
    let phase: String = row.try_get(5)?;
    Ok(RepriceJob {
        id: row.try_get(0)?,
        reason: row.try_get(1)?,
        models: serde_json::from_str(&models)?,
        from_time: row.try_get(3)?,
        raw_since: row.try_get(4)?,
        phase: RepricePhase::parse(&phase)
            .ok_or_else(|| anyhow::anyhow!("unknown repricing phase `{phase}`"))?,
        cursor_model: row.try_get(6)?,
        cursor_time: row.try_get(7)?,
        cursor_id: row.try_get(8)?,
        sessions_total: row.try_get(9)?,
        sessions_seen: row.try_get(10)?,
        sessions_changed: row.try_get(11)?,
        buckets_changed: row.try_get(12)?,
        created_at: row.try_get(13)?,
        updated_at: row.try_get(14)?,
        finished_at: row.try_get(15)?,
        error: row.try_get(16)?,
    })
}

/// Sessions stored up to this long after a job was queued are still read by it. A batch
/// and a price change both read the clock before they wait for the writer, so a batch
/// priced with the old table may be stamped a little after the job (or the clock may step
/// back). Reading a session priced after the change again changes nothing.
const STORED_MARGIN: Micros = 60_000_000;

/// Where a job's session phase starts: its date, but no earlier than the raw sessions kept.
fn sessions_start(from: Micros, raw_since: Micros) -> Micros {
    from.max(floor_hour(raw_since))
}

/// Queues a job for `models` from `from` on. Its sessions are counted apart
/// ([`count_reprice_job`]), so that the count does not hold the writer.
pub async fn create_reprice_job(
    pool: &Pool<DB>,
    reason: &str,
    models: &[String],
    from: Micros,
    raw_since: Micros,
    now: Micros,
) -> anyhow::Result<String> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO reprice_jobs (id, reason, models, from_time, raw_since, phase, cursor_model, \
         cursor_time, cursor_id, sessions_total, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'sessions', 0, $6, '', 0, $7, $7)",
    )
    .bind(&id)
    .bind(reason)
    .bind(serde_json::to_string(models)?)
    .bind(from)
    .bind(floor_hour(raw_since))
    .bind(sessions_start(from, raw_since))
    .bind(now)
    .execute(pool)
    .await?;
    Ok(id)
}

/// Counts the sessions job `id` will read, for its progress: the ended ones from the
/// rollups (whole days from the daily rows, the first day's hours from the hourly ones),
/// the live ones from their index. Counting the raw rows took 2.3 s for a model's 1.5M
/// sessions on PostgreSQL, with the disk and both cores busy while ingest went on.
pub async fn count_reprice_job(pool: &Pool<DB>, id: &str) -> anyhow::Result<()> {
    let Some(job) = reprice_job(pool, id).await? else {
        return Ok(());
    };
    // Everything from the start on: its first day's hours, then whole days.
    let split = Window {
        start: sessions_start(job.from_time, job.raw_since),
        end: Micros::MAX,
        days: None,
    }
    .split_days();
    let mut total = 0i64;
    for model in &job.models {
        let count: i64 = sqlx::query_scalar(COUNT_JOB_SESSIONS)
            .bind(model)
            .bind(split.head.0)
            .bind(split.days.0)
            .fetch_one(pool)
            .await?;
        total += count;
    }
    sqlx::query("UPDATE reprice_jobs SET sessions_total = $2 WHERE id = $1")
        .bind(id)
        .bind(total)
        .execute(pool)
        .await?;
    Ok(())
}

/// A job's sessions of model `$1` from `$2` on, `$3` the first midnight from then on.
/// `model || ''` keeps the live sessions' count on their index (see `stored_models`).
pub(crate) const COUNT_JOB_SESSIONS: &str =
    "SELECT CAST((SELECT COALESCE(SUM(requests), 0) FROM rollup_daily \
     WHERE domain = '' AND model = $1 AND bucket >= $3) \
     + (SELECT COALESCE(SUM(requests), 0) FROM rollup_hourly \
     WHERE domain = '' AND model = $1 AND bucket >= $2 AND bucket < $3) \
     + (SELECT COUNT(*) FROM chat_telemetry \
     WHERE end_time IS NULL AND model || '' = $1 AND start_time >= $2) AS BIGINT)";

pub async fn reprice_job(pool: &Pool<DB>, id: &str) -> anyhow::Result<Option<RepriceJob>> {
    let row = sqlx::query(&format!(
        "SELECT {JOB_COLUMNS} FROM reprice_jobs WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(job_from_row).transpose()
}

/// The newest jobs first.
pub async fn reprice_jobs(pool: &Pool<DB>, limit: i64) -> anyhow::Result<Vec<RepriceJob>> {
    let rows = sqlx::query(&format!(
        "SELECT {JOB_COLUMNS} FROM reprice_jobs ORDER BY created_at DESC, id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(job_from_row).collect()
}

/// Jobs not done yet, oldest first: they run in order.
pub async fn open_reprice_jobs(pool: &Pool<DB>) -> anyhow::Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM reprice_jobs WHERE phase <> 'done' ORDER BY created_at, id",
    )
    .fetch_all(pool)
    .await?)
}

/// The job, read in the step's transaction; on PostgreSQL locked, so instances sharing the
/// database take its steps one at a time.
async fn locked_job(tx: &mut Tx<'_>, id: &str) -> anyhow::Result<Option<RepriceJob>> {
    let lock = match <DB as sqlx::Database>::NAME {
        "SQLite" => "",
        _ => " FOR UPDATE",
    };
    let row = sqlx::query(&format!(
        "SELECT {JOB_COLUMNS} FROM reprice_jobs WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(job_from_row).transpose()
}

/// One step of job `id` with `table`, committed on its own: a slice of one model's
/// sessions, or one day of rollup hours older than the raw sessions. Returns the job after
/// the step and the live sessions it changed (caches must drop them).
pub async fn reprice_step(
    pool: &Pool<DB>,
    id: &str,
    table: &PriceTable,
    slice: i64,
    now: Micros,
) -> anyhow::Result<Option<(RepriceJob, Vec<String>)>> {
    let mut tx = begin_batch(pool).await?;
    if <DB as sqlx::Database>::NAME == "PostgreSQL" {
        // The step's commit does not wait for its log to reach the disk, so it releases
        // today's rollup rows, which batches share, at once (a commit waiting for several
        // MB of log held batches 50 to 130 ms). A crash may lose the last steps: the
        // cursor moves in the same transaction, so the job does them again.
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
    }
    let Some(mut job) = locked_job(&mut tx, id).await? else {
        return Ok(None);
    };
    let mut live = Vec::new();
    match job.phase {
        RepricePhase::Done => return Ok(Some((job, live))),
        RepricePhase::Sessions => {
            let index = usize::try_from(job.cursor_model).unwrap_or(usize::MAX);
            match job.models.get(index).cloned() {
                None => enter_buckets(&mut job),
                Some(model) => {
                    let cursor = (job.cursor_time, job.cursor_id.clone());
                    let stored_by = job.created_at.saturating_add(STORED_MARGIN);
                    let done =
                        reprice_slice(&mut tx, table, &model, &cursor, slice, stored_by).await?;
                    job.sessions_seen += done.seen as i64;
                    job.sessions_changed += done.changed as i64;
                    live = done.live;
                    match done.next {
                        Some((time, id)) => (job.cursor_time, job.cursor_id) = (time, id),
                        None => {
                            job.cursor_model += 1;
                            job.cursor_time = sessions_start(job.from_time, job.raw_since);
                            job.cursor_id.clear();
                            if job.cursor_model as usize >= job.models.len() {
                                enter_buckets(&mut job);
                            }
                        }
                    }
                }
            }
        }
        RepricePhase::Buckets => {
            let until = (job.cursor_time + MICROS_PER_DAY).min(job.raw_since);
            job.buckets_changed +=
                reprice_buckets(&mut tx, table, &job.models, job.cursor_time, until).await? as i64;
            job.cursor_time = until;
            if until >= job.raw_since {
                job.phase = RepricePhase::Done;
            }
        }
    }
    job.updated_at = now;
    if job.phase == RepricePhase::Done {
        job.finished_at = Some(now);
    }
    save_job(&mut tx, &job).await?;
    tx.commit().await?;
    Ok(Some((job, live)))
}

/// After the sessions: rollup hours before the raw sessions, if the job reaches back there.
fn enter_buckets(job: &mut RepriceJob) {
    let from = floor_hour(job.from_time);
    if from < job.raw_since {
        job.phase = RepricePhase::Buckets;
        job.cursor_time = from;
    } else {
        job.phase = RepricePhase::Done;
    }
}

async fn save_job(tx: &mut Tx<'_>, job: &RepriceJob) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE reprice_jobs SET phase = $2, cursor_model = $3, cursor_time = $4, cursor_id = $5, \
         sessions_seen = $6, sessions_changed = $7, buckets_changed = $8, updated_at = $9, \
         finished_at = $10, error = $11 WHERE id = $1",
    )
    .bind(&job.id)
    .bind(job.phase.as_str())
    .bind(job.cursor_model)
    .bind(job.cursor_time)
    .bind(&job.cursor_id)
    .bind(job.sessions_seen)
    .bind(job.sessions_changed)
    .bind(job.buckets_changed)
    .bind(job.updated_at)
    .bind(job.finished_at)
    .bind(&job.error)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records the last failure of a job's step (it is retried).
pub async fn note_reprice_error(pool: &Pool<DB>, id: &str, error: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE reprice_jobs SET error = $2 WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(pool)
        .await?;
    Ok(())
}
