//! Omniops domain logic: exact money, model prices and cost, token usage normalisation,
//! reporting windows, ingest events and the telemetry report. Pure: no I/O.

pub mod alerts;
pub mod analytics;
pub mod batch;
pub mod clock;
pub mod conversation;
pub mod domain;
pub mod escalation;
pub mod events;
pub mod forecast;
pub mod insights;
pub mod limits;
pub mod missing;
pub mod money;
pub mod needs;
pub mod otlp;
pub mod params;
pub mod pricing;
pub mod rollup;
pub mod sentiment;
pub mod session;
pub mod shop;
pub mod span;
pub mod telemetry;
pub mod text;
pub mod usage;
pub mod window;
