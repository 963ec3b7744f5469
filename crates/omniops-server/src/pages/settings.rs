//! `/dashboard/settings`: prices (with the models seen without one), domains and their
//! WooCommerce connection, retention, and API keys. Every form sends the same JSON request
//! as a client of the API would (app.js), so the page can do nothing the API cannot.

use super::components::{self, count, short_time};
use super::filters::Filters;
use crate::auth::Principal;
use crate::queries::prices::PriceQuery;
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
        (import_form())
        div.grid-halves {
            (section("settings-domains", "Customer domains", "WooCommerce connection per domain; secrets are never shown, only whether they are set."))
            (section("settings-retention", "Retention", "How long raw sessions, conversations and messages are kept."))
        }
        (section("settings-keys", "API keys", "Keys for ingest, reading and administration. A new key is shown once."))
    }
}

/// Outside the prices section, so its report stays when the section refreshes after an import.
fn import_form() -> Markup {
    html! {
        section.card id="settings-import" {
            h2 { "Import a price catalogue" }
            p.hint { "A file in LiteLLM's format (model_prices_and_context_window.json). Prices you set by hand are never changed; the others take effect from the date given (today by default)." }
            form id="price-import" data-import-url="/api/v1/prices/import" aria-label="Import prices" {
                div.actions {
                    input type="file" name="file" accept=".json,application/json" aria-label="Price file" required;
                    input type="date" name="effectiveFrom" aria-label="In force from";
                    label { input type="checkbox" name="dryRun" checked; " dry run: only report" }
                    label { input type="checkbox" name="recompute"; " reprice stored history" }
                    button.primary type="submit" { "Import" }
                }
                (result_slot())
                div data-testid="import-report" {}
            }
        }
    }
}

fn result_slot() -> Markup {
    html! { p.form-result role="status" aria-live="polite" {} }
}

/// Entries a page of the price table shows.
const PRICE_PAGE: i64 = 25;

/// Repricings still running, with their progress. While one runs, the section (`url`)
/// reloads itself every second, so its progress and the costs it changes (the unpriced
/// models) follow without a reload of the page.
fn repricing_notice(running: &[omniops_store::RepriceJob], url: &str) -> Markup {
    html! {
        @for job in running {
            p.muted data-testid="repricing" {
                "Repricing stored history (" (job.reason) "): " (job.percent()) " % — "
                (job.sessions_seen) " of " (job.sessions_total) " sessions read. "
                "Ingest goes on meanwhile."
                @if let Some(error) = &job.error { " Last error, retried: " (error) }
            }
        }
        @if !running.is_empty() {
            div hidden hx-get=(url) hx-trigger="load delay:1s" hx-target="#settings-prices-body" {}
        }
    }
}

pub async fn prices(
    state: &AppState,
    f: &Filters,
    principal: &Principal,
) -> anyhow::Result<Markup> {
    let search = f.extra("q").unwrap_or("").trim().to_string();
    let query = PriceQuery {
        search: (!search.is_empty()).then(|| search.clone()),
        origin: None,
        // Without a search: the models in use and every price set by hand or imported.
        in_use: search.is_empty(),
        domain: principal.domain.clone(),
        page: f.page(),
        limit: PRICE_PAGE,
    };
    // Running jobs before the listing: a job that ends between the two reads then leaves a
    // reload scheduled. Read the other way round, the listing could show the costs from
    // before its end with no reload left to show them after (a CI run caught it).
    let running: Vec<omniops_store::RepriceJob> = match principal.domain {
        Some(_) => Vec::new(),
        None => state
            .store
            .reprice_jobs(20)
            .await?
            .into_iter()
            .filter(|j| j.phase != omniops_store::RepricePhase::Done)
            .collect(),
    };
    let listing = crate::queries::prices::listing(&state.store, &query).await?;
    let p = &listing.pagination;
    let money = |d: Option<rust_decimal::Decimal>| {
        d.map_or("–".to_string(), |d| format!("${}", d.normalize()))
    };
    let link = |to: i64| {
        f.href_plain(
            "/dashboard/partials/settings-prices",
            &[("q", &search), ("page", &to.to_string())],
        )
    };
    Ok(html! {
        (repricing_notice(&running, &link(p.page)))
        @if !listing.unpriced.is_empty() {
            div.error data-testid="unpriced-models" {
                p { "Models seen without a price (their sessions count as unpriced):" }
                ul.list {
                    @for m in &listing.unpriced {
                        li { span { strong { (m.model) } " · " (count(m.sessions)) " sessions, last " (short_time(&m.last_seen)) }
                             button type="button" data-price-model=(m.model) { "Price it" } }
                    }
                }
            }
        }
        form.actions hx-get=(f.href_plain("/dashboard/partials/settings-prices", &[])) hx-target="#settings-prices-body" aria-label="Search prices" {
            input type="search" name="q" value=(search) placeholder="Search the catalogue (e.g. gpt-4o, claude, azure/)" aria-label="Model name";
            button type="submit" { "Search" }
        }
        p.muted data-testid="price-scope" {
            @if search.is_empty() { "Prices of the models in use, and every price set by hand or imported. " (count(p.total)) " entries." }
            @else { (count(p.total)) " catalogue entries match." }
        }
        div.table-wrap {
            table data-testid="price-table" {
                thead { tr { th { "Model" } th.num { "Input" } th.num { "Cached input" } th.num { "Cache write" } th.num { "Output" } th.num { "Reasoning" } th { "Tiers" } th { "From" } th { "Origin" } th {} } }
                tbody {
                    @for e in &listing.prices {
                        tr data-model=(e.model) {
                            td { (e.model) @if !e.aliases.is_empty() { br; span.muted { (e.aliases.join(", ")) } } }
                            td.num { (money(Some(e.input))) }
                            td.num { (money(e.cached_input)) }
                            td.num { (money(e.cache_write)) @if let Some(hour) = e.cache_write_1h { br; span.muted { "1 h: " (money(Some(hour))) } } }
                            td.num { (money(Some(e.output))) }
                            td.num { (money(e.reasoning)) }
                            td.muted { @for t in &e.tiers { span.tier { (tier_label(t)) } br; } }
                            td { (e.effective_from) }
                            td { span.badge { (e.origin.as_str()) } br; span.muted { (e.source) } }
                            td { button type="button" data-price-model=(e.model) data-input=(e.input.normalize())
                                    data-output=(e.output.normalize()) { "Edit" } }
                        }
                    }
                }
            }
        }
        nav.actions aria-label="Price pages" {
            @if p.page > 1 { a href="#settings-prices" hx-get=(link(p.page - 1)) hx-target="#settings-prices-body" data-page="prev" { "← Previous" } }
            span.muted { "Page " (p.page) " of " (p.total_pages.max(1)) }
            @if p.page < p.total_pages { a href="#settings-prices" hx-get=(link(p.page + 1)) hx-target="#settings-prices-body" data-page="next" { "Next →" } }
        }
        h2.spaced { "Add or change a price" }
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

/// "above 200k, priority: in $2.5 · out $15" for a tier.
fn tier_label(t: &omniops_core::pricing::Tier) -> String {
    let mut scope = Vec::new();
    if let Some(n) = t.above_input_tokens {
        scope.push(if n % 1_000 == 0 {
            format!("above {}k", n / 1_000)
        } else {
            format!("above {n}")
        });
    }
    if t.service_tier != omniops_core::usage::ServiceTier::Default {
        scope.push(t.service_tier.as_str().to_string());
    }
    let rates: Vec<String> = [
        ("in", t.rates.input),
        ("cached", t.rates.cached_input),
        ("write", t.rates.cache_write),
        ("out", t.rates.output),
        ("reasoning", t.rates.reasoning),
    ]
    .iter()
    .filter_map(|(label, rate)| rate.map(|r| format!("{label} ${}", r.normalize())))
    .collect();
    format!("{}: {}", scope.join(", "), rates.join(" · "))
}

pub async fn domains(
    state: &AppState,
    _f: &Filters,
    principal: &Principal,
) -> anyhow::Result<Markup> {
    let configs = state.store.domain_configs().await?;
    let syncs = state.store.store_syncs(principal.domain.as_deref()).await?;
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
                                (if c.consumer_secret.is_some() { "set" } else { "not set" }) }
                            @if c.woocommerce_enabled { br; (sync_line(syncs.iter().find(|s| s.domain == c.domain))) } }
                    }
                }
            }
        }
        @if visible.iter().any(|c| c.woocommerce_enabled) {
            form data-api-method="POST" data-api-url="/api/dashboard/woocommerce/sync" aria-label="Sync stores" {
                div.actions { button type="submit" { "Sync now" } span.muted { " every " (state.settings.woocommerce_sync_minutes) " minutes otherwise" } }
                (result_slot())
            }
        }
        form data-api-method="PUT" data-api-url="/api/dashboard/config" data-api-wrap="domains" aria-label="Customer domain" {
            div.actions.spaced {
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

/// Where an enabled store's sync stands (README: WooCommerce).
fn sync_line(sync: Option<&omniops_core::shop::StoreSync>) -> Markup {
    html! {
        @match sync {
            None => span.muted data-sync="none" { "not synced yet" },
            Some(s) if s.failing() => span.error data-sync="error" {
                "sync failed " (s.last_error_at.map(to_rfc3339).map(|t| short_time(&t)).unwrap_or_default())
                ": " (s.last_error.as_deref().unwrap_or("unknown error")) },
            Some(s) => span.muted data-sync="ok" {
                "synced " (s.last_success_at.map(to_rfc3339).map(|t| short_time(&t)).unwrap_or_default())
                " · " (count(s.products_synced)) " products, " (count(s.orders_synced)) " orders" },
        }
    }
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
            div.actions.spaced {
                input type="text" name="name" placeholder="Name" aria-label="Name";
                select name="scope" aria-label="Scope" { option value="read" { "read" } option value="ingest" { "ingest" } option value="admin" { "admin" } }
                input type="text" name="domain" placeholder="Domain (blank: all)" aria-label="Domain";
                button.primary type="submit" { "Create key" }
            }
            (result_slot())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::repricing_notice;
    use omniops_store::{RepriceJob, RepricePhase};

    #[test]
    fn a_running_repricing_shows_its_progress() {
        let job = RepriceJob {
            id: "j".into(),
            reason: "price gpt-4o".into(),
            models: vec!["gpt-4o".into()],
            from_time: 0,
            raw_since: 0,
            phase: RepricePhase::Sessions,
            cursor_model: 0,
            cursor_time: 0,
            cursor_id: String::new(),
            sessions_total: 1_700_000,
            sessions_seen: 765_000,
            sessions_changed: 765_000,
            buckets_changed: 0,
            created_at: 0,
            updated_at: 0,
            finished_at: None,
            error: None,
        };
        let url = "/dashboard/partials/settings-prices?page=1";
        let html = repricing_notice(&[job], url).into_string();
        // 765,000 / 1,700,000 = 45 %.
        assert!(
            html.contains("(price gpt-4o): 45 % — 765000 of 1700000 sessions read"),
            "{html}"
        );
        // The section reloads itself while a job runs, so the page follows it to the end.
        assert!(
            html.contains(&format!(
                r##"hx-get="{url}" hx-trigger="load delay:1s" hx-target="#settings-prices-body""##
            )),
            "{html}"
        );
        assert!(repricing_notice(&[], url).into_string().is_empty());
    }
}
