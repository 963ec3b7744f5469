//! `GET /api/openapi.json`: the OpenAPI 3.1 description of every JSON endpoint, derived by
//! utoipa from the handlers' `#[utoipa::path]` attributes and the types they answer with,
//! so a shape is written once, in Rust. Rules applied on top, for clients and for the API
//! test that checks every endpoint's real answer against this document:
//! - an object allows no property it does not list;
//! - a nullable property is required: answers write `null` rather than leave it out (the
//!   few fields that are left out are marked `nullable = false`);
//! - `allOf` (from `#[serde(flatten)]`) is merged into one object, so the rules hold for
//!   flattened types too;
//! - each operation's id is its method and path, since handler names repeat (`get`).

use axum::Json;
use serde_json::{Map, Value};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Omniops",
        description = "Cost and performance monitoring for AI chat assistants. Money is exact decimal USD in strings; times are RFC 3339 UTC."
    ),
    servers((url = "/")),
    security(("bearer" = [])),
    modifiers(&Bearer),
    components(schemas(crate::error::ErrorBody)),
    paths(
        crate::api::health::get,
        openapi_json,
        crate::metrics::render,
        crate::ingest::handler::ingest,
        crate::ingest::otlp::traces,
        crate::api::telemetry::get,
        crate::api::analytics::analytics,
        crate::api::analytics::conversations,
        crate::api::analytics::missing_products,
        crate::api::shop::scraped,
        crate::api::shop::woocommerce,
        crate::api::shop::sync,
        crate::api::config::get,
        crate::api::config::put,
        crate::api::config::test_connection,
        crate::api::monitoring::get,
        crate::api::monitoring::post,
        crate::api::prices::list,
        crate::api::prices::put,
        crate::api::prices::import,
        crate::api::prices::repricing,
        crate::live::stream,
        crate::api::sessions::list,
        crate::api::sessions::get,
        crate::api::export::get,
        crate::api::keys::list,
        crate::api::keys::create,
        crate::api::keys::revoke,
    )
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some(
            "An API key (ingest, read or admin scope). Without any key configured, loopback requests need none."
                .to_string(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// `allOf` parts merged into one object schema, `$ref`s resolved from `schemas`.
fn merge_all_of(parts: &[Value], schemas: &Map<String, Value>) -> Value {
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    for part in parts {
        let part = match part.get("$ref").and_then(Value::as_str) {
            Some(target) => {
                let name = target.trim_start_matches("#/components/schemas/");
                schemas.get(name).cloned().unwrap_or(Value::Null)
            }
            None => part.clone(),
        };
        let part = match part.get("allOf").and_then(Value::as_array) {
            Some(inner) => merge_all_of(inner, schemas),
            None => part,
        };
        if let Some(p) = part.get("properties").and_then(Value::as_object) {
            properties.extend(p.clone());
        }
        for r in part["required"].as_array().into_iter().flatten() {
            if !required.contains(r) {
                required.push(r.clone());
            }
        }
    }
    let mut merged = Map::new();
    merged.insert("type".into(), "object".into());
    merged.insert("properties".into(), Value::Object(properties));
    merged.insert("required".into(), Value::Array(required));
    Value::Object(merged)
}

fn allows_null(schema: &Value) -> bool {
    let null_type = |s: &Value| match &s["type"] {
        Value::String(t) => t == "null",
        Value::Array(types) => types.iter().any(|t| t == "null"),
        _ => false,
    };
    null_type(schema)
        || schema["oneOf"]
            .as_array()
            .is_some_and(|options| options.iter().any(null_type))
}

/// `get /api/sessions/{id}` → `getApiSessionsId`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_string();
    for word in path.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            id.push(first.to_ascii_uppercase());
            id.extend(chars);
        }
    }
    id
}

/// Applies the module's rules everywhere below `node`.
fn tighten(node: &mut Value, schemas: &Map<String, Value>) {
    match node {
        Value::Object(map) => {
            if let Some(parts) = map.get("allOf").and_then(Value::as_array) {
                let merged = merge_all_of(parts, schemas);
                map.remove("allOf");
                if let Value::Object(merged) = merged {
                    map.extend(merged);
                }
            }
            if let Some(properties) = map.get("properties").and_then(Value::as_object) {
                let nullable: Vec<Value> = properties
                    .iter()
                    .filter(|(_, schema)| allows_null(schema))
                    .map(|(name, _)| Value::from(name.as_str()))
                    .collect();
                let required = map
                    .entry("required")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(required) = required {
                    for name in nullable {
                        if !required.contains(&name) {
                            required.push(name);
                        }
                    }
                }
                if !map.contains_key("additionalProperties") {
                    map.insert("additionalProperties".into(), Value::Bool(false));
                }
            }
            for value in map.values_mut() {
                tighten(value, schemas);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| tighten(v, schemas)),
        _ => {}
    }
}

pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    doc["info"]["version"] = Value::from(env!("CARGO_PKG_VERSION"));
    let schemas = doc["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    tighten(&mut doc, &schemas);
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, operations) in paths.iter_mut() {
            for (method, operation) in operations.as_object_mut().into_iter().flatten() {
                operation["operationId"] = Value::from(operation_id(method, path));
            }
        }
    }
    doc
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "health", security(()),
    responses((status = 200, body = Object, description = "OpenAPI 3.1")))]
pub async fn openapi_json() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs<'a>(node: &'a Value, found: &mut Vec<&'a str>) {
        match node {
            Value::Object(map) => {
                if let Some(target) = map.get("$ref").and_then(Value::as_str) {
                    found.push(target);
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_no_all_of_is_left() {
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 20, "{found:?}");
        for target in found {
            let name = target.trim_start_matches("#/components/schemas/");
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "dangling {target}"
            );
        }
        let text = doc.to_string();
        assert!(!text.contains("\"allOf\""), "allOf left in the document");
        assert_eq!(
            doc["components"]["schemas"]["Overview"]["additionalProperties"],
            false
        );
    }
}
