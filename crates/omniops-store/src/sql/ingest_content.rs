// Ingest of content and shop data: extractions (the catalogue), scraped pages and their
// chunks, scrape jobs, carts and orders.

use super::ingest::{Tx, CHUNK};
use super::DB;
use omniops_core::events::{ExtractionEvent, PageEvent, ScrapeJobEvent, ShopEvent, ShopKind};
use sqlx::QueryBuilder;
use std::collections::HashMap;

/// The last of several items with the same key, in order: one multi-row upsert may not
/// touch a row twice (PostgreSQL refuses).
pub(crate) fn last_per_key<T, K: std::hash::Hash + Eq>(
    items: &[T],
    key: impl Fn(&T) -> K,
) -> Vec<&T> {
    let mut last: HashMap<K, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        last.insert(key(item), i);
    }
    items
        .iter()
        .enumerate()
        .filter(|(i, item)| last.get(&key(item)) == Some(i))
        .map(|(_, item)| item)
        .collect()
}

pub(crate) fn hashed_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(parts.join("\n")))
}

pub(crate) fn extraction_id(x: &ExtractionEvent) -> String {
    let key = x.product_name.clone().unwrap_or_else(|| x.data.to_string());
    hashed_id(&[&x.extraction_type, &x.domain, &key])
}

pub(crate) fn page_id(p: &PageEvent) -> String {
    hashed_id(&[&p.domain, &p.url])
}

/// One row per product (domain, name) — a later extraction replaces its data and price —
/// and per distinct FAQ or contact record.
pub(crate) async fn upsert_extractions(
    tx: &mut Tx<'_>,
    extractions: &[ExtractionEvent],
) -> sqlx::Result<()> {
    let extractions = last_per_key(extractions, extraction_id);
    for chunk in extractions.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO structured_extractions (id, domain, extraction_type, data, product_name, price, created_at) ",
        );
        q.push_values(chunk, |mut b, x| {
            b.push_bind(extraction_id(x))
                .push_bind(x.domain.to_string())
                .push_bind(x.extraction_type.clone())
                .push_bind(x.data.to_string())
                .push_bind(x.product_name.clone())
                .push_bind(x.price.clone())
                .push_bind(x.at);
        });
        q.push(
            " ON CONFLICT (id) DO UPDATE SET data = excluded.data, price = excluded.price, \
             created_at = excluded.created_at, removed_at = NULL",
        );
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// A page is stored once per (domain, url); a new scrape replaces it and its chunks.
pub(crate) async fn upsert_pages(tx: &mut Tx<'_>, pages: &[PageEvent]) -> sqlx::Result<()> {
    let pages = last_per_key(pages, page_id);
    for chunk in pages.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO scraped_pages (id, url, domain, content, content_length, embedding_count, scraped_at) ",
        );
        q.push_values(chunk, |mut b, p| {
            b.push_bind(page_id(p))
                .push_bind(p.url.clone())
                .push_bind(p.domain.to_string())
                .push_bind(p.content.clone())
                .push_bind(p.content_length)
                .push_bind(p.embeddings)
                .push_bind(p.at);
        });
        q.push(
            " ON CONFLICT (id) DO UPDATE SET content = excluded.content, content_length = excluded.content_length, \
             embedding_count = excluded.embedding_count, scraped_at = excluded.scraped_at",
        );
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
        let mut q = QueryBuilder::<DB>::new("DELETE FROM page_embeddings WHERE page_id IN (");
        let mut list = q.separated(", ");
        for p in chunk {
            list.push_bind(page_id(p));
        }
        q.push(")");
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    let chunks: Vec<(String, i64, Option<String>)> = pages
        .iter()
        .flat_map(|p| {
            (0..p.embeddings).map(move |i| (page_id(p), i, p.previews.get(i as usize).cloned()))
        })
        .collect();
    for chunk in chunks.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO page_embeddings (page_id, chunk_index, content_preview) ",
        );
        q.push_values(chunk, |mut b, (page, index, preview)| {
            b.push_bind(page.clone())
                .push_bind(*index)
                .push_bind(preview.clone());
        });
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) async fn upsert_scrape_jobs(
    tx: &mut Tx<'_>,
    jobs: &[ScrapeJobEvent],
) -> sqlx::Result<()> {
    let jobs = last_per_key(jobs, |j| (j.domain.clone(), j.url.clone()));
    for chunk in jobs.chunks(CHUNK) {
        let mut q =
            QueryBuilder::<DB>::new("INSERT INTO scrape_jobs (domain, url, status, updated_at) ");
        q.push_values(chunk, |mut b, j| {
            b.push_bind(j.domain.to_string())
                .push_bind(j.url.clone())
                .push_bind(j.status.clone())
                .push_bind(j.at);
        });
        q.push(" ON CONFLICT (domain, url) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at");
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Carts and orders, one row per (domain, id); a repeat replaces amount and currency.
pub(crate) async fn upsert_shop(tx: &mut Tx<'_>, events: &[ShopEvent]) -> sqlx::Result<()> {
    // Only orders have a status; a cart's row takes none.
    for (kind, table, id_column, amount_column, status) in [
        (
            ShopKind::AbandonedCart,
            "abandoned_carts",
            "cart_id",
            "value_nanos",
            "",
        ),
        (
            ShopKind::Order,
            "orders",
            "order_id",
            "total_nanos",
            ", status",
        ),
    ] {
        let of_kind: Vec<ShopEvent> = events.iter().filter(|e| e.kind == kind).cloned().collect();
        let rows = last_per_key(&of_kind, |e| (e.domain.clone(), e.id.clone()));
        for chunk in rows.chunks(CHUNK) {
            let mut q = QueryBuilder::<DB>::new(format!(
                "INSERT INTO {table} (domain, {id_column}, {amount_column}, currency, created_at{status}) "
            ));
            q.push_values(chunk, |mut b, e| {
                b.push_bind(e.domain.to_string())
                    .push_bind(e.id.clone())
                    .push_bind(e.amount_nanos)
                    .push_bind(e.currency.clone())
                    .push_bind(e.at);
                if !status.is_empty() {
                    b.push_bind(e.status.clone());
                }
            });
            let status_update = if status.is_empty() {
                ""
            } else {
                ", status = COALESCE(excluded.status, orders.status)"
            };
            q.push(format!(
                " ON CONFLICT (domain, {id_column}) DO UPDATE SET {amount_column} = excluded.{amount_column}, \
                 currency = excluded.currency{status_update}"
            ));
            q.build()
                .persistent(chunk.len() == CHUNK)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}
