//! `/dashboard/sessions`: the LiveSessionsPanel, the session history with its filters, and
//! the SessionDetailsModal.

use super::components::{self, count, duration_ms, short_time, usd};
use super::filters::Filters;
use crate::auth::Principal;
use crate::queries::sessions::{session_details, session_history};
use crate::queries::telemetry::telemetry_report;
use crate::state::AppState;
use maud::{html, Markup};
use omniops_store::Outcome;
use omniops_store::SessionFilter;
use serde_json::Value;

/// Sessions per page of the history.
const PAGE_SIZE: i64 = 25;

fn history_filter(f: &Filters) -> SessionFilter {
    SessionFilter {
        domain: f.domain.clone(),
        model: f
            .extra("model")
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string),
        status: f
            .extra("status")
            .and_then(Outcome::parse)
            .unwrap_or_default(),
    }
}

pub fn body(filters: &Filters) -> Markup {
    let filter = history_filter(filters);
    let page = filters.page().to_string();
    let model = filter.model.clone().unwrap_or_default();
    let history_url = filters.href_plain(
        "/dashboard/partials/sessions-history",
        &[
            ("model", &model),
            ("status", filter.status.as_param()),
            ("page", &page),
        ],
    );
    let (from, to) = filters.range_dates();
    html! {
        (components::export_bar(filters, &["sessions", "live"]))
        (components::section_with("sessions-live", "Live sessions", "Running now, with their uptime and running cost; updated from the live stream.", &filters.href_plain("/dashboard/partials/sessions-live", &[]), false, true))
        section.card id="history" {
            h2 { "Session history" }
            p.hint { "Ended sessions of the period, newest first. Open one for its details." }
            form.actions method="get" action="/dashboard/sessions" aria-label="Filter sessions" {
                @match filters.days() {
                    Some(days) => { input type="hidden" name="days" value=(days); }
                    None => { input type="hidden" name="from" value=(from); input type="hidden" name="to" value=(to); }
                }
                @if let Some(domain) = &filters.domain { input type="hidden" name="domain" value=(domain); }
                input type="text" name="model" placeholder="Model" aria-label="Model" value=(model);
                select name="status" aria-label="Status" {
                    option value="" selected[filter.status == Outcome::All] { "All outcomes" }
                    option value="success" selected[filter.status == Outcome::Succeeded] { "Succeeded" }
                    option value="failed" selected[filter.status == Outcome::Failed] { "Failed" }
                }
                button type="submit" { "Filter" }
            }
            div id="sessions-history" hx-get=(history_url) hx-trigger=(format!("load, every {}s", components::REFRESH_SECONDS)) hx-swap="innerHTML" {
                (components::skeleton(true))
            }
        }
        dialog id="session-modal" aria-labelledby="session-modal-title" {
            div.modal-head {
                h2 id="session-modal-title" { "Session" }
                form method="dialog" { button.icon-button type="submit" aria-label="Close" { "Close" } }
            }
            div id="session-modal-body" {}
        }
    }
}

pub async fn live(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let report = telemetry_report(state, &f.window, f.domain.as_deref()).await?;
    let live = &report.live;
    Ok(html! {
        p { span class=(if live.active_sessions > 0 { "pulse" } else { "pulse idle" }) {} " "
            strong data-testid="live-count" { (count(live.active_sessions)) } " live sessions · " (usd(live.current_cost)) " running" }
        @if !live.sessions_data.is_empty() {
            div.table-wrap {
                table data-testid="live-sessions" {
                    thead { tr { th { "Session" } th { "Domain" } th { "Model" } th.num { "Uptime" } th.num { "Cost so far" } } }
                    tbody {
                        @for s in &live.sessions_data {
                            tr data-session=(s.id) {
                                td { button.icon-button type="button" hx-get=(format!("/dashboard/partials/session?id={}", super::filters::encode(&s.id))) hx-target="#session-modal-body" { (s.id) } }
                                td { (s.domain) } td { (s.model) } td.num { (s.uptime) " s" }
                                td.num { @if s.unpriced { span.badge.warn { "unpriced" } } @else { (usd(s.cost)) } }
                            }
                        }
                    }
                }
            }
        }
    })
}

pub async fn history(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let filter = history_filter(f);
    let page = f.page();
    let h = session_history(state, &f.window, &filter, page, PAGE_SIZE).await?;
    let model = filter.model.clone().unwrap_or_default();
    let link = |to: i64| {
        f.href_plain(
            "/dashboard/partials/sessions-history",
            &[
                ("model", &model),
                ("status", filter.status.as_param()),
                ("page", &to.to_string()),
            ],
        )
    };
    let p = &h.pagination;
    Ok(html! {
        @if h.sessions.is_empty() {
            (components::empty("No ended sessions match these filters in this period."))
        } @else {
            div.table-wrap {
                table data-testid="session-history" {
                    thead { tr { th { "Started" } th { "Session" } th { "Domain" } th { "Model" } th.num { "Duration" } th.num { "Tokens in / out" } th.num { "Cost" } th { "Outcome" } } }
                    tbody {
                        @for s in &h.sessions {
                            @let id = s["sessionId"].as_str().unwrap_or_default();
                            tr data-session=(id) {
                                td.muted { (short_time(s["startTime"].as_str().unwrap_or_default())) }
                                td { button.icon-button type="button" data-open-session=(id)
                                        hx-get=(format!("/dashboard/partials/session?id={}", super::filters::encode(id))) hx-target="#session-modal-body" { (id) } }
                                td { (s["domain"].as_str().unwrap_or_default()) }
                                td { (s["model"].as_str().unwrap_or_default()) }
                                td.num { (duration_ms(s["durationMs"].as_i64().unwrap_or(0))) }
                                td.num { (count(s["inputTokens"].as_i64().unwrap_or(0))) " / " (count(s["outputTokens"].as_i64().unwrap_or(0))) }
                                td.num { @match s["costUsd"].as_str() { Some(c) => { (usd(c)) } None => { span.badge.warn { "unpriced" } } } }
                                td { @if s["success"] == Value::Bool(true) { span.badge.good { "success" } } @else { span.badge.bad { "failed" } } }
                            }
                        }
                    }
                }
            }
            nav.actions.pager aria-label="Pages" {
                @if p.page > 1 { a href="#history" hx-get=(link(p.page - 1)) hx-target="#sessions-history" data-page="prev" { "← Newer" } }
                span.muted data-testid="session-page" { "Page " (p.page) " of " (p.total_pages.max(1)) " · " (count(p.total)) " sessions" }
                @if p.page < p.total_pages { a href="#history" hx-get=(link(p.page + 1)) hx-target="#sessions-history" data-page="next" { "Older →" } }
            }
        }
    })
}

/// "base", "above 200k", "priority", "above 200k, priority".
fn tier_text(above: &Value, service: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(n) = above.as_i64() {
        parts.push(if n % 1_000 == 0 {
            format!("above {}k", n / 1_000)
        } else {
            format!("above {n}")
        });
    }
    match service.as_str() {
        None | Some("default") => {}
        Some(tier) => parts.push(tier.to_string()),
    }
    if parts.is_empty() {
        "base".to_string()
    } else {
        parts.join(", ")
    }
}

/// The modal's body for `?id=`; a domain-scoped viewer sees only its domain's sessions.
pub async fn details(
    state: &AppState,
    f: &Filters,
    principal: &Principal,
) -> anyhow::Result<Markup> {
    let id = f.extra("id").unwrap_or_default();
    let details = session_details(state, id).await?.filter(|d| {
        principal
            .domain
            .as_deref()
            .is_none_or(|own| d["domain"].as_str() == Some(own))
    });
    let Some(d) = details else {
        return Ok(components::empty("No such session."));
    };
    let text = |key: &str| d[key].as_str().unwrap_or_default().to_string();
    let tokens = &d["tokens"];
    Ok(html! {
        div data-testid="session-details" data-session=(text("sessionId")) {
            p { strong { (text("sessionId")) } " · " (text("domain")) " · " (text("model")) " · "
                @if d["live"] == Value::Bool(true) { span.badge { "live" } }
                @else if d["success"] == Value::Bool(true) { span.badge.good { "success" } }
                @else { span.badge.bad { "failed" } } }
            p.muted { "Started " (short_time(&text("startTime"))) @if let Some(ms) = d["durationMs"].as_i64() { " · took " (duration_ms(ms)) } }
            @if let Some(error) = d["error"].as_str() { p.error { (error) } }
            div.grid {
                div.card { div.stat-label { "Iterations" } div.stat-value data-testid="detail-iterations" { (d["iterations"]) } }
                div.card { div.stat-label { "Searches" } div.stat-value data-testid="detail-searches" { (d["searchCount"]) } }
                div.card { div.stat-label { "Results found" } div.stat-value { (d["totalResults"]) } }
                div.card { div.stat-label { "Cost" } div.stat-value data-testid="detail-cost" {
                    @match d["costUsd"].as_str() { Some(c) => { (usd(c)) } None => { "unpriced" } } } }
            }
            h2 { "Cost by token type" }
            @match d["price"]["model"].as_str() {
                Some(model) => { p.muted { "Priced as " (model) ", in force since " (d["price"]["effectiveFrom"].as_str().unwrap_or_default()) "." } }
                None => { p.error { "No price for this model: its cost is not counted." } }
            }
            table data-testid="cost-breakdown" {
                thead { tr { th { "Tokens" } th { "Tier" } th.num { "Count" } th.num { "USD per million" } th.num { "Cost" } } }
                tbody {
                    @for line in d["costBreakdown"].as_array().into_iter().flatten() {
                        tr data-type=(line["type"].as_str().unwrap_or_default()) {
                            td { (line["type"].as_str().unwrap_or_default()) }
                            td { (tier_text(&line["aboveInputTokens"], &line["serviceTier"])) }
                            td.num { (count(line["tokens"].as_i64().unwrap_or(0))) }
                            td.num { "$" (line["usdPerMillion"].as_str().unwrap_or_default()) }
                            td.num { "$" (line["cost"].as_str().unwrap_or_default()) }
                        }
                    }
                }
            }
            p.muted { "Tokens: " (tokens["input"]) " input (" (tokens["cachedInput"]) " cached, " (tokens["cacheWrite"]) " cache writes), "
                (tokens["output"]) " output (" (tokens["reasoning"]) " reasoning). Each model call is priced on its own and rounded to a billionth of a dollar; a session sent as totals is one call at the base rates." }
            @if let Some(calls) = d["calls"].as_array().filter(|c| !c.is_empty()) {
                h2 { "Model calls " span.muted { "(" (d["callCount"]) ")" } }
                table data-testid="detail-calls" {
                    thead { tr { th { "At" } th.num { "Input" } th.num { "Cached" } th.num { "Cache writes" } th.num { "Output" } th { "Tier" } th.num { "Cost" } } }
                    tbody {
                        @for c in calls {
                            tr {
                                td.muted { (short_time(c["at"].as_str().unwrap_or_default())) }
                                td.num { (count(c["tokens"]["input"].as_i64().unwrap_or(0))) }
                                td.num { (count(c["tokens"]["cachedInput"].as_i64().unwrap_or(0))) }
                                td.num { (count(c["tokens"]["cacheWrite"].as_i64().unwrap_or(0))) }
                                td.num { (count(c["tokens"]["output"].as_i64().unwrap_or(0))) }
                                td { (tier_text(&c["aboveInputTokens"], &c["serviceTier"])) }
                                td.num { @match c["cost"].as_str() { Some(cost) => { "$" (cost) } None => { "unpriced" } } }
                            }
                        }
                    }
                }
            }
            @if let Some(searches) = d["searches"].as_array().filter(|s| !s.is_empty()) {
                h2 { "Searches" }
                table data-testid="detail-search-list" {
                    thead { tr { th { "Query" } th.num { "Results" } } }
                    tbody { @for s in searches { tr { td { (s["query"].as_str().unwrap_or_default()) } td.num { (s["results"]) } } } }
                }
            }
            @if let Some(logs) = d["logs"].as_array().filter(|l| !l.is_empty()) {
                h2 { "Logs" }
                pre data-testid="detail-logs" { @for line in logs { (line.to_string()) "\n" } }
            }
            @if let Some(conversation) = d["conversation"].as_array().filter(|c| !c.is_empty()) {
                h2 { "Conversation " span.muted { (text("conversationId")) } }
                ul.list data-testid="detail-conversation" {
                    @for m in conversation { li { span { strong { (m["role"].as_str().unwrap_or_default()) ": " } (m["content"].as_str().unwrap_or_default()) } span.muted { (short_time(m["timestamp"].as_str().unwrap_or_default())) } } }
                }
            }
        }
    })
}
