//! `/api/dashboard/missing-products`: products customers asked for that the catalogue lacks,
//! from failed searches and from user questions of conversations whose session found nothing.

use crate::analytics::Pagination;
use crate::clock::{to_rfc3339, Micros};
use crate::money::Rounded;
use crate::money::{json_number, ratio};
use crate::text::{category, Category};
use crate::window::Window;
use serde::Serialize;
use std::collections::HashMap;

/// One product's requests in a window, summed over the domains where it is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductTally {
    /// The normalised name.
    pub product: String,
    pub requests: i64,
    /// How many of the requests were failed searches (the rest came from conversations).
    pub failed_searches: i64,
    pub last_at: Micros,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MissingProduct {
    pub name: String,
    pub count: i64,
    pub last_requested: String,
    pub examples: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MissingStatistics {
    pub total_missing_products: i64,
    pub total_requests: i64,
    pub avg_requests_per_product: Rounded,
    pub time_range: String,
}

#[derive(Debug, Serialize, Default, utoipa::ToSchema)]
pub struct Categories {
    pub tools: Vec<String>,
    pub parts: Vec<String>,
    pub equipment: Vec<String>,
    pub other: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MissingProductsReport {
    pub missing_products: Vec<MissingProduct>,
    pub statistics: MissingStatistics,
    pub categories: Categories,
    pub recommendations: Vec<String>,
    pub pagination: Pagination,
}

/// The report with empty `examples`: the caller reads them for the page's products only
/// (see [`MissingProductsReport::page_products`]).
/// "1 time", "2 times".
fn times(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn build_missing_products(
    window: &Window,
    mut tallies: Vec<ProductTally>,
    page: i64,
    limit: i64,
) -> MissingProductsReport {
    let failed_searches: i64 = tallies.iter().map(|t| t.failed_searches).sum();
    // Most requested first, then most recent, then by name: deterministic.
    tallies.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then(b.last_at.cmp(&a.last_at))
            .then_with(|| a.product.cmp(&b.product))
    });

    let total_requests: i64 = tallies.iter().map(|t| t.requests).sum();
    let products = tallies.len() as i64;
    let mut categories = Categories::default();
    let mut category_requests: HashMap<&'static str, (i64, i64)> = HashMap::new();
    for t in &tallies {
        let (list, label) = match category(&t.product) {
            Category::Tools => (&mut categories.tools, "Tools"),
            Category::Parts => (&mut categories.parts, "Parts"),
            Category::Equipment => (&mut categories.equipment, "Equipment"),
            Category::Other => (&mut categories.other, "Other"),
        };
        if list.len() < 5 {
            list.push(t.product.clone());
        }
        let entry = category_requests.entry(label).or_default();
        entry.0 += t.requests;
        entry.1 += 1;
    }

    let label = window.label();
    let mut recommendations = Vec::new();
    if let Some(top) = tallies.first() {
        recommendations.push(format!(
            "Add \"{}\" to the catalogue: requested {} ({}).",
            top.product,
            times(top.requests, "time", "times"),
            label.to_lowercase()
        ));
    }
    let mut named: Vec<(&&str, &(i64, i64))> = category_requests
        .iter()
        .filter(|(c, _)| **c != "Other")
        .collect();
    named.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(b.0)));
    if let Some((name, (count, products))) = named.first() {
        let plural = if *products == 1 { "" } else { "s" };
        recommendations.push(format!(
            "{name} is the most requested missing category: {} for {products} product{plural}.",
            times(*count, "request", "requests")
        ));
    }
    let once = tallies.iter().filter(|t| t.requests == 1).count();
    if once > 0 {
        let (were, them) = if once == 1 {
            ("product was", "it")
        } else {
            ("products were", "them")
        };
        recommendations.push(format!(
            "{once} {were} asked for only once: watch {them} before stocking."
        ));
    }
    if failed_searches > 0 {
        recommendations.push(format!(
            "{failed_searches} searches found nothing: check product names and synonyms in the search index."
        ));
    }
    recommendations.truncate(4);

    let pagination = Pagination::new(page, limit, products);
    let missing_products = tallies
        .into_iter()
        .skip(usize::try_from(pagination.offset()).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(0))
        .map(|t| MissingProduct {
            name: t.product,
            count: t.requests,
            last_requested: to_rfc3339(t.last_at),
            examples: Vec::new(),
        })
        .collect();
    MissingProductsReport {
        missing_products,
        statistics: MissingStatistics {
            total_missing_products: products,
            total_requests,
            avg_requests_per_product: json_number(
                ratio(i128::from(total_requests), i128::from(products)),
                1,
            ),
            time_range: label,
        },
        categories,
        recommendations,
        pagination,
    }
}

impl MissingProductsReport {
    /// The products listed on this page, whose examples the caller reads.
    pub fn page_products(&self) -> Vec<String> {
        self.missing_products
            .iter()
            .map(|p| p.name.clone())
            .collect()
    }

    /// Sets each listed product's examples: the texts that asked for it, newest first.
    pub fn set_examples(&mut self, mut examples: HashMap<String, Vec<String>>) {
        for p in &mut self.missing_products {
            p.examples = examples.remove(&p.name).unwrap_or_default();
            p.examples.truncate(MAX_EXAMPLES);
        }
    }
}

/// Examples shown per product.
pub const MAX_EXAMPLES: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;

    fn tally(product: &str, requests: i64, failed_searches: i64, last_at: i64) -> ProductTally {
        ProductTally {
            product: product.into(),
            requests,
            failed_searches,
            last_at,
        }
    }

    #[test]
    fn ranks_counts_and_categorises() {
        let now = parse_rfc3339("2026-11-26T12:30:00Z").expect("time");
        let window = Window::last_days(30, now).expect("window");
        let mut report = build_missing_products(
            &window,
            vec![
                tally("garden hose", 1, 0, 4),
                tally("hydraulic pump", 3, 2, 3),
                tally("torque wrench", 1, 1, 5),
            ],
            1,
            20,
        );
        assert_eq!(
            report.page_products(),
            ["hydraulic pump", "torque wrench", "garden hose"]
        );
        report.set_examples(HashMap::from([(
            "hydraulic pump".to_string(),
            vec!["a".into(), "b".into(), "c".into(), "d".into()],
        )]));
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["missingProducts"][0]["name"], "hydraulic pump");
        assert_eq!(json["missingProducts"][0]["count"], 3);
        assert_eq!(
            json["missingProducts"][0]["examples"],
            serde_json::json!(["a", "b", "c"])
        );
        // Ties on count: the most recent first.
        assert_eq!(json["missingProducts"][1]["name"], "torque wrench");
        assert_eq!(
            json["missingProducts"][2]["examples"],
            serde_json::json!([])
        );
        assert_eq!(json["statistics"]["totalMissingProducts"], 3);
        assert_eq!(json["statistics"]["totalRequests"], 5);
        assert_eq!(
            json["statistics"]["avgRequestsPerProduct"].to_string(),
            "1.7"
        );
        assert_eq!(
            json["categories"]["equipment"],
            serde_json::json!(["hydraulic pump"])
        );
        assert_eq!(
            json["categories"]["tools"],
            serde_json::json!(["torque wrench"])
        );
        assert_eq!(
            json["categories"]["other"],
            serde_json::json!(["garden hose"])
        );
        assert_eq!(
            json["recommendations"],
            serde_json::json!([
                "Add \"hydraulic pump\" to the catalogue: requested 3 times (last 30 days).",
                "Equipment is the most requested missing category: 3 requests for 1 product.",
                "2 products were asked for only once: watch them before stocking.",
                "3 searches found nothing: check product names and synonyms in the search index."
            ])
        );
    }

    #[test]
    fn empty_data_gives_an_empty_report() {
        let window = Window::last_days(30, 0).expect("window");
        let report = build_missing_products(&window, vec![], 1, 20);
        assert!(report.missing_products.is_empty() && report.recommendations.is_empty());
        assert_eq!(
            report.statistics.avg_requests_per_product.to_string(),
            "0.0"
        );
    }
}
