//! Each source row as the ingest event a user would send (README: Importing), so the same
//! bounds check it and the same upserts keep a second import from storing anything twice.
//! A row that cannot be mapped gives the reason, naming its column.

use omniops_core::clock::to_rfc3339;
use serde_json::{json, Map, Value};
use sqlx::postgres::PgRow;
use sqlx::Row;

pub type Mapped = Result<Value, String>;

/// The names a search entry's result count goes by in the wild.
const RESULT_KEYS: [&str; 4] = ["results", "resultCount", "result_count", "count"];

/// Previews read per page; the chunk count is always whole.
pub const PREVIEWS_PER_PAGE: i64 = 20;

pub fn text(row: &PgRow, column: &str) -> Option<String> {
    row.try_get::<Option<String>, _>(column).ok().flatten()
}

pub fn time(row: &PgRow, column: &str) -> Option<i64> {
    row.try_get::<Option<i64>, _>(column).ok().flatten()
}

fn boolean(row: &PgRow, column: &str) -> Option<bool> {
    row.try_get::<Option<bool>, _>(column).ok().flatten()
}

/// An integer column (read as text, so nothing rounds it): a fraction or a number past
/// i64 is a reason naming the column.
fn integer(row: &PgRow, column: &str) -> Result<Option<i64>, String> {
    match text(row, column) {
        None => Ok(None),
        Some(t) => t
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("{column} is {t}, not a whole number in range")),
    }
}

fn json_column(row: &PgRow, column: &str) -> Result<Option<Value>, String> {
    match text(row, column) {
        None => Ok(None),
        Some(t) => serde_json::from_str(&t)
            .map(Some)
            .map_err(|e| format!("{column} is not JSON: {e}")),
    }
}

fn required(value: Option<String>, column: &str) -> Result<String, String> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("{column} is empty"))
}

fn required_time(row: &PgRow, column: &str) -> Result<String, String> {
    time(row, column)
        .map(to_rfc3339)
        .ok_or_else(|| format!("{column} is empty"))
}

/// A search entry as the `session` event lists it, or `None` when it cannot be read: not
/// an object, no text `query`, or no whole result count under a known name.
pub fn search_entry(entry: &Value) -> Option<Value> {
    let query = entry.get("query")?.as_str()?;
    let results = RESULT_KEYS
        .iter()
        .find_map(|k| entry.get(*k))
        .and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })?;
    Some(json!({"query": query, "results": results}))
}

/// A `chat_telemetry` row as a `session` event, with how many of its search entries could
/// not be read.
pub fn session(row: &PgRow, default_domain: Option<&str>) -> (Mapped, i64) {
    let searches = match json_column(row, "searches") {
        Ok(v) => v,
        Err(e) => return (Err(e), 0),
    };
    let (searches, unreadable) = match searches {
        Some(Value::Array(list)) => {
            let read: Vec<Value> = list.iter().filter_map(search_entry).collect();
            let unreadable = (list.len() - read.len()) as i64;
            (read, unreadable)
        }
        None | Some(Value::Null) => (Vec::new(), 0),
        Some(_) => (Vec::new(), 1),
    };
    (session_event(row, default_domain, searches), unreadable)
}

fn session_event(row: &PgRow, default_domain: Option<&str>, searches: Vec<Value>) -> Mapped {
    let session_id = required(
        text(row, "session_id").or_else(|| text(row, "id")),
        "session_id",
    )?;
    let domain = text(row, "domain")
        .filter(|d| !d.trim().is_empty())
        .or_else(|| default_domain.map(str::to_string))
        .ok_or("domain is empty (give --default-domain)")?;
    let error = text(row, "error");
    let mut event = Map::new();
    event.insert("type".into(), json!("session"));
    event.insert("session_id".into(), json!(session_id));
    event.insert(
        "model".into(),
        json!(required(text(row, "model"), "model")?),
    );
    event.insert("domain".into(), json!(domain));
    if let Some(conversation) = text(row, "conversation_id") {
        event.insert("conversation_id".into(), json!(conversation));
    }
    event.insert(
        "start_time".into(),
        json!(required_time(row, "start_time")?),
    );
    match (time(row, "end_time"), integer(row, "duration_ms")?) {
        (Some(end), _) => event.insert("end_time".into(), json!(to_rfc3339(end))),
        (None, Some(ms)) => event.insert("duration_ms".into(), json!(ms)),
        // The spec writes a row when a session completes: no end means it ended at once.
        (None, None) => event.insert("duration_ms".into(), json!(0)),
    };
    for column in ["iterations", "search_count", "total_results"] {
        if let Some(n) = integer(row, column)? {
            event.insert(column.into(), json!(n));
        }
    }
    for column in ["input_tokens", "output_tokens"] {
        event.insert(column.into(), json!(integer(row, column)?.unwrap_or(0)));
    }
    event.insert("searches".into(), Value::Array(searches));
    let logs = match json_column(row, "logs")? {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    event.insert("logs".into(), Value::Array(logs));
    let success = boolean(row, "success").unwrap_or(error.is_none());
    event.insert("success".into(), json!(success));
    if let Some(error) = error {
        event.insert("error".into(), json!(error));
    }
    Ok(Value::Object(event))
}

/// A `conversations` row: its domain from `metadata->>'domain'`, else the default.
pub fn conversation(row: &PgRow, default_domain: Option<&str>) -> Mapped {
    let metadata = json_column(row, "metadata")?.filter(Value::is_object);
    let domain = metadata
        .as_ref()
        .and_then(|m| m.get("domain"))
        .and_then(Value::as_str)
        .filter(|d| !d.trim().is_empty())
        .map(str::to_string)
        .or_else(|| default_domain.map(str::to_string))
        .ok_or("metadata has no domain (give --default-domain)")?;
    let mut event = json!({
        "type": "conversation",
        "conversation_id": required(text(row, "id"), "id")?,
        "domain": domain,
        "timestamp": required_time(row, "created_at")?,
    });
    if let Some(metadata) = metadata {
        event["metadata"] = metadata;
    }
    Ok(event)
}

pub fn message(row: &PgRow) -> Mapped {
    let mut event = json!({
        "type": "message",
        "conversation_id": required(text(row, "conversation_id"), "conversation_id")?,
        "message_id": required(text(row, "id"), "id")?,
        "role": required(text(row, "role"), "role")?,
        "content": text(row, "content").unwrap_or_default(),
        "timestamp": required_time(row, "created_at")?,
    });
    if let Some(metadata) = json_column(row, "metadata")?.filter(Value::is_object) {
        event["metadata"] = metadata;
    }
    Ok(event)
}

/// A `structured_extractions` row: one event per record, a list of products giving one
/// each (`data` as an array, or under `products` or `items`).
pub fn extractions(row: &PgRow) -> Result<Vec<Value>, String> {
    let kind = required(text(row, "extraction_type"), "extraction_type")?;
    let domain = required(text(row, "domain"), "domain")?;
    let data = json_column(row, "data")?.ok_or("data is empty")?;
    // Without a time column the event takes the time it is received.
    let at = time(row, "created_at").map(to_rfc3339);
    let records: Vec<Value> = match data {
        Value::Array(list) => list,
        Value::Object(ref o) if kind == "products" && !o.contains_key("name") => {
            match o.get("products").or_else(|| o.get("items")) {
                Some(Value::Array(list)) => list.clone(),
                _ => vec![data],
            }
        }
        other => vec![other],
    };
    Ok(records
        .into_iter()
        .map(|data| {
            let mut event = json!({"type": "extraction", "domain": domain,
                "extraction_type": kind, "data": data});
            if let Some(at) = &at {
                event["timestamp"] = json!(at);
            }
            event
        })
        .collect())
}

/// A `scraped_pages` row with its chunks from `page_embeddings`: (count, previews).
pub fn page(row: &PgRow, chunks: Option<&(i64, Vec<String>)>) -> Mapped {
    let mut event = json!({
        "type": "page",
        "url": required(text(row, "url"), "url")?,
        "domain": required(text(row, "domain"), "domain")?,
        "timestamp": required_time(row, "scraped_at")?,
        "embeddings": chunks.map_or(0, |c| c.0),
        "previews": chunks.map(|c| c.1.clone()).unwrap_or_default(),
    });
    match (text(row, "content"), integer(row, "content_length")?) {
        (Some(content), _) => event["content"] = json!(content),
        (None, Some(length)) => event["content_length"] = json!(length),
        (None, None) => event["content_length"] = json!(0),
    }
    Ok(event)
}

/// A `woocommerce_abandoned_carts` row: its value from `cart_total`, `total` or `value`.
pub fn cart(row: &PgRow) -> Mapped {
    let value = ["cart_total", "total", "value"]
        .iter()
        .find_map(|c| text(row, c))
        .ok_or("cart_total is empty")?;
    Ok(json!({
        "type": "cart.abandoned",
        "cart_id": required(text(row, "id"), "id")?,
        "domain": required(text(row, "domain"), "domain")?,
        "value": value,
        "currency": text(row, "currency").unwrap_or_else(|| "USD".to_string()),
        "timestamp": required_time(row, "created_at")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_entries_under_their_common_names() {
        let read = |v: Value| search_entry(&v);
        assert_eq!(
            read(json!({"query": "drill", "results": 3})),
            Some(json!({"query": "drill", "results": 3}))
        );
        assert_eq!(
            read(json!({"query": "saw", "resultCount": 0})).map(|v| v["results"].clone()),
            Some(json!(0))
        );
        assert_eq!(
            read(json!({"query": "saw", "result_count": "4"})).map(|v| v["results"].clone()),
            Some(json!(4))
        );
        assert_eq!(
            read(json!({"query": "saw", "count": 2})).map(|v| v["results"].clone()),
            Some(json!(2))
        );
        assert_eq!(read(json!({"q": "saw", "results": 2})), None);
        assert_eq!(read(json!({"query": "saw"})), None);
        assert_eq!(read(json!({"query": "saw", "results": 1.5})), None);
        assert_eq!(read(json!("saw")), None);
    }
}
