// Ingest of conversations and messages: conversation state, messages, failed searches and
// the message, conversation and query rollups.
use super::ingest::{fetch_by_ids, Tx, CHUNK};
use super::rollups::saturating_add;
use super::DB;
use crate::batch::{ContentDelta, FailedSearch, NewMessage};
use omniops_core::analytics::{ConversationCounts, MessageStats};
use omniops_core::clock::Micros;
use omniops_core::conversation::Conversation;
use omniops_core::conversation::FOLLOW_UP_MICROS;
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;

pub(crate) const CONVERSATION_COLUMNS: &str = "id, domain, created_at, updated_at, metadata, first_user_message, \
    message_count, user_message_count, pending_count, pending_sum, last_user_answered, \
    last_user_negative, resolved, hits_es, hits_fr, hits_de, non_latin_letters, letters, language, message_ids, found_nothing, escalated, customer_id, followed_up";

pub(crate) fn conversation_from_row(
    row: &<DB as sqlx::Database>::Row,
) -> sqlx::Result<Conversation> {
    let metadata: Option<String> = row.try_get("metadata")?;
    let pending_sum: String = row.try_get("pending_sum")?;
    let message_ids: String = row.try_get("message_ids")?;
    Ok(Conversation {
        id: row.try_get("id")?,
        domain: row.try_get("domain")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()),
        first_user_message: row.try_get("first_user_message")?,
        message_count: row.try_get("message_count")?,
        user_message_count: row.try_get("user_message_count")?,
        pending_count: row.try_get("pending_count")?,
        pending_sum: pending_sum.parse().unwrap_or(0),
        last_user_answered: row.try_get("last_user_answered")?,
        last_user_negative: row.try_get("last_user_negative")?,
        language_hits: [
            row.try_get("hits_es")?,
            row.try_get("hits_fr")?,
            row.try_get("hits_de")?,
        ],
        non_latin_letters: row.try_get("non_latin_letters")?,
        letters: row.try_get("letters")?,
        message_ids: serde_json::from_str(&message_ids).unwrap_or_default(),
        found_nothing: row.try_get("found_nothing")?,
        escalated: row.try_get("escalated")?,
        customer: row.try_get("customer_id")?,
        followed_up: row.try_get("followed_up")?,
    })
}

pub(crate) async fn load_conversations(
    tx: &mut Tx<'_>,
    ids: &[String],
) -> sqlx::Result<Vec<Conversation>> {
    let select = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id IN (");
    fetch_by_ids(tx, &select, ids, Some("id"), conversation_from_row).await
}

/// The ids of the customers' conversations that started within 24 h of each of
/// `customers` (domain, customer, start): a new conversation may follow them up, or be
/// followed up by one of them.
pub(crate) async fn conversations_of_customers(
    tx: &mut Tx<'_>,
    customers: &[(String, String, Micros)],
) -> sqlx::Result<Vec<String>> {
    let mut ids = Vec::new();
    for (domain, customer, at) in customers {
        let found: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM conversations WHERE domain = $1 AND customer_id = $2 \
             AND created_at >= $3 AND created_at <= $4",
        )
        .bind(domain)
        .bind(customer)
        .bind(at - FOLLOW_UP_MICROS)
        .bind(at + FOLLOW_UP_MICROS)
        .fetch_all(&mut **tx)
        .await?;
        ids.extend(found);
    }
    Ok(ids)
}

/// Each new conversation's customer in the hour it started (README: analytics, users).
pub(crate) async fn add_customer_hours(
    tx: &mut Tx<'_>,
    rows: &[(String, Micros, String)],
) -> sqlx::Result<()> {
    for chunk in rows.chunks(CHUNK) {
        let mut q =
            QueryBuilder::<DB>::new("INSERT INTO customer_hours (domain, bucket, customer_id) ");
        q.push_values(chunk, |mut b, (domain, bucket, customer)| {
            b.push_bind(domain.clone())
                .push_bind(*bucket)
                .push_bind(customer.clone());
        });
        q.push(" ON CONFLICT (domain, bucket, customer_id) DO NOTHING");
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) async fn upsert_conversations(
    tx: &mut Tx<'_>,
    conversations: &[&Conversation],
) -> sqlx::Result<()> {
    for chunk in conversations.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(format!(
            "INSERT INTO conversations ({CONVERSATION_COLUMNS}) "
        ));
        q.push_values(chunk, |mut b, c| {
            b.push_bind(c.id.clone())
                .push_bind(c.domain.clone())
                .push_bind(c.created_at)
                .push_bind(c.updated_at)
                .push_bind(c.metadata.as_ref().map(|m| m.to_string()))
                .push_bind(c.first_user_message.clone())
                .push_bind(c.message_count)
                .push_bind(c.user_message_count)
                .push_bind(c.pending_count)
                .push_bind(c.pending_sum.to_string())
                .push_bind(c.last_user_answered)
                .push_bind(c.last_user_negative)
                .push_bind(c.resolved())
                .push_bind(c.language_hits[0])
                .push_bind(c.language_hits[1])
                .push_bind(c.language_hits[2])
                .push_bind(c.non_latin_letters)
                .push_bind(c.letters)
                .push_bind(c.language().code())
                .push_bind(serde_json::to_string(&c.message_ids).unwrap_or_else(|_| "[]".into()))
                .push_bind(c.found_nothing)
                .push_bind(c.escalated)
                .push_bind(c.customer.clone())
                .push_bind(c.followed_up);
        });
        q.push(
            " ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, \
             first_user_message = excluded.first_user_message, message_count = excluded.message_count, \
             user_message_count = excluded.user_message_count, pending_count = excluded.pending_count, \
             pending_sum = excluded.pending_sum, last_user_answered = excluded.last_user_answered, \
             last_user_negative = excluded.last_user_negative, resolved = excluded.resolved, \
             hits_es = excluded.hits_es, hits_fr = excluded.hits_fr, hits_de = excluded.hits_de, \
             non_latin_letters = excluded.non_latin_letters, letters = excluded.letters, \
             language = excluded.language, message_ids = excluded.message_ids, escalated = excluded.escalated, \
             followed_up = excluded.followed_up",
        );
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) async fn insert_messages(tx: &mut Tx<'_>, messages: &[NewMessage]) -> sqlx::Result<()> {
    for chunk in messages.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO messages (id, conversation_id, message_id, domain, role, content, created_at, \
             metadata, sentiment, query, product, response_ms_sum, responses, contradicts) ",
        );
        q.push_values(chunk, |mut b, m| {
            b.push_bind(m.id.clone())
                .push_bind(m.event.conversation_id.clone())
                .push_bind(m.event.message_id.clone())
                .push_bind(m.domain.clone())
                .push_bind(m.event.role.as_str())
                .push_bind(m.event.content.clone())
                .push_bind(m.event.at)
                .push_bind(m.event.metadata.as_ref().map(|v| v.to_string()))
                .push_bind(m.facts.sentiment.score())
                .push_bind(m.facts.query.clone())
                .push_bind(m.facts.product.clone())
                .push_bind(m.facts.response_ms_sum)
                .push_bind(m.facts.responses)
                .push_bind(m.facts.contradicts);
        });
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) async fn insert_failed_searches(
    tx: &mut Tx<'_>,
    searches: &[FailedSearch],
) -> sqlx::Result<()> {
    let mut latest: HashMap<(String, String), Micros> = HashMap::new();
    for f in searches {
        for domain in [f.domain.as_str(), ""] {
            let at = latest
                .entry((domain.to_string(), f.query.clone()))
                .or_insert(f.at);
            *at = (*at).max(f.at);
        }
    }
    let latest: Vec<_> = latest.into_iter().collect();
    for chunk in latest.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new("INSERT INTO failed_queries (domain, query, last_at) ");
        q.push_values(chunk, |mut b, ((domain, query), at)| {
            b.push_bind(domain.clone())
                .push_bind(query.clone())
                .push_bind(*at);
        });
        q.push(
            " ON CONFLICT (domain, query) DO UPDATE SET last_at = \
             CASE WHEN excluded.last_at > failed_queries.last_at THEN excluded.last_at ELSE failed_queries.last_at END",
        );
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    for chunk in searches.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO failed_searches (session_id, domain, query, product, created_at, need_key) ",
        );
        q.push_values(chunk, |mut b, f| {
            b.push_bind(f.session_id.clone())
                .push_bind(f.domain.clone())
                .push_bind(f.query.clone())
                .push_bind(f.product.clone())
                .push_bind(f.at)
                .push_bind(f.need.clone());
        });
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Adds counts to a rollup keyed by (bucket, domain): `columns` name the counts in order.
pub(crate) async fn add_bucket_counts(
    tx: &mut Tx<'_>,
    table: &str,
    columns: &[&str],
    rows: Vec<((Micros, String), Vec<i64>)>,
) -> sqlx::Result<()> {
    let updates = columns
        .iter()
        .map(|c| {
            format!(
                "{c} = {}",
                saturating_add(&format!("{table}.{c}"), &format!("excluded.{c}"))
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    for chunk in rows.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(format!(
            "INSERT INTO {table} (bucket, domain, {}) ",
            columns.join(", ")
        ));
        q.push_values(chunk, |mut b, ((bucket, domain), counts)| {
            b.push_bind(*bucket).push_bind(domain.clone());
            for count in counts {
                b.push_bind(*count);
            }
        });
        q.push(format!(
            " ON CONFLICT (domain, bucket) DO UPDATE SET {updates}"
        ));
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) async fn add_query_counts(
    tx: &mut Tx<'_>,
    table: &str,
    rows: &HashMap<(String, Micros, String), i64>,
) -> sqlx::Result<()> {
    let rows: Vec<_> = rows.iter().collect();
    for chunk in rows.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(format!(
            "INSERT INTO {table} (domain, bucket, query, count) "
        ));
        q.push_values(chunk, |mut b, ((domain, bucket, query), count)| {
            b.push_bind(domain.clone())
                .push_bind(*bucket)
                .push_bind(query.clone())
                .push_bind(**count);
        });
        q.push(format!(" ON CONFLICT (domain, bucket, query) DO UPDATE SET count = {table}.count + excluded.count"));
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) const MESSAGE_COUNTS: [&str; 8] = [
    "messages",
    "user_messages",
    "positive",
    "negative",
    "response_ms_sum",
    "responses",
    "answers",
    "contradicted",
];
pub(crate) const CONVERSATION_COUNTS: [&str; 10] = [
    "conversations",
    "with_user_messages",
    "resolved",
    "lang_en",
    "lang_es",
    "lang_fr",
    "lang_de",
    "lang_other",
    "escalated",
    "first_contact_resolved",
];

pub(crate) fn message_counts(m: &MessageStats) -> Vec<i64> {
    vec![
        m.messages,
        m.user_messages,
        m.positive,
        m.negative,
        m.response_ms_sum,
        m.responses,
        m.answers,
        m.contradicted,
    ]
}

pub(crate) fn conversation_counts(c: &ConversationCounts) -> Vec<i64> {
    let mut v = vec![c.conversations, c.with_user_messages, c.resolved];
    v.extend(c.languages);
    v.push(c.escalated);
    v.push(c.first_contact_resolved);
    v
}

pub(crate) async fn add_content_rollups(tx: &mut Tx<'_>, delta: &ContentDelta) -> sqlx::Result<()> {
    for (table, rows) in [
        ("message_rollup_hourly", &delta.messages_hourly),
        ("message_rollup_daily", &delta.messages_daily),
    ] {
        let rows = rows
            .iter()
            .map(|(k, m)| (k.clone(), message_counts(m)))
            .collect();
        add_bucket_counts(tx, table, &MESSAGE_COUNTS, rows).await?;
    }
    for (table, rows) in [
        ("conversation_rollup_hourly", &delta.conversations_hourly),
        ("conversation_rollup_daily", &delta.conversations_daily),
    ] {
        let rows = rows
            .iter()
            .map(|(k, c)| (k.clone(), conversation_counts(c)))
            .collect();
        add_bucket_counts(tx, table, &CONVERSATION_COUNTS, rows).await?;
    }
    add_query_counts(tx, "query_rollup_hourly", &delta.queries_hourly).await?;
    add_query_counts(tx, "query_rollup_daily", &delta.queries_daily).await
}
