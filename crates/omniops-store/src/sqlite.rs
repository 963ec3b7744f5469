//! The SQL layer compiled for SQLite: the modules of `sql/`, each written once
//! against the alias `DB` and compiled for both engines.

// Each file of `sql/` is compiled once per engine, on purpose.
#![allow(clippy::duplicate_mod)]

pub(crate) type DB = sqlx::Sqlite;
/// One writer at a time (BEGIN IMMEDIATE): nothing to lock row by row.
pub(crate) const ROW_LOCKS: bool = false;

#[path = "sql/admin.rs"]
pub(crate) mod admin;
#[path = "sql/analytics.rs"]
pub(crate) mod analytics;
#[path = "sql/config.rs"]
pub(crate) mod config;
#[path = "sql/ingest.rs"]
pub(crate) mod ingest;
#[path = "sql/ingest_content.rs"]
pub(crate) mod ingest_content;
#[path = "sql/ingest_conversations.rs"]
pub(crate) mod ingest_conversations;
#[path = "sql/monitoring.rs"]
pub(crate) mod monitoring;
#[path = "sql/prices.rs"]
pub(crate) mod prices;
#[path = "sql/products.rs"]
pub(crate) mod products;
#[path = "sql/shop.rs"]
pub(crate) mod shop;
#[path = "sql/telemetry.rs"]
pub(crate) mod telemetry;

pub(crate) use self::{
    admin::*, analytics::*, config::*, ingest::*, monitoring::*, prices::*, shop::*, telemetry::*,
};
