//! The shell around every page: navigation, the period and domain filters, theme toggle.

use super::assets;
use super::filters::{Filters, PERIODS};
use maud::{html, Markup, DOCTYPE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Analytics,
    Costs,
    Sessions,
    Products,
    Settings,
}

const LINKS: [(Nav, &str, &str); 6] = [
    (Nav::Overview, "/dashboard", "Overview"),
    (Nav::Analytics, "/dashboard/analytics", "Analytics"),
    (Nav::Costs, "/dashboard/costs", "Costs"),
    (Nav::Sessions, "/dashboard/sessions", "Sessions"),
    (Nav::Products, "/dashboard/products", "Products"),
    (Nav::Settings, "/dashboard/settings", "Settings"),
];

/// A blue dot, inline: no request for `/favicon.ico`.
pub const FAVICON: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='7' fill='%232563eb'/%3E%3C/svg%3E";

/// What every page's `<head>` has: charset, viewport, title, icon, our CSS and JS.
pub fn head_common(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        // The content security policy allows no inline styles: htmx must not inject its own.
        meta name="htmx-config" content=r#"{"includeIndicatorStyles":false}"#;
        title { (title) " · Omniops" }
        link rel="icon" href=(FAVICON);
        link rel="stylesheet" href=(assets::url("app.css"));
        script src=(assets::url("app.js")) {}
    }
}

pub struct Shell<'a> {
    pub title: &'a str,
    pub subtitle: &'a str,
    pub nav: Nav,
    pub path: &'a str,
    pub filters: &'a Filters,
    /// Domains for the picker; `None` when the viewer is held to one domain.
    pub domains: Option<&'a [String]>,
    /// The session's CSRF token when logged in with a cookie (htmx sends it back).
    pub csrf: Option<&'a str>,
}

pub fn page(shell: &Shell<'_>, body: Markup) -> Markup {
    let filters = shell.filters;
    let (from, to) = filters.range_dates();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                (head_common(shell.title))
                link rel="stylesheet" href=(assets::url("uPlot.min.css"));
                script defer src=(assets::url("htmx.min.js")) {}
                script defer src=(assets::url("uPlot.iife.min.js")) {}
            }
            body hx-headers=[shell.csrf.map(|t| serde_json::json!({"X-CSRF-Token": t}).to_string())]
                data-live-url=(live_url(filters)) {
                a.skip href="#main" { "Skip to content" }
                header.topbar {
                    a.brand href="/dashboard" { span.brand-dot {} "Omniops" }
                    nav.nav aria-label="Main" {
                        @for (nav, href, label) in LINKS {
                            @if nav == shell.nav {
                                a href=(filters.href_plain(href, &[])) aria-current="page" { (label) }
                            } @else {
                                a href=(filters.href_plain(href, &[])) { (label) }
                            }
                        }
                    }
                    div.spacer {}
                    span.live-indicator id="live-indicator" data-state="connecting" role="status" aria-live="polite" { span.dot {} span.label { "Connecting" } }
                    button.icon-button id="theme-toggle" type="button" aria-label="Toggle dark mode" { "◐ Theme" }
                    @if let Some(csrf) = shell.csrf {
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button.icon-button type="submit" id="logout" { "Log out" }
                        }
                    }
                }
                div.filters role="region" aria-label="Filters" {
                    nav.periods aria-label="Period" {
                        @for (days, label) in PERIODS {
                            @if filters.days() == Some(days) {
                                a href=(filters.with_days(shell.path, days)) aria-current="true" data-period=(days) { (label) }
                            } @else {
                                a href=(filters.with_days(shell.path, days)) data-period=(days) { (label) }
                            }
                        }
                    }
                    form method="get" action=(shell.path) aria-label="Custom range" {
                        @for (k, v) in sorted_extra(filters) { input type="hidden" name=(k) value=(v); }
                        @if let Some(domain) = &filters.domain { input type="hidden" name="domain" value=(domain); }
                        label { span.muted { "From " } input type="date" name="from" value=(from) required; }
                        label { span.muted { "to " } input type="date" name="to" value=(to) required; }
                        button type="submit" { "Apply" }
                    }
                    @if let Some(domains) = shell.domains {
                        form method="get" action=(shell.path) aria-label="Domain" {
                            @for (k, v) in window_fields(filters) { input type="hidden" name=(k) value=(v); }
                            @for (k, v) in sorted_extra(filters) { input type="hidden" name=(k) value=(v); }
                            label { span.muted { "Domain " }
                                select name="domain" id="domain-filter" data-autosubmit {
                                    option value="" selected[filters.domain.is_none()] { "All domains" }
                                    @for d in domains {
                                        option value=(d) selected[filters.domain.as_deref() == Some(d.as_str())] { (d) }
                                    }
                                }
                            }
                            noscript { button type="submit" { "Show" } }
                        }
                    } @else if let Some(domain) = &filters.domain {
                        span.badge { (domain) }
                    }
                    span.window-label data-testid="window-label" {
                        @if filters.days().is_some() { (filters.window.label()) } @else { (from) " – " (to) " (UTC)" }
                    }
                }
                div.toasts id="toasts" aria-live="assertive" {}
                main id="main" {
                    h1 { (shell.title) }
                    p.subtitle { (shell.subtitle) }
                    (body)
                }
            }
        }
    }
}

/// The live stream for the page's domain.
fn live_url(filters: &Filters) -> String {
    match &filters.domain {
        Some(domain) => format!("/api/live?domain={}", super::filters::encode(domain)),
        None => "/api/live".to_string(),
    }
}

fn sorted_extra(filters: &Filters) -> Vec<(String, String)> {
    let mut extra: Vec<(String, String)> = filters
        .extra
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    extra.sort();
    extra
}

/// The window as form fields: `days`, or the custom range as dates.
fn window_fields(filters: &Filters) -> Vec<(String, String)> {
    match filters.days() {
        Some(days) => vec![("days".into(), days.to_string())],
        None => {
            let (from, to) = filters.range_dates();
            vec![("from".into(), from), ("to".into(), to)]
        }
    }
}
