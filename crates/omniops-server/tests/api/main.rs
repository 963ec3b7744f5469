//! HTTP tests: the real server on 127.0.0.1:0, on SQLite and PostgreSQL.

mod access;
mod alerts;
mod analytics;
mod browser;
mod common;
mod config;
mod dashboard;
mod demo;
mod export;
mod ingest;
mod instances;
mod live;
mod login;
mod metrics;
mod missing;
mod monitoring;
mod openapi;
mod otlp;
mod prices;
mod pricing;
mod reaper;
mod sessions;
mod settings;
mod shop;
mod telemetry;
mod webhooks;
