//! `GET /api/openapi.json`: the OpenAPI 3.1 description of every JSON endpoint, built here
//! from the same names the handlers answer with. Every property is listed as required and
//! no others are allowed, and a value that can be null says so (`["string", "null"]`): the
//! API test fetches each endpoint and checks its real answer against this document, so the
//! two cannot drift apart silently.

use axum::Json;
use serde_json::{json, Map, Value};

fn typed(name: &str) -> Value {
    json!({"type": name})
}
fn string() -> Value {
    typed("string")
}
fn integer() -> Value {
    typed("integer")
}
fn number() -> Value {
    typed("number")
}
fn boolean() -> Value {
    typed("boolean")
}
/// Exact decimal USD as a string ("0.004125"): money is never a float.
fn money() -> Value {
    json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"})
}
fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}
fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}
fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}
fn enumeration(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}
/// The schema, or null.
fn nullable(schema: Value) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some(t) if schema.as_object().is_some_and(|o| o.len() == 1) => {
            json!({"type": [t, "null"]})
        }
        _ => json!({"oneOf": [schema, {"type": "null"}]}),
    }
}
/// An object with exactly these properties, all present.
fn object(properties: &[(&str, Value)]) -> Value {
    let map: Map<String, Value> = properties
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect();
    let required: Vec<&str> = properties.iter().map(|(k, _)| *k).collect();
    json!({"type": "object", "properties": map, "required": required, "additionalProperties": false})
}
/// An object whose keys are data (categories, provider fields).
fn map_of(values: Value) -> Value {
    json!({"type": "object", "additionalProperties": values})
}
fn any_object() -> Value {
    typed("object")
}

fn origin() -> Value {
    enumeration(&["default", "import", "user"])
}

fn service_tier() -> Value {
    enumeration(&["default", "flex", "priority", "batch"])
}

fn pagination() -> Value {
    object(&[
        ("page", integer()),
        ("limit", integer()),
        ("total", integer()),
        ("totalPages", integer()),
    ])
}

fn schemas() -> Value {
    let overview = object(&[
        ("totalRequests", integer()),
        ("successfulRequests", integer()),
        ("failedRequests", integer()),
        ("successRate", number()),
        ("errorRate", number()),
        ("activeSessions", integer()),
        ("timeRange", string()),
        ("unpricedRequests", integer()),
    ]);
    let cost = object(&[
        ("total", money()),
        ("average", money()),
        ("projectedDaily", money()),
        ("projectedMonthly", money()),
        ("perHour", money()),
        (
            "trend",
            enumeration(&["increasing", "decreasing", "stable"]),
        ),
    ]);
    let tokens = object(&[
        ("totalInput", integer()),
        ("totalOutput", integer()),
        ("total", integer()),
        ("avgPerRequest", integer()),
    ]);
    let performance = object(&[
        ("avgResponseTime", integer()),
        ("totalSearches", integer()),
        ("avgSearchesPerRequest", money()),
        ("avgIterations", money()),
    ]);
    let model_usage = object(&[
        ("model", string()),
        ("count", integer()),
        ("cost", nullable(money())),
        ("tokens", integer()),
        ("percentage", number()),
        ("unpriced", boolean()),
    ]);
    let domain_cost = object(&[
        ("domain", string()),
        ("requests", integer()),
        ("cost", money()),
        ("unpricedRequests", integer()),
        ("unpriced", boolean()),
    ]);
    let hour = object(&[
        ("hour", time()),
        ("cost", number()),
        ("requests", integer()),
    ]);
    let live = object(&[
        ("activeSessions", integer()),
        ("currentCost", money()),
        (
            "sessionsData",
            array(object(&[
                ("id", string()),
                ("uptime", integer()),
                ("cost", nullable(money())),
                ("model", string()),
                ("domain", string()),
                ("unpriced", boolean()),
            ])),
        ),
    ]);
    let telemetry = [
        ("overview", reference("Overview")),
        ("cost", reference("Cost")),
        ("tokens", reference("Tokens")),
        ("performance", reference("Performance")),
        ("modelUsage", array(reference("ModelUsage"))),
        ("domainBreakdown", array(reference("DomainCost"))),
        ("hourlyTrend", array(reference("HourlyPoint"))),
        ("live", reference("Live")),
    ];
    let percentile = json!({"oneOf": [
        object(&[("atMostMs", integer())]),
        object(&[("aboveMs", integer())]),
        {"type": "null"}
    ]});
    let mut monitoring = telemetry.to_vec();
    monitoring.extend([
        ("period", enumeration(&["hour", "day", "week", "month"])),
        (
            "filters",
            object(&[
                ("domain", nullable(string())),
                ("model", nullable(string())),
            ]),
        ),
        (
            "responseTimePercentiles",
            object(&[
                ("p50", percentile.clone()),
                ("p90", percentile.clone()),
                ("p95", percentile.clone()),
                ("p99", percentile),
            ]),
        ),
    ]);
    let session_row = [
        ("sessionId", string()),
        ("model", string()),
        ("domain", string()),
        ("startTime", time()),
        ("endTime", nullable(time())),
        ("durationMs", nullable(integer())),
        ("iterations", integer()),
        ("searchCount", integer()),
        ("inputTokens", integer()),
        ("outputTokens", integer()),
        ("costUsd", nullable(money())),
        ("success", nullable(boolean())),
        ("error", nullable(string())),
    ];
    let mut session_details = session_row.to_vec();
    session_details.extend([
        ("conversationId", nullable(string())),
        ("live", boolean()),
        ("totalResults", integer()),
        ("searches", array(any_object())),
        ("logs", array(any_object())),
        ("metadata", nullable(any_object())),
        (
            "tokens",
            object(&[
                ("input", integer()),
                ("cachedInput", integer()),
                ("cacheWrite", integer()),
                ("output", integer()),
                ("reasoning", integer()),
            ]),
        ),
        (
            "price",
            nullable(object(&[
                ("model", string()),
                ("effectiveFrom", string()),
                ("origin", origin()),
                ("source", string()),
            ])),
        ),
        (
            "costBreakdown",
            array(object(&[
                (
                    "type",
                    enumeration(&[
                        "input",
                        "cached input",
                        "cache write",
                        "cache write (1 h)",
                        "output",
                        "reasoning",
                    ]),
                ),
                ("aboveInputTokens", nullable(integer())),
                ("serviceTier", service_tier()),
                ("tokens", integer()),
                ("usdPerMillion", money()),
                ("cost", money()),
            ])),
        ),
        ("callCount", integer()),
        (
            "calls",
            array(object(&[
                ("at", time()),
                (
                    "tokens",
                    object(&[
                        ("input", integer()),
                        ("cachedInput", integer()),
                        ("cacheWrite", integer()),
                        ("cacheWrite1h", integer()),
                        ("output", integer()),
                        ("reasoning", integer()),
                    ]),
                ),
                ("serviceTier", service_tier()),
                ("aboveInputTokens", nullable(integer())),
                ("cost", nullable(money())),
            ])),
        ),
        (
            "conversation",
            array(object(&[
                ("role", string()),
                ("content", string()),
                ("timestamp", time()),
            ])),
        ),
    ]);
    let rates = [
        ("input", nullable(money())),
        ("cachedInput", nullable(money())),
        ("cacheWrite", nullable(money())),
        ("cacheWrite1h", nullable(money())),
        ("output", nullable(money())),
        ("reasoning", nullable(money())),
    ];
    let mut tier = vec![
        ("aboveInputTokens", nullable(integer())),
        ("serviceTier", service_tier()),
    ];
    tier.extend(rates.iter().cloned());
    let price = object(&[
        ("model", string()),
        ("input", money()),
        ("cachedInput", nullable(money())),
        ("cacheWrite", nullable(money())),
        ("cacheWrite1h", nullable(money())),
        ("output", money()),
        ("reasoning", nullable(money())),
        ("tiers", array(object(&tier))),
        ("effectiveFrom", string()),
        ("aliases", array(string())),
        ("pattern", nullable(string())),
        ("source", string()),
        ("origin", origin()),
    ]);
    let key_record = object(&[
        ("id", string()),
        ("name", nullable(string())),
        ("prefix", string()),
        ("scope", enumeration(&["ingest", "read", "admin"])),
        ("domain", nullable(string())),
        ("createdAt", integer()),
        ("revokedAt", nullable(integer())),
    ]);
    json!({
        "Error": {"type": "object", "properties": {"error": string(), "field": string()},
                  "required": ["error"], "additionalProperties": false},
        "Overview": overview,
        "Cost": cost,
        "Tokens": tokens,
        "Performance": performance,
        "ModelUsage": model_usage,
        "DomainCost": domain_cost,
        "HourlyPoint": hour,
        "Live": live,
        "Telemetry": object(&telemetry),
        "Monitoring": object(&monitoring),
        "SessionRow": object(&session_row),
        "SessionDetails": object(&session_details),
        "Pagination": pagination(),
        "Price": price,
        "PriceImport": object(&[
            ("dryRun", boolean()),
            ("effectiveFrom", string()),
            ("entries", integer()),
            ("added", array(string())),
            ("changed", array(object(&[("model", string()), ("before", reference("Price")), ("after", reference("Price"))]))),
            ("unchanged", integer()),
            ("keptUserPrices", array(string())),
            ("skipped", integer()),
            ("skippedExamples", array(object(&[("model", string()), ("reason", string())]))),
            ("recomputed", nullable(object(&[("models", array(string())), ("sessions", integer()), ("buckets", integer())]))),
        ]),
        "ApiKey": key_record,
        "IngestAnswer": object(&[
            ("accepted", integer()),
            ("rejected", array(object(&[("index", integer()), ("error", string()), ("field", nullable(string()))]))),
        ]),
        "Analytics": object(&[
            ("responseTime", number()),
            ("satisfactionScore", number()),
            ("resolutionRate", number()),
            ("topQueries", array(object(&[("query", string()), ("count", integer()), ("percentage", number())]))),
            ("failedSearches", array(string())),
            ("languageDistribution", array(object(&[("language", string()), ("percentage", number()), ("color", string())]))),
            ("metrics", object(&[("totalMessages", integer()), ("userMessages", integer()), ("avgMessagesPerDay", number())])),
        ]),
        "Conversations": object(&[
            ("total", integer()),
            ("change", number()),
            ("recent", array(object(&[("id", string()), ("message", string()), ("timestamp", time())]))),
            ("pagination", reference("Pagination")),
        ]),
        "MissingProducts": missing_products(),
        "Scraped": object(&[
            ("totalPages", integer()),
            ("lastUpdated", nullable(time())),
            ("queuedJobs", integer()),
            ("statistics", object(&[
                ("uniqueDomains", integer()),
                ("totalEmbeddings", integer()),
                ("avgContentLength", integer()),
                ("embeddingCoverage", number()),
            ])),
            ("domains", array(string())),
        ]),
        "WooCommerce": woocommerce(),
        "Config": object(&[
            ("domains", array(object(&[
                ("domain", string()),
                ("woocommerceUrl", nullable(string())),
                ("woocommerceConfigured", boolean()),
            ]))),
            ("settings", object(&[("retentionDays", integer()), ("rollupRetentionDays", integer())])),
        ]),
        "Health": object(&[
            ("status", enumeration(&["ok", "unavailable"])),
            ("version", string()),
            ("backend", enumeration(&["sqlite", "postgres"])),
        ]),
    })
}

fn missing_products() -> Value {
    let mut answer = object(&[
        (
            "missingProducts",
            array(object(&[
                ("name", string()),
                ("count", integer()),
                ("examples", array(string())),
                ("lastRequested", time()),
            ])),
        ),
        ("categories", map_of(array(string()))),
        ("recommendations", array(string())),
        (
            "statistics",
            object(&[
                ("totalMissingProducts", integer()),
                ("totalRequests", integer()),
                ("avgRequestsPerProduct", number()),
                ("timeRange", string()),
            ]),
        ),
        ("pagination", reference("Pagination")),
    ]);
    // Only with `forecast=true`.
    answer["properties"]["forecast"] = array(object(&[
        ("name", string()),
        ("perDayChange", number()),
        ("next7Days", number()),
        (
            "daily",
            array(object(&[
                ("day", string()),
                // null on the forecast days ahead
                ("requests", nullable(integer())),
                ("fitted", number()),
            ])),
        ),
    ]));
    answer
}

fn woocommerce() -> Value {
    object(&[
        ("totalProducts", integer()),
        ("totalOrders", integer()),
        ("revenue", number()),
        ("currency", nullable(string())),
        (
            "revenueByCurrency",
            array(object(&[
                ("currency", string()),
                ("count", integer()),
                ("amount", number()),
            ])),
        ),
        (
            "abandonedCarts",
            object(&[
                ("count", integer()),
                ("value", number()),
                ("currency", nullable(string())),
            ]),
        ),
        (
            "statistics",
            object(&[
                ("avgProductPrice", number()),
                ("configuredDomains", integer()),
                ("productsIndexed", integer()),
            ]),
        ),
        ("status", string()),
        ("domains", array(string())),
    ])
}

/// A query parameter.
fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

fn days() -> Value {
    query("days", integer(), "window in days (1–365), ending now")
}
fn domain() -> Value {
    query(
        "domain",
        string(),
        "one customer domain (a domain-scoped key always sees its own)",
    )
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn operation(summary: &str, parameters: Vec<Value>, ok: Value) -> Value {
    json!({
        "summary": summary,
        "parameters": parameters,
        "responses": {
            "200": ok,
            "400": {"$ref": "#/components/responses/BadRequest"},
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "403": {"$ref": "#/components/responses/Forbidden"}
        }
    })
}

fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

fn paths() -> Value {
    let get = |summary: &str, parameters: Vec<Value>, schema: Value| {
        operation(summary, parameters, json_response("OK", schema))
    };
    let error = reference("Error");
    let mut monitoring_post = operation(
        "Budget alerts and maintenance actions (set-alert, check-alerts, delete-alert, test-alert, deliveries, get-summary, cleanup-old-data)",
        vec![],
        json_response("The action's result", any_object()),
    );
    monitoring_post["requestBody"] = json_body(object(&[(
        "action",
        enumeration(&[
            "set-alert",
            "check-alerts",
            "delete-alert",
            "test-alert",
            "deliveries",
            "get-summary",
            "cleanup-old-data",
        ]),
    )]));
    monitoring_post["requestBody"]["content"]["application/json"]["schema"]
        ["additionalProperties"] = json!(true);
    let mut ingest = operation(
        "Send events: session.start, iteration, search, usage, log, session.end, session, conversation, message, extraction, page, scrape_job, product, order, cart",
        vec![],
        json_response("Stored (each event accepted or rejected on its own)", reference("IngestAnswer")),
    );
    ingest["requestBody"] = json_body(object(&[("events", array(any_object()))]));
    let mut traces = json!({
        "summary": "OTLP/HTTP trace export (OpenTelemetry GenAI spans become sessions)",
        "requestBody": {"required": true, "content": {
            "application/x-protobuf": {"schema": {"type": "string", "contentMediaType": "application/x-protobuf"}},
            "application/json": {"schema": any_object()}
        }},
        "responses": {
            "200": {"description": "ExportTraceServiceResponse; partialSuccess names rejected spans",
                    "content": {"application/json": {"schema": {"type": "object", "properties": {
                        "partialSuccess": object(&[("rejectedSpans", string()), ("errorMessage", string())])
                    }, "additionalProperties": false}}}},
            "400": {"description": "Undecodable data (a google.rpc.Status)"},
            "413": {"description": "Body larger than 20 MiB, compressed or not"},
            "503": {"description": "Queue full; retry after Retry-After"}
        }
    });
    traces["security"] = json!([{"bearer": []}]);
    let mut prices_put = operation(
        "Add or change a model price; stored sessions are repriced",
        vec![],
        json_response("The entry and what was repriced", any_object()),
    );
    prices_put["requestBody"] = json_body(any_object());
    let mut config_put = operation(
        "Change retention or a domain's WooCommerce settings",
        vec![],
        json_response("The configuration", reference("Config")),
    );
    config_put["requestBody"] = json_body(any_object());
    let mut key_create = operation(
        "Create an API key (shown once)",
        vec![],
        json_response(
            "The key and its record",
            object(&[("key", string()), ("record", reference("ApiKey"))]),
        ),
    );
    key_create["requestBody"] = json_body(any_object());
    json!({
        "/healthz": {"get": get("Liveness and database reachability", vec![], reference("Health"))},
        "/api/v1/ingest": {"post": ingest},
        "/v1/traces": {"post": traces},
        "/api/dashboard/telemetry": {"get": get("Cost and performance telemetry", vec![days(), domain()], reference("Telemetry"))},
        "/api/monitoring/chat": {
            "get": get("Telemetry for a period, with response-time percentiles",
                vec![query("period", enumeration(&["hour", "day", "week", "month"]), "window"), domain(), query("model", string(), "one model")],
                reference("Monitoring")),
            "post": monitoring_post
        },
        "/api/dashboard/analytics": {"get": get("Conversation analytics", vec![days(), domain()], reference("Analytics"))},
        "/api/dashboard/conversations": {"get": get("Conversation counts and the latest conversations",
            vec![days(), domain(), query("page", integer(), "page from 1"), query("limit", integer(), "rows per page")], reference("Conversations"))},
        "/api/dashboard/missing-products": {"get": get("Products asked for but not found",
            vec![days(), domain(), query("page", integer(), "page from 1"), query("limit", integer(), "rows per page"),
                 query("forecast", boolean(), "add a 7-day demand forecast per product")], reference("MissingProducts"))},
        "/api/dashboard/scraped": {"get": get("Scraped content statistics", vec![domain()], reference("Scraped"))},
        "/api/dashboard/woocommerce": {"get": get("Shop statistics", vec![days(), domain()], reference("WooCommerce"))},
        "/api/dashboard/config": {
            "get": get("Domains and retention", vec![], reference("Config")),
            "put": config_put
        },
        "/api/dashboard/test-connection": {"get": get("Checks the database and each WooCommerce store", vec![], any_object())},
        "/api/v1/prices": {
            "get": get("Model prices (a page; q searches names) and models seen without one",
                vec![query("q", string(), "part of a model name or alias"), query("origin", origin(), "where entries came from"),
                     query("inUse", boolean(), "only entries of models in stored sessions, and user or imported ones"),
                     query("page", integer(), "page from 1"), query("limit", integer(), "entries per page, up to 1000 (default 100)")],
                object(&[("prices", array(reference("Price"))), ("pagination", reference("Pagination")),
                         ("unpriced", array(object(&[("model", string()), ("sessions", integer()), ("lastSeen", time())])))])),
            "put": prices_put
        },
        "/api/v1/prices/import": {"post": {
            "summary": "Imports a LiteLLM-format price catalogue (admin): prices set by hand are never changed",
            "parameters": [query("dryRun", boolean(), "only report what would change"),
                           query("recompute", boolean(), "reprice stored history of the models added or changed"),
                           query("effectiveFrom", string(), "YYYY-MM-DD the prices take effect (default today)"),
                           query("source", string(), "a label kept with each entry")],
            "requestBody": {"required": true, "content": {"application/json": {"schema": any_object()}}},
            "responses": {"200": json_response("What the import did", reference("PriceImport")),
                          "400": {"$ref": "#/components/responses/BadRequest"}}
        }},
        "/api/sessions": {"get": get("Session history",
            vec![days(), domain(), query("model", string(), "one model"), query("outcome", enumeration(&["success", "failure"]), "outcome"),
                 query("page", integer(), "page from 1"), query("limit", integer(), "rows per page")],
            object(&[("sessions", array(reference("SessionRow"))), ("pagination", reference("Pagination"))]))},
        "/api/sessions/{id}": {"get": {
            "summary": "One session with its cost by token type",
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": string()}],
            "responses": {"200": json_response("OK", reference("SessionDetails")),
                          "404": json_response("No such session", error.clone())}
        }},
        "/api/export/{dataset}": {"get": {
            "summary": "A table or chart as CSV or JSON",
            "parameters": [{"name": "dataset", "in": "path", "required": true, "schema": string()},
                           query("format", enumeration(&["csv", "json"]), "default csv"), days(), domain()],
            "responses": {"200": {"description": "The rows", "content": {"text/csv": {}, "application/json": {"schema": array(any_object())}}},
                          "404": json_response("No such dataset", error.clone())}
        }},
        "/api/keys": {
            "get": get("API keys (never their secrets)", vec![], object(&[("keys", array(reference("ApiKey")))])),
            "post": key_create
        },
        "/api/keys/{id}": {"delete": {
            "summary": "Revoke a key",
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": string()}],
            "responses": {"200": json_response("Revoked", object(&[("revoked", string())])),
                          "404": json_response("No such key", error)}
        }},
        "/api/live": {"get": {
            "summary": "Server-sent events: summary, session.started/updated/ended, alert.fired, unpriced.model, resync",
            "parameters": [domain()],
            "responses": {"200": {"description": "An event stream", "content": {"text/event-stream": {}}}}
        }},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}}}},
        "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": json_response("OpenAPI 3.1", any_object())}}}
    })
}

pub fn document() -> Value {
    let error = reference("Error");
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Omniops",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Cost and performance monitoring for AI chat assistants. Money is exact decimal USD in strings; times are RFC 3339 UTC."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                "description": "An API key (ingest, read or admin scope). Without any key configured, loopback requests need none."}},
            "schemas": schemas(),
            "responses": {
                "BadRequest": json_response("Invalid input; `field` names the parameter", error.clone()),
                "Unauthorized": json_response("Missing or unknown API key", error.clone()),
                "Forbidden": json_response("The key's scope or domain does not allow this", error)
            }
        }
    })
}

/// `GET /api/openapi.json`.
pub async fn get() -> Json<Value> {
    Json(document())
}
