//! Prices: the listing (API and Settings) and imports of a LiteLLM-format catalogue (API,
//! Settings and `omniops prices import`).

use chrono::NaiveDate;
use omniops_core::analytics::Pagination;
use omniops_core::clock::{to_rfc3339, Micros};
use omniops_core::pricing::litellm::convert;
use omniops_core::pricing::{Origin, PriceEntry, PriceTable};
use omniops_store::{RepriceJob, Store, UnpricedModel};
use serde::Serialize;
use serde_json::Value;

/// Which entries a listing shows.
#[derive(Debug, Clone, Default)]
pub struct PriceQuery {
    /// Part of a model name or alias, any case.
    pub search: Option<String>,
    pub origin: Option<Origin>,
    /// Only entries that price a model of stored sessions, and any an import or a user set.
    pub in_use: bool,
    /// Whose stored sessions count (models in use, unpriced models): one domain's, or all.
    pub domain: Option<String>,
    pub page: i64,
    pub limit: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PriceListing {
    pub prices: Vec<PriceEntry>,
    pub pagination: Pagination,
    pub unpriced: Vec<UnpricedRow>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnpricedRow {
    pub model: String,
    pub sessions: i64,
    pub last_seen: String,
}

impl From<UnpricedModel> for UnpricedRow {
    fn from(m: UnpricedModel) -> Self {
        UnpricedRow {
            model: m.model,
            sessions: m.sessions,
            last_seen: to_rfc3339(m.last_seen),
        }
    }
}

/// A page of the price entries in force or to come (model, then newest date first), and
/// the models seen without a price.
pub async fn listing(store: &Store, query: &PriceQuery) -> anyhow::Result<PriceListing> {
    let table = store.price_table().await;
    let in_use = if query.in_use {
        let now = chrono::Utc::now().timestamp_micros();
        let keys: std::collections::HashSet<String> = store
            .stored_models(query.domain.as_deref())
            .await?
            .iter()
            .filter_map(|m| table.lookup(m, now).map(PriceEntry::key))
            .collect();
        Some(keys)
    } else {
        None
    };
    let mut matching = matching(&table, query);
    if let Some(keys) = &in_use {
        matching.retain(|e| e.origin != Origin::Default || keys.contains(&e.key()));
    }
    let pagination = Pagination::new(query.page, query.limit, matching.len() as i64);
    let prices = matching
        .into_iter()
        .skip(usize::try_from(pagination.offset()).unwrap_or(0))
        .take(usize::try_from(query.limit).unwrap_or(0))
        .cloned()
        .collect();
    let unpriced = store
        .unpriced_models(query.domain.as_deref())
        .await?
        .into_iter()
        .map(UnpricedRow::from)
        .collect();
    Ok(PriceListing {
        prices,
        pagination,
        unpriced,
    })
}

fn matching<'a>(table: &'a PriceTable, query: &PriceQuery) -> Vec<&'a PriceEntry> {
    let needle = query.search.as_deref().map(str::to_lowercase);
    let mut found: Vec<&PriceEntry> = table
        .entries()
        .filter(|e| query.origin.is_none_or(|o| e.origin == o))
        .filter(|e| {
            needle.as_deref().is_none_or(|n| {
                std::iter::once(&e.model)
                    .chain(&e.aliases)
                    .any(|name| name.to_lowercase().contains(n))
            })
        })
        .collect();
    found.sort_by(|a, b| {
        a.model
            .cmp(&b.model)
            .then(b.effective_from.cmp(&a.effective_from))
    });
    found
}

/// How to import a catalogue.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Only report what would change.
    pub dry_run: bool,
    /// Reprice stored history of the models added or changed, from `effective_from` on.
    pub recompute: bool,
    /// When the imported prices take effect (default: the day of the import).
    pub effective_from: NaiveDate,
    /// A label kept with each entry, e.g. the file's name.
    pub source: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceChange {
    pub model: String,
    pub before: PriceEntry,
    pub after: PriceEntry,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedEntry {
    pub model: String,
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub dry_run: bool,
    pub effective_from: String,
    /// Entries read from the file (chat, responses and completion models with token prices).
    pub entries: usize,
    pub added: Vec<String>,
    pub changed: Vec<PriceChange>,
    pub unchanged: usize,
    /// Models left alone because a user set their price.
    pub kept_user_prices: Vec<String>,
    /// Entries of the file not imported, and why (other modes, no per-token price, …).
    pub skipped: usize,
    /// The first 50 of them.
    pub skipped_examples: Vec<SkippedEntry>,
    /// Set when history was repriced.
    /// The repricing of stored history queued with `recompute=true`, if any.
    pub repricing: Option<RepriceJob>,
}

/// Imports a LiteLLM-format catalogue into `store`.
pub async fn import(
    store: &Store,
    catalogue: &Value,
    options: &ImportOptions,
    raw_since: Micros,
    now: Micros,
) -> Result<ImportReport, ImportError> {
    let converted = convert(
        catalogue,
        options.effective_from,
        &options.source,
        Origin::Import,
    )
    .map_err(ImportError::File)?;
    let entries = converted.entries.len();
    let (plan, recomputed) = store
        .import_prices(
            converted.entries,
            !options.dry_run,
            options.recompute,
            raw_since,
            now,
        )
        .await
        .map_err(ImportError::Store)?;
    Ok(ImportReport {
        dry_run: options.dry_run,
        effective_from: options.effective_from.to_string(),
        entries,
        added: plan.added,
        changed: plan
            .changed
            .into_iter()
            .map(|(model, before, after)| PriceChange {
                model,
                before,
                after,
            })
            .collect(),
        unchanged: plan.unchanged,
        kept_user_prices: plan.kept_user_prices,
        skipped: converted.skipped.len(),
        skipped_examples: converted
            .skipped
            .into_iter()
            .take(50)
            .map(|(model, reason)| SkippedEntry { model, reason })
            .collect(),
        repricing: recomputed,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not a catalogue.
    #[error("{0}")]
    File(String),
    #[error(transparent)]
    Store(anyhow::Error),
}
