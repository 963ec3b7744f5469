//! Building blocks of every page: cards, stat cards with their change, sections that load
//! and refresh themselves, charts, error and empty states.

use super::filters::Filters;
use maud::{html, Markup};
use omniops_core::money::Rounded;
use rust_decimal::Decimal;

/// Seconds between refreshes of a section.
pub const REFRESH_SECONDS: u32 = 30;

/// A card whose body is loaded from `url` at once and every [`REFRESH_SECONDS`]; it shows a
/// skeleton until then. A refresh swaps only the body, so the page keeps its scroll.
/// The htmx trigger of a section: on load, every `seconds`, and — for sections that show
/// live data — whenever the live stream reports a change.
fn trigger(seconds: u32, live: bool) -> String {
    // omniops:changed: a form on the page changed something.
    if live {
        format!("load, every {seconds}s, omniops:changed from:body, omniops:live from:body")
    } else {
        format!("load, every {seconds}s, omniops:changed from:body")
    }
}

pub fn section(id: &str, title: &str, hint: &str, url: &str, tall: bool) -> Markup {
    section_with(id, title, hint, url, tall, false)
}

pub fn section_with(
    id: &str,
    title: &str,
    hint: &str,
    url: &str,
    tall: bool,
    live: bool,
) -> Markup {
    html! {
        section.card id=(id) aria-labelledby=(format!("{id}-title")) {
            h2 id=(format!("{id}-title")) { (title) }
            @if !hint.is_empty() { p.hint { (hint) } }
            div.section-body id=(format!("{id}-body")) hx-get=(url)
                hx-trigger=(trigger(REFRESH_SECONDS, live)) hx-swap="innerHTML" aria-live="polite" {
                (skeleton(tall))
            }
        }
    }
}

/// A body without a card around it (e.g. the stats grid, which is several cards).
pub fn bare_section(
    id: &str,
    url: &str,
    refresh_seconds: u32,
    live: bool,
    placeholder: Markup,
) -> Markup {
    html! {
        div id=(id) hx-get=(url) hx-trigger=(trigger(refresh_seconds, live)) hx-swap="innerHTML" aria-live="polite" {
            (placeholder)
        }
    }
}

pub fn skeleton(tall: bool) -> Markup {
    html! {
        div.skeleton-group aria-busy="true" aria-label="Loading" {
            @if tall { div.skeleton.tall {} } @else { div.skeleton {} div.skeleton {} div.skeleton.w60 {} }
        }
    }
}

pub fn stat_skeletons(count: usize) -> Markup {
    html! {
        div.grid {
            @for _ in 0..count { div.card aria-busy="true" { div.skeleton.w50 {} div.skeleton.tall28 {} div.skeleton.w70 {} } }
        }
    }
}

/// What a section shows when its query failed; the cause is in the server log, never here.
pub fn section_error() -> Markup {
    html! {
        p.error role="alert" data-testid="section-error" {
            "This section could not be loaded; the rest of the page is unaffected. The server log has the cause."
        }
    }
}

pub fn empty(message: &str) -> Markup {
    html! { p.empty { (message) } }
}

/// The empty state: a curl command that sends a first session to this server (its own
/// origin, with an `Authorization` header when keys are in use).
pub fn first_session_help(f: &Filters) -> Markup {
    let command = format!(
        "curl -X POST {}/api/v1/ingest \\\n  -H 'Content-Type: application/json'{} \\\n  -d '{{\"events\":[{{\"type\":\"session\",\"session_id\":\"s1\",\"model\":\"gpt-4o\",\"domain\":\"shop.example\",\n        \"start_time\":\"{}\",\"duration_ms\":1200,\"success\":true,\n        \"input_tokens\":1000,\"output_tokens\":200}}]}}'",
        f.origin,
        f.auth_header("ingest"),
        // A time inside the period shown, so the session appears in it.
        omniops_core::clock::to_rfc3339(f.window.start + (f.window.end - f.window.start) / 2),
    );
    html! {
        div.empty {
            p { "No sessions in this period yet. Send a first one:" }
            pre { code data-testid="first-session-command" { (command) } }
            p { "or start with demo data: " code { "cargo run --release -- serve --demo" } }
        }
    }
}

/// A change against the previous period, shown as "+12.5%" (or points, for rates).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub text: String,
    /// 1 up, -1 down, 0 flat or not comparable.
    pub direction: i8,
}

/// `(current − previous) / previous × 100` with one decimal; no previous data: "new".
pub fn percent_change(current: Decimal, previous: Decimal) -> Change {
    if previous.is_zero() {
        let text = if current.is_zero() {
            "no change"
        } else {
            "new this period"
        };
        return Change {
            text: text.into(),
            direction: 0,
        };
    }
    let change = half_away((current - previous) / previous * Decimal::from(100), 1);
    signed(change, "%")
}

/// The conversations report's change as the API gives it: "new this period" when `isNew`.
pub fn conversations_change(report: &omniops_core::analytics::ConversationsReport) -> Change {
    match report.change {
        Some(change) => signed(change.shown(), "%"),
        None => percent_change(Decimal::from(report.total), Decimal::ZERO),
    }
}

/// A difference of two percentages, in percentage points.
pub fn points_change(current: Decimal, previous: Decimal) -> Change {
    signed(half_away(current - previous, 1), " pts")
}

pub fn signed(change: Decimal, unit: &str) -> Change {
    let direction = if change.is_sign_positive() && !change.is_zero() {
        1
    } else if change.is_zero() {
        0
    } else {
        -1
    };
    let sign = if direction > 0 { "+" } else { "" };
    Change {
        text: format!("{sign}{change:.1}{unit}"),
        direction,
    }
}

/// `higher_is_good`: whether an increase is shown as good (green).
pub fn stat_card(
    testid: &str,
    label: &str,
    shown: &str,
    value: impl std::fmt::Display,
    change: Option<&Change>,
    higher_is_good: bool,
) -> Markup {
    html! {
        div.card data-testid=(testid) {
            div.stat-label { (label) }
            div.stat-value data-value=(value.to_string()) { (shown) }
            @if let Some(change) = change {
                @let class = match (change.direction, higher_is_good) {
                    (0, _) => "change",
                    (1, true) | (-1, false) => "change up",
                    _ => "change down",
                };
                div class=(class) data-change=(change.text) { (change.text) " vs previous period" }
            }
        }
    }
}

/// A USD amount as the API prints it, with thousands separators and a dollar sign.
pub fn usd(amount: impl std::fmt::Display) -> String {
    let amount = amount.to_string();
    let amount = amount.as_str();
    let (sign, digits) = match amount.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", amount),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let grouped = group_thousands(whole);
    match fraction {
        Some(f) => format!("{sign}${grouped}.{f}"),
        None => format!("{sign}${grouped}"),
    }
}

pub fn group_thousands(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn count(n: i64) -> String {
    if n < 0 {
        format!("-{}", group_thousands(&n.unsigned_abs().to_string()))
    } else {
        group_thousands(&n.to_string())
    }
}

/// Milliseconds as "850 ms" or "1.25 s".
pub fn duration_ms(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!(
            "{:.2} s",
            half_away(Decimal::from(ms) / Decimal::from(1000), 2)
        )
    }
}

/// Every figure a page shows rounds half away from zero (`round_dp` rounds half to even, and
/// `{:.2}` cuts digits off).
fn half_away(value: Decimal, decimals: u32) -> Decimal {
    value.round_dp_with_strategy(
        decimals,
        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
    )
}

/// An RFC 3339 time as "2026-11-26 12:49" (UTC, to the minute).
pub fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or(rfc3339).replace('T', " ")
}

/// The hours of a telemetry trend as Unix seconds, the x axis of its charts.
pub fn trend_hours(report: &omniops_core::telemetry::TelemetryReport) -> Vec<i64> {
    report
        .hourly_trend
        .iter()
        .map(|p| omniops_core::clock::parse_rfc3339(&p.hour).unwrap_or(0) / 1_000_000)
        .collect()
}

/// A uPlot chart drawn by app.js from `spec` (x values or labels, and series).
pub fn chart(testid: &str, label: &str, spec: &serde_json::Value) -> Markup {
    html! {
        div.chart role="img" aria-label=(label) data-testid=(testid) data-chart=(spec.to_string()) {}
    }
}

/// The page's DataExportButton: each of its tables' and charts' data as CSV or JSON, with
/// the page's filters.
pub fn export_bar(filters: &super::filters::Filters, datasets: &[&str]) -> Markup {
    use crate::queries::export::DATASETS;
    html! {
        details.export data-testid="export" {
            summary { "Export data" }
            ul.list {
                @for name in datasets {
                    @let about = DATASETS.iter().find(|(n, _)| n == name).map_or("", |(_, a)| a);
                    li {
                        span { (about) }
                        span {
                            a href=(filters.href(&format!("/api/export/{name}"), &[("format", "csv")])) download data-export=(format!("{name}.csv")) { "CSV" }
                            " · "
                            a href=(filters.href(&format!("/api/export/{name}"), &[("format", "json")])) download data-export=(format!("{name}.json")) { "JSON" }
                        }
                    }
                }
            }
        }
    }
}

/// A horizontal share bar (0–100).
pub fn share_bar(percent: Rounded, bad: bool) -> Markup {
    let width = percent.shown().clamp(Decimal::ZERO, Decimal::from(100));
    html! {
        div class=(if bad { "bar bad" } else { "bar" }) role="presentation" { span data-width=(width) {} }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().expect("decimal")
    }

    #[test]
    fn formats_money_counts_and_changes() {
        assert_eq!(usd("1234567.8900"), "$1,234,567.8900");
        assert_eq!(usd("0.0600"), "$0.0600");
        assert_eq!(usd("-12.5"), "-$12.5");
        assert_eq!(count(1_000_000), "1,000,000");
        assert_eq!(count(999), "999");
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(
            short_time("2026-11-26T12:49:26.064681Z"),
            "2026-11-26 12:49"
        );
        assert_eq!(duration_ms(1250), "1.25 s");
        assert_eq!(percent_change(dec("150"), dec("100")).text, "+50.0%");
        assert_eq!(percent_change(dec("2"), dec("3")).text, "-33.3%");
        assert_eq!(percent_change(dec("5"), dec("0")).text, "new this period");
        assert_eq!(points_change(dec("97.5"), dec("98")).text, "-0.5 pts");
        assert_eq!(points_change(dec("98"), dec("98")).direction, 0);
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(duration_ms(2917), "2.92 s");
        assert_eq!(duration_ms(2915), "2.92 s");
        assert_eq!(duration_ms(2914), "2.91 s");
        assert_eq!(duration_ms(1000), "1.00 s");
        // 0.25 % and 0.35 % at one decimal: away from zero, not to the even digit.
        assert_eq!(percent_change(dec("100.25"), dec("100")).text, "+0.3%");
        assert_eq!(percent_change(dec("100.35"), dec("100")).text, "+0.4%");
        assert_eq!(percent_change(dec("99.75"), dec("100")).text, "-0.3%");
        assert_eq!(points_change(dec("97.45"), dec("97.4")).text, "+0.1 pts");
    }
}
