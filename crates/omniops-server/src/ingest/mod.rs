//! Ingest: requests are validated in their handler, then queued for one writer task that
//! commits them in batches (group commit). A request is answered only after the batch that
//! holds it has committed, so a 2xx means durable.

pub(crate) mod handler;
pub mod otlp;
mod writer;

pub use handler::{
    check_key_domain, count_outcome, ingest, store_events, IngestAnswer, RejectedEvent,
    MAX_BODY_BYTES, MAX_EVENTS,
};
pub use writer::{spawn_writer, IngestQueue, Job, SubmitError};
