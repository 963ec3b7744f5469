//! Planning one write batch in memory: events apply in request order, then array order,
//! against the sessions loaded from the store. Pure; the backends write the plan.

use crate::analytics::{ConversationCounts, MessageStats};
use crate::clock::{floor_day, floor_hour, Micros};
use crate::conversation::{Conversation, MessageFacts};
use crate::events::{
    ConversationEvent, Event, EventError, EventKind, ExtractionEvent, IngestEvent, MessageEvent,
    PageEvent, ScrapeJobEvent, ShopEvent,
};
use crate::pricing::PriceTable;
use crate::rollup::{duration_bucket, Counters, ALL};
use crate::session::{Rejection, Session};
use std::collections::{HashMap, HashSet};

/// Event ids remembered per session for de-duplication; a session with more events than
/// this is de-duplicated on its first ones only.
pub const MAX_EVENT_IDS: usize = 10_000;

/// Per request: the rejected events as (index, reason).
pub type Rejections = Vec<(usize, EventError)>;

/// One ingest request of a batch: its events, and the domain its key is held to, if any.
/// A domain-scoped request may only touch sessions and conversations of that domain: one
/// naming another domain's is refused as unknown, as if it did not exist.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub events: &'a [Event],
    pub domain: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A request of a key not held to a domain.
    pub fn unscoped(events: &'a [Event]) -> Self {
        Request {
            events,
            domain: None,
        }
    }
}

#[derive(Debug, Default)]
pub struct Plan {
    /// Sessions touched by the batch, keyed by session id, with whether they changed.
    pub sessions: HashMap<String, (Session, bool)>,
    /// Finished sessions from `session` events; inserted only where the id is new.
    pub backfills: Vec<Session>,
    /// Sessions that ended in this batch (live path); their rollups are added.
    pub ended: Vec<String>,
    /// Of those, the ones whose only change was ending from their spans (`Settle`): only
    /// their end columns need writing.
    pub settled: HashSet<String>,
    pub rejections: Vec<Rejections>,
    /// Conversations touched by the batch, with whether they changed.
    pub conversations: HashMap<String, (Conversation, bool)>,
    /// What each loaded conversation contributed to rollups before this batch.
    pub conversations_before: HashMap<String, ConversationCounts>,
    pub messages: Vec<NewMessage>,
    pub failed_searches: Vec<FailedSearch>,
    pub extractions: Vec<ExtractionEvent>,
    pub pages: Vec<PageEvent>,
    pub scrape_jobs: Vec<ScrapeJobEvent>,
    pub shop: Vec<ShopEvent>,
}

/// A message to insert, with what it contributes.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: String,
    pub event: MessageEvent,
    pub domain: String,
    pub facts: MessageFacts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedSearch {
    pub session_id: String,
    /// The need it belongs to: its session's conversation, else `s:` and the session id.
    pub need: String,
    pub domain: String,
    pub query: String,
    pub product: Option<String>,
    pub at: Micros,
}

impl FailedSearch {
    pub fn new(session: &Session, query: &str, at: Micros) -> Self {
        let query = query
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        FailedSearch {
            session_id: session.session_id.clone(),
            need: match &session.conversation_id {
                Some(id) => id.clone(),
                None => format!("s:{}", session.session_id),
            },
            domain: session.domain.clone(),
            product: crate::text::extract_product(&query),
            query,
            at,
        }
    }

    /// The searches with no results inside a backfilled session's `searches` list.
    pub fn from_backfill(session: &Session) -> Vec<FailedSearch> {
        session
            .searches
            .iter()
            .filter(|s| s.get("results").and_then(serde_json::Value::as_i64) == Some(0))
            .filter_map(|s| s.get("query").and_then(serde_json::Value::as_str))
            .map(|q| FailedSearch::new(session, q, session.start_time))
            .collect()
    }
}

/// Session ids and conversation ids whose stored state the batch needs: those events name,
/// and for domain-scoped requests the conversations new sessions link to (to refuse a link
/// to another domain's).
pub fn ids_to_load(requests: &[Request]) -> (Vec<String>, Vec<String>) {
    let mut sessions = HashSet::new();
    let mut conversations = HashSet::new();
    for request in requests {
        for event in request.events {
            match event {
                Event::Session(e) => {
                    if !matches!(e.kind, EventKind::Backfill(_)) {
                        sessions.insert(e.session_id.as_str());
                    }
                    if request.domain.is_some() {
                        if let Some(c) = linked_conversation(&e.kind) {
                            conversations.insert(c);
                        }
                    }
                }
                Event::Conversation(c) => {
                    conversations.insert(c.conversation_id.as_str());
                }
                Event::Message(m) => {
                    conversations.insert(m.conversation_id.as_str());
                }
                Event::Extraction(_) | Event::Page(_) | Event::ScrapeJob(_) | Event::Shop(_) => {}
            }
        }
    }
    let owned = |set: HashSet<&str>| set.into_iter().map(str::to_string).collect();
    (owned(sessions), owned(conversations))
}

/// The conversation a new session links to.
fn linked_conversation(kind: &EventKind) -> Option<&str> {
    match kind {
        EventKind::Start {
            conversation_id, ..
        } => conversation_id.as_deref(),
        EventKind::Backfill(b) => b.conversation_id.as_deref(),
        _ => None,
    }
}

pub fn plan(
    requests: &[Request],
    loaded: Vec<Session>,
    conversations: Vec<Conversation>,
    prices: &PriceTable,
    mut new_id: impl FnMut() -> String,
) -> Plan {
    let mut plan = Plan {
        sessions: loaded
            .into_iter()
            .map(|s| (s.session_id.clone(), (s, false)))
            .collect(),
        conversations_before: conversations
            .iter()
            .map(|c| (c.id.clone(), ConversationCounts::of(c)))
            .collect(),
        conversations: conversations
            .into_iter()
            .map(|c| (c.id.clone(), (c, false)))
            .collect(),
        ..Plan::default()
    };
    let mut backfill_ids: HashSet<String> = HashSet::new();
    for request in requests {
        let mut rejected = Vec::new();
        for (index, event) in request.events.iter().enumerate() {
            let outcome = match event {
                Event::Session(e) => check_tenant(&plan, request.domain, e).and_then(|()| {
                    apply_session_event(&mut plan, &mut backfill_ids, e, prices, &mut new_id)
                }),
                Event::Conversation(c) => {
                    apply_conversation(&mut plan, c);
                    Ok(())
                }
                Event::Message(m) => match request.domain {
                    Some(own)
                        if plan
                            .conversations
                            .get(&m.conversation_id)
                            .is_some_and(|(c, _)| c.domain != own) =>
                    {
                        Err(EventError::new("conversation_id", "unknown conversation"))
                    }
                    _ => apply_message(&mut plan, m, &mut new_id),
                },
                Event::Extraction(x) => {
                    plan.extractions.push(x.clone());
                    Ok(())
                }
                Event::Page(p) => {
                    plan.pages.push(p.clone());
                    Ok(())
                }
                Event::ScrapeJob(j) => {
                    plan.scrape_jobs.push(j.clone());
                    Ok(())
                }
                Event::Shop(x) => {
                    plan.shop.push(x.clone());
                    Ok(())
                }
            };
            if let Err(reason) = outcome {
                rejected.push((index, reason));
            }
        }
        plan.rejections.push(rejected);
    }
    mark_follow_ups(&mut plan);
    plan
}

/// Among the batch's conversations (new, and those loaded for their customer), each one
/// followed by another of the same customer within 24 h is marked followed up.
fn mark_follow_ups(plan: &mut Plan) {
    let mut by_customer: HashMap<(String, String), Vec<(Micros, String)>> = HashMap::new();
    for (id, (c, _)) in &plan.conversations {
        if let Some(customer) = &c.customer {
            by_customer
                .entry((c.domain.clone(), customer.clone()))
                .or_default()
                .push((c.created_at, id.clone()));
        }
    }
    for (_, mut list) in by_customer {
        list.sort();
        for pair in list.windows(2) {
            let ((first, id), (next, _)) = (&pair[0], &pair[1]);
            if *next > *first && next - first <= crate::conversation::FOLLOW_UP_MICROS {
                if let Some((c, dirty)) = plan.conversations.get_mut(id) {
                    if !c.followed_up {
                        c.followed_up = true;
                        *dirty = true;
                    }
                }
            }
        }
    }
}

/// The new conversations of a batch that name a customer: (domain, customer, start), for
/// the store to load the customer's conversations around them.
pub fn customers_to_load(requests: &[Request]) -> Vec<(String, String, Micros)> {
    let mut found = Vec::new();
    for request in requests {
        for event in request.events {
            if let Event::Conversation(c) = event {
                if let Some(customer) = crate::conversation::customer_of(c.metadata.as_ref()) {
                    found.push((c.domain.to_string(), customer, c.at));
                }
            }
        }
    }
    found
}

/// A domain-scoped request sees only its domain: an event for another domain's session,
/// or a new session linked to another domain's conversation, is refused as unknown.
fn check_tenant(plan: &Plan, scope: Option<&str>, event: &IngestEvent) -> Result<(), EventError> {
    let Some(own) = scope else {
        return Ok(());
    };
    if plan
        .sessions
        .get(&event.session_id)
        .is_some_and(|(s, _)| s.domain != own)
    {
        return Err(refused(Rejection::UnknownSession));
    }
    let foreign_link = linked_conversation(&event.kind)
        .and_then(|c| plan.conversations.get(c))
        .is_some_and(|(c, _)| c.domain != own);
    if foreign_link {
        return Err(EventError::new("conversation_id", "unknown conversation"));
    }
    Ok(())
}

/// A rejection as the client sees it, naming the field to blame.
fn refused(rejection: Rejection) -> EventError {
    let field = match rejection {
        Rejection::BeforeStart => "timestamp",
        Rejection::Overflow | Rejection::TooManyCalls => "type",
        Rejection::UnknownSession
        | Rejection::SessionEnded
        | Rejection::AlreadyStarted
        | Rejection::NotFromSpans => "session_id",
    };
    EventError::new(field, rejection.to_string())
}

fn apply_session_event(
    plan: &mut Plan,
    backfill_ids: &mut HashSet<String>,
    event: &IngestEvent,
    prices: &PriceTable,
    new_id: &mut impl FnMut() -> String,
) -> Result<(), EventError> {
    if let Some(event_id) = &event.event_id {
        let known = plan.sessions.get(&event.session_id);
        if known.is_some_and(|(s, _)| s.event_ids.iter().any(|e| e == event_id)) {
            return Ok(()); // a repeat: accepted, changes nothing
        }
    }
    apply_one(plan, backfill_ids, event, prices, new_id).map_err(refused)?;
    if let Some((session, dirty)) = plan.sessions.get_mut(&event.session_id) {
        if let EventKind::Search {
            query, results: 0, ..
        } = &event.kind
        {
            let failed = FailedSearch::new(session, query, event.at);
            plan.failed_searches.push(failed);
        }
        if let Some(event_id) = &event.event_id {
            if session.event_ids.len() < MAX_EVENT_IDS {
                session.event_ids.push(event_id.clone());
                *dirty = true;
            }
        }
    }
    Ok(())
}

/// A `conversation` with a known id is accepted and changes nothing, except that its
/// `metadata.escalated` marks the conversation escalated.
fn apply_conversation(plan: &mut Plan, event: &ConversationEvent) {
    if let Some((c, dirty)) = plan.conversations.get_mut(&event.conversation_id) {
        if !c.escalated && crate::conversation::marks_escalated(event.metadata.as_ref()) {
            c.escalated = true;
            *dirty = true;
        }
    } else {
        let c = Conversation::new(
            event.conversation_id.clone(),
            event.domain.to_string(),
            event.at,
            event.metadata.clone(),
        );
        plan.conversations.insert(c.id.clone(), (c, true));
    }
}

fn apply_message(
    plan: &mut Plan,
    event: &MessageEvent,
    new_id: &mut impl FnMut() -> String,
) -> Result<(), EventError> {
    let Some((conversation, dirty)) = plan.conversations.get_mut(&event.conversation_id) else {
        return Err(EventError::new("conversation_id", "unknown conversation"));
    };
    if let Some(message_id) = &event.message_id {
        if conversation.message_ids.iter().any(|m| m == message_id) {
            return Ok(()); // a repeat: accepted, changes nothing
        }
        if conversation.message_ids.len() < MAX_EVENT_IDS {
            conversation.message_ids.push(message_id.clone());
        }
    }
    let facts = conversation.add_message(event.role, &event.content, event.at);
    if crate::conversation::marks_escalated(event.metadata.as_ref()) {
        conversation.escalated = true;
    }
    *dirty = true;
    plan.messages.push(NewMessage {
        id: new_id(),
        event: event.clone(),
        domain: conversation.domain.clone(),
        facts,
    });
    Ok(())
}

fn apply_one(
    plan: &mut Plan,
    backfill_ids: &mut HashSet<String>,
    event: &IngestEvent,
    prices: &PriceTable,
    new_id: &mut impl FnMut() -> String,
) -> Result<(), Rejection> {
    let id = &event.session_id;
    match &event.kind {
        EventKind::Backfill(b) => {
            // A `session` with a known id is accepted and changes nothing.
            if !plan.sessions.contains_key(id) && backfill_ids.insert(id.clone()) {
                let session = Session::from_backfill(new_id(), id.clone(), (**b).clone(), prices);
                plan.backfills.push(session);
            }
            Ok(())
        }
        EventKind::Start {
            model,
            domain,
            conversation_id,
            metadata,
        } => {
            if let Some((existing, _)) = plan.sessions.get(id) {
                // A repeated identical start (a client retry) changes nothing.
                return if &existing.model == model && domain == &existing.domain {
                    Ok(())
                } else {
                    Err(Rejection::AlreadyStarted)
                };
            }
            if backfill_ids.contains(id) {
                return Err(Rejection::AlreadyStarted);
            }
            let mut session = Session::start(
                new_id(),
                id.clone(),
                event.at,
                model.clone(),
                domain.to_string(),
                prices,
            );
            session.conversation_id = conversation_id.clone();
            session.metadata = metadata.clone();
            plan.sessions.insert(id.clone(), (session, true));
            Ok(())
        }
        EventKind::Span(span) if !plan.sessions.contains_key(id) && !backfill_ids.contains(id) => {
            let mut session = Session::from_span(new_id(), id.clone(), span, event.at, prices);
            session.apply_span(span, event.at, prices)?;
            plan.sessions.insert(id.clone(), (session, true));
            Ok(())
        }
        kind => match plan.sessions.get_mut(id) {
            Some((session, dirty)) => {
                let was_live = session.is_active();
                let was_clean = !*dirty;
                session.apply(kind, event.at, prices)?;
                *dirty = true;
                if was_live && !session.is_active() {
                    plan.ended.push(id.clone());
                    if was_clean && matches!(kind, EventKind::Settle { .. }) {
                        plan.settled.insert(id.clone());
                    }
                }
                Ok(())
            }
            None if backfill_ids.contains(id) => Err(Rejection::SessionEnded),
            None => Err(Rejection::UnknownSession),
        },
    }
}

/// Live sessions as the single writer last stored them, so a batch need not read them
/// back. Only for a database no other process writes (SQLite); bounded.
#[derive(Debug, Default)]
pub struct LiveCache {
    sessions: HashMap<String, Session>,
}

pub const LIVE_CACHE_MAX: usize = 200_000;

impl LiveCache {
    /// Takes the cached sessions among `ids`; returns them and the ids still to load.
    pub fn take(&mut self, ids: Vec<String>) -> (Vec<Session>, Vec<String>) {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for id in ids {
            match self.sessions.remove(&id) {
                Some(s) => found.push(s),
                None => missing.push(id),
            }
        }
        (found, missing)
    }

    /// Remembers the sessions of a committed batch that are still live.
    pub fn keep(&mut self, sessions: impl IntoIterator<Item = Session>) {
        for s in sessions.into_iter().filter(Session::is_active) {
            if self.sessions.len() >= LIVE_CACHE_MAX {
                self.sessions.clear();
            }
            self.sessions.insert(s.session_id.clone(), s);
        }
    }

    pub fn clear(&mut self) {
        self.sessions.clear();
    }
}

/// Rollup increments of a batch, pre-aggregated so each bucket is written once. Every
/// session also counts in its bucket's all-domains and all-models rows ([`ALL`]).
#[derive(Debug, Default)]
pub struct RollupDelta {
    pub hourly: HashMap<(Micros, String, String), Counters>,
    pub daily: HashMap<(Micros, String, String), Counters>,
    /// Sessions per (bucket, domain, response-time bucket), for the domain and for all.
    pub durations_hourly: HashMap<(Micros, String, i64), i64>,
    pub durations_daily: HashMap<(Micros, String, i64), i64>,
}

impl RollupDelta {
    /// The increments of these sessions. Sessions are first summed per (hour, domain,
    /// model) under borrowed keys, so a batch of thousands allocates per group, not per
    /// session and row.
    pub fn of_sessions<'a>(sessions: impl IntoIterator<Item = &'a Session>) -> Self {
        let mut groups: HashMap<(Micros, &str, &str), Counters> = HashMap::new();
        let mut durations: HashMap<(Micros, &str, i64), i64> = HashMap::new();
        for session in sessions {
            let c = Counters::of(session);
            let hour = floor_hour(session.start_time);
            let le_index = duration_bucket(c.duration_ms) as i64;
            groups
                .entry((hour, session.domain.as_str(), session.model.as_str()))
                .or_default()
                .add(&c);
            *durations
                .entry((hour, session.domain.as_str(), le_index))
                .or_default() += 1;
        }
        let mut delta = RollupDelta::default();
        for ((hour, domain, model), c) in groups {
            for (table, bucket) in [
                (&mut delta.hourly, hour),
                (&mut delta.daily, floor_day(hour)),
            ] {
                for (d, m) in [(domain, model), (domain, ALL), (ALL, model), (ALL, ALL)] {
                    table
                        .entry((bucket, d.to_string(), m.to_string()))
                        .or_default()
                        .add(&c);
                }
            }
        }
        for ((hour, domain, le_index), count) in durations {
            for (table, bucket) in [
                (&mut delta.durations_hourly, hour),
                (&mut delta.durations_daily, floor_day(hour)),
            ] {
                for d in [domain, ALL] {
                    *table.entry((bucket, d.to_string(), le_index)).or_default() += count;
                }
            }
        }
        delta
    }
}

/// Rollup increments of a batch's messages and conversations, per hour and day, for the
/// domain and for all domains ([`ALL`]).
#[derive(Debug, Default)]
pub struct ContentDelta {
    pub messages_hourly: HashMap<(Micros, String), MessageStats>,
    pub messages_daily: HashMap<(Micros, String), MessageStats>,
    pub conversations_hourly: HashMap<(Micros, String), ConversationCounts>,
    pub conversations_daily: HashMap<(Micros, String), ConversationCounts>,
    pub queries_hourly: HashMap<(String, Micros, String), i64>,
    pub queries_daily: HashMap<(String, Micros, String), i64>,
}

impl ContentDelta {
    pub fn of_plan(plan: &Plan) -> Self {
        let mut delta = ContentDelta::default();
        for m in &plan.messages {
            delta.add_message(m);
        }
        for (id, (conversation, dirty)) in &plan.conversations {
            if *dirty {
                let before = plan
                    .conversations_before
                    .get(id)
                    .copied()
                    .unwrap_or_default();
                delta.add_conversation(
                    conversation,
                    ConversationCounts::of(conversation).minus(&before),
                );
            }
        }
        delta
    }

    fn add_message(&mut self, m: &NewMessage) {
        let user = m.event.role == crate::events::Role::User;
        let stats = MessageStats::of_message(
            user,
            m.facts.sentiment.score(),
            m.facts.response_ms_sum,
            m.facts.responses,
            m.facts.contradicts,
        );
        let (hour, day) = (floor_hour(m.event.at), floor_day(m.event.at));
        for domain in [m.domain.as_str(), ALL] {
            self.messages_hourly
                .entry((hour, domain.to_string()))
                .or_default()
                .add(&stats);
            self.messages_daily
                .entry((day, domain.to_string()))
                .or_default()
                .add(&stats);
            if let Some(query) = &m.facts.query {
                *self
                    .queries_hourly
                    .entry((domain.to_string(), hour, query.clone()))
                    .or_default() += 1;
                *self
                    .queries_daily
                    .entry((domain.to_string(), day, query.clone()))
                    .or_default() += 1;
            }
        }
    }

    fn add_conversation(&mut self, c: &Conversation, change: ConversationCounts) {
        if change.is_zero() {
            return;
        }
        let (hour, day) = (floor_hour(c.created_at), floor_day(c.created_at));
        for domain in [c.domain.as_str(), ALL] {
            self.conversations_hourly
                .entry((hour, domain.to_string()))
                .or_default()
                .add(&change);
            self.conversations_daily
                .entry((day, domain.to_string()))
                .or_default()
                .add(&change);
        }
    }
}

/// One product's requests in one bucket of one domain.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProductCounts {
    pub requests: i64,
    pub failed_searches: i64,
    pub last_at: Micros,
}

/// Rollup increments of a batch's product requests, per (domain, bucket, product) for the
/// domain and for all domains ([`ALL`]), and the latest time of each asking text per
/// (domain, product, text).
#[derive(Debug, Default)]
pub struct ProductDelta {
    pub hourly: HashMap<(String, Micros, String), ProductCounts>,
    pub daily: HashMap<(String, Micros, String), ProductCounts>,
    pub examples: HashMap<(String, String, String), Micros>,
}

impl ProductDelta {
    /// Adds `requests` (and `failed_searches` of them) to the product's buckets of `at`, in
    /// its domain and for all domains; negative to take a need back.
    pub fn count(&mut self, domain: &str, product: &str, at: Micros, requests: i64, failed: i64) {
        for (rows, bucket) in [
            (&mut self.hourly, floor_hour(at)),
            (&mut self.daily, floor_day(at)),
        ] {
            for scope in [domain, ALL] {
                let counts = rows
                    .entry((scope.to_string(), bucket, product.to_string()))
                    .or_default();
                counts.requests += requests;
                counts.failed_searches += failed;
                counts.last_at = counts.last_at.max(at);
            }
        }
    }

    /// A text that asked for the product, at `at`.
    pub fn example(&mut self, domain: &str, product: &str, text: &str, at: Micros) {
        let last = self
            .examples
            .entry((domain.to_string(), product.to_string(), text.to_string()))
            .or_insert(at);
        *last = (*last).max(at);
    }
}

/// Whether a finished session searched and found nothing: its conversation's product
/// questions then ask for products the shop lacks.
pub fn found_nothing(session: &Session) -> bool {
    session.end_time.is_some() && session.search_count > 0 && session.total_results == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::parse;
    use crate::pricing::default_prices;

    const NOW: Micros = 1_795_651_200_000_000; // 2026-11-26T00:00:00Z

    fn events(lines: &[&str]) -> Vec<Event> {
        lines
            .iter()
            .map(|l| parse(l, NOW).expect("valid event"))
            .collect()
    }

    fn run(requests: &[Vec<Event>], loaded: Vec<Session>) -> Plan {
        let prices = PriceTable::new(default_prices());
        let mut n = 0;
        let requests: Vec<Request> = requests.iter().map(|r| Request::unscoped(r)).collect();
        plan(&requests, loaded, vec![], &prices, || {
            n += 1;
            format!("id-{n}")
        })
    }

    #[test]
    fn events_apply_in_order_within_and_across_requests() {
        let first = events(&[
            r#"{"type":"usage","session_id":"s1","input_tokens":1,"output_tokens":1}"#,
            r#"{"type":"session.start","session_id":"s1","model":"gpt-4","domain":"d"}"#,
            r#"{"type":"usage","session_id":"s1","input_tokens":1000,"output_tokens":500}"#,
        ]);
        let second = events(&[
            r#"{"type":"session.end","session_id":"s1","success":true}"#,
            r#"{"type":"iteration","session_id":"s1","iteration":1}"#,
        ]);
        let plan = run(&[first, second], vec![]);
        assert_eq!(
            plan.rejections[0],
            vec![(0, EventError::new("session_id", "unknown session"))]
        );
        assert_eq!(
            plan.rejections[1],
            vec![(1, EventError::new("session_id", "session ended"))]
        );
        let (session, dirty) = &plan.sessions["s1"];
        assert!(dirty);
        assert_eq!(session.cost_nanos, Some(60_000_000));
        assert_eq!(plan.ended, vec!["s1".to_string()]);
    }

    #[test]
    fn repeated_event_ids_and_backfills_change_nothing() {
        let request = events(&[
            r#"{"type":"session.start","session_id":"s1","model":"gpt-4","domain":"d","event_id":"e1"}"#,
            r#"{"type":"usage","session_id":"s1","input_tokens":10,"output_tokens":0,"event_id":"e2"}"#,
            r#"{"type":"usage","session_id":"s1","input_tokens":10,"output_tokens":0,"event_id":"e2"}"#,
            r#"{"type":"session","session_id":"b1","model":"gpt-4","domain":"d","start_time":"2026-01-01T00:00:00Z","duration_ms":5,"success":true,"input_tokens":1,"output_tokens":1}"#,
            r#"{"type":"session","session_id":"b1","model":"gpt-4","domain":"d","start_time":"2026-01-01T00:00:00Z","duration_ms":5,"success":true,"input_tokens":1,"output_tokens":1}"#,
            r#"{"type":"usage","session_id":"b1","input_tokens":1,"output_tokens":1}"#,
        ]);
        let plan = run(&[request], vec![]);
        assert_eq!(
            plan.rejections[0],
            vec![(5, EventError::new("session_id", "session ended"))]
        );
        assert_eq!(plan.sessions["s1"].0.usage.input, 10);
        assert_eq!(plan.backfills.len(), 1);
        assert_eq!(
            plan.sessions["s1"].0.event_ids,
            vec!["e1".to_string(), "e2".to_string()]
        );
    }

    #[test]
    fn a_different_second_start_is_rejected() {
        let request = events(&[
            r#"{"type":"session.start","session_id":"s1","model":"gpt-4","domain":"d"}"#,
            r#"{"type":"session.start","session_id":"s1","model":"gpt-4","domain":"d"}"#,
            r#"{"type":"session.start","session_id":"s1","model":"gpt-4o","domain":"d"}"#,
        ]);
        let plan = run(&[request], vec![]);
        assert_eq!(
            plan.rejections[0],
            vec![(2, EventError::new("session_id", "session already started"))]
        );
    }

    #[test]
    fn rollup_delta_aggregates_per_bucket() {
        let request = events(&[
            r#"{"type":"session","session_id":"a","model":"gpt-4","domain":"d","start_time":"2026-01-01T10:05:00Z","duration_ms":5,"success":true,"input_tokens":1000,"output_tokens":500}"#,
            r#"{"type":"session","session_id":"b","model":"gpt-4","domain":"d","start_time":"2026-01-01T10:55:00Z","duration_ms":5,"success":false,"input_tokens":1000,"output_tokens":500}"#,
        ]);
        let plan = run(&[request], vec![]);
        let delta = RollupDelta::of_sessions(&plan.backfills);
        // One hour, one domain, one model: the pair row plus three total rows.
        assert_eq!(delta.hourly.len(), 4);
        assert_eq!(delta.daily.len(), 4);
        for (d, m) in [("d", "gpt-4"), ("d", ""), ("", "gpt-4"), ("", "")] {
            let c = delta.hourly[&(c_hour(), d.to_string(), m.to_string())];
            assert_eq!(
                (c.requests, c.successes, c.failures, c.cost_nanos),
                (2, 1, 1, 120_000_000)
            );
        }
    }

    fn c_hour() -> Micros {
        crate::clock::parse_rfc3339("2026-01-01T10:00:00Z").expect("time")
    }
}
