//! The SQL layer compiled for SQLite: the area modules of `sql/`, each written once against
//! the alias `DB` and compiled for both engines. SQL there must mean the same on SQLite and
//! PostgreSQL: integers are BIGINT, sums are cast back to BIGINT, JSON is text.

// Each file of `sql/` is compiled once per engine, on purpose.
#![allow(clippy::duplicate_mod)]

pub(crate) type DB = sqlx::Sqlite;
/// One writer at a time (BEGIN IMMEDIATE): nothing to lock row by row.
pub(crate) const ROW_LOCKS: bool = false;

// The same list as the other engine's file: declared here, not by a macro, so that
// rustfmt (which does not expand macros) formats every file of `sql/`.
#[path = "sql/alerts.rs"]
pub(crate) mod alerts;
#[path = "sql/config.rs"]
pub(crate) mod config;
#[path = "sql/conversations.rs"]
pub(crate) mod conversations;
#[path = "sql/ingest.rs"]
pub(crate) mod ingest;
#[path = "sql/ingest_content.rs"]
pub(crate) mod ingest_content;
#[path = "sql/ingest_conversations.rs"]
pub(crate) mod ingest_conversations;
#[path = "sql/keys.rs"]
pub(crate) mod keys;
#[path = "sql/missing.rs"]
pub(crate) mod missing;
#[path = "sql/prices.rs"]
pub(crate) mod prices;
#[path = "sql/repricing.rs"]
pub(crate) mod repricing;
#[path = "sql/retention.rs"]
pub(crate) mod retention;
#[path = "sql/rollups.rs"]
pub(crate) mod rollups;
#[path = "sqlite_rows.rs"]
pub(crate) mod rows;
#[path = "sql/sessions.rs"]
pub(crate) mod sessions;
#[path = "sql/shop.rs"]
pub(crate) mod shop;
#[path = "sql/webhooks.rs"]
pub(crate) mod webhooks;

pub(crate) use self::{
    alerts::*,
    config::*,
    conversations::*,
    ingest::*,
    keys::*,
    missing::*,
    prices::*,
    repricing::*,
    retention::*,
    rollups::*,
    rows::{delete_sessions_before, prepare_partitions},
    sessions::*,
    shop::*,
    webhooks::*,
};
