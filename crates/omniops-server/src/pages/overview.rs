//! `/dashboard`: the overview — stats with their change, the cost and requests trend,
//! recent conversations, rule-based insights, bot status and languages.

use super::components::{
    self, chart, count, duration_ms, percent_change, points_change, share_bar, stat_card, usd,
};
use super::filters::Filters;
use crate::queries::analytics::{analytics_report, conversations_report};
use crate::queries::missing::missing_products_report;
use crate::queries::telemetry::telemetry_report;
use crate::state::AppState;
use maud::{html, Markup};
use omniops_core::telemetry::TelemetryReport;
use serde_json::json;

pub fn body(filters: &Filters) -> Markup {
    let url = |name: &str| filters.href_plain(&format!("/dashboard/partials/{name}"), &[]);
    html! {
        (components::export_bar(filters, &["hourly", "domains", "conversations", "languages"]))
        (components::bare_section("stats", &url("stats"), components::REFRESH_SECONDS, true, components::stat_skeletons(5)))
        div.grid-2 {
            (components::section("trend", "Cost and requests", "Per hour; cost on the left axis, requests on the right.", &url("trend"), true))
            (components::section_with("status", "Bot status", "Live sessions and errors in this period.", &url("status"), false, true))
        }
        div.grid-2 {
            (components::section("recent", "Recent conversations", "Newest first, with the first question asked.", &url("recent"), false))
            (components::section("insights", "AI insights", "Derived from your data by fixed rules.", &url("insights"), false))
        }
        div.grid-halves {
            (components::section("languages", "Languages", "Share of conversations by the language of their user messages.", &url("languages"), false))
            section.card {
                h2 { "Quick actions" }
                p.hint { "Where to go next." }
                div.actions {
                    a href=(filters.href_plain("/dashboard/costs", &[])) { "Review costs" }
                    a href=(filters.href_plain("/dashboard/analytics", &[("tab", "insights")])) { "See AI insights" }
                    a href=(filters.href_plain("/api/dashboard/telemetry", &[])) { "Telemetry JSON" }
                    a href=(filters.href_plain("/api/dashboard/missing-products", &[])) { "Missing products JSON" }
                }
            }
        }
    }
}

pub async fn stats(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let domain = f.domain.as_deref();
    let previous = f.window.previous();
    let (now, before, conversations, users) = tokio::try_join!(
        telemetry_report(state, &f.window, domain),
        telemetry_report(state, &previous, domain),
        conversations_report(state, &f.window, domain, 1, 1),
        crate::queries::analytics::users(state, &f.window, domain),
    )?;
    let (o, p) = (&now.overview, &before.overview);
    let requests = percent_change(o.total_requests.into(), p.total_requests.into());
    let cost = percent_change(now.cost.total.shown(), before.cost.total.shown());
    let response = percent_change(
        now.performance.avg_response_time.into(),
        before.performance.avg_response_time.into(),
    );
    let success = points_change(o.success_rate.shown(), p.success_rate.shown());
    let conversation_change = components::conversations_change(&conversations);
    Ok(html! {
        div.grid {
            (stat_card("total-requests", "Total requests", &count(o.total_requests), o.total_requests, Some(&requests), true))
            (stat_card("total-cost", "Total cost", &usd(now.cost.total), now.cost.total, Some(&cost), false))
            (stat_card("avg-response", "Avg response time", &duration_ms(now.performance.avg_response_time), now.performance.avg_response_time, Some(&response), false))
            (stat_card("success-rate", "Success rate", &format!("{}%", o.success_rate), o.success_rate, Some(&success), true))
            (stat_card("conversations", "Conversations", &count(conversations.total), conversations.total, Some(&conversation_change), true))
            // Shown when conversations name their customer (README: analytics, users).
            @if let Some(users) = users {
                (stat_card("users", "Users", &count(users), users, None, false))
            }
        }
        @if o.unpriced_requests > 0 {
            p.error data-testid="unpriced-warning" {
                (count(o.unpriced_requests)) " requests used a model without a price and are not in the cost. "
                a href=(f.href_plain("/dashboard/costs", &[])) { "See which models" }
            }
        }
    })
}

/// The per-hour trend of a report as a two-axis chart.
pub fn trend_chart(report: &TelemetryReport, testid: &str, f: &Filters) -> Markup {
    if report.overview.total_requests == 0 {
        return components::first_session_help(f);
    }
    let x = components::trend_hours(report);
    let cost: Vec<&omniops_core::money::Rounded> =
        report.hourly_trend.iter().map(|p| &p.cost).collect();
    let requests: Vec<i64> = report.hourly_trend.iter().map(|p| p.requests).collect();
    chart(
        testid,
        "Cost and requests per hour",
        &json!({
            "x": x,
            "series": [
                {"label": "Cost (USD)", "values": cost, "money": true},
                {"label": "Requests", "values": requests, "axis": "right"}
            ]
        }),
    )
}

pub async fn trend(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let report = telemetry_report(state, &f.window, f.domain.as_deref()).await?;
    Ok(trend_chart(&report, "trend-chart", f))
}

pub async fn status(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let report = telemetry_report(state, &f.window, f.domain.as_deref()).await?;
    let error_rate = report.overview.error_rate.shown();
    let (label, class) = if report.overview.total_requests == 0 {
        ("Waiting for sessions", "badge")
    } else if error_rate > rust_decimal::Decimal::from(10) {
        ("Degraded", "badge bad")
    } else if error_rate > rust_decimal::Decimal::from(2) {
        ("Some errors", "badge warn")
    } else {
        ("Operational", "badge good")
    };
    let live = &report.live;
    Ok(html! {
        p { span class=(class) data-testid="bot-status" { (label) } }
        ul.list {
            li { span { span class=(if live.active_sessions > 0 { "pulse" } else { "pulse idle" }) {} " Live sessions" }
                 strong data-testid="live-sessions" data-value=(live.active_sessions) { (count(live.active_sessions)) } }
            li { span { "Running cost of live sessions" } strong data-value=(live.current_cost) { (usd(live.current_cost)) } }
            li { span { "Error rate" } strong data-testid="error-rate" data-value=(report.overview.error_rate) { (report.overview.error_rate) "%" } }
            li { span { "Failed requests" } strong { (count(report.overview.failed_requests)) } }
            li { span { "Avg searches per request" } strong { (report.performance.avg_searches_per_request) } }
        }
    })
}

pub async fn recent(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let report = conversations_report(state, &f.window, f.domain.as_deref(), 1, 8).await?;
    if report.recent.is_empty() {
        return Ok(components::empty(
            "No conversations in this period. They arrive as `conversation` and `message` events.",
        ));
    }
    Ok(html! {
        ul.list data-testid="recent-conversations" {
            @for c in &report.recent {
                li { span { (c.message) } span.muted { (components::short_time(&c.timestamp)) } }
            }
        }
        p.muted { (count(report.total)) " conversations in this period" }
    })
}

pub async fn insights(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let domain = f.domain.as_deref();
    let previous = f.window.previous();
    let (now, before, missing) = tokio::try_join!(
        telemetry_report(state, &f.window, domain),
        telemetry_report(state, &previous, domain),
        missing_products_report(state, &f.window, domain, 1, 1),
    )?;
    let insights = omniops_core::insights::derive(&now, &before, &missing);
    if insights.is_empty() {
        return Ok(components::empty(
            "Nothing stands out yet: insights appear once there is data to compare.",
        ));
    }
    Ok(html! {
        ul.list data-testid="insights" {
            @for insight in &insights { li { span { (insight) } } }
        }
    })
}

pub async fn languages(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let report = analytics_report(state, &f.window, f.domain.as_deref()).await?;
    Ok(language_list(&report))
}

pub fn language_list(report: &omniops_core::analytics::AnalyticsReport) -> Markup {
    if report.language_distribution.is_empty() {
        return components::empty("No conversations with user messages in this period.");
    }
    html! {
        ul.list data-testid="languages" {
            @for l in &report.language_distribution {
                li {
                    span.label90 { (l.language) }
                    span.grow { (share_bar(l.percentage, false)) }
                    strong data-value=(l.percentage) { (l.percentage) "%" }
                }
            }
        }
    }
}
