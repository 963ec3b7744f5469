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
                            @let id = s.session_id.as_str();
                            tr data-session=(id) {
                                td.muted { (short_time(&s.start_time)) }
                                td { button.icon-button type="button" data-open-session=(id)
                                        hx-get=(format!("/dashboard/partials/session?id={}", super::filters::encode(id))) hx-target="#session-modal-body" { (id) } }
                                td { (s.domain) }
                                td { (s.model) }
                                td.num { (duration_ms(s.duration_ms.unwrap_or(0))) }
                                td.num { (count(s.input_tokens)) " / " (count(s.output_tokens)) }
                                td.num { @match s.cost_usd { Some(c) => { (usd(c)) } None => { span.badge.warn { "unpriced" } } } }
                                td { @if s.success == Some(true) { span.badge.good { "success" } } @else { span.badge.bad { "failed" } } }
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
fn tier_text(above: Option<i64>, service: &str) -> String {
    let mut parts = Vec::new();
    if let Some(n) = above {
        parts.push(if n % 1_000 == 0 {
            format!("above {}k", n / 1_000)
        } else {
            format!("above {n}")
        });
    }
    if service != "default" {
        parts.push(service.to_string());
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
            .is_none_or(|own| d.row.domain == own)
    });
    let Some(d) = details else {
        return Ok(components::empty("No such session."));
    };
    let row = &d.row;
    let tokens = &d.tokens;
    Ok(html! {
        div data-testid="session-details" data-session=(row.session_id) {
            p { strong { (row.session_id) } " · " (row.domain) " · " (row.model) " · "
                @if d.live { span.badge { "live" } }
                @else if row.success == Some(true) { span.badge.good { "success" } }
                @else { span.badge.bad { "failed" } } }
            p.muted { "Started " (short_time(&row.start_time)) @if let Some(ms) = row.duration_ms { " · took " (duration_ms(ms)) } }
            @if let Some(error) = &row.error { p.error { (error) } }
            div.grid {
                div.card { div.stat-label { "Iterations" } div.stat-value data-testid="detail-iterations" { (row.iterations) } }
                div.card { div.stat-label { "Searches" } div.stat-value data-testid="detail-searches" { (row.search_count) } }
                div.card { div.stat-label { "Results found" } div.stat-value { (d.total_results) } }
                div.card { div.stat-label { "Cost" } div.stat-value data-testid="detail-cost" {
                    @match row.cost_usd { Some(c) => { (usd(c)) } None => { "unpriced" } } } }
            }
            h2 { "Cost by token type" }
            @match &d.price {
                Some(price) => { p.muted { "Priced as " (price.model) ", in force since " (price.effective_from) "." } }
                None => { p.error { "No price for this model: its cost is not counted." } }
            }
            table data-testid="cost-breakdown" {
                thead { tr { th { "Tokens" } th { "Tier" } th.num { "Count" } th.num { "USD per million" } th.num { "Cost" } } }
                tbody {
                    @for line in &d.cost_breakdown {
                        tr data-type=(line.kind) {
                            td { (line.kind) }
                            td { (tier_text(line.above_input_tokens, line.service_tier)) }
                            td.num { (count(line.tokens)) }
                            td.num { "$" (line.usd_per_million) }
                            td.num { "$" (line.cost) }
                        }
                    }
                }
            }
            p.muted { "Tokens: " (tokens.input) " input (" (tokens.cached_input) " cached, " (tokens.cache_write) " cache writes), "
                (tokens.output) " output (" (tokens.reasoning) " reasoning). Each model call is priced on its own and rounded to a billionth of a dollar; a session sent as totals is one call at the base rates." }
            @if !d.calls.is_empty() {
                h2 { "Model calls " span.muted { "(" (d.call_count) ")" } }
                table data-testid="detail-calls" {
                    thead { tr { th { "At" } th.num { "Input" } th.num { "Cached" } th.num { "Cache writes" } th.num { "Output" } th { "Tier" } th.num { "Cost" } } }
                    tbody {
                        @for c in &d.calls {
                            tr {
                                td.muted { (short_time(&c.at)) }
                                td.num { (count(c.tokens.input)) }
                                td.num { (count(c.tokens.cached_input)) }
                                td.num { (count(c.tokens.cache_write)) }
                                td.num { (count(c.tokens.output)) }
                                td { (tier_text(c.above_input_tokens, c.service_tier)) }
                                td.num { @match c.cost { Some(cost) => { "$" (cost) } None => { "unpriced" } } }
                            }
                        }
                    }
                }
            }
            @if !d.searches.is_empty() {
                h2 { "Searches" }
                table data-testid="detail-search-list" {
                    thead { tr { th { "Query" } th.num { "Results" } } }
                    tbody { @for s in &d.searches { tr { td { (s["query"].as_str().unwrap_or_default()) } td.num { (s["results"]) } } } }
                }
            }
            @if !d.logs.is_empty() {
                h2 { "Logs" }
                pre data-testid="detail-logs" { @for line in &d.logs { (line.to_string()) "\n" } }
            }
            @if !d.conversation.is_empty() {
                h2 { "Conversation " span.muted { (d.conversation_id.as_deref().unwrap_or_default()) } }
                ul.list data-testid="detail-conversation" {
                    @for m in &d.conversation { li { span { strong { (m.role) ": " } (m.content) } span.muted { (short_time(&m.timestamp)) } } }
                }
            }
        }
    })
}
