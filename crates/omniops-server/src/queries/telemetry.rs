use crate::state::AppState;
use omniops_core::telemetry::{build_report, TelemetryReport};
use omniops_core::window::Window;

/// The telemetry report for a window, optionally for one domain: rollups plus live sessions.
pub async fn telemetry_report(
    state: &AppState,
    window: &Window,
    domain: Option<&str>,
) -> anyhow::Result<TelemetryReport> {
    let inputs = state.store.telemetry_inputs(window, domain, None).await?;
    Ok(build_report(window, state.now(), inputs))
}
