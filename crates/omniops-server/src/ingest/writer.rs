use crate::state::AppState;
use omniops_core::events::{Event, EventError};
use omniops_store::batch::{Rejections, Request};
use omniops_store::StoreError;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// One queued ingest request.
pub struct Job {
    events: Vec<Event>,
    /// The domain the request's key is held to, if any.
    domain: Option<String>,
    reply: oneshot::Sender<Result<Rejections, SubmitError>>,
}

#[derive(Clone)]
pub struct IngestQueue {
    sender: mpsc::Sender<Job>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    #[error("ingest queue is full")]
    Full,
    /// The database is briefly unavailable: nothing was stored, retry.
    #[error("storage is unavailable")]
    Unavailable,
    /// The database failed for another reason (logged): nothing was stored.
    #[error("storage fault")]
    Fault,
}

impl IngestQueue {
    pub fn new(capacity: usize) -> (IngestQueue, mpsc::Receiver<Job>) {
        let (sender, receiver) = mpsc::channel(capacity);
        (IngestQueue { sender }, receiver)
    }

    /// Queues the events of a request whose key is held to `domain` (if any) and waits
    /// until their batch has committed. Returns the rejected events as (index into
    /// `events`, reason).
    pub async fn submit(
        &self,
        events: Vec<Event>,
        domain: Option<String>,
    ) -> Result<Rejections, SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .try_send(Job {
                events,
                domain,
                reply,
            })
            .map_err(|_| SubmitError::Full)?;
        answer.await.map_err(|_| SubmitError::Unavailable)?
    }

    pub fn depth(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }
}

/// Runs until `stop`; then takes no new jobs, finishes the queued ones and returns. On
/// PostgreSQL `ingest_writers` batches commit at once, each in its own transaction, as
/// several instances' writers would: one batch's planning and answers overlap another's
/// statements. SQLite has one writer.
pub fn spawn_writer(
    state: AppState,
    receiver: mpsc::Receiver<Job>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let writers = match state.store.backend() {
        omniops_store::Backend::Postgres => state.settings.ingest_writers.max(1),
        omniops_store::Backend::Sqlite => 1,
    };
    let receiver = Arc::new(Mutex::new(receiver));
    tokio::spawn(async move {
        let loops: Vec<_> = (0..writers)
            .map(|_| tokio::spawn(write_loop(state.clone(), receiver.clone(), stop.clone())))
            .collect();
        for handle in loops {
            let _ = handle.await;
        }
    })
}

/// Takes the queued jobs, up to `max_batch_events`, commits them and answers, until the
/// queue is closed and empty.
async fn write_loop(
    state: AppState,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    stop: CancellationToken,
) {
    let max_events = state.settings.max_batch_events;
    loop {
        let mut jobs = {
            let mut receiver = receiver.lock().await;
            let next = tokio::select! {
                job = receiver.recv() => job,
                _ = stop.cancelled() => {
                    receiver.close();
                    receiver.recv().await
                }
            };
            let Some(first) = next else { return };
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
            jobs
        };
        let requests: Vec<(Vec<Event>, Option<String>)> = jobs
            .iter_mut()
            .map(|j| (std::mem::take(&mut j.events), j.domain.take()))
            .collect();
        let replies: Vec<_> = jobs.into_iter().map(|j| j.reply).collect();
        let answers = commit_or_split(&state, requests).await;
        for (reply, answer) in replies.into_iter().zip(answers) {
            let _ = reply.send(answer);
        }
    }
}

/// Commits the requests as one batch. When the database refuses the batch for good (a
/// value it cannot store, validation notwithstanding), the requests are committed one by
/// one, and a lone request event by event, so that the event to blame is refused alone and
/// its batch-mates are stored. A transient failure fails them all, for a retry.
async fn commit_or_split(
    state: &AppState,
    requests: Vec<(Vec<Event>, Option<String>)>,
) -> Vec<Result<Rejections, SubmitError>> {
    match commit(state, &requests).await {
        Ok(rejections) => rejections.into_iter().map(Ok).collect(),
        Err(error) if error.is_transient() => {
            tracing::warn!(%error, requests = requests.len(), "batch failed; the database is unavailable, nothing of it was stored");
            requests
                .iter()
                .map(|_| Err(SubmitError::Unavailable))
                .collect()
        }
        Err(error) if requests.len() > 1 => {
            tracing::warn!(%error, requests = requests.len(), "batch refused; committing its requests one by one");
            let mut answers = Vec::with_capacity(requests.len());
            for request in requests {
                answers.push(
                    Box::pin(commit_or_split(state, vec![request]))
                        .await
                        .remove(0),
                );
            }
            answers
        }
        Err(StoreError::BadInput(reason)) if requests[0].0.len() > 1 => {
            tracing::warn!(%reason, events = requests[0].0.len(), "request refused; committing its events one by one");
            let mut rejections = Rejections::new();
            let Some((events, domain)) = requests.into_iter().next() else {
                return Vec::new();
            };
            for (index, event) in events.into_iter().enumerate() {
                match commit(state, &[(vec![event], domain.clone())]).await {
                    Ok(mut r) => {
                        rejections.extend(r.remove(0).into_iter().map(|(_, e)| (index, e)))
                    }
                    Err(StoreError::BadInput(reason)) => rejections.push((
                        index,
                        EventError::general(format!("the database refused this event: {reason}")),
                    )),
                    Err(error) => return vec![Err(failure(state, error))],
                }
            }
            vec![Ok(rejections)]
        }
        Err(StoreError::BadInput(reason)) => vec![Ok(vec![(
            0,
            EventError::general(format!("the database refused this event: {reason}")),
        )])],
        Err(error) => vec![Err(failure(state, error))],
    }
}

/// A failure to report: logged, and a fault is remembered for `/healthz`.
fn failure(state: &AppState, error: StoreError) -> SubmitError {
    if error.is_transient() {
        return SubmitError::Unavailable;
    }
    tracing::error!(%error, "batch failed; nothing of it was stored");
    state.record_fault(&error.to_string());
    SubmitError::Fault
}

/// One batch, and what it changes for live streams and alerts.
async fn commit(
    state: &AppState,
    requests: &[(Vec<Event>, Option<String>)],
) -> Result<Vec<Rejections>, StoreError> {
    let started = std::time::Instant::now();
    let batch: Vec<Request> = requests
        .iter()
        .map(|(events, domain)| Request {
            events,
            domain: domain.as_deref(),
        })
        .collect();
    let outcome = state
        .store
        .apply_requests(&batch, state.now())
        .await
        .inspect_err(|_| {
            state
                .metrics
                .batches_failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })?;
    // Before anyone hears of the commit: reads from now on compute fresh reports.
    state.generation.bump();
    state.metrics.batches.observe(started.elapsed());
    tracing::debug!(
        requests = requests.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "batch committed"
    );
    state.live.publish(&outcome.live);
    state.live.announce(&state.store, &outcome.live).await;
    if !outcome.unpriced.is_empty() {
        announce_unpriced(state, &outcome.unpriced).await;
    }
    if outcome.ended > 0 || outcome.backfilled > 0 {
        state.alert_wakeup.notify_one();
    }
    Ok(outcome.rejections)
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
        let first = tokio::spawn(async move { waiting.submit(Vec::new(), None).await });
        while queue.depth() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(queue.submit(Vec::new(), None).await, Err(SubmitError::Full));
        first.abort();
    }

    #[tokio::test]
    async fn a_lost_writer_fails_the_request() {
        let (queue, receiver) = IngestQueue::new(4);
        drop(receiver);
        assert_eq!(queue.submit(Vec::new(), None).await, Err(SubmitError::Full));
    }
}
