//! The source database: the spec's tables on a PostgreSQL server, checked by their
//! documented column names and types, and read in pages ordered by (time, id).

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use std::str::FromStr;

/// The kinds of column type the importer reads; each accepts the types a user's schema
/// plausibly declares for the documented one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Id,
    Text,
    Integer,
    Decimal,
    Boolean,
    Json,
    Time,
}

impl Family {
    fn accepts(self, udt: &str) -> bool {
        let accepted: &[&str] = match self {
            Family::Id => &["uuid", "text", "varchar", "bpchar", "int4", "int8"],
            Family::Text => &["text", "varchar", "bpchar"],
            Family::Integer => &["int2", "int4", "int8", "numeric"],
            Family::Decimal => &["numeric", "float4", "float8", "int4", "int8"],
            Family::Boolean => &["bool"],
            Family::Json => &["jsonb", "json"],
            Family::Time => &["timestamptz", "timestamp"],
        };
        accepted.contains(&udt)
    }

    fn expected(self) -> &'static str {
        match self {
            Family::Id => "UUID or TEXT",
            Family::Text => "TEXT",
            Family::Integer => "INTEGER",
            Family::Decimal => "NUMERIC",
            Family::Boolean => "BOOLEAN",
            Family::Json => "JSONB",
            Family::Time => "TIMESTAMPTZ",
        }
    }

    /// The column as the importer reads it: ids and text as text, times as microseconds
    /// since the epoch (exact), numbers as text so no float rounds them.
    fn select(self, column: &str) -> String {
        match self {
            Family::Id | Family::Text | Family::Decimal | Family::Json => {
                format!("{column}::text")
            }
            Family::Integer => format!("{column}::numeric::text"),
            Family::Boolean => column.to_string(),
            // `infinity` reads as NULL rather than failing the page.
            Family::Time => format!(
                "CASE WHEN isfinite({column}) THEN (EXTRACT(EPOCH FROM {column}) * 1000000)::numeric(20,0)::int8 END"
            ),
        }
    }

    fn null(self) -> &'static str {
        match self {
            Family::Boolean => "NULL::bool",
            Family::Time => "NULL::int8",
            _ => "NULL::text",
        }
    }
}

/// One column the importer reads: its name, type family, and whether the table must have
/// it (an optional one absent reads as NULL).
pub struct Column {
    pub name: &'static str,
    pub family: Family,
    pub required: bool,
}

const fn col(name: &'static str, family: Family, required: bool) -> Column {
    Column {
        name,
        family,
        required,
    }
}

/// One of the spec's tables, as the importer reads it.
pub struct TableSpec {
    pub name: &'static str,
    /// The column pages are ordered and checkpointed by, with `id`; `None` orders by `id`
    /// alone (the spec gives `structured_extractions` no time column).
    pub time: Option<&'static str>,
    pub columns: &'static [Column],
    /// Whether a source without this table is an error.
    pub required: bool,
}

use Family::*;

pub const TELEMETRY: TableSpec = TableSpec {
    name: "chat_telemetry",
    time: Some("created_at"),
    required: true,
    columns: &[
        col("id", Id, true),
        col("session_id", Text, true),
        col("model", Text, true),
        col("start_time", Time, true),
        col("end_time", Time, false),
        col("duration_ms", Integer, false),
        col("iterations", Integer, false),
        col("search_count", Integer, false),
        col("total_results", Integer, false),
        col("searches", Json, false),
        col("input_tokens", Integer, true),
        col("output_tokens", Integer, true),
        col("cost_usd", Decimal, false),
        col("success", Boolean, false),
        col("error", Text, false),
        col("domain", Text, false),
        col("logs", Json, false),
        // Not in the spec: linked only where a deployment added it.
        col("conversation_id", Id, false),
        col("created_at", Time, true),
    ],
};

pub const CONVERSATIONS: TableSpec = TableSpec {
    name: "conversations",
    time: Some("created_at"),
    required: true,
    columns: &[
        col("id", Id, true),
        col("created_at", Time, true),
        col("metadata", Json, false),
    ],
};

pub const MESSAGES: TableSpec = TableSpec {
    name: "messages",
    time: Some("created_at"),
    required: true,
    columns: &[
        col("id", Id, true),
        col("conversation_id", Id, true),
        col("role", Text, true),
        col("content", Text, true),
        col("created_at", Time, true),
        col("metadata", Json, false),
    ],
};

pub const EXTRACTIONS: TableSpec = TableSpec {
    name: "structured_extractions",
    time: None,
    required: true,
    columns: &[
        col("id", Id, true),
        col("extraction_type", Text, true),
        col("data", Json, true),
        col("domain", Text, true),
        col("created_at", Time, false),
    ],
};

pub const PAGES: TableSpec = TableSpec {
    name: "scraped_pages",
    time: Some("scraped_at"),
    required: true,
    columns: &[
        col("id", Id, true),
        col("url", Text, true),
        col("domain", Text, true),
        col("content", Text, false),
        col("content_length", Integer, false),
        col("scraped_at", Time, true),
    ],
};

/// Only its chunks' count and previews are read: the `embedding` column (pgvector) never is.
pub const EMBEDDINGS: TableSpec = TableSpec {
    name: "page_embeddings",
    time: None,
    required: true,
    columns: &[
        col("page_id", Id, true),
        col("chunk_index", Integer, true),
        col("content_preview", Text, false),
    ],
};

/// Not in the spec's schema list; read when present. Its value column goes by several
/// names (`AbandonedCarts` reads the first present).
pub const CARTS: TableSpec = TableSpec {
    name: "woocommerce_abandoned_carts",
    time: Some("created_at"),
    required: false,
    columns: &[
        col("id", Id, true),
        col("domain", Text, true),
        col("cart_total", Decimal, false),
        col("total", Decimal, false),
        col("value", Decimal, false),
        col("currency", Text, false),
        col("created_at", Time, true),
    ],
};

/// A table as found in the source: which of its spec's columns it has.
pub struct Found {
    pub spec: &'static TableSpec,
    present: HashMap<&'static str, String>,
}

impl Found {
    pub fn has(&self, column: &str) -> bool {
        self.present.contains_key(column)
    }

    /// The column's type as declared (`uuid`, `text`, …).
    pub fn udt(&self, column: &str) -> Option<&str> {
        self.present.get(column).map(String::as_str)
    }

    /// The SELECT list: every spec column under its own name, NULL where absent.
    fn select_list(&self) -> String {
        self.spec
            .columns
            .iter()
            .map(|c| match self.present.contains_key(c.name) {
                true => format!("{} AS {}", c.family.select(c.name), c.name),
                false => format!("{} AS {}", c.family.null(), c.name),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The source: a pool on the user's database, reading its current schema.
pub struct Source {
    pub pool: PgPool,
    /// `host:port/database`, naming the source in checkpoints and reports (no password).
    pub name: String,
}

impl Source {
    pub async fn connect(url: &str) -> anyhow::Result<Source> {
        let options = PgConnectOptions::from_str(url)
            .context("--from must be a PostgreSQL URL (postgres://user:password@host/db)")?
            // Times without a zone are read as UTC.
            .options([("timezone", "UTC")]);
        let name = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        );
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .with_context(|| format!("connecting to the source {name}"))?;
        Ok(Source { pool, name })
    }

    /// Checks a table against its spec: `None` if it is absent and optional; an error
    /// naming the table or column if it is absent and required, or of another type.
    pub async fn check(&self, spec: &'static TableSpec) -> anyhow::Result<Option<Found>> {
        let rows = sqlx::query(
            "SELECT column_name::text, udt_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(spec.name)
        .fetch_all(&self.pool)
        .await
        .with_context(|| format!("reading the columns of {}", spec.name))?;
        if rows.is_empty() {
            if spec.required {
                anyhow::bail!(
                    "the source has no table `{}` (in its current schema); the spec's schema has it",
                    spec.name
                );
            }
            return Ok(None);
        }
        let declared: HashMap<String, String> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<sqlx::Result<_>>()?;
        let mut present = HashMap::new();
        for column in spec.columns {
            match declared.get(column.name) {
                Some(udt) if column.family.accepts(udt) => {
                    present.insert(column.name, udt.clone());
                }
                Some(udt) => anyhow::bail!(
                    "column {}.{} is of type {udt}; expected {}",
                    spec.name,
                    column.name,
                    column.family.expected()
                ),
                None if column.required => anyhow::bail!(
                    "table {} has no column `{}` ({})",
                    spec.name,
                    column.name,
                    column.family.expected()
                ),
                None => {}
            }
        }
        Ok(Some(Found { spec, present }))
    }
}

/// Where a table's reading stands: past the row at (time, id).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub time: Option<i64>,
    pub id: Option<String>,
}

/// A time in microseconds as a timestamp literal (an integer: nothing to escape).
fn at(micros: i64) -> String {
    format!("(TIMESTAMPTZ 'epoch' + {micros}::int8 * INTERVAL '1 microsecond')")
}

/// The condition for rows after `after` (from `since` on), and the ORDER BY; `$1` is the
/// checkpoint's id, compared in the column's own type, so the source's indexes on the
/// time column and the primary key serve every page.
fn keyset(found: &Found, after: &Checkpoint, since: i64) -> (String, String) {
    // Ordered by the table's own columns: the SELECT list's aliases of the same names are
    // their text and microsecond forms.
    let table = found.spec.name;
    let id_type = found.udt("id").unwrap_or("text");
    let after_id = format!("id > $1::text::{id_type}");
    let first = "$1::text IS NULL";
    match (found.spec.time, after.time, &after.id) {
        (Some(time), Some(t), Some(_)) => (
            format!(
                "isfinite({time}) AND {time} >= {} AND ({time} > {} OR {after_id})",
                at(t.max(since)),
                at(t)
            ),
            format!("{table}.{time}, {table}.id"),
        ),
        (Some(time), _, _) => (
            format!("isfinite({time}) AND {time} >= {} AND {first}", at(since)),
            format!("{table}.{time}, {table}.id"),
        ),
        (None, _, Some(_)) => (after_id, format!("{table}.id")),
        (None, _, None) => (first.to_string(), format!("{table}.id")),
    }
}

/// Reads the next page of at most `limit` rows after `after`, from `since` (µs) on.
pub async fn page(
    source: &Source,
    found: &Found,
    after: &Checkpoint,
    since: i64,
    limit: i64,
) -> anyhow::Result<Vec<PgRow>> {
    let (condition, order) = keyset(found, after, since);
    let sql = format!(
        "SELECT {} FROM {} WHERE {condition} ORDER BY {order} LIMIT {limit}",
        found.select_list(),
        found.spec.name
    );
    sqlx::query(&sql)
        .bind(after.id.as_deref())
        .fetch_all(&source.pool)
        .await
        .with_context(|| format!("reading {}", found.spec.name))
}

/// The rows of the overlap window: at or before `after`, at most `overlap` µs older. They
/// were read before, unless they committed after their neighbours (README: Importing).
pub async fn overlap(
    source: &Source,
    found: &Found,
    after: &Checkpoint,
    overlap: i64,
) -> anyhow::Result<Vec<PgRow>> {
    let (Some(time), Some(t), Some(_)) = (found.spec.time, after.time, &after.id) else {
        return Ok(Vec::new());
    };
    let table = found.spec.name;
    let id_type = found.udt("id").unwrap_or("text");
    let sql = format!(
        "SELECT {} FROM {table} WHERE isfinite({time}) AND {time} >= {} AND ({time} < {} \
         OR ({time} = {} AND id <= $1::text::{id_type})) ORDER BY {table}.{time}, {table}.id",
        found.select_list(),
        at(t.saturating_sub(overlap)),
        at(t),
        at(t)
    );
    sqlx::query(&sql)
        .bind(after.id.as_deref())
        .fetch_all(&source.pool)
        .await
        .with_context(|| format!("reading {}", found.spec.name))
}

/// Rows left after `after`, for the progress display.
pub async fn remaining(
    source: &Source,
    found: &Found,
    after: &Checkpoint,
    since: i64,
) -> anyhow::Result<i64> {
    let (condition, _) = keyset(found, after, since);
    let sql = format!("SELECT COUNT(*) FROM {} WHERE {condition}", found.spec.name);
    sqlx::query_scalar(&sql)
        .bind(after.id.as_deref())
        .fetch_one(&source.pool)
        .await
        .with_context(|| format!("counting {}", found.spec.name))
}

/// Each page's chunk count and first previews, by page id, from `page_embeddings`.
pub async fn chunks(
    source: &Source,
    embeddings: &Found,
    page_ids: &[String],
    previews: i64,
) -> anyhow::Result<HashMap<String, (i64, Vec<String>)>> {
    // Compared as the column's own type, so its index serves.
    let udt = embeddings.udt("page_id").unwrap_or("text");
    let preview = if embeddings.has("content_preview") {
        "content_preview"
    } else {
        "NULL::text"
    };
    let sql = format!(
        "SELECT page_id::text, COUNT(*), \
         (array_remove(array_agg({preview} ORDER BY chunk_index), NULL))[1:{previews}] \
         FROM page_embeddings WHERE page_id = ANY($1::text[]::{udt}[]) GROUP BY page_id"
    );
    let rows = sqlx::query(&sql)
        .bind(page_ids)
        .fetch_all(&source.pool)
        .await
        .context("reading page_embeddings")?;
    rows.iter()
        .map(|r| {
            let previews: Option<Vec<String>> = r.try_get(2)?;
            Ok((r.try_get(0)?, (r.try_get(1)?, previews.unwrap_or_default())))
        })
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}
