//! Exports (the spec's DataExportButton, and `omniops export`): every table and chart's data
//! as CSV or JSON, from the same query functions as the pages. Sessions stream in keyset
//! pages, so an export of any size runs in constant memory.

use crate::queries::analytics::{analytics_report, satisfaction_by_day};
use crate::queries::missing::{demand_forecast, missing_products_report};
use crate::queries::monitoring::check_alerts;
use crate::queries::sessions::session_row;
use crate::queries::telemetry::telemetry_report;
use crate::state::AppState;
use futures_util::stream::{self, Stream, StreamExt};
use omniops_core::clock::{to_rfc3339, Micros};
use omniops_core::window::Window;
use omniops_store::SessionFilter;
use serde_json::{json, Map, Value};

/// Every dataset: (name, what it holds).
pub const DATASETS: [(&str, &str); 14] = [
    ("sessions", "Ended sessions with tokens and cost"),
    ("hourly", "Requests and cost per hour"),
    ("models", "Requests, tokens and cost per model"),
    ("domains", "Requests and cost per domain"),
    ("live", "Sessions running now"),
    ("conversations", "Conversations with their first question"),
    ("top-queries", "Most frequent user messages"),
    ("languages", "Conversations per language"),
    ("failed-searches", "Searches that found nothing"),
    ("satisfaction", "Satisfaction score per day"),
    ("missing-products", "Products asked for and missing"),
    (
        "forecast",
        "Requests per day and trend of the top missing products",
    ),
    ("alerts", "Budget alerts with spend so far"),
    ("response-times", "Response-time percentiles"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// One CSV field: quoted when needed; text that a spreadsheet would run as a formula gets
/// a leading apostrophe.
fn csv_field(value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) if s.starts_with(['=', '+', '-', '@']) => format!("'{s}"),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn csv_line(values: impl Iterator<Item = Value>) -> String {
    let mut line = values.map(|v| csv_field(&v)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// Rows of one dataset (all but `sessions`), as objects with their columns in order.
async fn rows(
    state: &AppState,
    dataset: &str,
    window: &Window,
    filter: &SessionFilter,
) -> anyhow::Result<Vec<Map<String, Value>>> {
    let domain = filter.domain.as_deref();
    let object = |v: Value| match v {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Ok(match dataset {
        "hourly" => telemetry_report(state, window, domain)
            .await?
            .hourly_trend
            .iter()
            .map(|p| object(json!({"hour": p.hour, "requests": p.requests, "costUsd": p.cost})))
            .collect(),
        "models" => telemetry_report(state, window, domain)
            .await?
            .model_usage
            .iter()
            .map(|m| object(json!({"model": m.model, "requests": m.count, "tokens": m.tokens,
                                  "costUsd": m.cost, "percentage": m.percentage, "unpriced": m.unpriced})))
            .collect(),
        "domains" => telemetry_report(state, window, domain)
            .await?
            .domain_breakdown
            .iter()
            .map(|d| object(json!({"domain": d.domain, "requests": d.requests, "costUsd": d.cost})))
            .collect(),
        "live" => telemetry_report(state, window, domain)
            .await?
            .live
            .sessions_data
            .iter()
            .map(|s| object(json!({"sessionId": s.id, "domain": s.domain, "model": s.model,
                                  "uptimeSeconds": s.uptime, "costUsd": s.cost, "unpriced": s.unpriced})))
            .collect(),
        "conversations" => {
            // Straight from the store, a page at a time: the report would count the window
            // and the previous one again for every page.
            let mut all = Vec::new();
            loop {
                let offset = i64::try_from(all.len()).unwrap_or(i64::MAX);
                let page = state.store.recent_conversations(window, domain, 1_000, offset).await?;
                let done = page.len() < 1_000;
                all.extend(page.into_iter().map(|(id, message, at)| {
                    object(json!({"id": id, "firstMessage": message.unwrap_or_default(), "timestamp": to_rfc3339(at)}))
                }));
                if done {
                    break;
                }
            }
            all
        }
        "top-queries" => analytics_report(state, window, domain)
            .await?
            .top_queries
            .iter()
            .map(|q| object(json!({"query": q.query, "count": q.count, "percentage": q.percentage})))
            .collect(),
        "languages" => analytics_report(state, window, domain)
            .await?
            .language_distribution
            .iter()
            .map(|l| object(json!({"language": l.language, "percentage": l.percentage})))
            .collect(),
        "failed-searches" => analytics_report(state, window, domain)
            .await?
            .failed_searches
            .iter()
            .map(|q| object(json!({"query": q})))
            .collect(),
        "satisfaction" => satisfaction_by_day(state, window, domain)
            .await?
            .iter()
            .map(|(day, score)| object(json!({"day": &to_rfc3339(*day)[..10], "satisfaction": score})))
            .collect(),
        "missing-products" => {
            let mut all = Vec::new();
            let mut page = 1;
            loop {
                let report = missing_products_report(state, window, domain, page, 100).await?;
                all.extend(report.missing_products.iter().map(|p| {
                    object(json!({"product": p.name, "requests": p.count, "lastRequested": p.last_requested,
                                  "examples": p.examples.join(" | ")}))
                }));
                if page >= report.pagination.total_pages {
                    break;
                }
                page += 1;
            }
            all
        }
        "forecast" => {
            let report = missing_products_report(state, window, domain, 1, 20).await?;
            let demand = demand_forecast(state, window, domain, &report.page_products()).await?;
            demand
                .iter()
                .flat_map(|d| {
                    d.daily.iter().map(move |x| {
                        object(json!({"product": d.name, "day": x.day, "requests": x.requests, "trend": x.fitted}))
                    })
                })
                .collect()
        }
        "alerts" => check_alerts(state, domain)
            .await?
            .iter()
            .map(|a| object(json!({"domain": a.domain, "alertType": a.alert_type, "thresholdUsd": a.threshold_usd,
                                  "currentSpend": a.current_spend, "percentage": a.percentage, "triggered": a.triggered})))
            .collect(),
        "response-times" => crate::queries::telemetry::response_time_percentiles(state, window, domain)
            .await?
            .iter()
            .map(|(label, bound)| {
                let (at_most, above) = match bound {
                    omniops_core::rollup::PercentileBound::AtMost(ms) => (Some(*ms), None),
                    omniops_core::rollup::PercentileBound::Above(ms) => (None, Some(*ms)),
                    omniops_core::rollup::PercentileBound::NoData => (None, None),
                };
                object(json!({"percentile": label, "atMostMs": at_most, "aboveMs": above}))
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// The first line (CSV header or `[`), then each row, then the end (`]`).
fn encode_rows(
    format: Format,
    rows: &[Map<String, Value>],
    columns: &mut Option<Vec<String>>,
    first: &mut bool,
) -> String {
    let mut out = String::new();
    for row in rows {
        match format {
            Format::Csv => {
                if columns.is_none() {
                    let names: Vec<String> = row.keys().cloned().collect();
                    out.push_str(&csv_line(names.iter().map(|n| Value::String(n.clone()))));
                    *columns = Some(names);
                }
                if let Some(names) = columns.as_ref() {
                    out.push_str(&csv_line(
                        names
                            .iter()
                            .map(|n| row.get(n).cloned().unwrap_or(Value::Null)),
                    ));
                }
            }
            Format::Json => {
                out.push_str(if *first { "\n  " } else { ",\n  " });
                out.push_str(&Value::Object(row.clone()).to_string());
            }
        }
        *first = false;
    }
    out
}

/// Sessions read per keyset page.
const SESSION_PAGE: i64 = 1_000;

struct Cursor {
    state: AppState,
    window: Window,
    filter: SessionFilter,
    after: Option<(Micros, String)>,
    columns: Option<Vec<String>>,
    first: bool,
    done: bool,
}

/// The dataset as text chunks; `None` for an unknown dataset.
pub fn export(
    state: AppState,
    dataset: &str,
    window: Window,
    filter: SessionFilter,
    format: Format,
) -> Option<impl Stream<Item = anyhow::Result<String>> + Send + 'static> {
    if !DATASETS.iter().any(|(name, _)| *name == dataset) {
        return None;
    }
    let dataset = dataset.to_string();
    let open = stream::once(async move {
        if format == Format::Json {
            Ok("[".to_string())
        } else {
            Ok(String::new())
        }
    });
    let cursor = Cursor {
        state,
        window,
        filter,
        after: None,
        columns: None,
        first: true,
        done: false,
    };
    let body = stream::unfold((cursor, dataset), move |(mut c, dataset)| async move {
        if c.done {
            return None;
        }
        let chunk = if dataset == "sessions" {
            match c
                .state
                .store
                .sessions_after(&c.window, &c.filter, c.after.clone(), SESSION_PAGE)
                .await
            {
                Ok(sessions) => {
                    c.done = (sessions.len() as i64) < SESSION_PAGE;
                    c.after = sessions
                        .last()
                        .map(|s| (s.start_time, s.session_id.clone()));
                    let rows: Vec<Map<String, Value>> = sessions
                        .iter()
                        .map(|s| match serde_json::to_value(session_row(s)) {
                            Ok(Value::Object(m)) => m,
                            _ => Map::new(),
                        })
                        .collect();
                    Ok(encode_rows(format, &rows, &mut c.columns, &mut c.first))
                }
                Err(e) => Err(e),
            }
        } else {
            c.done = true;
            match rows(&c.state, &dataset, &c.window, &c.filter).await {
                Ok(rows) => Ok(encode_rows(format, &rows, &mut c.columns, &mut c.first)),
                Err(e) => Err(e),
            }
        };
        Some((chunk, (c, dataset)))
    });
    let close = stream::once(async move {
        if format == Format::Json {
            Ok("\n]\n".to_string())
        } else {
            Ok(String::new())
        }
    });
    Some(open.chain(body).chain(close))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field(&json!("plain")), "plain");
        assert_eq!(csv_field(&json!("a, \"b\"")), "\"a, \"\"b\"\"\"");
        assert_eq!(csv_field(&json!("=SUM(A1)")), "'=SUM(A1)");
        assert_eq!(csv_field(&json!(-1.5)), "-1.5");
        assert_eq!(csv_field(&Value::Null), "");
        assert_eq!(csv_line([json!("x"), json!(2)].into_iter()), "x,2\r\n");
    }
}
