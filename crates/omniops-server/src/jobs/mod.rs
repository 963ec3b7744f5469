//! Background jobs, each stopping when the server shuts down.

pub mod alerts;
pub mod demo;
pub mod prices;
pub mod reaper;
pub mod repricing;
pub mod retention;
pub mod webhooks;
pub mod woocommerce;
