use crate::state::AppState;
use omniops_core::telemetry::{build_report, TelemetryInputs, TelemetryReport};
use omniops_core::window::Window;

/// The telemetry report for a window, optionally for one domain: rollups plus live sessions.
pub async fn telemetry_report(
    state: &AppState,
    window: &Window,
    domain: Option<&str>,
) -> anyhow::Result<TelemetryReport> {
    let inputs = telemetry_inputs(state, window, domain, None).await?;
    Ok(build_report(window, state.now(), inputs))
}

/// A window's telemetry inputs, shared by the reads that ask for them while nothing
/// changed (a page's sections, repeated API reads).
pub async fn telemetry_inputs(
    state: &AppState,
    window: &Window,
    domain: Option<&str>,
    model: Option<&str>,
) -> anyhow::Result<TelemetryInputs> {
    let key = (
        window.start,
        window.end,
        domain.map(str::to_string),
        model.map(str::to_string),
    );
    state
        .reports
        .telemetry
        .shared(&state.generation, key, || {
            state.store.telemetry_inputs(window, domain, model)
        })
        .await
}

/// Response-time percentiles (p50, p90, p95, p99) of the window's ended sessions, as
/// bounds of the duration histogram's buckets.
pub async fn response_time_percentiles(
    state: &AppState,
    window: &Window,
    domain: Option<&str>,
) -> anyhow::Result<Vec<(&'static str, omniops_core::rollup::PercentileBound)>> {
    let counts = state.store.duration_histogram(window, domain).await?;
    Ok([("p50", 500), ("p90", 900), ("p95", 950), ("p99", 990)]
        .into_iter()
        .map(|(label, per_mille)| {
            (
                label,
                omniops_core::rollup::percentile_bound(&counts, per_mille),
            )
        })
        .collect())
}
