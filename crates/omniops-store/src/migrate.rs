//! `omniops migrate`: a whole installation copied from one engine to the other (README:
//! Moving to PostgreSQL). Every table both schemas share is copied row by row — raw
//! sessions and their calls, conversations, content and shop data, every rollup (hours past
//! raw retention included), prices, keys, logins, alerts, pending webhook deliveries and
//! settings — each value as text, cast to the target column's type, so nothing rounds.
//! Then both sides are compared: rows per table, and telemetry for 1, 7, 30 and 365 days.

use crate::{Pool, Store};
use anyhow::Context;
use futures_util::TryStreamExt;
use omniops_core::clock::{Micros, MICROS_PER_DAY};
use omniops_core::window::Window;
use sqlx::{QueryBuilder, Row};
use std::collections::BTreeMap;

/// Rows per INSERT statement at most (PostgreSQL binds at most 65,535 values).
const ROWS_PER_INSERT: usize = 500;
/// Rows per target transaction.
const ROWS_PER_COMMIT: usize = 20_000;

/// Tables derived on PostgreSQL from others, or bookkeeping of the schema itself.
const NOT_COPIED: [&str; 2] = ["_sqlx_migrations", "chat_telemetry_keys"];

/// One table's column: its name and, on PostgreSQL, its type (to cast the text to).
#[derive(Debug, Clone)]
struct Column {
    name: String,
    pg_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableCount {
    pub table: String,
    pub source: i64,
    pub target: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowCheck {
    pub days: i64,
    pub requests: i64,
    pub cost_nanos: i64,
    pub equal: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Migration {
    pub tables: Vec<TableCount>,
    pub windows: Vec<WindowCheck>,
    /// Tables only one side's schema has (not copied).
    pub skipped: Vec<String>,
}

impl Migration {
    pub fn verified(&self) -> bool {
        self.tables.iter().all(|t| t.source == t.target) && self.windows.iter().all(|w| w.equal)
    }
}

/// The installation's tables (not partitions) and their columns, generated ones left out.
async fn tables(store: &Store) -> anyhow::Result<BTreeMap<String, Vec<Column>>> {
    let mut out = BTreeMap::new();
    match &store.pool {
        Pool::Sqlite(pool) => {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(pool)
            .await?;
            for name in names {
                // `hidden` is 2 or 3 for generated columns.
                let rows = sqlx::query(&format!("PRAGMA table_xinfo({name})"))
                    .fetch_all(pool)
                    .await?;
                let columns = rows
                    .iter()
                    .filter(|r| r.try_get::<i64, _>("hidden").unwrap_or(0) == 0)
                    .map(|r| {
                        Ok(Column {
                            name: r.try_get("name")?,
                            pg_type: None,
                        })
                    })
                    .collect::<sqlx::Result<Vec<_>>>()?;
                out.insert(name, columns);
            }
        }
        Pool::Postgres(pool) => {
            let rows = sqlx::query(
                "SELECT c.table_name::text, c.column_name::text, c.udt_name::text \
                 FROM information_schema.columns c \
                 JOIN pg_class k ON k.relname = c.table_name \
                 JOIN pg_namespace n ON n.oid = k.relnamespace AND n.nspname = c.table_schema \
                 WHERE c.table_schema = current_schema() AND NOT k.relispartition \
                 AND k.relkind IN ('r', 'p') AND c.is_generated = 'NEVER' \
                 ORDER BY c.table_name, c.ordinal_position",
            )
            .fetch_all(pool)
            .await?;
            for r in rows {
                let table: String = r.try_get(0)?;
                out.entry(table).or_insert_with(Vec::new).push(Column {
                    name: r.try_get(1)?,
                    pg_type: Some(r.try_get(2)?),
                });
            }
        }
    }
    for name in NOT_COPIED {
        out.remove(name);
    }
    Ok(out)
}

async fn count(store: &Store, table: &str) -> anyhow::Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    Ok(match &store.pool {
        Pool::Sqlite(p) => sqlx::query_scalar(&sql).fetch_one(p).await?,
        Pool::Postgres(p) => sqlx::query_scalar(&sql).fetch_one(p).await?,
    })
}

/// The SELECT reading a table's shared columns as text; PostgreSQL booleans as 1 and 0,
/// as SQLite keeps them.
fn select(from: &Store, table: &str, columns: &[(Column, Column)]) -> String {
    let list: Vec<String> = columns
        .iter()
        .map(
            |(source, _)| match (&from.pool, source.pg_type.as_deref()) {
                (Pool::Postgres(_), Some("bool")) => format!(
                    "CASE WHEN {0} THEN '1' WHEN NOT {0} THEN '0' END",
                    source.name
                ),
                (Pool::Postgres(_), _) => format!("{}::text", source.name),
                (Pool::Sqlite(_), _) => format!("CAST({} AS TEXT)", source.name),
            },
        )
        .collect();
    format!("SELECT {} FROM {table}", list.join(", "))
}

/// Copies `from`'s installation into `to`, which must hold no sessions yet.
pub async fn copy(
    from: &Store,
    to: &Store,
    progress: &mut (dyn FnMut(&str, i64) + Send),
) -> anyhow::Result<()> {
    if count(to, "chat_telemetry").await? > 0 || count(to, "rollup_hourly").await? > 0 {
        anyhow::bail!("the target already holds sessions: migrate into an empty installation");
    }
    let (source, target) = (tables(from).await?, tables(to).await?);
    prepare_target(from, to).await?;
    for table in referenced_first(to, &target).await? {
        let (Some(columns), Some(target_columns)) = (source.get(&table), target.get(&table)) else {
            continue;
        };
        let shared: Vec<(Column, Column)> = columns
            .iter()
            .filter_map(|c| {
                let t = target_columns.iter().find(|t| t.name == c.name)?;
                Some((c.clone(), t.clone()))
            })
            .collect();
        copy_table(from, to, &table, &shared, progress)
            .await
            .with_context(|| format!("copying {table}"))?;
    }
    finish_target(to).await
}

/// The target's tables, each after the tables its foreign keys reference.
async fn referenced_first(
    to: &Store,
    tables: &BTreeMap<String, Vec<Column>>,
) -> anyhow::Result<Vec<String>> {
    let mut references: Vec<(String, String)> = Vec::new();
    match &to.pool {
        Pool::Sqlite(p) => {
            for table in tables.keys() {
                let rows = sqlx::query(&format!("PRAGMA foreign_key_list({table})"))
                    .fetch_all(p)
                    .await?;
                for r in rows {
                    references.push((table.clone(), r.try_get("table")?));
                }
            }
        }
        Pool::Postgres(p) => {
            references = sqlx::query_as(
                "SELECT c.relname::text, r.relname::text FROM pg_constraint k \
                 JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE k.contype = 'f' AND n.nspname = current_schema()",
            )
            .fetch_all(p)
            .await?;
        }
    }
    let mut order: Vec<String> = Vec::new();
    let mut left: Vec<&String> = tables.keys().collect();
    while !left.is_empty() {
        let ready: Vec<&String> = left
            .iter()
            .copied()
            .filter(|t| {
                references
                    .iter()
                    .filter(|(from, to)| from == *t && to != *t)
                    .all(|(_, to)| order.contains(to) || !tables.contains_key(to))
            })
            .collect();
        // A cycle would leave tables behind; copy them anyway, in name order.
        let next = if ready.is_empty() {
            left.clone()
        } else {
            ready
        };
        order.extend(next.iter().map(|t| (*t).clone()));
        left.retain(|t| !next.contains(t));
    }
    Ok(order)
}

/// Clears what a fresh target's migrations and first start wrote (default prices, the
/// one-time recount's mark) so the copy is the only content; on PostgreSQL creates the
/// week partitions of the sessions' range.
async fn prepare_target(from: &Store, to: &Store) -> anyhow::Result<()> {
    let range = "SELECT MIN(start_time), MAX(start_time) FROM chat_telemetry";
    let (first, last): (Option<Micros>, Option<Micros>) = match &from.pool {
        Pool::Sqlite(p) => sqlx::query_as(range).fetch_one(p).await?,
        Pool::Postgres(p) => sqlx::query_as(range).fetch_one(p).await?,
    };
    let clear = "DELETE FROM model_prices; DELETE FROM app_settings;";
    match &to.pool {
        Pool::Sqlite(p) => {
            sqlx::raw_sql(clear).execute(p).await?;
        }
        Pool::Postgres(p) => {
            sqlx::raw_sql(clear).execute(p).await?;
            if let (Some(first), Some(last)) = (first, last) {
                crate::postgres::rows::prepare_partitions(p, first, last + 7 * MICROS_PER_DAY)
                    .await?;
            }
        }
    }
    Ok(())
}

/// PostgreSQL keeps each session id once in `chat_telemetry_keys`.
async fn finish_target(to: &Store) -> anyhow::Result<()> {
    if let Pool::Postgres(p) = &to.pool {
        sqlx::query(
            "INSERT INTO chat_telemetry_keys (session_id) SELECT session_id FROM chat_telemetry",
        )
        .execute(p)
        .await?;
    }
    to.reload_prices().await?;
    Ok(())
}

async fn copy_table(
    from: &Store,
    to: &Store,
    table: &str,
    columns: &[(Column, Column)],
    progress: &mut (dyn FnMut(&str, i64) + Send),
) -> anyhow::Result<()> {
    let sql = select(from, table, columns);
    let mut copied = 0;
    let mut chunk: Vec<Vec<Option<String>>> = Vec::with_capacity(ROWS_PER_COMMIT);
    let width = columns.len();
    let read = |row: &dyn Fn(usize) -> sqlx::Result<Option<String>>| {
        (0..width).map(row).collect::<sqlx::Result<Vec<_>>>()
    };
    // Rows stream from the source; a commit's worth at a time is written.
    macro_rules! stream {
        ($pool:expr) => {{
            let mut rows = sqlx::query(&sql).fetch($pool);
            while let Some(r) = rows.try_next().await? {
                chunk.push(read(&|i| r.try_get(i))?);
                if chunk.len() == ROWS_PER_COMMIT {
                    copied += write(to, table, columns, &std::mem::take(&mut chunk)).await?;
                    progress(table, copied);
                }
            }
        }};
    }
    match &from.pool {
        Pool::Sqlite(p) => stream!(p),
        Pool::Postgres(p) => stream!(p),
    }
    copied += write(to, table, columns, &chunk).await?;
    progress(table, copied);
    Ok(())
}

/// Inserts rows of text values, each cast to its PostgreSQL column's type there (SQLite
/// converts by the column's affinity); one transaction.
async fn write(
    to: &Store,
    table: &str,
    columns: &[(Column, Column)],
    rows: &[Vec<Option<String>>],
) -> anyhow::Result<i64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let names: Vec<&str> = columns.iter().map(|(_, t)| t.name.as_str()).collect();
    let head = format!("INSERT INTO {table} ({}) ", names.join(", "));
    macro_rules! insert {
        ($pool:expr, $db:ty) => {{
            let mut tx = $pool.begin().await?;
            for part in rows.chunks(ROWS_PER_INSERT) {
                let mut q = QueryBuilder::<$db>::new(&head);
                q.push("VALUES ");
                for (i, row) in part.iter().enumerate() {
                    q.push(if i == 0 { "(" } else { ", (" });
                    for (j, value) in row.iter().enumerate() {
                        if j > 0 {
                            q.push(", ");
                        }
                        match &columns[j].1.pg_type {
                            Some(t) => {
                                q.push("CAST(");
                                q.push_bind(value.clone());
                                q.push(format!(" AS {t})"));
                            }
                            None => {
                                q.push_bind(value.clone());
                            }
                        }
                    }
                    q.push(")");
                }
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }};
    }
    match &to.pool {
        Pool::Sqlite(p) => insert!(p, sqlx::Sqlite),
        Pool::Postgres(p) => insert!(p, sqlx::Postgres),
    }
    Ok(rows.len() as i64)
}

/// Rows per table on both sides, and the telemetry of the last 1, 7, 30 and 365 days.
pub async fn verify(from: &Store, to: &Store, now: Micros) -> anyhow::Result<Migration> {
    let (source, target) = (tables(from).await?, tables(to).await?);
    let mut tables = Vec::new();
    for name in source.keys().filter(|t| target.contains_key(*t)) {
        tables.push(TableCount {
            table: name.clone(),
            source: count(from, name).await?,
            target: count(to, name).await?,
        });
    }
    let mut windows = Vec::new();
    for days in [1, 7, 30, 365] {
        let window = Window::last_days(days, now)?;
        let a = from.telemetry_inputs(&window, None, None).await?;
        let b = to.telemetry_inputs(&window, None, None).await?;
        windows.push(WindowCheck {
            days,
            requests: a.sums.totals.requests,
            cost_nanos: a.sums.totals.cost_nanos,
            equal: a.sums == b.sums && a.trend == b.trend,
        });
    }
    let skipped = source
        .keys()
        .filter(|t| !target.contains_key(*t))
        .chain(target.keys().filter(|t| !source.contains_key(*t)))
        .cloned()
        .collect();
    Ok(Migration {
        tables,
        windows,
        skipped,
    })
}
