//! Field-level validation shared by every event: errors that name their field, bounded
//! numbers and times, text an engine can store.

use crate::clock::{parse_rfc3339, Micros};
use crate::limits::{
    MAX_AHEAD_MICROS, MAX_ID_LEN, MAX_METADATA_BYTES, MAX_TEXT_LEN, MIN_TIMESTAMP,
};
use crate::usage::UsageError;
use serde_json::Value;

/// Why an event was refused, and which field (`searches[0].results`, `metadata.note`)
/// when one is to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EventError {
    pub field: Option<String>,
    pub message: String,
}

impl EventError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        EventError {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// An error about the event as a whole.
    pub fn general(message: impl Into<String>) -> Self {
        EventError {
            field: None,
            message: message.into(),
        }
    }

    /// A provider usage error, its field under `prefix` (`usage.` for a nested object).
    pub fn usage(error: UsageError, prefix: &str) -> Self {
        let field = match &error {
            UsageError::Negative(name) | UsageError::TooLarge(name) => name,
            UsageError::CachedExceedsInput => "cached_input_tokens",
            UsageError::ReasoningExceedsOutput => "reasoning_tokens",
            UsageError::OneHourExceedsCacheWrite => "cache_write_1h_tokens",
            UsageError::ServiceTier => "service_tier",
            UsageError::Overflow => "input_tokens",
        };
        EventError::new(format!("{prefix}{field}"), error.to_string())
    }
}

/// Deserialises one event's body. serde's message names a missing field; for a value of
/// the wrong type or range the field's path is found by reading the event again.
pub fn field<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, EventError> {
    serde_json::from_str(raw).map_err(|e| {
        let text = e.to_string();
        // The position inside one event adds nothing for the client.
        let message = text.split(" at line ").next().unwrap_or(&text).to_string();
        // serde names a missing or repeated key only in its message.
        let missing = ["missing field `", "duplicate field `"]
            .iter()
            .find_map(|prefix| message.strip_prefix(prefix))
            .and_then(|rest| rest.strip_suffix('`'))
            .map(str::to_string);
        let field = missing.or_else(|| {
            let mut de = serde_json::Deserializer::from_str(raw);
            match serde_path_to_error::deserialize::<_, T>(&mut de) {
                Err(e) => Some(e.path().to_string()).filter(|p| p != "."),
                Ok(_) => None,
            }
        });
        EventError { field, message }
    })
}

pub fn check_id(name: &str, value: &str) -> Result<(), EventError> {
    if value.is_empty() || value.len() > MAX_ID_LEN {
        return Err(EventError::new(
            name,
            format!("{name} must be 1 to {MAX_ID_LEN} characters"),
        ));
    }
    check_nul(name, value)
}

/// PostgreSQL cannot store a NUL character. JSON events are refused whole before this (see
/// `nul_path`); text decoded from protobuf reaches here.
pub fn check_nul(name: &str, value: &str) -> Result<(), EventError> {
    if value.contains('\0') {
        return Err(EventError::new(
            name,
            format!("{name} must not contain a NUL character"),
        ));
    }
    Ok(())
}

pub fn check_text(name: &str, value: &str) -> Result<(), EventError> {
    if value.len() > MAX_TEXT_LEN {
        return Err(EventError::new(
            name,
            format!("{name} must be at most {MAX_TEXT_LEN} characters"),
        ));
    }
    check_nul(name, value)
}

/// A count from 0 to `max`.
pub fn count(name: &str, value: i64, max: i64) -> Result<i64, EventError> {
    if value < 0 {
        return Err(EventError::new(
            name,
            format!("{name} must not be negative"),
        ));
    }
    if value > max {
        return Err(EventError::new(
            name,
            format!("{name} must be at most {max}"),
        ));
    }
    Ok(value)
}

pub fn check_object(name: &str, value: &Option<Value>) -> Result<(), EventError> {
    match value {
        None | Some(Value::Null) => Ok(()),
        Some(v @ Value::Object(_)) => {
            if v.to_string().len() > MAX_METADATA_BYTES {
                return Err(EventError::new(
                    name,
                    format!("{name} must be at most {MAX_METADATA_BYTES} bytes of JSON"),
                ));
            }
            Ok(())
        }
        Some(_) => Err(EventError::new(
            name,
            format!("{name} must be a JSON object"),
        )),
    }
}

/// A time the store can file: RFC 3339, from 2000 on and at most a day ahead of `now`.
pub fn time(name: &str, text: &str, now: Micros) -> Result<Micros, EventError> {
    let t = parse_rfc3339(text)
        .ok_or_else(|| EventError::new(name, format!("{name} must be an RFC 3339 timestamp")))?;
    if t < MIN_TIMESTAMP || t > now.saturating_add(MAX_AHEAD_MICROS) {
        return Err(EventError::new(
            name,
            format!(
                "{name} must be after 2000-01-01 and at most a day ahead of the server's clock"
            ),
        ));
    }
    Ok(t)
}

/// An event's time: its `timestamp`, else the time of receipt.
pub fn event_time(timestamp: &Option<String>, received_at: Micros) -> Result<Micros, EventError> {
    match timestamp {
        Some(text) => time("timestamp", text, received_at),
        None => Ok(received_at),
    }
}

/// The path of the first string (or object key) holding a NUL character, which PostgreSQL
/// cannot store: `None` when there is none. JSON can only carry one escaped, so events
/// without `\u0000` in their text are passed at once.
pub fn nul_path(raw: &str) -> Option<String> {
    if !raw.contains("\\u0000") {
        return None;
    }
    let value: Value = serde_json::from_str(raw).ok()?;
    fn walk(value: &Value, path: &str) -> Option<String> {
        match value {
            Value::String(s) if s.contains('\0') => Some(path.to_string()),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(v, &format!("{path}[{i}]"))),
            Value::Object(map) => map.iter().find_map(|(k, v)| {
                // An empty key, or one with odd characters (a NUL), is named quoted and
                // escaped, so the field a refusal names is never empty nor holds a NUL.
                let key = if !k.is_empty()
                    && k.chars().all(|c| c.is_alphanumeric() || "_-".contains(c))
                {
                    k.clone()
                } else {
                    format!("{k:?}")
                };
                let here = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                if k.contains('\0') {
                    Some(here)
                } else {
                    walk(v, &here)
                }
            }),
            _ => None,
        }
    }
    walk(&value, "").map(|path| {
        if path.is_empty() {
            "event".to_string()
        } else {
            path
        }
    })
}
