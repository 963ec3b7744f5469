//! The `/api/dashboard/analytics` and `/api/dashboard/conversations` reports, from counts
//! the store keeps per message and per conversation. Definitions are in the README.

use crate::clock::{to_rfc3339, Micros, MICROS_PER_DAY};
use crate::money::Rounded;
use crate::money::{json_number, percentage, ratio};
use crate::text::{satisfaction_score, Language};
use crate::window::Window;
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageStats {
    pub messages: i64,
    pub user_messages: i64,
    pub positive: i64,
    pub negative: i64,
    pub response_ms_sum: i64,
    pub responses: i64,
    /// Assistant messages that answered a user message, and user messages that contradicted
    /// the answer before them (README: analytics, answer accuracy).
    pub answers: i64,
    pub contradicted: i64,
}

impl MessageStats {
    /// What one stored message adds.
    pub fn of_message(
        user: bool,
        sentiment: i64,
        response_ms_sum: i64,
        responses: i64,
        contradicts: bool,
    ) -> Self {
        MessageStats {
            messages: 1,
            user_messages: i64::from(user),
            positive: i64::from(user && sentiment > 0),
            negative: i64::from(user && sentiment < 0),
            response_ms_sum,
            responses,
            answers: i64::from(!user && responses > 0),
            contradicted: i64::from(user && contradicts),
        }
    }

    pub fn add(&mut self, o: &MessageStats) {
        self.messages = self.messages.saturating_add(o.messages);
        self.user_messages = self.user_messages.saturating_add(o.user_messages);
        self.positive = self.positive.saturating_add(o.positive);
        self.negative = self.negative.saturating_add(o.negative);
        self.response_ms_sum = self.response_ms_sum.saturating_add(o.response_ms_sum);
        self.responses = self.responses.saturating_add(o.responses);
        self.answers = self.answers.saturating_add(o.answers);
        self.contradicted = self.contradicted.saturating_add(o.contradicted);
    }
}

/// What one conversation adds to the rollup of its start: itself, whether it has user
/// messages, whether it is resolved, and its language (only with user messages).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConversationCounts {
    pub conversations: i64,
    pub with_user_messages: i64,
    pub resolved: i64,
    /// In the order of [`Language::ALL`].
    pub languages: [i64; 5],
    pub escalated: i64,
    pub first_contact_resolved: i64,
}

impl ConversationCounts {
    pub fn of(c: &crate::conversation::Conversation) -> Self {
        let mut counts = ConversationCounts {
            conversations: 1,
            ..Default::default()
        };
        if c.user_message_count > 0 {
            counts.with_user_messages = 1;
            counts.escalated = i64::from(c.escalated);
            counts.first_contact_resolved = i64::from(c.first_contact_resolved());
            counts.resolved = i64::from(c.resolved());
            let language = c.language();
            if let Some(i) = Language::ALL.iter().position(|l| *l == language) {
                counts.languages[i] = 1;
            }
        }
        counts
    }

    /// `self − other`, field by field: how a conversation's contribution changed.
    pub fn minus(&self, other: &ConversationCounts) -> ConversationCounts {
        let mut languages = self.languages;
        for (l, o) in languages.iter_mut().zip(other.languages) {
            *l -= o;
        }
        ConversationCounts {
            conversations: self.conversations - other.conversations,
            with_user_messages: self.with_user_messages - other.with_user_messages,
            resolved: self.resolved - other.resolved,
            languages,
            escalated: self.escalated - other.escalated,
            first_contact_resolved: self.first_contact_resolved - other.first_contact_resolved,
        }
    }

    pub fn add(&mut self, o: &ConversationCounts) {
        self.conversations = self.conversations.saturating_add(o.conversations);
        self.with_user_messages = self.with_user_messages.saturating_add(o.with_user_messages);
        self.resolved = self.resolved.saturating_add(o.resolved);
        self.escalated = self.escalated.saturating_add(o.escalated);
        self.first_contact_resolved = self
            .first_contact_resolved
            .saturating_add(o.first_contact_resolved);
        for (l, a) in self.languages.iter_mut().zip(o.languages) {
            *l = l.saturating_add(a);
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == ConversationCounts::default()
    }

    pub fn stats(&self) -> ConversationStats {
        ConversationStats {
            with_user_messages: self.with_user_messages,
            resolved: self.resolved,
            escalated: self.escalated,
            first_contact_resolved: self.first_contact_resolved,
            languages: Language::ALL
                .iter()
                .zip(self.languages)
                .filter(|(_, n)| *n > 0)
                .map(|(l, n)| (l.code().to_string(), n))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationStats {
    /// Conversations of the window with at least one user message.
    pub with_user_messages: i64,
    pub resolved: i64,
    /// Of those, the escalated ones, and those resolved at first contact.
    pub escalated: i64,
    pub first_contact_resolved: i64,
    /// Conversations with user messages per language code.
    pub languages: Vec<(String, i64)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnalyticsInputs {
    pub messages: MessageStats,
    pub conversations: ConversationStats,
    pub top_queries: Vec<(String, i64)>,
    pub failed_searches: Vec<String>,
    /// Distinct customers; `None` when no conversation names one.
    pub users: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsReport {
    pub response_time: Rounded,
    pub satisfaction_score: Rounded,
    pub resolution_rate: Rounded,
    pub top_queries: Vec<TopQuery>,
    pub failed_searches: Vec<String>,
    pub language_distribution: Vec<LanguageShare>,
    pub metrics: Metrics,
    pub performance_metrics: PerformanceMetrics,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TopQuery {
    pub query: String,
    pub count: i64,
    pub percentage: Rounded,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LanguageShare {
    pub language: &'static str,
    pub percentage: Rounded,
    pub color: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    pub total_messages: i64,
    pub user_messages: i64,
    pub avg_messages_per_day: Rounded,
}

pub fn build_analytics(window: &Window, inputs: AnalyticsInputs) -> AnalyticsReport {
    let m = &inputs.messages;
    let c = &inputs.conversations;
    let days = ratio(
        i128::from(window.end - window.start),
        i128::from(MICROS_PER_DAY),
    );
    let per_day = if days.is_zero() {
        days
    } else {
        rust_decimal::Decimal::from(m.messages) / days
    };
    let mut languages: Vec<LanguageShare> = Language::ALL
        .into_iter()
        .map(|language| {
            let count = c
                .languages
                .iter()
                .filter(|(code, _)| Language::from_code(code) == language)
                .map(|(_, n)| n)
                .sum::<i64>();
            (language, count)
        })
        .filter(|(_, count)| *count > 0)
        .map(|(language, count)| LanguageShare {
            language: language.name(),
            percentage: percentage(i128::from(count), i128::from(c.with_user_messages)),
            color: language.color(),
        })
        .collect();
    languages.sort_by(|a, b| {
        b.percentage
            .shown()
            .cmp(&a.percentage.shown())
            .then_with(|| a.language.cmp(b.language))
    });
    AnalyticsReport {
        // Mean seconds from a user message to the next assistant message.
        response_time: json_number(
            ratio(
                i128::from(m.response_ms_sum),
                i128::from(m.responses) * 1_000,
            ),
            2,
        ),
        satisfaction_score: json_number(
            satisfaction_score(m.positive, m.negative, m.user_messages),
            2,
        ),
        resolution_rate: percentage(i128::from(c.resolved), i128::from(c.with_user_messages)),
        top_queries: inputs
            .top_queries
            .into_iter()
            .map(|(query, count)| TopQuery {
                percentage: percentage(i128::from(count), i128::from(m.user_messages)),
                query,
                count,
            })
            .collect(),
        failed_searches: inputs.failed_searches,
        language_distribution: languages,
        metrics: Metrics {
            total_messages: m.messages,
            user_messages: m.user_messages,
            avg_messages_per_day: json_number(per_day, 1),
        },
        performance_metrics: PerformanceMetrics {
            answer_accuracy: (m.answers > 0).then(|| {
                percentage(
                    i128::from(m.answers - m.contradicted),
                    i128::from(m.answers),
                )
            }),
            answers: m.answers,
            contradicted_answers: m.contradicted,
            escalation_rate: percentage(i128::from(c.escalated), i128::from(c.with_user_messages)),
            escalations: c.escalated,
            first_contact_resolution: percentage(
                i128::from(c.first_contact_resolved),
                i128::from(c.with_user_messages),
            ),
            resolved_at_first_contact: c.first_contact_resolved,
            users: inputs.users,
        },
    }
}

/// The Performance tab's conversation metrics (README: analytics), in percent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceMetrics {
    /// Answers not followed by a negative user message; `null` without answers.
    pub answer_accuracy: Option<Rounded>,
    pub answers: i64,
    pub contradicted_answers: i64,
    /// Conversations with user messages where the user asked for a person, or that an
    /// event marked `metadata.escalated`.
    pub escalation_rate: Rounded,
    pub escalations: i64,
    /// Conversations with user messages resolved at first contact: with a known customer,
    /// no follow-up conversation within 24 h; else resolved with one user question.
    pub first_contact_resolution: Rounded,
    pub resolved_at_first_contact: i64,
    /// Distinct customers of the window's conversations; `null` when none names one.
    pub users: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecentConversation {
    pub id: String,
    pub message: String,
    pub timestamp: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Pagination {
    pub page: i64,
    pub limit: i64,
    pub total: i64,
    #[serde(rename = "totalPages")]
    pub total_pages: i64,
}

impl Pagination {
    pub fn new(page: i64, limit: i64, total: i64) -> Self {
        Pagination {
            page,
            limit,
            total,
            total_pages: (total + limit - 1) / limit.max(1),
        }
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.limit
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationsReport {
    pub total: i64,
    /// Percent against the previous period; `null` when that had none and this one has some
    /// (then `isNew` is true); 0 when both had none.
    pub change: Option<Rounded>,
    pub is_new: bool,
    pub recent: Vec<RecentConversation>,
    pub pagination: Pagination,
}

/// `change` is the percentage against the previous period; with none then, it is "new"
/// (`change` null, `isNew`) or, with none now either, 0.
pub fn build_conversations(
    total: i64,
    previous: i64,
    recent: Vec<(String, Option<String>, Micros)>,
    pagination: Pagination,
) -> ConversationsReport {
    ConversationsReport {
        total,
        change: (previous > 0 || total == 0)
            .then(|| percentage(i128::from(total - previous), i128::from(previous))),
        is_new: previous == 0 && total > 0,
        recent: recent
            .into_iter()
            .map(|(id, message, at)| RecentConversation {
                id,
                message: message.unwrap_or_default(),
                timestamp: to_rfc3339(at),
            })
            .collect(),
        pagination,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;

    #[test]
    fn analytics_of_hand_computed_counts() {
        let now = parse_rfc3339("2026-11-26T12:30:00Z").expect("time");
        let window = Window::last_days(7, now).expect("window");
        let report = build_analytics(
            &window,
            AnalyticsInputs {
                messages: MessageStats {
                    messages: 10,
                    user_messages: 6,
                    positive: 3,
                    negative: 1,
                    response_ms_sum: 9_000,
                    responses: 4,
                    answers: 4,
                    contradicted: 1,
                },
                conversations: ConversationStats {
                    with_user_messages: 4,
                    resolved: 3,
                    escalated: 1,
                    first_contact_resolved: 2,
                    languages: vec![("en".into(), 2), ("es".into(), 1), ("de".into(), 1)],
                },
                top_queries: vec![("do you have pumps?".into(), 3)],
                failed_searches: vec!["pump".into()],
                users: Some(3),
            },
        );
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["responseTime"].to_string(), "2.25");
        // 3 + 2 × (3 − 1) / 6 = 3.67
        assert_eq!(json["satisfactionScore"].to_string(), "3.67");
        assert_eq!(json["resolutionRate"].to_string(), "75.0");
        assert_eq!(json["topQueries"][0]["percentage"].to_string(), "50.0");
        assert_eq!(json["languageDistribution"][0]["language"], "English");
        assert_eq!(
            json["languageDistribution"][0]["percentage"].to_string(),
            "50.0"
        );
        assert_eq!(json["languageDistribution"][1]["language"], "German");
        assert_eq!(json["languageDistribution"][1]["color"], "bg-red-500");
        assert_eq!(json["metrics"]["avgMessagesPerDay"].to_string(), "1.4");
        // (4 − 1) / 4 answers; 1 of 4 conversations.
        assert_eq!(
            json["performanceMetrics"]["answerAccuracy"].to_string(),
            "75.0"
        );
        assert_eq!(
            json["performanceMetrics"]["escalationRate"].to_string(),
            "25.0"
        );
        assert_eq!(
            json["performanceMetrics"]["firstContactResolution"].to_string(),
            "50.0"
        );
    }

    #[test]
    fn change_against_an_empty_previous_period_is_new() {
        let change = |r: &ConversationsReport| (r.change.map(|c| c.to_string()), r.is_new);
        let report = build_conversations(5, 0, vec![], Pagination::new(1, 20, 5));
        assert_eq!(change(&report), (None, true));
        let report = build_conversations(0, 0, vec![], Pagination::new(1, 20, 0));
        assert_eq!(change(&report), (Some("0.0".into()), false));
        let report = build_conversations(9, 8, vec![], Pagination::new(1, 20, 9));
        assert_eq!(change(&report), (Some("12.5".into()), false));
        assert_eq!(Pagination::new(2, 20, 41).total_pages, 3);
        assert_eq!(Pagination::new(3, 20, 41).offset(), 40);
    }
}
