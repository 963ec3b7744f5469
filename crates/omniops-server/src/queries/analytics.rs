use crate::state::AppState;
use omniops_core::analytics::{
    build_analytics, build_conversations, AnalyticsReport, ConversationStats, ConversationsReport,
    MessageStats, Pagination,
};
use omniops_core::window::Window;

pub async fn analytics_report(
    state: &AppState,
    window: &Window,
    domain: Option<&str>,
) -> anyhow::Result<AnalyticsReport> {
    Ok(analytics_with_counts(state, window, domain).await?.0)
}

/// The analytics report and the message and conversation counts it is built from (pages
/// show those too), read once.
pub async fn analytics_with_counts(
    state: &AppState,
    window: &Window,
    domain: Option<&str>,
) -> anyhow::Result<(AnalyticsReport, MessageStats, ConversationStats)> {
    let now = state.now();
    // The store reads failed queries' latest times up to `now`: keyed by its second.
    let key = (
        window.start,
        window.end,
        domain.map(str::to_string),
        now / 1_000_000,
    );
    let inputs = state
        .reports
        .analytics
        .shared(&state.generation, key, || {
            state.store.analytics_inputs(window, domain, now)
        })
        .await?;
    let (messages, conversations) = (inputs.messages.clone(), inputs.conversations.clone());
    Ok((build_analytics(window, inputs), messages, conversations))
}

pub async fn conversations_report(
    state: &AppState,
    window: &Window,
    domain: Option<&str>,
    page: i64,
    limit: i64,
) -> anyhow::Result<ConversationsReport> {
    let previous_window = window.previous();
    let (total, previous) = tokio::try_join!(
        state.store.conversation_count(window, domain),
        state.store.conversation_count(&previous_window, domain),
    )?;
    let pagination = Pagination::new(page, limit, total);
    let recent = state
        .store
        .recent_conversations(window, domain, limit, pagination.offset())
        .await?;
    Ok(build_conversations(total, previous, recent, pagination))
}

/// The spec's satisfaction score per UTC day of the window that has user messages.
pub async fn satisfaction_by_day(
    state: &AppState,
    window: &Window,
    domain: Option<&str>,
) -> anyhow::Result<Vec<(omniops_core::clock::Micros, omniops_core::money::Rounded)>> {
    let days = state.store.sentiment_by_day(window, domain).await?;
    Ok(days
        .into_iter()
        .map(|(day, positive, negative, users)| {
            let score = omniops_core::text::satisfaction_score(positive, negative, users);
            (day, omniops_core::money::json_number(score, 1))
        })
        .collect())
}

/// Distinct customers of the window's conversations (README: analytics, users); `None`
/// when no conversation names its customer.
pub async fn users(
    state: &AppState,
    window: &Window,
    domain: Option<&str>,
) -> anyhow::Result<Option<i64>> {
    state.store.distinct_customers(window, domain).await
}
