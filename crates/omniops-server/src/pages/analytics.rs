//! `/dashboard/analytics`: five tabs — Overview, Conversations, Performance, Customers and
//! AI Insights — each one a section loaded from the query layer.

use super::components::{
    self, chart, count, duration_ms, percent_change, points_change, share_bar, stat_card,
};
use super::filters::Filters;
use super::overview::language_list;
use crate::queries::analytics::{
    analytics_report, analytics_with_counts, conversations_report, satisfaction_by_day,
};
use crate::queries::telemetry::{response_time_percentiles, telemetry_report};
use crate::state::AppState;
use maud::{html, Markup};
use omniops_core::money::Rounded;
use omniops_core::rollup::PercentileBound;
use serde_json::json;

pub const TABS: [(&str, &str); 5] = [
    ("overview", "Overview"),
    ("conversations", "Conversations"),
    ("performance", "Performance"),
    ("customers", "Customers"),
    ("insights", "AI Insights"),
];

pub fn tab_of(filters: &Filters) -> &'static str {
    let asked = filters.extra("tab").unwrap_or("overview");
    TABS.iter()
        .find(|(t, _)| *t == asked)
        .map_or("overview", |(t, _)| t)
}

pub fn body(filters: &Filters) -> Markup {
    let tab = tab_of(filters);
    let url = filters.href_plain(&format!("/dashboard/partials/analytics-{tab}"), &[]);
    html! {
        (components::export_bar(filters, &["top-queries", "languages", "conversations", "failed-searches", "satisfaction", "response-times", "domains"]))
        nav.tabs role="tablist" aria-label="Analytics" {
            @for (name, label) in TABS {
                a role="tab" href=(filters.href("/dashboard/analytics", &[("tab", name)])) aria-selected=(if name == tab { "true" } else { "false" }) data-tab=(name) { (label) }
            }
        }
        div role="tabpanel" id="tab-panel" data-testid=(format!("tab-{tab}")) {
            (components::bare_section("tab-body", &url, components::REFRESH_SECONDS, false, components::skeleton(true)))
        }
    }
}

pub async fn overview(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let domain = f.domain.as_deref();
    let previous = f.window.previous();
    let (now, before) = tokio::try_join!(
        analytics_report(state, &f.window, domain),
        analytics_report(state, &previous, domain),
    )?;
    let number = |n: &Rounded| n.shown();
    let response = percent_change(number(&now.response_time), number(&before.response_time));
    let satisfaction = points_change(
        number(&now.satisfaction_score),
        number(&before.satisfaction_score),
    );
    let resolution = points_change(
        number(&now.resolution_rate),
        number(&before.resolution_rate),
    );
    let messages = percent_change(
        now.metrics.total_messages.into(),
        before.metrics.total_messages.into(),
    );
    Ok(html! {
        div.grid {
            (stat_card("response-time", "Avg response time", &format!("{} s", now.response_time), now.response_time, Some(&response), false))
            (stat_card("satisfaction", "Satisfaction", &format!("{} / 5", now.satisfaction_score), now.satisfaction_score, Some(&satisfaction), true))
            (stat_card("resolution", "Resolution rate", &format!("{}%", now.resolution_rate), now.resolution_rate, Some(&resolution), true))
            (stat_card("messages", "Messages", &count(now.metrics.total_messages), now.metrics.total_messages, Some(&messages), true))
        }
        div.grid-halves {
            section.card {
                h2 { "Top queries" }
                p.hint { "The most frequent user messages." }
                @if now.top_queries.is_empty() { (components::empty("No user messages in this period.")) }
                @else {
                    table data-testid="top-queries" {
                        thead { tr { th { "Query" } th.num { "Count" } th.num { "Share" } } }
                        tbody { @for q in &now.top_queries { tr { td { (q.query) } td.num { (q.count) } td.num { (q.percentage) "%" } } } }
                    }
                }
            }
            section.card {
                h2 { "Languages" }
                p.hint { "Share of conversations." }
                (language_list(&now))
            }
        }
    })
}

pub async fn conversations(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let domain = f.domain.as_deref();
    let ((report, messages, conversations), recent) = tokio::try_join!(
        analytics_with_counts(state, &f.window, domain),
        conversations_report(state, &f.window, domain, 1, 10),
    )?;
    let with_user = conversations.with_user_messages;
    let resolved = conversations.resolved;
    let messages = &messages;
    Ok(html! {
        div.grid-halves {
            section.card data-testid="conversation-status" {
                h2 { "Conversation status" }
                p.hint { "Resolved: the last user message was answered and not negative." }
                ul.list {
                    li { span { "Conversations" } strong data-value=(recent.total) { (count(recent.total)) } }
                    li { span { "With user messages" } strong data-value=(with_user) { (count(with_user)) } }
                    li { span { "Resolved" } strong data-value=(resolved) { (count(resolved)) } }
                    li { span { "Open or unresolved" } strong data-value=(with_user - resolved) { (count(with_user - resolved)) } }
                }
            }
            section.card data-testid="quality-card" {
                h2 { "Conversation quality" }
                p.hint { "From the sentiment of user messages and the time to answer them." }
                ul.list {
                    li { span { "Satisfaction (1–5)" } strong { (report.satisfaction_score) } }
                    li { span { "Resolution rate" } strong { (report.resolution_rate) "%" } }
                    li { span { "Positive messages" } strong data-value=(messages.positive) { (count(messages.positive)) } }
                    li { span { "Negative messages" } strong data-value=(messages.negative) { (count(messages.negative)) } }
                    li { span { "Avg time to answer" } strong { (report.response_time) " s" } }
                }
            }
        }
        section.card {
            h2 { "Recent conversations" }
            @if recent.recent.is_empty() { (components::empty("No conversations in this period.")) }
            @else { ul.list { @for c in &recent.recent { li { span { (c.message) } span.muted { (components::short_time(&c.timestamp)) } } } } }
        }
    })
}

/// A percentile bound as "≤ 2 s", "> 60 s" or "–".
fn bound_text(bound: PercentileBound) -> String {
    match bound {
        PercentileBound::NoData => "–".to_string(),
        PercentileBound::AtMost(ms) => format!("≤ {}", duration_ms(ms)),
        PercentileBound::Above(ms) => format!("> {}", duration_ms(ms)),
    }
}

pub async fn performance(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let domain = f.domain.as_deref();
    let (r, percentiles, analytics) = tokio::try_join!(
        telemetry_report(state, &f.window, domain),
        response_time_percentiles(state, &f.window, domain),
        analytics_report(state, &f.window, domain),
    )?;
    let p = &r.performance;
    let c = &analytics.performance_metrics;
    let accuracy = c
        .answer_accuracy
        .as_ref()
        .map_or("–".to_string(), |a| format!("{a}%"));
    Ok(html! {
        section.card data-testid="conversation-performance" {
            h2 { "Conversations" }
            p.hint { "Answer accuracy: answers not followed by a negative user message. Escalation rate: conversations where the user asked for a person. First-contact resolution: resolved conversations that needed one question, or with no follow-up from the same customer within 24 h (README: analytics)." }
            div.grid {
                (stat_card("answer-accuracy", "Answer accuracy", &accuracy, &accuracy, None, false))
                (stat_card("escalation-rate", "Escalation rate", &format!("{}%", c.escalation_rate), c.escalation_rate, None, false))
                (stat_card("first-contact-resolution", "First-contact resolution", &format!("{}%", c.first_contact_resolution), c.first_contact_resolution, None, false))
                @if let Some(users) = c.users {
                    (stat_card("users", "Users", &count(users), users, None, false))
                }
            }
        }
        section.card data-testid="ai-performance" {
            h2 { "AI performance" }
            p.hint { "Per request (one chat session): means over the sessions that ended in this period." }
            div.grid {
                (stat_card("iterations", "Iterations per request", &p.avg_iterations, &p.avg_iterations, None, false))
                (stat_card("searches", "Searches per request", &p.avg_searches_per_request, &p.avg_searches_per_request, None, false))
                (stat_card("failure-rate", "Failure rate", &format!("{}%", r.overview.error_rate), r.overview.error_rate, None, false))
                (stat_card("mean-duration", "Mean response time", &duration_ms(p.avg_response_time), p.avg_response_time, None, false))
            }
            p.muted { "Timeouts are not told apart from other failures, so no timeout rate is shown." }
        }
        section.card data-testid="response-percentiles" {
            h2 { "Response-time percentiles" }
            p.hint { "Session durations, counted in buckets (250 ms, 500 ms, 1 s, 2 s, 3 s, 5 s, 8 s, 13 s, 20 s, 30 s, 60 s): each percentile is the bucket bound it falls under." }
            div.grid {
                @for (label, bound) in &percentiles {
                    div.card data-testid=(label) { div.stat-label { (label) } div.stat-value { (bound_text(*bound)) } }
                }
            }
        }
        section.card {
            h2 { "Tokens" }
            ul.list {
                li { span { "Input tokens" } strong { (count(r.tokens.total_input)) } }
                li { span { "Output tokens" } strong { (count(r.tokens.total_output)) } }
                li { span { "Tokens per request" } strong { (count(r.tokens.avg_per_request)) } }
                li { span { "Searches" } strong { (count(p.total_searches)) } }
            }
        }
    })
}

pub async fn customers(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let r = telemetry_report(state, &f.window, f.domain.as_deref()).await?;
    let total = r.overview.total_requests;
    Ok(html! {
        section.card data-testid="customer-segments" {
            h2 { "Customer segments" }
            p.hint { "Each customer domain's share of requests, and its cost." }
            @if r.domain_breakdown.is_empty() { (components::first_session_help(f)) }
            @else {
                table {
                    thead { tr { th { "Domain" } th.num { "Requests" } th { "Share of requests" } th.num { "Cost" } } }
                    tbody {
                        @for d in &r.domain_breakdown {
                            @let share = omniops_core::money::percentage(i128::from(d.requests), i128::from(total));
                            tr data-domain=(d.domain) {
                                td { (d.domain) }
                                td.num { (count(d.requests)) }
                                td { div.share-row { span.grow { (share_bar(share, false)) } span { (share) "%" } } }
                                td.num { (components::usd(d.cost)) }
                            }
                        }
                    }
                }
            }
        }
    })
}

pub async fn insights(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let domain = f.domain.as_deref();
    let (days, report) = tokio::try_join!(
        satisfaction_by_day(state, &f.window, domain),
        analytics_report(state, &f.window, domain),
    )?;
    let x: Vec<i64> = days.iter().map(|(day, _)| day / 1_000_000).collect();
    let scores: Vec<&Rounded> = days.iter().map(|(_, s)| s).collect();
    Ok(html! {
        section.card {
            h2 { "Satisfaction trend" }
            p.hint { "The spec's satisfaction score (1–5) per day, from the sentiment of user messages." }
            @if days.is_empty() { (components::empty("No user messages in this period.")) }
            @else { (chart("satisfaction-chart", "Satisfaction per day", &json!({"x": x, "series": [{"label": "Satisfaction", "values": scores}]}))) }
        }
        section.card {
            h2 { "Searches that found nothing" }
            p.hint { "Newest first: candidates for the catalogue or for search synonyms." }
            @if report.failed_searches.is_empty() { (components::empty("No failed searches in this period.")) }
            @else { ul.list data-testid="failed-searches" { @for q in &report.failed_searches { li { span { (q) } } } } }
        }
    })
}
