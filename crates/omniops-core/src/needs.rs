//! Missing-product demand counted once per customer need (README: analytics). A need is one
//! (conversation, product) pair — a session's own failed searches stand for a conversation
//! when the session has none — so a failed search and a question naming the same product in
//! one conversation count once. A bare head noun ("filter") asked in a conversation that
//! also names a phrase ending in it ("oil filter") is not a need of its own: the phrase
//! stands for it, whichever came first.

use crate::batch::ProductDelta;
use crate::clock::Micros;
use std::collections::HashMap;

/// A product asked for: by a failed search or by a question in a conversation that found
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeedItem {
    pub domain: String,
    /// The conversation id, or `s:` and the session id for a session without one.
    pub key: String,
    pub product: String,
    pub text: String,
    pub at: Micros,
    pub failed_search: bool,
}

/// A need as stored: counted once in the product rollups, in the bucket of `first_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub domain: String,
    pub key: String,
    pub product: String,
    pub first_at: Micros,
    /// Whether one of its items was a failed search (the rollups' `failed_searches`).
    pub failed_search: bool,
}

/// What a batch of items changes: needs to write (new or changed), needs no longer counted
/// (a head noun its phrase now stands for), and the rollup increments.
#[derive(Debug, Default)]
pub struct NeedChanges {
    pub upserts: Vec<Need>,
    pub removed: Vec<Need>,
    pub delta: ProductDelta,
}

/// The last word of a phrase of several words.
fn head(product: &str) -> Option<&str> {
    product.rsplit_once(' ').map(|(_, last)| last)
}

/// Counts `items` against the needs already stored for their conversations.
pub fn count_needs(stored: Vec<Need>, mut items: Vec<NeedItem>) -> NeedChanges {
    let mut changes = NeedChanges::default();
    // (domain, key) → product → (need, changed)
    let mut needs: HashMap<(String, String), HashMap<String, (Need, bool)>> = HashMap::new();
    for need in stored {
        needs
            .entry((need.domain.clone(), need.key.clone()))
            .or_default()
            .insert(need.product.clone(), (need, false));
    }
    items.sort_by_key(|i| i.at);
    for item in items {
        changes
            .delta
            .example(&item.domain, &item.product, &item.text, item.at);
        let of_key = needs
            .entry((item.domain.clone(), item.key.clone()))
            .or_default();
        let bare = head(&item.product).is_none();
        if bare
            && of_key
                .keys()
                .any(|p| head(p) == Some(item.product.as_str()))
        {
            continue; // a phrase of this conversation stands for it
        }
        if let Some((need, changed)) = of_key.get_mut(&item.product) {
            if item.failed_search && !need.failed_search {
                need.failed_search = true;
                *changed = true;
                changes
                    .delta
                    .count(&need.domain, &need.product, need.first_at, 0, 1);
            }
            continue;
        }
        if let Some(noun) = head(&item.product) {
            if let Some((gone, _)) = of_key.remove(noun) {
                let failed = i64::from(gone.failed_search);
                changes
                    .delta
                    .count(&gone.domain, &gone.product, gone.first_at, -1, -failed);
                changes.removed.push(gone);
            }
        }
        changes.delta.count(
            &item.domain,
            &item.product,
            item.at,
            1,
            i64::from(item.failed_search),
        );
        let need = Need {
            domain: item.domain.clone(),
            key: item.key.clone(),
            product: item.product.clone(),
            first_at: item.at,
            failed_search: item.failed_search,
        };
        of_key.insert(item.product.clone(), (need, true));
    }
    changes.upserts = needs
        .into_values()
        .flat_map(|m| m.into_values())
        .filter(|(_, changed)| *changed)
        .map(|(n, _)| n)
        .collect();
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::ALL;

    fn item(key: &str, product: &str, at: Micros, failed: bool) -> NeedItem {
        NeedItem {
            domain: "shop.example".into(),
            key: key.into(),
            product: product.into(),
            text: product.into(),
            at,
            failed_search: failed,
        }
    }

    /// Requests per product over all buckets, for the domain.
    fn requests(c: &NeedChanges) -> Vec<(String, i64, i64)> {
        let mut by_product: HashMap<String, (i64, i64)> = HashMap::new();
        for ((scope, _, product), counts) in &c.delta.daily {
            if scope != ALL {
                let e = by_product.entry(product.clone()).or_default();
                e.0 += counts.requests;
                e.1 += counts.failed_searches;
            }
        }
        let mut list: Vec<_> = by_product
            .into_iter()
            .filter(|(_, (r, f))| *r != 0 || *f != 0)
            .map(|(p, (r, f))| (p, r, f))
            .collect();
        list.sort();
        list
    }

    #[test]
    fn a_failed_search_and_a_question_in_one_conversation_count_once() {
        let c = count_needs(
            vec![],
            vec![
                item("c1", "torque wrench", 10, true),
                item("c1", "torque wrench", 20, false),
            ],
        );
        assert_eq!(requests(&c), [("torque wrench".into(), 1, 1)]);
        // The same in another conversation is another need.
        let c = count_needs(
            c.upserts,
            vec![
                item("c2", "torque wrench", 30, false),
                item("c1", "torque wrench", 40, false),
            ],
        );
        assert_eq!(requests(&c), [("torque wrench".into(), 1, 0)]);
    }

    #[test]
    fn a_bare_head_noun_counts_for_its_phrase_in_either_order() {
        let c = count_needs(
            vec![],
            vec![
                item("c1", "oil filter", 10, false),
                item("c1", "filter", 20, true),
            ],
        );
        assert_eq!(requests(&c), [("oil filter".into(), 1, 0)]);
        // "filter" first (stored by an earlier batch), then "oil filter": the count moves.
        let first = count_needs(vec![], vec![item("c2", "filter", 10, true)]);
        assert_eq!(requests(&first), [("filter".into(), 1, 1)]);
        let then = count_needs(first.upserts, vec![item("c2", "oil filter", 20, false)]);
        assert_eq!(
            requests(&then),
            [("filter".into(), -1, -1), ("oil filter".into(), 1, 0)]
        );
        assert_eq!(then.removed.len(), 1);
        // A bare noun in a conversation without its phrase is a need of its own.
        let alone = count_needs(vec![], vec![item("c3", "filter", 10, false)]);
        assert_eq!(requests(&alone), [("filter".into(), 1, 0)]);
    }

    #[test]
    fn a_later_failed_search_marks_the_need_once() {
        let first = count_needs(vec![], vec![item("c1", "air compressor", 10, false)]);
        let then = count_needs(
            first.upserts,
            vec![
                item("c1", "air compressor", 20, true),
                item("c1", "air compressor", 30, true),
            ],
        );
        assert_eq!(requests(&then), [("air compressor".into(), 0, 1)]);
    }
}
