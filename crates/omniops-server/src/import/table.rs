//! One table of one pass: the overlap window, then the pages after the checkpoint, each
//! applied and checkpointed before the next.

use super::prepare::{prepare, read_page, Context, Prepared};
use super::sink::Sink;
use super::source::{self, Checkpoint, Found, Source};
use super::{ImportOptions, Progress, TableState, EVER, LISTED};
use omniops_core::clock::Micros;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct Table<'a> {
    pub sink: &'a Sink,
    pub source: &'a Arc<Source>,
    pub found: Arc<Found>,
    pub embeddings: Arc<Found>,
    pub options: &'a ImportOptions,
}

impl Table<'_> {
    fn key(&self) -> String {
        format!("import:{}:{}", self.source.name, self.found.spec.name)
    }

    fn timed(&self) -> bool {
        self.found.spec.time.is_some()
    }

    async fn load(&self) -> anyhow::Result<TableState> {
        let state: TableState = match self.sink.load(&self.key()).await? {
            Some(text) => serde_json::from_str(&text).unwrap_or_default(),
            None => TableState::default(),
        };
        // A table without a time column is read whole on each pass (unless one was
        // interrupted): its counts are those of its last pass.
        if !self.timed() && state.checkpoint.id.is_none() {
            return Ok(TableState::default());
        }
        Ok(state)
    }

    pub async fn import(
        &self,
        first: bool,
        progress: &mut (dyn FnMut(&Progress) + Send),
        stop: &CancellationToken,
    ) -> anyhow::Result<TableState> {
        let mut state = self.load().await?;
        let since = self.options.since.unwrap_or(EVER);
        let cx = Arc::new(Context {
            table: self.found.spec.name,
            time: self.found.spec.time,
            default_domain: self.options.default_domain.clone(),
            prices: self.sink_prices().await,
            raw_since: self.options.raw_since,
            as_text: self.sink.wants_text(),
        });
        self.overlap(&mut state, &cx).await?;
        // The first pass shows the whole table's progress; a follow poll only what it found.
        let total = match first || !self.timed() {
            true => source::remaining(self.source, &self.found, &state.checkpoint, since).await?,
            false => 0,
        };
        let started = Instant::now();
        let mut done = 0;
        let mut pages = self.read_ahead(state.checkpoint.clone(), since, cx);
        let mut whole = true;
        while let Some(page) = pages.recv().await {
            let page = page?;
            let rows = page.rows;
            state.checkpoint = page.last.clone();
            self.apply(page, &mut state).await?;
            self.save(&state).await?;
            done += rows;
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
            let total = total.max(done);
            progress(&Progress {
                table: self.found.spec.name,
                done,
                total,
                rows_per_second: rate,
                eta: (rate > 0.0).then(|| Duration::from_secs_f64((total - done) as f64 / rate)),
            });
            if stop.is_cancelled() {
                whole = false;
                break;
            }
        }
        if !self.timed() && whole {
            state.checkpoint = Checkpoint::default();
            self.save(&state).await?;
        }
        Ok(state)
    }

    /// Prices for the audit: the installation's own when writing to it; the shipped ones
    /// when sending to a server, whose prices an ingest key cannot read (README: Importing).
    async fn sink_prices(&self) -> Arc<omniops_core::pricing::PriceTable> {
        match self.sink {
            Sink::Store(store) => store.price_table().await,
            Sink::Server { .. } => Arc::new(omniops_core::pricing::PriceTable::new(
                omniops_core::pricing::default_prices(),
            )),
        }
    }

    async fn save(&self, state: &TableState) -> anyhow::Result<()> {
        self.sink
            .save(&self.key(), &serde_json::to_string(state)?)
            .await
    }

    /// Rows of the overlap window not read before: committed after their neighbours.
    async fn overlap(&self, state: &mut TableState, cx: &Context) -> anyhow::Result<()> {
        let window = self.options.overlap.as_micros() as i64;
        let rows = source::overlap(self.source, &self.found, &state.checkpoint, window).await?;
        let seen: HashSet<&str> = state.recent.iter().map(|(_, id)| id.as_str()).collect();
        let late: Vec<_> = rows
            .into_iter()
            .filter(|r| !seen.contains(super::mapping::text(r, "id").unwrap_or_default().as_str()))
            .collect();
        if late.is_empty() {
            return Ok(());
        }
        let checkpoint = state.checkpoint.clone();
        let page = read_page(
            self.source,
            &self.found,
            &self.embeddings,
            late,
            &checkpoint,
        )
        .await?;
        let mut prepared = prepare(page, cx, chrono::Utc::now().timestamp_micros());
        // The checkpoint stays where it was: these rows lie before it.
        prepared.last = checkpoint;
        self.apply(prepared, state).await?;
        self.save(state).await
    }

    /// Reads and maps pages on their own task, ahead of the writes.
    fn read_ahead(
        &self,
        mut after: Checkpoint,
        since: Micros,
        cx: Arc<Context>,
    ) -> tokio::sync::mpsc::Receiver<anyhow::Result<Prepared>> {
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        let (source, found, embeddings) = (
            self.source.clone(),
            self.found.clone(),
            self.embeddings.clone(),
        );
        let limit = self.options.page_rows;
        tokio::spawn(async move {
            loop {
                let page = async {
                    let rows = source::page(&source, &found, &after, since, limit).await?;
                    let page = read_page(&source, &found, &embeddings, rows, &after).await?;
                    Ok(prepare(page, &cx, chrono::Utc::now().timestamp_micros()))
                };
                let page: anyhow::Result<Prepared> = page.await;
                let full = page.as_ref().is_ok_and(|p| p.rows == limit);
                if let Ok(p) = &page {
                    if p.rows == 0 {
                        return;
                    }
                    after = p.last.clone();
                }
                let failed = page.is_err();
                if sender.send(page).await.is_err() || failed || !full {
                    return;
                }
            }
        });
        receiver
    }

    /// Stores a page's events as one batch; counts what was imported and what could not
    /// be, and audits the imported sessions' stored costs.
    async fn apply(&self, mut page: Prepared, state: &mut TableState) -> anyhow::Result<()> {
        let now = chrono::Utc::now().timestamp_micros();
        let batch = std::mem::replace(&mut page.batch, super::sink::Batch::Texts(Vec::new()));
        for (index, reason) in self.sink.apply(batch, now).await? {
            if let Some(&row) = page.origins.get(index) {
                page.failures.entry(row).or_insert(reason);
            }
        }
        for cost in &page.costs {
            if !page.failures.contains_key(&cost.row) {
                state
                    .audit
                    .record(&cost.model, cost.stored.as_deref(), cost.omniops);
                state.before_retention += i64::from(cost.before_retention);
            }
        }
        state.read += page.rows;
        state.unreadable_searches += page.unreadable_searches;
        state.unmapped += page.failures.len() as i64;
        state.imported += page.rows - page.failures.len() as i64;
        let mut failed: Vec<(&usize, &String)> = page.failures.iter().collect();
        failed.sort();
        for (&row, reason) in failed {
            if state.listed.len() >= LISTED {
                break;
            }
            let id = page.ids.get(row).cloned().unwrap_or_default();
            state.listed.push((id, reason.clone()));
        }
        self.remember(state, page.stamps);
        Ok(())
    }

    /// Keeps the rows read within the overlap window of the newest one.
    fn remember(&self, state: &mut TableState, stamps: Vec<(i64, String)>) {
        if !self.timed() {
            return;
        }
        state.recent.extend(stamps);
        let newest = state.recent.iter().map(|(t, _)| *t).max().unwrap_or(0);
        let window = self.options.overlap.as_micros() as i64;
        state
            .recent
            .retain(|(t, _)| *t >= newest.saturating_sub(window));
    }
}
