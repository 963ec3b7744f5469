//! The filters every page shares — period (`days`) or custom range (`from`/`to`), and
//! `domain` — parsed with the API's own rules and written back into links, so a view can
//! be shared by its URL.

use crate::auth::Principal;
use crate::error::ApiError;
pub use crate::request::encode;
use crate::request::{self, Params};
use omniops_core::clock::{to_rfc3339, Micros};
use omniops_core::window::Window;

/// The periods offered as one-click choices, in days.
pub const PERIODS: [(i64, &str); 4] = [(1, "24h"), (7, "7d"), (30, "30d"), (90, "90d")];

#[derive(Debug, Clone)]
pub struct Filters {
    pub window: Window,
    /// The domain the data is for (a domain-scoped key's own), if any.
    pub domain: Option<String>,
    /// The window's parameters as given (`days`, or `from` and `to`).
    window_params: Vec<(&'static str, String)>,
    /// Extra parameters a page keeps (tab, sort, search).
    pub extra: Params,
    /// Where the page was requested (`http://host:port`): commands it shows use it.
    pub origin: String,
    /// Whether API keys are in use: commands it shows then carry an `Authorization` header.
    pub keyed: bool,
}

/// A bare date (`2026-11-01`, as a date input sends it) as an RFC 3339 time: the start of
/// that day, or for the end of a range the start of the next day (the day is included).
fn date_param(value: &str, end: bool) -> String {
    let trimmed = value.trim();
    match chrono::NaiveDate::parse_from_str(trimmed, "%Y-%m-%d") {
        Ok(date) => {
            let day = if end {
                date.succ_opt().unwrap_or(date)
            } else {
                date
            };
            format!("{day}T00:00:00Z")
        }
        Err(_) => trimmed.to_string(),
    }
}

impl Filters {
    pub fn parse(
        params: &Params,
        principal: &Principal,
        default_days: i64,
        now: Micros,
    ) -> Result<Filters, ApiError> {
        let mut normalised = params.clone();
        // An empty field of the custom-range form means "not given".
        normalised.retain(|_, v| !v.trim().is_empty());
        if let Some(from) = normalised.get_mut("from") {
            *from = date_param(from, false);
        }
        if let Some(to) = normalised.get_mut("to") {
            *to = date_param(to, true);
        }
        let window = request::window(&normalised, default_days, now)?;
        let domain = principal.resolve_domain(request::domain(&normalised)?)?;
        let window_params = match (normalised.get("from"), normalised.get("to")) {
            (Some(from), Some(to)) => vec![("from", from.clone()), ("to", to.clone())],
            _ => vec![("days", window.days.unwrap_or(default_days).to_string())],
        };
        let mut extra = normalised;
        for key in ["days", "from", "to", "domain"] {
            extra.remove(key);
        }
        Ok(Filters {
            window,
            domain,
            window_params,
            extra,
            origin: "http://127.0.0.1:8080".to_string(),
            keyed: principal.key_id.is_some(),
        })
    }

    /// An `Authorization` header for a shown curl command when keys are in use (the key
    /// itself is a placeholder for the reader's own), with its line continuation.
    pub fn auth_header(&self, scope: &str) -> String {
        if self.keyed {
            format!(" \\\n  -H 'Authorization: Bearer <your {scope} key>'")
        } else {
            String::new()
        }
    }

    /// The period in days, when the window is one of the last N days.
    pub fn days(&self) -> Option<i64> {
        self.window.days
    }

    /// The custom range as dates for the form's date inputs (the end day included).
    pub fn range_dates(&self) -> (String, String) {
        let date = |t: Micros| to_rfc3339(t).chars().take(10).collect::<String>();
        (date(self.window.start), date(self.window.end - 1))
    }

    fn base_pairs(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = self
            .window_params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        if let Some(domain) = &self.domain {
            pairs.push(("domain".into(), domain.clone()));
        }
        pairs
    }

    /// `path` with these filters and `extra` pairs (which replace kept ones of that name).
    pub fn href(&self, path: &str, extra: &[(&str, &str)]) -> String {
        let mut pairs = self.base_pairs();
        let mut kept: Vec<(&String, &String)> = self.extra.iter().collect();
        kept.sort();
        for (k, v) in kept {
            if !extra.iter().any(|(e, _)| e == k) {
                pairs.push((k.clone(), v.clone()));
            }
        }
        for (k, v) in extra {
            if !v.is_empty() {
                pairs.push((k.to_string(), v.to_string()));
            }
        }
        with_query(path, &pairs)
    }

    /// `path` with the window and domain only (partials take what they need from `extra`).
    pub fn href_plain(&self, path: &str, extra: &[(&str, &str)]) -> String {
        let mut pairs = self.base_pairs();
        pairs.extend(
            extra
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        with_query(path, &pairs)
    }

    /// `path` for another period, keeping the domain and the page's own parameters.
    pub fn with_days(&self, path: &str, days: i64) -> String {
        let mut pairs = vec![("days".to_string(), days.to_string())];
        if let Some(domain) = &self.domain {
            pairs.push(("domain".into(), domain.clone()));
        }
        let mut kept: Vec<(&String, &String)> = self.extra.iter().collect();
        kept.sort();
        pairs.extend(kept.into_iter().map(|(k, v)| (k.clone(), v.clone())));
        with_query(path, &pairs)
    }

    /// The `page` of a paginated list (1 when absent or not a page number).
    pub fn page(&self) -> i64 {
        self.extra("page")
            .and_then(|p| p.parse::<i64>().ok())
            .filter(|p| (1..=1_000_000).contains(p))
            .unwrap_or(1)
    }

    /// The value of a page's own parameter.
    pub fn extra(&self, key: &str) -> Option<&str> {
        self.extra.get(key).map(String::as_str)
    }
}

fn with_query(path: &str, pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return path.to_string();
    }
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("{path}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use omniops_core::clock::parse_rfc3339;

    fn parse(pairs: &[(&str, &str)]) -> Result<Filters, ApiError> {
        let params: Params = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let now = parse_rfc3339("2026-11-26T12:30:00Z").expect("time");
        Filters::parse(&params, &Principal::default(), 7, now)
    }

    #[test]
    fn dates_cover_whole_days_and_links_keep_filters() {
        let f = parse(&[
            ("from", "2026-11-01"),
            ("to", "2026-11-02"),
            ("domain", "a b.example"),
            ("tab", "costs"),
        ]);
        assert!(f.is_err(), "a domain with a space is refused");
        let f = parse(&[
            ("from", "2026-11-01"),
            ("to", "2026-11-02"),
            ("domain", "shop.example"),
            ("tab", "x"),
        ])
        .expect("filters");
        assert_eq!(f.window.hours(), 48);
        assert_eq!(f.range_dates(), ("2026-11-01".into(), "2026-11-02".into()));
        assert_eq!(
            f.href("/dashboard", &[("tab", "y")]),
            "/dashboard?from=2026-11-01T00%3A00%3A00Z&to=2026-11-03T00%3A00%3A00Z&domain=shop.example&tab=y"
        );
        assert_eq!(
            f.with_days("/dashboard", 30),
            "/dashboard?days=30&domain=shop.example&tab=x"
        );
        let f = parse(&[("days", "90"), ("from", ""), ("to", "")]).expect("filters");
        assert_eq!(f.days(), Some(90));
        assert_eq!(f.href("/x", &[]), "/x?days=90");
    }
}
