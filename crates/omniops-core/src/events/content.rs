//! Conversation, content and shop events: `conversation`, `message`, `extraction`, `page`,
//! `scrape_job`, `cart.abandoned` and `order`. They carry no `session_id`.

use super::check::{check_id, check_object, check_text, count, field, EventError};
use super::{
    ConversationEvent, Event, ExtractionEvent, MessageEvent, PageEvent, Role, ScrapeJobEvent,
    ShopEvent, ShopKind,
};
use crate::clock::Micros;
use crate::domain::Domain;
use crate::limits::{MAX_AMOUNT, MAX_PAGE_CONTENT, MAX_URL_LEN};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

/// Chunks and previews a page may list.
const MAX_PAGE_CHUNKS: i64 = 100_000;

#[derive(Deserialize)]
struct PageBody {
    url: String,
    domain: Domain,
    content: Option<String>,
    content_length: Option<i64>,
    embeddings: Option<i64>,
    #[serde(default)]
    previews: Vec<String>,
}

#[derive(Deserialize)]
struct ScrapeJobBody {
    domain: Domain,
    url: String,
    status: String,
}

#[derive(Deserialize)]
struct ShopBody {
    domain: Domain,
    cart_id: Option<String>,
    order_id: Option<String>,
    value: Option<Value>,
    total: Option<Value>,
    currency: String,
    status: Option<String>,
}

#[derive(Deserialize)]
struct ExtractionBody {
    domain: Domain,
    extraction_type: String,
    data: Value,
}

#[derive(Deserialize)]
struct ConversationBody {
    conversation_id: String,
    domain: Domain,
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct MessageBody {
    conversation_id: String,
    message_id: Option<String>,
    role: String,
    content: String,
    metadata: Option<Value>,
}

fn check_url(url: &str) -> Result<(), EventError> {
    if url.is_empty() || url.len() > MAX_URL_LEN {
        return Err(EventError::new(
            "url",
            format!("url must be 1 to {MAX_URL_LEN} characters"),
        ));
    }
    Ok(())
}

/// A decimal from a JSON number or string.
fn decimal(name: &str, value: &Value) -> Result<Decimal, EventError> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err(EventError::new(name, format!("{name} must be a number"))),
    };
    text.parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| EventError::new(name, format!("{name} must be a number")))
}

/// An amount from 0 to [`MAX_AMOUNT`] units, in nano-units.
pub fn amount(name: &str, value: Option<&Value>) -> Result<i64, EventError> {
    let Some(value) = value else {
        return Err(EventError::new(name, format!("missing field `{name}`")));
    };
    let decimal = decimal(name, value)?;
    if decimal.is_sign_negative() {
        return Err(EventError::new(
            name,
            format!("{name} must not be negative"),
        ));
    }
    if decimal > Decimal::from(MAX_AMOUNT) {
        return Err(EventError::new(
            name,
            format!("{name} must be at most {MAX_AMOUNT}"),
        ));
    }
    Ok(crate::money::usd_to_nanos(decimal))
}

pub(super) fn page(raw: &str, at: Micros) -> Result<Event, EventError> {
    let b: PageBody = field(raw)?;
    check_url(&b.url)?;
    let content_length = match (&b.content, b.content_length) {
        (Some(c), _) => {
            let chars = c.chars().count();
            if chars > MAX_PAGE_CONTENT {
                return Err(EventError::new(
                    "content",
                    format!("content must be at most {MAX_PAGE_CONTENT} characters"),
                ));
            }
            chars as i64
        }
        (None, Some(n)) => count("content_length", n, MAX_PAGE_CONTENT as i64)?,
        (None, None) => {
            return Err(EventError::new(
                "content",
                "missing field `content` (or `content_length`)",
            ))
        }
    };
    let embeddings = count("embeddings", b.embeddings.unwrap_or(0), MAX_PAGE_CHUNKS)?;
    if b.previews.len() as i64 > MAX_PAGE_CHUNKS {
        return Err(EventError::new(
            "previews",
            format!("previews must be at most {MAX_PAGE_CHUNKS}"),
        ));
    }
    for (i, p) in b.previews.iter().enumerate() {
        check_text(&format!("previews[{i}]"), p)?;
    }
    Ok(Event::Page(PageEvent {
        url: b.url,
        domain: b.domain,
        content: b.content,
        content_length,
        embeddings,
        previews: b.previews,
        at,
    }))
}

pub(super) fn scrape_job(raw: &str, at: Micros) -> Result<Event, EventError> {
    let b: ScrapeJobBody = field(raw)?;
    check_url(&b.url)?;
    if !matches!(b.status.as_str(), "queued" | "running" | "done" | "failed") {
        return Err(EventError::new(
            "status",
            "status must be one of queued, running, done, failed",
        ));
    }
    Ok(Event::ScrapeJob(ScrapeJobEvent {
        domain: b.domain,
        url: b.url,
        status: b.status,
        at,
    }))
}

pub(super) fn shop(kind: &str, raw: &str, at: Micros) -> Result<Event, EventError> {
    let b: ShopBody = field(raw)?;
    let currency = b.currency.trim().to_uppercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(EventError::new(
            "currency",
            "currency must be a three-letter code such as USD",
        ));
    }
    let (kind, id, amount_nanos) = if kind == "order" {
        let id = b
            .order_id
            .ok_or_else(|| EventError::new("order_id", "missing field `order_id`"))?;
        check_id("order_id", &id)?;
        (ShopKind::Order, id, amount("total", b.total.as_ref())?)
    } else {
        let id = b
            .cart_id
            .ok_or_else(|| EventError::new("cart_id", "missing field `cart_id`"))?;
        check_id("cart_id", &id)?;
        (
            ShopKind::AbandonedCart,
            id,
            amount("value", b.value.as_ref())?,
        )
    };
    let status = match (&kind, b.status) {
        (ShopKind::Order, Some(status)) => Some(order_status(&status)?),
        _ => None,
    };
    Ok(Event::Shop(ShopEvent {
        kind,
        domain: b.domain,
        id,
        amount_nanos,
        currency,
        status,
        at,
    }))
}

/// An order's status as WooCommerce names them (`processing`, `on-hold`, …): lowercase
/// letters, digits, `-` and `_`, at most 50 (README: WooCommerce).
fn order_status(status: &str) -> Result<String, EventError> {
    let status = status.trim().to_ascii_lowercase();
    let valid = !status.is_empty()
        && status.len() <= 50
        && status
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        return Err(EventError::new(
            "status",
            "status must be 1 to 50 lowercase letters, digits, - or _ (e.g. processing)",
        ));
    }
    Ok(status)
}

pub(super) fn extraction(raw: &str, at: Micros) -> Result<Event, EventError> {
    let b: ExtractionBody = field(raw)?;
    if !matches!(b.extraction_type.as_str(), "products" | "faq" | "contact") {
        return Err(EventError::new(
            "extraction_type",
            "extraction_type must be one of products, faq, contact",
        ));
    }
    if !b.data.is_object() {
        return Err(EventError::new("data", "data must be a JSON object"));
    }
    let (mut product_name, mut price) = (None, None);
    if b.extraction_type == "products" {
        let name = b.data.get("name").and_then(Value::as_str).unwrap_or("");
        check_text("data.name", name)?;
        // Matched against requests the same way they are extracted.
        let normalised = crate::text::extract_product(name).unwrap_or_default();
        if normalised.is_empty() {
            return Err(EventError::new(
                "data.name",
                "data.name must name the product",
            ));
        }
        product_name = Some(normalised);
        price = match b.data.get("price") {
            None | Some(Value::Null) => None,
            Some(p) => {
                let d = decimal("data.price", p)?;
                if d.is_sign_negative() || d > Decimal::from(MAX_AMOUNT) {
                    return Err(EventError::new(
                        "data.price",
                        format!("data.price must be from 0 to {MAX_AMOUNT}"),
                    ));
                }
                Some(d.normalize().to_string())
            }
        };
    }
    Ok(Event::Extraction(ExtractionEvent {
        domain: b.domain,
        extraction_type: b.extraction_type,
        data: b.data,
        product_name,
        price,
        at,
    }))
}

pub(super) fn conversation(raw: &str, at: Micros) -> Result<Event, EventError> {
    let b: ConversationBody = field(raw)?;
    check_id("conversation_id", &b.conversation_id)?;
    check_object("metadata", &b.metadata)?;
    Ok(Event::Conversation(ConversationEvent {
        conversation_id: b.conversation_id,
        domain: b.domain,
        metadata: b.metadata,
        at,
    }))
}

pub(super) fn message(raw: &str, at: Micros) -> Result<Event, EventError> {
    let b: MessageBody = field(raw)?;
    check_id("conversation_id", &b.conversation_id)?;
    if let Some(id) = &b.message_id {
        check_id("message_id", id)?;
    }
    let role = match b.role.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        _ => return Err(EventError::new("role", "role must be user or assistant")),
    };
    check_text("content", &b.content)?;
    check_object("metadata", &b.metadata)?;
    Ok(Event::Message(MessageEvent {
        conversation_id: b.conversation_id,
        message_id: b.message_id,
        role,
        content: b.content,
        metadata: b.metadata,
        at,
    }))
}
