//! A customer domain, normalised once where it enters (events, OTLP, query parameters,
//! keys, config, alerts), so `Shop.Example` and `shop.example` are one tenant everywhere:
//! trimmed, lowercased, and for internationalised host names mapped to their ASCII form
//! (`Bücher.Example` → `xn--bcher-kva.example`). README: Domains.

use crate::limits::MAX_DOMAIN_LEN;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// A normalised domain: 1 to 253 bytes, no whitespace or control characters, lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Domain(String);

impl utoipa::PartialSchema for Domain {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .description(Some("A customer domain, trimmed and lowercased"))
            .into()
    }
}
impl utoipa::ToSchema for Domain {}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("domain must be 1 to {MAX_DOMAIN_LEN} characters without spaces or control characters")]
pub struct DomainError;

impl Domain {
    /// Normalises a domain as a client sent it.
    pub fn parse(raw: &str) -> Result<Domain, DomainError> {
        let lowered = raw.trim().to_lowercase();
        // Only names that look like host names are IDNA-mapped: letters, digits, `-`, `.`.
        let hostname = !lowered.is_ascii()
            && lowered
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        let mapped = match hostname {
            true => idna::domain_to_ascii(&lowered).unwrap_or(lowered),
            false => lowered,
        };
        Self::checked(mapped)
    }

    /// An optional domain as a parameter or field gives it: absent or blank is none.
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Domain>, DomainError> {
        match raw.map(str::trim) {
            None | Some("") => Ok(None),
            Some(d) => Domain::parse(d).map(Some),
        }
    }

    /// An OpenTelemetry `service.name` standing in for a domain: a service name, not a
    /// host name, so it is trimmed and lowercased and nothing more.
    pub fn from_service_name(raw: &str) -> Result<Domain, DomainError> {
        Self::checked(raw.trim().to_lowercase())
    }

    fn checked(text: String) -> Result<Domain, DomainError> {
        let valid = !text.is_empty()
            && text.len() <= MAX_DOMAIN_LEN
            && !text.chars().any(|c| c.is_whitespace() || c.is_control());
        valid.then_some(Domain(text)).ok_or(DomainError)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::ops::Deref for Domain {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Domain {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Domain {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Domain {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Domain {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl<'de> Deserialize<'de> for Domain {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Domain::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> String {
        Domain::parse(raw).expect(raw).into_string()
    }

    #[test]
    fn one_tenant_however_it_is_written() {
        assert_eq!(parsed("Shop.Example"), "shop.example");
        assert_eq!(parsed("  SHOP.EXAMPLE "), "shop.example");
        assert_eq!(parsed("Bücher.Example"), "xn--bcher-kva.example");
        assert_eq!(parsed("xn--bcher-kva.example"), "xn--bcher-kva.example");
        // Not a host name: lowercased only.
        assert_eq!(parsed("Localhost:3000"), "localhost:3000");
        assert_eq!(parsed("Ünïcode_Shop"), "ünïcode_shop");
        assert_eq!(
            Domain::from_service_name(" Bücher-Bot ").map(Domain::into_string),
            Ok("bücher-bot".to_string())
        );
    }

    #[test]
    fn refused_without_a_name() {
        for bad in ["", "   ", "a b", "a\u{0}b", &"a".repeat(254)] {
            assert_eq!(Domain::parse(bad), Err(DomainError), "{bad:?}");
        }
    }
}
