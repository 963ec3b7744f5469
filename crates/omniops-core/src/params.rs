//! The query parameters every dashboard endpoint takes, read from the decoded query map:
//! control characters refused, the window, the domain filter and pagination. Pure, so the
//! query fuzz target reaches it; the server turns a `ParamError` into a 400 naming the field.

use crate::clock::Micros;
use crate::domain::Domain;
use crate::window::{Window, WindowError};
use std::collections::HashMap;

/// The raw query string as a map; unknown parameters are ignored.
pub type Params = HashMap<String, String>;

/// A parameter refused, with its name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParamError {
    pub field: String,
    pub message: String,
}

impl ParamError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ParamError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Parameters with a control character in a name or value (`%00`) are refused, naming the
/// parameter: no query string reaches the store with one.
pub fn check(params: &Params) -> Result<(), ParamError> {
    for (name, value) in params {
        if name.chars().chain(value.chars()).any(char::is_control) {
            let field: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
            let message = format!("{field} must not contain control characters");
            return Err(ParamError::new(field, message));
        }
    }
    Ok(())
}

fn window_field(error: &WindowError) -> &'static str {
    match error {
        WindowError::Days => "days",
        WindowError::Timestamp(field) => field,
        WindowError::FromToPair | WindowError::Order | WindowError::Span => "from",
        WindowError::Both => "days",
    }
}

/// `days`, or `from` and `to`.
pub fn window(params: &Params, default_days: i64, now: Micros) -> Result<Window, ParamError> {
    Window::from_params(
        params.get("days").map(String::as_str),
        params.get("from").map(String::as_str),
        params.get("to").map(String::as_str),
        default_days,
        now,
    )
    .map_err(|e| ParamError::new(window_field(&e), e.to_string()))
}

/// The optional `domain` parameter, normalised; empty means none.
pub fn domain(params: &Params) -> Result<Option<Domain>, ParamError> {
    Domain::parse_optional(params.get("domain").map(String::as_str))
        .map_err(|e| ParamError::new("domain", e.to_string()))
}

/// `page` (1 to 1,000,000, default 1) and `limit` (1 to `max`, default `default`).
pub fn pagination(params: &Params, default: i64, max: i64) -> Result<(i64, i64), ParamError> {
    let number = |name: &'static str, default: i64, max: i64| -> Result<i64, ParamError> {
        match params.get(name) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ParamError::new(
                        name,
                        format!("{name} must be a whole number from 1 to {max}"),
                    )
                }),
        }
    };
    Ok((
        number("page", 1, 1_000_000)?,
        number("limit", default, max)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_refusal_names_its_parameter() {
        let now = 1_800_000_000_000_000;
        assert_eq!(
            check(&params(&[("q", "a\u{0}b")]))
                .expect_err("refused")
                .field,
            "q"
        );
        assert_eq!(
            window(&params(&[("days", "0")]), 7, now)
                .expect_err("refused")
                .field,
            "days"
        );
        assert_eq!(
            window(&params(&[("from", "x")]), 7, now)
                .expect_err("refused")
                .field,
            "from"
        );
        assert_eq!(
            domain(&params(&[("domain", "a b")]))
                .expect_err("refused")
                .field,
            "domain"
        );
        assert_eq!(
            domain(&params(&[("domain", " Shop.Example ")])).map(|d| d.map(Domain::into_string)),
            Ok(Some("shop.example".to_string()))
        );
        assert_eq!(
            pagination(&params(&[("limit", "101")]), 20, 100)
                .expect_err("refused")
                .field,
            "limit"
        );
        assert_eq!(pagination(&params(&[("page", "2")]), 20, 100), Ok((2, 20)));
    }
}
