//! Runs the retention cleanup (`queries::retention`) every hour.

use crate::queries::retention::cleanup;
use crate::state::AppState;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn run(state: AppState, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => match cleanup(&state).await {
                Ok(report) if report.sessions_deleted + report.conversations_deleted + report.rollup_rows_deleted > 0 => {
                    tracing::info!(?report, "retention cleanup");
                }
                Ok(_) => {}
                Err(error) => tracing::error!(?error, "retention cleanup failed"),
            },
        }
    }
}
