//! Reprices stored history after a price change, in the background: the open jobs, oldest
//! first, one step (one short transaction) at a time, so ingest waits for one step at most
//! on SQLite, and on PostgreSQL only for a session or rollup row the step holds.
//! Jobs survive a restart: each resumes at its last committed step. Several instances on
//! one PostgreSQL may share the work; a job's steps are serialised by a row lock.

use crate::state::AppState;
use omniops_store::RepricePhase;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often open jobs are looked for without a wake-up (a job queued by another instance,
/// or one whose step failed).
const POLL: Duration = Duration::from_secs(5);

pub async fn run(state: AppState, stop: CancellationToken) {
    loop {
        if let Err(error) = run_open_jobs(&state, &stop).await {
            tracing::warn!(?error, "repricing: will retry");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            () = state.reprice_wakeup.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

async fn run_open_jobs(state: &AppState, stop: &CancellationToken) -> anyhow::Result<()> {
    for id in state.store.open_reprice_jobs().await? {
        // What the job had changed so far: a step that changed nothing is no change.
        let mut changed = (0, 0);
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            let started = std::time::Instant::now();
            let step = state.store.reprice_step(&id, state.now()).await;
            let took = started.elapsed();
            let job = match step {
                Ok(Some(job)) => {
                    let now_changed = (job.sessions_changed, job.buckets_changed);
                    if now_changed != changed {
                        state.generation.bump();
                    }
                    changed = now_changed;
                    job
                }
                Ok(None) => break,
                Err(error) => {
                    let text = format!("{error:#}");
                    let _ = state.store.note_reprice_error(&id, &text).await;
                    return Err(error);
                }
            };
            if job.phase == RepricePhase::Done {
                tracing::info!(
                    id = %job.id,
                    reason = %job.reason,
                    sessions = job.sessions_changed,
                    buckets = job.buckets_changed,
                    "history repriced"
                );
                break;
            }
            // Let waiting batches and readers in between steps.
            match rest_after(took, state.store.is_shared()) {
                Some(rest) => tokio::time::sleep(rest).await,
                None => tokio::task::yield_now().await,
            }
        }
    }
    Ok(())
}

/// The pause after a step that took `took`. On PostgreSQL a step writes a new version of
/// each session it reprices (3 KB of log each at 10M sessions), and every ingest commit
/// flushes the log written before it: back to back, steps kept the disk busy enough that
/// commits took up to 360 ms. Resting as long as the step took halves that load (and
/// doubles the job's time). On SQLite a batch waits for one step at most, and the job
/// goes on at once.
fn rest_after(took: Duration, shared: bool) -> Option<Duration> {
    shared.then_some(took.min(MAX_REST))
}

/// A step slowed by a lock wait or the disk does not stop the job for long.
const MAX_REST: Duration = Duration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_rest_as_long_as_they_took_on_postgres_only() {
        let took = Duration::from_millis(40);
        assert_eq!(rest_after(took, true), Some(took));
        assert_eq!(rest_after(Duration::from_secs(3), true), Some(MAX_REST));
        assert_eq!(rest_after(took, false), None);
    }
}
