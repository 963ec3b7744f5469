//! A conversation's running state, updated message by message at ingest, so that the
//! analytics endpoints read precomputed facts instead of re-reading every message.

use crate::clock::Micros;
use crate::events::Role;
use crate::text::{self, Language, Sentiment};
use serde_json::Value;

/// Characters of the first user message kept for the conversation list.
pub const FIRST_MESSAGE_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: String,
    pub domain: String,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub metadata: Option<Value>,
    pub first_user_message: Option<String>,
    pub message_count: i64,
    pub user_message_count: i64,
    /// User messages not yet followed by an assistant message, and the sum of their times.
    pub pending_count: i64,
    pub pending_sum: i128,
    /// Whether the last user message has been answered, and whether it was negative.
    pub last_user_answered: bool,
    pub last_user_negative: bool,
    /// Summed whole-word hits of Spanish, French and German words in user messages.
    pub language_hits: [i64; 3],
    pub non_latin_letters: i64,
    pub letters: i64,
    pub message_ids: Vec<String>,
    /// One of its sessions searched and found nothing: its product questions are requests
    /// for missing products. Set by the store, never by a message.
    pub found_nothing: bool,
    /// The user asked for a person, or an event marked it `metadata.escalated`.
    pub escalated: bool,
    /// The customer, from the creating event's `metadata.customer_id`, `user_id` or
    /// `visitor_id` (a string or a number).
    pub customer: Option<String>,
    /// A later conversation of the same customer started within 24 h.
    pub followed_up: bool,
}

/// A follow-up within this long of a conversation's start means it did not resolve the
/// customer's need at first contact.
pub const FOLLOW_UP_MICROS: Micros = 24 * 3_600 * 1_000_000;

/// The customer named by metadata, if any (README: analytics, users).
pub fn customer_of(metadata: Option<&Value>) -> Option<String> {
    let m = metadata?;
    ["customer_id", "user_id", "visitor_id"]
        .iter()
        .find_map(|k| match m.get(*k)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().chars().take(200).collect()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

/// Whether an event's metadata marks its conversation escalated (`"escalated": true`).
pub fn marks_escalated(metadata: Option<&Value>) -> bool {
    metadata
        .and_then(|m| m.get("escalated"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// What one message contributes, stored with it.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageFacts {
    pub sentiment: Sentiment,
    /// For user messages: the top-query form, and the product asked for.
    pub query: Option<String>,
    pub product: Option<String>,
    /// For assistant messages: summed response time (ms) over the user messages it answers,
    /// and how many those are.
    pub response_ms_sum: i64,
    pub responses: i64,
    /// For user messages: negative, and the next user message after an answer: the answer
    /// counts as not accurate (README: analytics).
    pub contradicts: bool,
}

impl Conversation {
    pub fn new(id: String, domain: String, at: Micros, metadata: Option<Value>) -> Self {
        let escalated = marks_escalated(metadata.as_ref());
        let customer = customer_of(metadata.as_ref());
        Conversation {
            id,
            domain,
            created_at: at,
            updated_at: at,
            metadata,
            first_user_message: None,
            message_count: 0,
            user_message_count: 0,
            pending_count: 0,
            pending_sum: 0,
            last_user_answered: false,
            last_user_negative: false,
            language_hits: [0; 3],
            non_latin_letters: 0,
            letters: 0,
            message_ids: Vec::new(),
            found_nothing: false,
            escalated,
            customer,
            followed_up: false,
        }
    }

    pub fn language(&self) -> Language {
        text::language_of(self.language_hits, self.non_latin_letters, self.letters)
    }

    /// First-contact resolution (README: analytics): resolved, and with a known customer no
    /// follow-up conversation within 24 h; with none known, one user question.
    pub fn first_contact_resolved(&self) -> bool {
        self.resolved()
            && match self.customer {
                Some(_) => !self.followed_up,
                None => self.user_message_count == 1,
            }
    }

    /// Resolved: it has user messages, and the last one was answered and not negative.
    pub fn resolved(&self) -> bool {
        self.user_message_count > 0 && self.last_user_answered && !self.last_user_negative
    }

    pub fn add_message(&mut self, role: Role, content: &str, at: Micros) -> MessageFacts {
        self.message_count += 1;
        self.updated_at = self.updated_at.max(at);
        match role {
            Role::User => {
                let sentiment = text::sentiment(content);
                // The previous message answered the user: a negative reply contradicts it.
                let contradicts = sentiment == Sentiment::Negative
                    && self.last_user_answered
                    && self.pending_count == 0;
                if crate::escalation::asks_for_human(content) {
                    self.escalated = true;
                }
                self.user_message_count += 1;
                if self.first_user_message.is_none() {
                    self.first_user_message =
                        Some(text::truncate_chars(content, FIRST_MESSAGE_CHARS));
                }
                self.pending_count += 1;
                self.pending_sum += i128::from(at);
                self.last_user_answered = false;
                self.last_user_negative = sentiment == Sentiment::Negative;
                let hits = text::language_hits(content);
                for (total, add) in self.language_hits.iter_mut().zip(hits) {
                    *total = total.saturating_add(add);
                }
                let (non_latin, letters) = text::letter_counts(content);
                self.non_latin_letters = self.non_latin_letters.saturating_add(non_latin);
                self.letters = self.letters.saturating_add(letters);
                MessageFacts {
                    sentiment,
                    query: Some(text::normalize_query(content)),
                    product: text::product_in_question(content),
                    response_ms_sum: 0,
                    responses: 0,
                    contradicts,
                }
            }
            Role::Assistant => {
                let waited_micros =
                    i128::from(self.pending_count) * i128::from(at) - self.pending_sum;
                let facts = MessageFacts {
                    sentiment: Sentiment::Neutral,
                    query: None,
                    product: None,
                    response_ms_sum: i64::try_from(waited_micros / 1_000)
                        .unwrap_or(i64::MAX)
                        .max(0),
                    responses: self.pending_count,
                    contradicts: false,
                };
                self.pending_count = 0;
                self.pending_sum = 0;
                if self.user_message_count > 0 {
                    self.last_user_answered = true;
                }
                facts
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Micros = 1_000_000;

    #[test]
    fn response_time_pairs_each_user_message_with_the_next_answer() {
        let mut c = Conversation::new("c".into(), "d".into(), 0, None);
        c.add_message(Role::User, "Do you have pumps?", 10 * S);
        c.add_message(Role::User, "Hello?", 14 * S);
        let answer = c.add_message(Role::Assistant, "Yes, we have.", 16 * S);
        // 6 s and 2 s.
        assert_eq!((answer.response_ms_sum, answer.responses), (8_000, 2));
        let again = c.add_message(Role::Assistant, "Anything else?", 20 * S);
        assert_eq!((again.response_ms_sum, again.responses), (0, 0));
        assert!(c.resolved());
    }

    #[test]
    fn resolution_needs_an_answer_to_a_non_negative_last_question() {
        let mut c = Conversation::new("c".into(), "d".into(), 0, None);
        assert!(!c.resolved());
        c.add_message(Role::User, "Necesito ayuda con un producto", S);
        assert!(!c.resolved());
        c.add_message(Role::Assistant, "Claro", 2 * S);
        assert!(c.resolved());
        c.add_message(Role::User, "It does not work", 3 * S);
        c.add_message(Role::Assistant, "Sorry", 4 * S);
        assert!(!c.resolved());
        assert_eq!(c.language(), Language::Spanish);
        assert_eq!(
            c.first_user_message.as_deref(),
            Some("Necesito ayuda con un producto")
        );
        assert_eq!((c.message_count, c.user_message_count), (4, 2));
    }
}
