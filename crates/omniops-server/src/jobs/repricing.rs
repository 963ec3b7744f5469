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
            let step = state.store.reprice_step(&id, state.now()).await;
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
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}
