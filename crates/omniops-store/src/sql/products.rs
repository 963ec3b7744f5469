// Missing-product requests at ingest: conversations flagged when a session found nothing,
// and the product rollups and examples.
use super::ingest::Tx;
use super::ingest::CHUNK;
use super::DB;
use crate::batch::ProductCounts;
use crate::batch::ProductDelta;
use omniops_core::clock::Micros;
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;

/// Marks those of `ids` that have a session which searched and found nothing, unless already
/// marked, and returns the product questions of the newly marked ones (this batch's included):
/// (domain, product, text, time).
pub(crate) async fn flag_found_nothing(
    tx: &mut Tx<'_>,
    ids: &[String],
) -> sqlx::Result<Vec<(String, String, String, Micros)>> {
    let mut questions = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "UPDATE conversations SET found_nothing = TRUE WHERE NOT found_nothing AND EXISTS (\
             SELECT 1 FROM chat_telemetry t WHERE t.conversation_id = conversations.id \
             AND t.end_time IS NOT NULL AND t.search_count > 0 AND t.total_results = 0) AND id IN (",
        );
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(id.clone());
        }
        q.push(") RETURNING id");
        let flagged: Vec<String> = q.build_query_scalar().fetch_all(&mut **tx).await?;
        if flagged.is_empty() {
            continue;
        }
        let mut q = QueryBuilder::<DB>::new(
            "SELECT domain, product, content, created_at FROM messages \
             WHERE role = 'user' AND product IS NOT NULL AND conversation_id IN (",
        );
        let mut list = q.separated(", ");
        for id in &flagged {
            list.push_bind(id.clone());
        }
        q.push(")");
        for row in q.build().fetch_all(&mut **tx).await? {
            questions.push((
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            ));
        }
    }
    Ok(questions)
}

pub(crate) async fn add_product_counts(
    tx: &mut Tx<'_>,
    table: &str,
    rows: &HashMap<(String, Micros, String), ProductCounts>,
) -> sqlx::Result<()> {
    let rows: Vec<_> = rows.iter().collect();
    for chunk in rows.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(format!(
            "INSERT INTO {table} (domain, bucket, product, requests, failed_searches, last_at) "
        ));
        q.push_values(chunk, |mut b, ((domain, bucket, product), c)| {
            b.push_bind(domain.clone())
                .push_bind(*bucket)
                .push_bind(product.clone())
                .push_bind(c.requests)
                .push_bind(c.failed_searches)
                .push_bind(c.last_at);
        });
        q.push(format!(
            " ON CONFLICT (domain, bucket, product) DO UPDATE SET requests = {table}.requests + excluded.requests, \
             failed_searches = {table}.failed_searches + excluded.failed_searches, \
             last_at = CASE WHEN excluded.last_at > {table}.last_at THEN excluded.last_at ELSE {table}.last_at END"
        ));
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

pub(crate) async fn add_product_rollups(tx: &mut Tx<'_>, delta: &ProductDelta) -> sqlx::Result<()> {
    add_product_counts(tx, "product_rollup_hourly", &delta.hourly).await?;
    add_product_counts(tx, "product_rollup_daily", &delta.daily).await?;
    let examples: Vec<_> = delta.examples.iter().collect();
    for chunk in examples.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO product_examples (domain, product, text, last_at) ",
        );
        q.push_values(chunk, |mut b, ((domain, product, text), at)| {
            b.push_bind(domain.clone())
                .push_bind(product.clone())
                .push_bind(text.clone())
                .push_bind(**at);
        });
        q.push(
            " ON CONFLICT (domain, product, text) DO UPDATE SET last_at = \
             CASE WHEN excluded.last_at > product_examples.last_at THEN excluded.last_at ELSE product_examples.last_at END",
        );
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}
