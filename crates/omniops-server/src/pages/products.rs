//! `/dashboard/products`: the MissingProductsWidget (the full paginated list with examples,
//! categories and recommendations) and the DemandForecastCard.

use super::components::{self, chart, count, short_time, stat_card};
use super::filters::Filters;
use crate::queries::missing::{demand_forecast, missing_products_report, FORECAST_DAYS};
use crate::queries::shop::woocommerce_report;
use crate::state::AppState;
use maud::{html, Markup};
use serde_json::json;

/// Products per page of the list.
const PAGE_SIZE: i64 = 20;

pub fn body(filters: &Filters) -> Markup {
    let page = filters.page().to_string();
    let url =
        |name: &str| filters.href_plain(&format!("/dashboard/partials/{name}"), &[("page", &page)]);
    html! {
        (components::export_bar(filters, &["missing-products", "forecast"]))
        (components::bare_section("product-stats", &url("product-stats"), components::REFRESH_SECONDS, false, components::stat_skeletons(4)))
        div.grid-2 {
            (components::section("product-list", "Missing products", "Asked for in failed searches and in conversations that found nothing, and absent from the domain's catalogue.", &url("product-list"), true))
            (components::section("product-advice", "What to do", "Categories and recommendations from the data.", &url("product-advice"), false))
        }
        (components::section("shop", "Shop", "The WooCommerce catalogue and orders of the period: revenue counts processing and completed orders, less refunds.", &url("shop"), false))
        (components::section("forecast", "Demand forecast", "Requests per day for the listed products, and a straight-line trend (least squares over the period) extended 7 days.", &url("forecast"), true))
    }
}

pub async fn stats(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let r = missing_products_report(state, &f.window, f.domain.as_deref(), 1, 1).await?;
    let s = &r.statistics;
    Ok(html! {
        div.grid {
            (stat_card("missing-total", "Missing products", &count(s.total_missing_products), s.total_missing_products, None, false))
            (stat_card("missing-requests", "Requests for them", &count(s.total_requests), s.total_requests, None, false))
            (stat_card("missing-average", "Requests per product", &s.avg_requests_per_product.to_string(), s.avg_requests_per_product, None, false))
            (stat_card("missing-range", "Period", &s.time_range, &s.time_range, None, false))
        }
    })
}

/// The WooCommerce connection and shop figures (README: WooCommerce).
pub async fn shop(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let r = woocommerce_report(state, &f.window, f.domain.as_deref()).await?;
    let revenue = match &r.currency {
        Some(currency) => format!("{:.2} {currency}", r.revenue.shown()),
        None => "–".to_string(),
    };
    Ok(html! {
        p { "Status " strong data-testid="shop-status" data-status=(r.status) { (r.status.replace('_', " ")) }
            @if let Some(at) = &r.last_sync { span.muted { " · last sync " (short_time(at)) } } }
        @if let (Some(error), Some(at)) = (&r.last_error, &r.last_error_at) {
            p.error data-testid="shop-error" { "Last sync failed " (short_time(at)) ": " (error) }
        }
        div.grid {
            (stat_card("shop-products", "Products", &count(r.total_products), r.total_products, None, false))
            (stat_card("shop-orders", "Orders", &count(r.total_orders), r.total_orders, None, false))
            (stat_card("shop-revenue", "Revenue", &revenue, &revenue, None, false))
            (stat_card("shop-stores", "Stores", &count(r.statistics.configured_domains), r.statistics.configured_domains, None, false))
        }
    })
}

pub async fn list(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let page = f.page();
    let r = missing_products_report(state, &f.window, f.domain.as_deref(), page, PAGE_SIZE).await?;
    let p = &r.pagination;
    let link = |to: i64| {
        f.href_plain(
            "/dashboard/partials/product-list",
            &[("page", &to.to_string())],
        )
    };
    let page_url = |to: i64| f.href_plain("/dashboard/products", &[("page", &to.to_string())]);
    Ok(html! {
        @if r.missing_products.is_empty() {
            (components::empty("No missing products in this period: every product asked for was found or is in the catalogue."))
        } @else {
            div.table-wrap {
                table data-testid="missing-products" {
                    thead { tr { th { "Product" } th.num { "Requests" } th { "Last asked" } th { "Examples" } } }
                    tbody {
                        @for m in &r.missing_products {
                            tr data-product=(m.name) {
                                td { strong { (m.name) } }
                                td.num data-value=(m.count) { (count(m.count)) }
                                td.muted { (short_time(&m.last_requested)) }
                                td { @for e in &m.examples { div.muted { "“" (e) "”" } } }
                            }
                        }
                    }
                }
            }
            nav.actions.pager aria-label="Pages" {
                @if p.page > 1 {
                    a href=(page_url(p.page - 1)) hx-get=(link(p.page - 1)) hx-target="#product-list-body" hx-push-url=(page_url(p.page - 1)) data-page="prev" { "← Previous" }
                }
                span.muted data-testid="product-page" { "Page " (p.page) " of " (p.total_pages.max(1)) " · " (count(p.total)) " products" }
                @if p.page < p.total_pages {
                    a href=(page_url(p.page + 1)) hx-get=(link(p.page + 1)) hx-target="#product-list-body" hx-push-url=(page_url(p.page + 1)) data-page="next" { "Next →" }
                }
            }
        }
    })
}

pub async fn advice(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let r = missing_products_report(state, &f.window, f.domain.as_deref(), 1, 1).await?;
    let c = &r.categories;
    Ok(html! {
        @if r.recommendations.is_empty() {
            (components::empty("No recommendations yet."))
        } @else {
            ul.list data-testid="recommendations" { @for rec in &r.recommendations { li { span { (rec) } } } }
        }
        h2.spaced { "Categories" }
        ul.list data-testid="categories" {
            @for (label, names) in [("Tools", &c.tools), ("Parts", &c.parts), ("Equipment", &c.equipment), ("Other", &c.other)] {
                li { span { strong { (label) } } span.muted { @if names.is_empty() { "–" } @else { (names.join(", ")) } } }
            }
        }
    })
}

pub async fn forecast(state: &AppState, f: &Filters) -> anyhow::Result<Markup> {
    let domain = f.domain.as_deref();
    let r = missing_products_report(state, &f.window, domain, f.page(), PAGE_SIZE).await?;
    let products = r.page_products();
    if products.is_empty() {
        return Ok(components::empty(
            "Nothing to forecast: no missing products in this period.",
        ));
    }
    let demand = demand_forecast(state, &f.window, domain, &products).await?;
    // The chart shows the five most requested products of the page.
    let shown = &demand[..demand.len().min(5)];
    let labels: Vec<&str> = shown
        .first()
        .map(|d| d.daily.iter().map(|x| &x.day[5..]).collect())
        .unwrap_or_default();
    let mut series = Vec::new();
    for d in shown {
        series.push(json!({"label": d.name, "values": d.daily.iter().map(|x| x.requests).collect::<Vec<_>>()}));
    }
    if let Some(top) = shown.first() {
        series.push(json!({"label": format!("{} (trend)", top.name), "values": top.daily.iter().map(|x| &x.fitted).collect::<Vec<_>>(), "dash": true}));
    }
    Ok(html! {
        (chart("forecast-chart", "Requests per day and trend", &json!({"labels": labels, "series": series})))
        div.table-wrap {
            table data-testid="forecast-table" {
                thead { tr { th { "Product" } th.num { "Trend per day" } th.num { (format!("Next {FORECAST_DAYS} days")) } } }
                tbody {
                    @for d in &demand {
                        tr data-product=(d.name) {
                            td { (d.name) }
                            td.num { @if d.per_day_change.shown().is_sign_positive() && !d.per_day_change.shown().is_zero() { "+" } (d.per_day_change) }
                            td.num data-value=(d.next_7_days) { (d.next_7_days) }
                        }
                    }
                }
            }
        }
    })
}
