// Retention: raw rows and rollups older than their retention, deleted a slice at a time.
use super::DB;
use omniops_core::clock::Micros;
use sqlx::Pool;

/// Runs `statement` (a DELETE of a limited slice, with the cutoff as `$1`) until it deletes
/// nothing: each slice is a short transaction, so writers are never held up for long.
pub(crate) async fn delete_in_slices(
    pool: &Pool<DB>,
    statement: &str,
    cutoff: Micros,
) -> sqlx::Result<u64> {
    let mut deleted = 0;
    loop {
        let n = sqlx::query(statement)
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected();
        deleted += n;
        if n == 0 {
            return Ok(deleted);
        }
    }
}

/// Rollup tables with an index led by `bucket`.
const BY_BUCKET: [&str; 3] = ["rollup_hourly", "rollup_daily", "customer_hours"];

/// Rollup tables keyed by (domain, bucket, …) alone.
const BY_DOMAIN: [&str; 10] = [
    "message_rollup_hourly",
    "message_rollup_daily",
    "conversation_rollup_hourly",
    "conversation_rollup_daily",
    "query_rollup_hourly",
    "query_rollup_daily",
    "product_rollup_hourly",
    "product_rollup_daily",
    "duration_rollup_hourly",
    "duration_rollup_daily",
];

/// `DELETE FROM {table}` of the rows whose `column` is older than `$1`, for a table whose
/// index leads with `lead` and then `column`. A bare `column < $1` reads such a table whole
/// while holding the write lock; its `lead` values are found by jumping through the index
/// instead (a loose index scan), and each one's old rows read from its range.
fn loose_delete(table: &str, lead: &str, column: &str) -> String {
    format!(
        "WITH RECURSIVE d({lead}) AS (SELECT MIN({lead}) FROM {table} \
         UNION ALL SELECT (SELECT MIN({lead}) FROM {table} WHERE {lead} > d.{lead}) \
         FROM d WHERE d.{lead} IS NOT NULL) \
         DELETE FROM {table} WHERE {lead} IN (SELECT {lead} FROM d) AND {column} < $1"
    )
}

/// The statements that delete rollup rows older than `$1`. A bare `bucket < $1` on a table
/// keyed by domain first read it whole while holding the write lock, every hour: 54 ms for
/// the 786k query rows of 10M sessions on SQLite, with ingest waiting.
pub(crate) fn rollup_deletes() -> Vec<String> {
    let by_bucket = BY_BUCKET
        .iter()
        .map(|table| format!("DELETE FROM {table} WHERE bucket < $1"));
    let by_domain = BY_DOMAIN
        .iter()
        .map(|table| loose_delete(table, "domain", "bucket"));
    by_bucket.chain(by_domain).collect()
}

pub async fn delete_rollups_before(pool: &Pool<DB>, cutoff: Micros) -> sqlx::Result<u64> {
    let mut deleted = 0;
    for statement in rollup_deletes() {
        deleted += sqlx::query(&statement)
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected();
    }
    // Fired alerts are history, kept as long as the totals they speak about.
    deleted += sqlx::query("DELETE FROM alert_events WHERE fired_at < $1")
        .bind(cutoff)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(deleted)
}

/// One slice of the conversations last active before `$1`. `updated_at` has no index (every
/// message moves it, so one would cost each message a write), and a bare `updated_at < $1`
/// read the whole table under the write lock at every pass. A conversation last active
/// before the cutoff was created before it too, so the old ones are found through
/// `created_at`'s index; only those still active since are read in vain.
pub(crate) const CONVERSATION_SLICE: &str = "DELETE FROM conversations WHERE id IN \
    (SELECT id FROM conversations WHERE created_at < $1 AND updated_at < $1 LIMIT 1000)";

/// The statements that delete what came with conversations and is older than `$1`, each
/// through an index. Webhook deliveries (one row per alert sent) are not among them: that
/// table stays small, and it is read whole.
pub(crate) fn conversation_side_deletes() -> Vec<String> {
    vec![
        "DELETE FROM failed_searches WHERE created_at < $1".into(),
        loose_delete("failed_queries", "domain", "last_at"),
        loose_delete("product_examples", "product", "last_at"),
        "DELETE FROM product_needs WHERE first_at < $1".into(),
    ]
}

/// Deletes conversations (and, by cascade, their messages) last active before `cutoff`,
/// and failed searches and product examples older than it: the same retention as raw sessions.
pub async fn delete_conversations_before(pool: &Pool<DB>, cutoff: Micros) -> sqlx::Result<u64> {
    let deleted = delete_in_slices(pool, CONVERSATION_SLICE, cutoff).await?;
    let small = "DELETE FROM webhook_deliveries WHERE created_at < $1 AND status <> 'pending'";
    for statement in conversation_side_deletes()
        .iter()
        .map(String::as_str)
        .chain([small])
    {
        sqlx::query(statement).bind(cutoff).execute(pool).await?;
    }
    Ok(deleted)
}
