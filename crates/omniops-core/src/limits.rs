//! Every bound on what a client may send, in one place; the README's "Limits" section lists
//! them. Values past a bound are refused per event, naming the field, so that no sum the
//! store keeps can wrap and nothing one client sends can make another's request, or a read,
//! fail. Sums that many clients feed (rollups) saturate instead.

use crate::clock::{Micros, MICROS_PER_DAY};

/// Any token count of one event (a call, or a session sent as totals).
pub const MAX_TOKENS: i64 = 10_000_000_000;
/// A session's running total of any kind of token.
pub const MAX_SESSION_TOKENS: i64 = 100_000_000_000;
/// An iteration number, and a session's iterations.
pub const MAX_ITERATIONS: i64 = 10_000;
/// Results of one search.
pub const MAX_SEARCH_RESULTS: i64 = 1_000_000_000;
/// A session's total results.
pub const MAX_TOTAL_RESULTS: i64 = 1_000_000_000_000;
/// A session's searches.
pub const MAX_SEARCHES: i64 = 1_000_000;
/// A session's or a search's duration: 31 days.
pub const MAX_DURATION_MS: i64 = 31 * 24 * 3_600_000;
/// An order total, a cart value or a product price, in units of its currency.
pub const MAX_AMOUNT: i64 = 1_000_000_000;
/// A scraped page's content, in characters.
pub const MAX_PAGE_CONTENT: usize = 1_000_000;
/// A `metadata` object, as JSON text.
pub const MAX_METADATA_BYTES: usize = 16_384;
/// Identifiers: session, event, conversation, message, order and cart ids, model names.
pub const MAX_ID_LEN: usize = 200;
/// A domain name.
pub const MAX_DOMAIN_LEN: usize = 253;
/// Free text: search queries, messages, log lines, errors.
pub const MAX_TEXT_LEN: usize = 10_000;
/// A URL.
pub const MAX_URL_LEN: usize = 2_048;
/// Timestamps are refused when they are more than this ahead of the server's clock.
pub const MAX_AHEAD_MICROS: Micros = MICROS_PER_DAY;
/// … or before 2000-01-01T00:00:00Z.
pub const MIN_TIMESTAMP: Micros = 946_684_800_000_000;
