//! `/dashboard/settings`: prices (with the models seen without one), domains and their
//! WooCommerce connection, retention, and API keys. Every form sends the same JSON request
//! as a client of the API would (app.js), so the page can do nothing the API cannot.

use super::components::{self, count, short_time};
use super::filters::Filters;
use crate::auth::Principal;
use crate::state::AppState;
use maud::{html, Markup};
use omniops_core::clock::to_rfc3339;

pub fn body(filters: &Filters) -> Markup {
    let url = |name: &str| filters.href_plain(&format!("/dashboard/partials/{name}"), &[]);
    let section = |id: &str, title: &str, hint: &str| {
        html! {
            section.card id=(id) {
                h2 { (title) }
                p.hint { (hint) }
                div id=(format!("{id}-body")) hx-get=(url(id)) hx-trigger="load, omniops:settings from:body" hx-swap="innerHTML" {
                    (components::skeleton(false))
                }
            }
        }
    };
    html! {
        p.muted { "Changes need an admin key. Each form makes the same request as the API (see the README)." }
        (section("settings-prices", "Model prices", "USD per million tokens. A new price applies from its date and recomputes the costs stored since then."))
        div.grid-halves {
            (section("settings-domains", "Customer domains", "WooCommerce connection per domain; secrets are never shown, only whether they are set."))
            (section("settings-retention", "Retention", "How long raw sessions, conversations and messages are kept."))
        }
        (section("settings-keys", "API keys", "Keys for ingest, reading and administration. A new key is shown once."))
    }
}

fn result_slot() -> Markup {
    html! { p.form-result role="status" aria-live="polite" {} }
}

pub async fn prices(state: &AppState, _f: &Filters) -> anyhow::Result<Markup> {
    let mut prices = state.store.prices().await?;
    prices.sort_by(|a, b| {
        a.model
            .cmp(&b.model)
            .then(b.effective_from.cmp(&a.effective_from))
    });
    let unpriced = state.store.unpriced_models().await?;
    let money = |d: Option<rust_decimal::Decimal>| {
        d.map_or("–".to_string(), |d| format!("${}", d.normalize()))
    };
    Ok(html! {
        @if !unpriced.is_empty() {
            div.error data-testid="unpriced-models" {
                p { "Models seen without a price (their sessions count as unpriced):" }
                ul.list {
                    @for m in &unpriced {
                        li { span { strong { (m.model) } " · " (count(m.sessions)) " sessions, last " (short_time(&to_rfc3339(m.last_seen))) }
                             button type="button" data-price-model=(m.model) { "Price it" } }
                    }
                }
            }
        }
        div.table-wrap {
            table data-testid="price-table" {
                thead { tr { th { "Model" } th.num { "Input" } th.num { "Cached input" } th.num { "Cache write" } th.num { "Output" } th.num { "Reasoning" } th { "From" } th { "Source" } th {} } }
                tbody {
                    @for p in &prices {
                        tr data-model=(p.model) {
                            td { (p.model) @if !p.aliases.is_empty() { br; span.muted { (p.aliases.join(", ")) } } }
                            td.num { (money(Some(p.input))) }
                            td.num { (money(p.cached_input)) }
                            td.num { (money(p.cache_write)) }
                            td.num { (money(Some(p.output))) }
                            td.num { (money(p.reasoning)) }
                            td { (p.effective_from) }
                            td.muted { (p.source) }
                            td { button type="button" data-price-model=(p.model) data-input=(p.input.normalize())
                                    data-output=(p.output.normalize()) { "Edit" } }
                        }
                    }
                }
            }
        }
        h2 style="margin-top:14px" { "Add or change a price" }
        form id="price-form" data-api-method="PUT" data-api-url="/api/v1/prices" aria-label="Price" {
            div.actions {
                input type="text" name="model" placeholder="Model" aria-label="Model" required;
                input type="text" inputmode="decimal" name="input" placeholder="Input $/1M" aria-label="Input USD per million" required;
                input type="text" inputmode="decimal" name="cachedInput" placeholder="Cached $/1M" aria-label="Cached input USD per million";
                input type="text" inputmode="decimal" name="cacheWrite" placeholder="Cache write $/1M" aria-label="Cache write USD per million";
                input type="text" inputmode="decimal" name="output" placeholder="Output $/1M" aria-label="Output USD per million" required;
                input type="text" inputmode="decimal" name="reasoning" placeholder="Reasoning $/1M" aria-label="Reasoning USD per million";
                input type="date" name="effectiveFrom" aria-label="In force from";
                button.primary type="submit" { "Save price" }
            }
            (result_slot())
        }
    })
}

pub async fn domains(
    state: &AppState,
    _f: &Filters,
    principal: &Principal,
) -> anyhow::Result<Markup> {
    let configs = state.store.domain_configs().await?;
    let visible: Vec<_> = configs
        .iter()
        .filter(|c| {
            principal
                .domain
                .as_deref()
                .is_none_or(|own| own == c.domain)
        })
        .collect();
    Ok(html! {
        @if visible.is_empty() { (components::empty("No domain configured yet.")) }
        @else {
            ul.list data-testid="domain-configs" {
                @for c in &visible {
                    li {
                        span { strong { (c.domain) } br;
                            span.muted { (c.woocommerce_url.as_deref().unwrap_or("no store URL")) " · "
                                (if c.woocommerce_enabled { "enabled" } else { "disabled" }) " · key "
                                (if c.consumer_key.is_some() { "set" } else { "not set" }) ", secret "
                                (if c.consumer_secret.is_some() { "set" } else { "not set" }) } }
                    }
                }
            }
        }
        form data-api-method="PUT" data-api-url="/api/dashboard/config" data-api-wrap="domains" aria-label="Customer domain" {
            div.actions style="margin-top:10px" {
                input type="text" name="domain" placeholder="shop.example" aria-label="Domain" required;
                input type="url" name="woocommerce.url" placeholder="https://shop.example" aria-label="Store URL";
                label { input type="checkbox" name="woocommerce.enabled"; " enabled" }
                input type="password" name="woocommerce.consumerKey" placeholder="Consumer key (blank: keep)" aria-label="Consumer key" autocomplete="off";
                input type="password" name="woocommerce.consumerSecret" placeholder="Consumer secret (blank: keep)" aria-label="Consumer secret" autocomplete="off";
                button.primary type="submit" { "Save domain" }
            }
            (result_slot())
        }
    })
}

pub async fn retention(state: &AppState, _f: &Filters) -> anyhow::Result<Markup> {
    let days = state.retention_days();
    Ok(html! {
        p { "Raw data are kept " strong data-testid="retention-days" { (days) } " days; rollups (totals, trends) "
            (state.settings.rollup_retention_days) " days." }
        form data-api-method="PUT" data-api-url="/api/dashboard/config" aria-label="Retention" {
            div.actions {
                input type="number" name="retentionDays" data-type="number" value=(days) aria-label="Days raw data are kept";
                button.primary type="submit" { "Save retention" }
            }
            (result_slot())
        }
    })
}

pub async fn keys(state: &AppState, _f: &Filters, principal: &Principal) -> anyhow::Result<Markup> {
    if principal.domain.is_some() {
        return Ok(components::empty(
            "Keys are managed with an admin key that is not held to a domain.",
        ));
    }
    let keys = state.store.list_keys().await?;
    Ok(html! {
        @if keys.is_empty() {
            p.muted { "No keys: the server answers everyone, on this machine only." }
        } @else {
            div.table-wrap {
                table data-testid="key-table" {
                    thead { tr { th { "Name" } th { "Key" } th { "Scope" } th { "Domain" } th { "Created" } th { "Status" } th {} } }
                    tbody {
                        @for k in &keys {
                            tr data-key=(k.id) {
                                td { (k.name.as_deref().unwrap_or("–")) }
                                td { code { (k.prefix) "…" } }
                                td { (k.scope) }
                                td { (k.domain.as_deref().unwrap_or("all")) }
                                td.muted { (short_time(&to_rfc3339(k.created_at))) }
                                td { @if k.revoked_at.is_some() { span.badge.bad { "revoked" } } @else { span.badge.good { "active" } } }
                                td { @if k.revoked_at.is_none() {
                                    form data-api-method="DELETE" data-api-url=(format!("/api/keys/{}", k.id)) data-confirm="Revoke this key? Clients using it stop working." {
                                        button type="submit" { "Revoke" } (result_slot())
                                    } } }
                            }
                        }
                    }
                }
            }
        }
        form data-api-method="POST" data-api-url="/api/keys" data-show-key="true" aria-label="New key" {
            div.actions style="margin-top:10px" {
                input type="text" name="name" placeholder="Name" aria-label="Name";
                select name="scope" aria-label="Scope" { option value="read" { "read" } option value="ingest" { "ingest" } option value="admin" { "admin" } }
                input type="text" name="domain" placeholder="Domain (blank: all)" aria-label="Domain";
                button.primary type="submit" { "Create key" }
            }
            (result_slot())
        }
    })
}
