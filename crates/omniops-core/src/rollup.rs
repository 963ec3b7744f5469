//! Rollup counters: what an hour (or day) bucket of ended sessions adds up to.

use crate::session::Session;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub requests: i64,
    pub successes: i64,
    pub failures: i64,
    pub unpriced: i64,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    /// Sum over priced sessions only.
    pub cost_nanos: i64,
    pub duration_ms: i64,
    pub searches: i64,
    pub iterations: i64,
}

impl Counters {
    /// The counters of one ended session.
    pub fn of(session: &Session) -> Self {
        let success = session.success.unwrap_or(false);
        Counters {
            requests: 1,
            successes: i64::from(success),
            failures: i64::from(!success),
            unpriced: i64::from(session.cost_nanos.is_none()),
            input_tokens: session.usage.input,
            cached_input_tokens: session.usage.cached_input,
            cache_write_tokens: session.usage.cache_write,
            output_tokens: session.usage.output,
            reasoning_tokens: session.usage.reasoning,
            cost_nanos: session.cost_nanos.unwrap_or(0),
            duration_ms: session.duration_ms().unwrap_or(0),
            searches: session.search_count,
            iterations: session.iterations,
        }
    }

    pub fn add(&mut self, o: &Counters) {
        self.requests += o.requests;
        self.successes += o.successes;
        self.failures += o.failures;
        self.unpriced += o.unpriced;
        self.input_tokens += o.input_tokens;
        self.cached_input_tokens += o.cached_input_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.output_tokens += o.output_tokens;
        self.reasoning_tokens += o.reasoning_tokens;
        self.cost_nanos += o.cost_nanos;
        self.duration_ms += o.duration_ms;
        self.searches += o.searches;
        self.iterations += o.iterations;
    }

    pub fn priced_requests(&self) -> i64 {
        self.requests - self.unpriced
    }
}
