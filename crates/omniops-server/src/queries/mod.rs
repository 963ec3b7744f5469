//! The query layer: every number the API or a page shows comes from a function here, so
//! JSON endpoints and pages cannot disagree.

pub mod analytics;
pub mod cache;
pub mod export;
pub mod missing;
pub mod monitoring;
pub mod prices;
pub mod retention;
pub mod sessions;
pub mod shop;
pub mod telemetry;
