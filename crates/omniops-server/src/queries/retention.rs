//! Retention (README: Retention), the spec's `cleanup_old_telemetry()`: raw sessions older
//! than the retention are deleted on an hour boundary, so rollup buckets are either wholly
//! kept or gone; rollups are kept much longer. Run hourly by `jobs::retention` and on demand
//! by the `cleanup-old-data` action.

use crate::state::AppState;
use omniops_core::clock::{floor_day, floor_hour, MICROS_PER_DAY};

#[derive(Debug, Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CleanupReport {
    pub sessions_deleted: u64,
    pub conversations_deleted: u64,
    pub rollup_rows_deleted: u64,
}

pub async fn cleanup(state: &AppState) -> anyhow::Result<CleanupReport> {
    let now = state.now();
    let raw_cutoff = floor_hour(state.raw_retention_cutoff());
    let rollup_cutoff =
        floor_day(now - i64::from(state.settings.rollup_retention_days) * MICROS_PER_DAY);
    // Weeks of raw sessions from the retention's first to next week's, so sessions land in
    // their week's partition (PostgreSQL) and a week ends up dropped whole. At most a year
    // back: older backfills are few and go to the default partition.
    let oldest = raw_cutoff.max(now - 366 * MICROS_PER_DAY);
    state
        .store
        .prepare_partitions(oldest, now + 7 * MICROS_PER_DAY)
        .await?;
    let report = CleanupReport {
        sessions_deleted: state.store.delete_sessions_before(raw_cutoff).await?,
        conversations_deleted: state.store.delete_conversations_before(raw_cutoff).await?,
        rollup_rows_deleted: state.store.delete_rollups_before(rollup_cutoff).await?,
    };
    if report.sessions_deleted + report.conversations_deleted + report.rollup_rows_deleted > 0 {
        state.generation.bump();
    }
    Ok(report)
}
