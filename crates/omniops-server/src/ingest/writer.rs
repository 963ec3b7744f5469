use crate::state::AppState;
use omniops_core::events::Event;
use omniops_store::batch::Rejections;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// One queued ingest request.
pub struct Job {
    events: Vec<Event>,
    reply: oneshot::Sender<Result<Rejections, ()>>,
}

#[derive(Clone)]
pub struct IngestQueue {
    sender: mpsc::Sender<Job>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    #[error("ingest queue is full")]
    Full,
    #[error("the batch could not be stored")]
    Failed,
}

impl IngestQueue {
    pub fn new(capacity: usize) -> (IngestQueue, mpsc::Receiver<Job>) {
        let (sender, receiver) = mpsc::channel(capacity);
        (IngestQueue { sender }, receiver)
    }

    /// Queues the events and waits until their batch has committed. Returns the
    /// rejected events as (index into `events`, reason).
    pub async fn submit(&self, events: Vec<Event>) -> Result<Rejections, SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .try_send(Job { events, reply })
            .map_err(|_| SubmitError::Full)?;
        answer
            .await
            .map_err(|_| SubmitError::Failed)?
            .map_err(|_| SubmitError::Failed)
    }

    pub fn depth(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }
}

/// Runs until `stop`; then takes no new jobs, finishes the queued ones and returns.
pub fn spawn_writer(
    state: AppState,
    mut receiver: mpsc::Receiver<Job>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let max_events = state.settings.max_batch_events;
        loop {
            let next = tokio::select! {
                job = receiver.recv() => job,
                _ = stop.cancelled() => {
                    receiver.close();
                    receiver.recv().await
                }
            };
            let Some(first) = next else { break };
            let mut jobs = vec![first];
            let mut events = jobs[0].events.len();
            while events < max_events {
                match receiver.try_recv() {
                    Ok(job) => {
                        events += job.events.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            let requests: Vec<Vec<Event>> = jobs
                .iter_mut()
                .map(|j| std::mem::take(&mut j.events))
                .collect();
            let started = std::time::Instant::now();
            match state.store.apply_batch(&requests, state.now()).await {
                Ok(outcome) => {
                    state.metrics.batches.observe(started.elapsed());
                    tracing::debug!(
                        requests = jobs.len(),
                        events,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "batch committed"
                    );
                    state.live.publish(&outcome.live);
                    state.live.announce(&state.store, &outcome.live).await;
                    if !outcome.unpriced.is_empty() {
                        announce_unpriced(&state, &outcome.unpriced).await;
                    }
                    if outcome.ended > 0 || outcome.backfilled > 0 {
                        state.alert_wakeup.notify_one();
                    }
                    for (job, rejections) in jobs.into_iter().zip(outcome.rejections) {
                        let _ = job.reply.send(Ok(rejections));
                    }
                }
                Err(error) => {
                    state
                        .metrics
                        .batches_failed
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::error!(
                        ?error,
                        requests = jobs.len(),
                        events,
                        "batch failed; nothing of it was stored"
                    );
                    for job in jobs {
                        let _ = job.reply.send(Err(()));
                    }
                }
            }
        }
    })
}

/// The first session of a model without a price, per domain: logged, and told to the
/// live streams that may see that domain (on every instance).
async fn announce_unpriced(state: &AppState, pairs: &[(String, String)]) {
    for (model, domain) in pairs {
        tracing::warn!(%model, %domain, "model has no price: its sessions are counted as unpriced until one is added (PUT /api/v1/prices)");
    }
    let messages = crate::live::unpriced_messages(pairs, state.now());
    state.live.publish_messages(&messages);
    state.live.announce_messages(&state.store, &messages).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let (queue, _receiver) = IngestQueue::new(1);
        let waiting = queue.clone();
        // Nobody drains the queue: the first request takes the only slot and waits.
        let first = tokio::spawn(async move { waiting.submit(Vec::new()).await });
        while queue.depth() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(queue.submit(Vec::new()).await, Err(SubmitError::Full));
        first.abort();
    }

    #[tokio::test]
    async fn a_lost_writer_fails_the_request() {
        let (queue, receiver) = IngestQueue::new(4);
        drop(receiver);
        assert_eq!(queue.submit(Vec::new()).await, Err(SubmitError::Full));
    }
}
