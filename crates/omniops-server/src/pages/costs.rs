//! `/dashboard/costs`: the spec's cost page — four metric cards, CostTrendChart,
//! ModelComparisonCard, LiveCostTicker, BudgetAlertsPanel and DomainCostTable.

use super::components::{self, chart, count, share_bar, stat_card, usd};
use super::filters::Filters;
use crate::queries::monitoring::check_alerts;
use crate::queries::telemetry::telemetry_report;
use crate::state::AppState;
use maud::{html, Markup};
use omniops_store::AlertLevel;
use rust_decimal::Decimal;
use serde_json::json;

pub fn body(filters: &Filters) -> Markup {
    let url = |name: &str| filters.href_plain(&format!("/dashboard/partials/{name}"), &[]);
    let table_url = filters.href_plain(
        "/dashboard/partials/domain-costs",
        &[
            ("sort", filters.extra("sort").unwrap_or("")),
            ("dir", filters.extra("dir").unwrap_or("")),
            ("q", filters.extra("q").unwrap_or("")),
        ],
    );
    html! {
        (components::export_bar(filters, &["hourly", "models", "domains", "live", "alerts"]))
        (components::bare_section("cost-metrics", &url("cost-metrics"), components::REFRESH_SECONDS, false, components::stat_skeletons(4)))
        div.grid-2 {
            (components::section("cost-trend", "Cost trend", "Spend per hour in this period.", &url("cost-trend"), true))
            section.card {
                h2 { "Live cost" }
                p.hint { "Sessions running now, updated as the live stream reports changes." }
                (components::bare_section("ticker", &url("ticker"), components::REFRESH_SECONDS, true, components::skeleton(false)))
            }
        }
        (components::section("models", "Model comparison", "Cost and requests per model. Models without a price are flagged.", &url("models"), true))
        div.grid-halves {
            (components::section("alerts", "Budget alerts", "Daily and monthly thresholds against spend so far.", &url("alerts"), false))
            section.card id="domains" {
                h2 { "Cost by domain" }
                p.hint { "Sort by a column; search by name." }
                form.table-tools hx-get=(url("domain-costs")) hx-target="#domain-costs" hx-trigger="input changed delay:300ms from:input, submit" role="search" {
                    input type="search" name="q" placeholder="Search domains" aria-label="Search domains" value=(filters.extra("q").unwrap_or(""));
                    input type="hidden" id="domain-sort" name="sort" value=(filters.extra("sort").unwrap_or("cost"));
                    input type="hidden" id="domain-dir" name="dir" value=(filters.extra("dir").unwrap_or("desc"));
                }
                div id="domain-costs" hx-get=(table_url) hx-trigger="load" hx-swap="innerHTML" {
                    (components::skeleton(false))
                }
            }
        }
    }
}

pub async fn metrics(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let r = telemetry_report(state, &f.window, f.domain.as_deref()).await?;
    let c = &r.cost;
    Ok(html! {
        div.grid {
            (stat_card("total-spend", "Total spend", &usd(c.total), c.total, None, false))
            (stat_card("avg-cost", "Avg cost per request", &usd(c.average), c.average, None, false))
            (stat_card("projected-daily", "Daily projection", &usd(c.projected_daily), c.projected_daily, None, false))
            (stat_card("projected-monthly", "Monthly projection", &usd(c.projected_monthly), c.projected_monthly, None, false))
        }
        p.muted { (count(r.overview.total_requests)) " requests · " (usd(c.per_hour)) " per hour · trend " (format!("{:?}", c.trend).to_lowercase()) }
    })
}

pub async fn trend(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let r = telemetry_report(state, &f.window, f.domain.as_deref()).await?;
    if r.overview.total_requests == 0 {
        return Ok(components::first_session_help(f));
    }
    let x = components::trend_hours(&r);
    let cost: Vec<&omniops_core::money::Rounded> = r.hourly_trend.iter().map(|p| &p.cost).collect();
    Ok(chart(
        "cost-trend-chart",
        "Cost per hour",
        &json!({"x": x, "series": [{"label": "Cost (USD)", "values": cost, "money": true}]}),
    ))
}

pub async fn ticker(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let r = telemetry_report(state, &f.window, f.domain.as_deref()).await?;
    let live = &r.live;
    Ok(html! {
        div data-testid="live-ticker" {
            div.stat-value {
                span class=(if live.active_sessions > 0 { "pulse" } else { "pulse idle" }) {} " "
                span data-value=(live.current_cost) { (usd(live.current_cost)) }
            }
            p.muted { (count(live.active_sessions)) " live sessions" }
            @if !live.sessions_data.is_empty() {
                table {
                    thead { tr { th { "Domain" } th { "Model" } th.num { "Uptime" } th.num { "Cost" } } }
                    tbody {
                        @for s in live.sessions_data.iter().take(5) {
                            tr { td { (s.domain) } td { (s.model) } td.num { (s.uptime) " s" }
                                 td.num { @if s.unpriced { span.badge.warn { "unpriced" } } @else { (usd(s.cost)) } } }
                        }
                    }
                }
            }
        }
    })
}

pub async fn models(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let r = telemetry_report(state, &f.window, f.domain.as_deref()).await?;
    if r.model_usage.is_empty() {
        return Ok(components::first_session_help(f));
    }
    let labels: Vec<&str> = r.model_usage.iter().map(|m| m.model.as_str()).collect();
    let costs: Vec<serde_json::Value> = r
        .model_usage
        .iter()
        .map(|m| {
            m.cost.map_or(serde_json::Value::Null, |c| {
                json!(omniops_core::money::json_number(c.shown(), 4))
            })
        })
        .collect();
    Ok(html! {
        (chart("model-chart", "Cost per model", &json!({"kind": "bars", "labels": labels, "height": 200,
            "series": [{"label": "Cost (USD)", "values": costs, "money": true}]})))
        div.table-wrap {
            table data-testid="model-table" {
                thead { tr { th { "Model" } th.num { "Requests" } th.num { "Share" } th.num { "Tokens" } th.num { "Cost" } } }
                tbody {
                    @for m in &r.model_usage {
                        tr data-model=(m.model) {
                            td { (m.model) }
                            td.num { (count(m.count)) }
                            td.num { (m.percentage) "%" }
                            td.num { (count(m.tokens)) }
                            td.num data-value=(m.cost.map(|c| c.to_string()).unwrap_or_default()) {
                                @match &m.cost {
                                    Some(cost) => { (usd(cost)) }
                                    None => {}
                                }
                                @if m.unpriced {
                                    " " span.badge.warn data-testid="unpriced" { "unpriced" }
                                    details {
                                        summary { "Set a price" }
                                        p.muted { "Your prices in USD per million tokens, in force from the first day shown here (the sessions since then are repriced):" }
                                        pre { code data-testid="set-price-command" { (set_price_command(f, &m.model)) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// The `PUT /api/v1/prices` call that prices `model`, sent to this server: placeholder
/// prices to replace, in force from the window's first day.
pub fn set_price_command(f: &Filters, model: &str) -> String {
    let body = json!({
        "model": model,
        "input": "1.00",
        "output": "2.00",
        "effectiveFrom": f.range_dates().0,
    });
    // The body goes inside single quotes: a quote in a model name closes and reopens them.
    let body = body.to_string().replace('\'', "'\\''");
    format!(
        "curl -X PUT {}/api/v1/prices \\\n  -H 'Content-Type: application/json'{} \\\n  -d '{body}'",
        f.origin,
        f.auth_header("admin")
    )
}

pub async fn alerts(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let statuses = check_alerts(state, f.domain.as_deref()).await?;
    let fired = state.store.alert_history(f.domain.as_deref(), 5).await?;
    Ok(html! {
        @if statuses.is_empty() {
            (components::empty("No budget alerts yet. Add one below."))
        } @else {
            ul.list data-testid="alerts" {
                @for a in &statuses {
                    li {
                        span.label150 {
                            strong { (a.domain.as_deref().unwrap_or("All domains")) } br;
                            span.muted { (a.alert_type) " limit " (usd(a.threshold_usd)) }
                        }
                        span.grow { (share_bar(a.percentage, a.triggered)) }
                        span {
                            (usd(a.current_spend)) " "
                            @if a.triggered { span.badge.bad { "over" } } @else { span.badge.good { (a.percentage) "%" } }
                        }
                        @let domain = a.domain.clone().unwrap_or_default();
                        span.actions {
                            form data-api-method="POST" data-api-url="/api/monitoring/chat" aria-label="Send a test" {
                                input type="hidden" name="action" value="test-alert";
                                input type="hidden" name="domain" value=(domain);
                                input type="hidden" name="alert_type" value=(a.alert_type);
                                button type="submit" title="Send a test to the alert's webhook" { "Test" }
                                p.form-result role="status" {}
                            }
                            form data-api-method="POST" data-api-url="/api/monitoring/chat" data-confirm="Delete this alert?" aria-label="Delete alert" {
                                input type="hidden" name="action" value="delete-alert";
                                input type="hidden" name="domain" value=(domain);
                                input type="hidden" name="alert_type" value=(a.alert_type);
                                button type="submit" data-delete-alert=(format!("{domain}/{}", a.alert_type)) { "Delete" }
                                p.form-result role="status" {}
                            }
                        }
                    }
                }
            }
        }
        @if !fired.is_empty() {
            h2.spaced { "Recently fired" }
            ul.list data-testid="fired-alerts" {
                @for e in &fired {
                    li {
                        span { (if e.domain.is_empty() { "All domains" } else { e.domain.as_str() }) " · " (e.alert_type) " · "
                            @if e.level == AlertLevel::Projected { "projected to cross on " (e.projected_date.as_deref().unwrap_or("?")) }
                            @else { (e.level.as_text()) "% reached" } }
                        span.muted { (components::short_time(&omniops_core::clock::to_rfc3339(e.fired_at))) }
                    }
                }
            }
        }
        // The API's own set-alert; a new webhook's signing secret is shown once, here.
        form data-api-method="POST" data-api-url="/api/monitoring/chat" data-show-key="webhookSecret" aria-label="Add a budget alert" {
            input type="hidden" name="action" value="set-alert";
            @if let Some(domain) = &f.domain { input type="hidden" name="domain" value=(domain); }
            div.actions.spaced {
                select name="alert_type" aria-label="Period" { option value="daily" { "Daily" } option value="monthly" { "Monthly" } }
                input type="text" inputmode="decimal" name="threshold_usd" placeholder="Limit in USD" aria-label="Limit in USD" required;
                input type="url" name="webhook_url" placeholder="Webhook URL (optional)" aria-label="Webhook URL";
                label { input type="checkbox" name="slack" data-only-checked; " Slack format" }
                button.primary type="submit" id="save-alert" { "Save alert" }
            }
            p.form-result role="status" {}
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Domain,
    Requests,
    Cost,
}

pub async fn domain_table(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let r = telemetry_report(state, &f.window, f.domain.as_deref()).await?;
    let sort = match f.extra("sort") {
        Some("domain") => SortKey::Domain,
        Some("requests") => SortKey::Requests,
        _ => SortKey::Cost,
    };
    let ascending = f.extra("dir") == Some("asc");
    let search = f.extra("q").unwrap_or("").trim().to_lowercase();
    let mut rows: Vec<&omniops_core::telemetry::DomainCost> = r
        .domain_breakdown
        .iter()
        .filter(|d| search.is_empty() || d.domain.to_lowercase().contains(&search))
        .collect();
    rows.sort_by(|a, b| {
        let order = match sort {
            SortKey::Domain => a.domain.cmp(&b.domain),
            SortKey::Requests => a.requests.cmp(&b.requests),
            SortKey::Cost => a.cost.shown().cmp(&b.cost.shown()),
        };
        let order = if ascending { order } else { order.reverse() };
        order.then_with(|| a.domain.cmp(&b.domain))
    });
    let total: Decimal = r.domain_breakdown.iter().map(|d| d.cost.shown()).sum();
    let header = |key: SortKey, name: &str, label: &str, numeric: bool| {
        let next_dir = if sort == key && !ascending {
            "asc"
        } else {
            "desc"
        };
        let state = [("sort", name), ("dir", next_dir), ("q", search.as_str())];
        let href = f.href_plain("/dashboard/partials/domain-costs", &state);
        let page = f.href_plain("/dashboard/costs", &state);
        let aria = match (sort == key, ascending) {
            (false, _) => "none",
            (true, true) => "ascending",
            (true, false) => "descending",
        };
        html! {
            th class=(if numeric { "num" } else { "" }) aria-sort=(aria) {
                a href=(page) hx-get=(href) hx-target="#domain-costs" data-sort=(name) { (label) @if sort == key { @if ascending { " ↑" } @else { " ↓" } } }
            }
        }
    };
    let (sort_name, dir) = (
        match sort {
            SortKey::Domain => "domain",
            SortKey::Requests => "requests",
            SortKey::Cost => "cost",
        },
        if ascending { "asc" } else { "desc" },
    );
    let current = [("sort", sort_name), ("dir", dir), ("q", search.as_str())];
    // The refresh repeats this view (sort and search included), and the search form gets
    // the current sort, so neither a refresh nor a search loses the user's place.
    Ok(html! {
        input type="hidden" id="domain-sort" name="sort" value=(sort_name) hx-swap-oob="true";
        input type="hidden" id="domain-dir" name="dir" value=(dir) hx-swap-oob="true";
        div hx-get=(f.href_plain("/dashboard/partials/domain-costs", &current))
            hx-trigger=(format!("every {}s", components::REFRESH_SECONDS)) hx-target="#domain-costs" {
        @if rows.is_empty() {
            (components::empty(if search.is_empty() { "No sessions in this period." } else { "No domain matches the search." }))
        } @else {
            div.table-wrap {
                table data-testid="domain-table" {
                    thead { tr { (header(SortKey::Domain, "domain", "Domain", false)) (header(SortKey::Requests, "requests", "Requests", true)) (header(SortKey::Cost, "cost", "Cost", true)) th.num { "Share" } } }
                    tbody {
                        @for d in &rows {
                            @let share = omniops_core::money::json_number(
                                if total.is_zero() { Decimal::ZERO } else { d.cost.shown() / total * Decimal::from(100) }, 1);
                            tr data-domain=(d.domain) {
                                td { (d.domain) }
                                td.num data-value=(d.requests) { (count(d.requests)) }
                                td.num data-value=(d.cost) { (usd(d.cost))
                                    @if d.unpriced {
                                        " " span.badge.warn data-testid="unpriced" title=(format!("{} requests of models without a price are not in this cost", d.unpriced_requests)) {
                                            (count(d.unpriced_requests)) " unpriced" }
                                    } }
                                td.num { (share) "%" }
                            }
                        }
                    }
                }
            }
        }
        }
    })
}

/// The costs page's URL for the domain table's current sort and search (for the address
/// bar, so a reload or a shared link shows the same view).
pub fn domain_table_page_url(f: &Filters) -> String {
    f.href_plain(
        "/dashboard/costs",
        &[
            ("sort", f.extra("sort").unwrap_or("")),
            ("dir", f.extra("dir").unwrap_or("")),
            ("q", f.extra("q").unwrap_or("").trim()),
        ],
    )
}
