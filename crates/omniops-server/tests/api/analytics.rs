//! `/api/dashboard/analytics` and `/api/dashboard/conversations` against a hand-computed fixture.

use crate::common::TestApp;
use crate::http_test;
use serde_json::{json, Value};

fn conversation(id: &str, domain: &str, at: &str) -> Value {
    json!({"type": "conversation", "conversation_id": id, "domain": domain, "timestamp": at})
}

fn message(conversation: &str, role: &str, content: &str, at: &str) -> Value {
    json!({"type": "message", "conversation_id": conversation, "role": role, "content": content, "timestamp": at})
}

/// Now is 2026-11-26T12:30Z; the 7-day window starts 2026-11-19T13:00Z.
fn fixture() -> Value {
    json!([
        conversation("c1", "shop.example", "2026-11-26T10:00:00Z"),
        message("c1", "user", "Do you have hydraulic pumps?", "2026-11-26T10:00:00Z"),
        message("c1", "assistant", "Yes, two models.", "2026-11-26T10:00:04Z"),
        message("c1", "user", "Thanks, perfect!", "2026-11-26T10:01:00Z"),
        message("c1", "assistant", "You're welcome.", "2026-11-26T10:01:02Z"),
        conversation("c2", "shop.example", "2026-11-25T09:00:00Z"),
        message("c2", "user", "Hola, necesito ayuda con un producto", "2026-11-25T09:00:00Z"),
        message("c2", "user", "do you have   HYDRAULIC pumps?", "2026-11-25T09:00:10Z"),
        message("c2", "assistant", "Sí.", "2026-11-25T09:00:20Z"),
        conversation("c3", "parts.example", "2026-11-24T08:00:00Z"),
        message("c3", "user", "It does not work, error 500", "2026-11-24T08:00:00Z"),
        message("c3", "assistant", "Sorry about that.", "2026-11-24T08:00:06Z"),
        conversation("c4", "parts.example", "2026-11-23T08:00:00Z"),
        message("c4", "user", "Hallo, ich brauche Hilfe", "2026-11-23T08:00:00Z"),
        conversation("c5", "parts.example", "2026-11-23T09:00:00Z"),
        // In the previous period.
        conversation("c0", "shop.example", "2026-11-15T10:00:00Z"),
        message("c0", "user", "old question", "2026-11-15T10:00:00Z"),
        // Searches that found nothing, from a live session and a backfilled one.
        {"type": "session.start", "session_id": "s1", "model": "gpt-4", "domain": "shop.example",
         "conversation_id": "c1", "timestamp": "2026-11-26T11:00:00Z"},
        {"type": "search", "session_id": "s1", "query": "Hydraulic  Pumps", "results": 0, "timestamp": "2026-11-26T11:00:05Z"},
        {"type": "search", "session_id": "s1", "query": "filters", "results": 3, "timestamp": "2026-11-26T11:00:07Z"},
        {"type": "search", "session_id": "s1", "query": "torque wrench", "results": 0, "timestamp": "2026-11-26T11:00:09Z"},
        {"type": "session", "session_id": "b1", "model": "gpt-4", "domain": "shop.example",
         "start_time": "2026-11-20T10:00:00Z", "duration_ms": 10, "success": true,
         "input_tokens": 1, "output_tokens": 1, "searches": [{"query": "Gear Oil", "results": 0}]}
    ])
}

async fn analytics_match_hand_computed_values(app: &TestApp) {
    let (status, answer) = app.ingest(fixture()).await;
    assert_eq!(
        (status, answer["rejected"].clone()),
        (200, json!([])),
        "{answer}"
    );

    let (status, r) = app.get_json("/api/dashboard/analytics?days=7", None).await;
    assert_eq!(status, 200, "{r}");
    // Waits: 4 s, 2 s, 20 s + 10 s (two questions, one answer), 6 s = 42 s over 5 answers.
    assert_eq!(r["responseTime"], json!(8.4));
    // One positive ("Thanks"), one negative ("not work"), six user messages: 3 + 2 × 0 = 3.
    assert_eq!(r["satisfactionScore"], json!(3.0));
    // c1 and c2 resolved; c3's last question negative; c4 unanswered; c5 has no user message.
    assert_eq!(r["resolutionRate"], json!(50.0));
    assert_eq!(
        r["topQueries"],
        json!([
            {"query": "do you have hydraulic pumps?", "count": 2, "percentage": 33.3},
            {"query": "hallo, ich brauche hilfe", "count": 1, "percentage": 16.7},
            {"query": "hola, necesito ayuda con un producto", "count": 1, "percentage": 16.7},
            {"query": "it does not work, error 500", "count": 1, "percentage": 16.7},
            {"query": "thanks, perfect!", "count": 1, "percentage": 16.7}
        ])
    );
    assert_eq!(
        r["failedSearches"],
        json!(["torque wrench", "hydraulic pumps", "gear oil"])
    );
    assert_eq!(
        r["languageDistribution"],
        json!([
            {"language": "English", "percentage": 50.0, "color": "bg-blue-500"},
            {"language": "German", "percentage": 25.0, "color": "bg-red-500"},
            {"language": "Spanish", "percentage": 25.0, "color": "bg-yellow-500"}
        ])
    );
    assert_eq!(
        r["metrics"],
        json!({"totalMessages": 10, "userMessages": 6, "avgMessagesPerDay": 1.4})
    );

    let (_, r) = app
        .get_json("/api/dashboard/analytics?days=7&domain=parts.example", None)
        .await;
    assert_eq!(r["responseTime"], json!(6.0));
    // 3 + 2 × (0 − 1) / 2 = 2
    assert_eq!(r["satisfactionScore"], json!(2.0));
    assert_eq!(r["resolutionRate"], json!(0.0));
    assert_eq!(r["failedSearches"], json!([]));
    assert_eq!(r["metrics"]["totalMessages"], 3);

    // Repeats and errors: a known conversation changes nothing, an unknown one is rejected,
    // a repeated message id is counted once.
    let (_, answer) = app
        .ingest(json!([
            conversation("c1", "shop.example", "2026-11-26T11:00:00Z"),
            message("nope", "user", "hi", "2026-11-26T11:00:00Z"),
            {"type": "message", "conversation_id": "c5", "message_id": "m1", "role": "user", "content": "hi", "timestamp": "2026-11-26T11:00:00Z"},
            {"type": "message", "conversation_id": "c5", "message_id": "m1", "role": "user", "content": "hi", "timestamp": "2026-11-26T11:00:00Z"}
        ]))
        .await;
    assert_eq!(
        answer,
        json!({"accepted": 3, "rejected": [{"index": 1, "error": "unknown conversation", "field": "conversation_id"}]})
    );
    let (_, r) = app.get_json("/api/dashboard/analytics?days=7", None).await;
    assert_eq!(r["metrics"]["totalMessages"], 11);
}
http_test!(analytics_report, analytics_match_hand_computed_values);

async fn conversations_are_counted_and_paginated(app: &TestApp) {
    app.ingest(fixture()).await;
    let (status, r) = app
        .get_json("/api/dashboard/conversations?days=7", None)
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["total"], 5);
    // Five against one in the previous seven days: +400 %.
    assert_eq!(
        (r["change"].clone(), r["isNew"].clone()),
        (json!(400.0), json!(false))
    );
    assert_eq!(
        r["recent"][0],
        json!({"id": "c1", "message": "Do you have hydraulic pumps?", "timestamp": "2026-11-26T10:00:00Z"})
    );
    assert_eq!(r["recent"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        r["recent"][3],
        json!({"id": "c5", "message": "", "timestamp": "2026-11-23T09:00:00Z"})
    );
    assert_eq!(
        r["pagination"],
        json!({"page": 1, "limit": 20, "total": 5, "totalPages": 1})
    );

    let (_, r) = app
        .get_json("/api/dashboard/conversations?days=7&page=2&limit=2", None)
        .await;
    let ids: Vec<&str> = r["recent"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["c3", "c5"]);
    assert_eq!(
        r["pagination"],
        json!({"page": 2, "limit": 2, "total": 5, "totalPages": 3})
    );
    let (_, r) = app
        .get_json("/api/dashboard/conversations?days=7&page=9", None)
        .await;
    assert_eq!(r["recent"], json!([]));
    let (_, r) = app
        .get_json(
            "/api/dashboard/conversations?days=7&domain=parts.example",
            None,
        )
        .await;
    // No conversation in the previous period: the change is "new", not 0 %.
    assert_eq!(
        (r["total"].clone(), r["change"].clone(), r["isNew"].clone()),
        (json!(3), json!(null), json!(true))
    );
    // The overview's card says the same.
    let html = app
        .get_text("/dashboard/partials/stats?days=7&domain=parts.example")
        .await;
    let card = html
        .split("data-testid=\"conversations\"")
        .nth(1)
        .unwrap_or_default();
    assert!(card.contains("data-change=\"new this period\""), "{card}");
    let (_, r) = app
        .get_json(
            "/api/dashboard/conversations?days=7&domain=quiet.example",
            None,
        )
        .await;
    assert_eq!(
        (r["total"].clone(), r["change"].clone(), r["isNew"].clone()),
        (json!(0), json!(0.0), json!(false))
    );

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("page=0", "page"),
        ("page=x", "page"),
        ("days=0", "days"),
    ] {
        let (status, body) = app
            .get_json(&format!("/api/dashboard/conversations?{query}"), None)
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some(field)),
            "{query}"
        );
    }
    let (status, body) = app
        .get_json("/api/dashboard/analytics?from=2026-11-26T00:00:00Z", None)
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("from")));
}
http_test!(
    conversations_report,
    conversations_are_counted_and_paginated
);

/// The Performance tab's conversation metrics against a hand-computed fixture.
async fn performance_metrics_match_hand_computed_values(app: &TestApp) {
    let conversation = |id: &str, metadata: Value| {
        json!({"type": "conversation", "conversation_id": id, "domain": "perf.example",
               "timestamp": "2026-11-26T09:00:00Z", "metadata": metadata})
    };
    let message = |id: &str, role: &str, text: &str, at: &str| json!({"type": "message", "conversation_id": id, "role": role, "content": text, "timestamp": at});
    let events = json!([
        // p1: two answers; the first is followed by a negative reply, the second is not.
        conversation("p1", Value::Null),
        message("p1", "user", "Do you have pumps?", "2026-11-26T10:00:00Z"),
        message("p1", "assistant", "Yes, the P-100.", "2026-11-26T10:00:05Z"),
        message(
            "p1",
            "user",
            "It is still not working",
            "2026-11-26T10:01:00Z"
        ),
        message(
            "p1",
            "assistant",
            "Sorry, try the P-200.",
            "2026-11-26T10:01:10Z"
        ),
        message("p1", "user", "Thanks, great!", "2026-11-26T10:02:00Z"),
        // p2: the user asks for a person.
        conversation("p2", Value::Null),
        message(
            "p2",
            "user",
            "I want to talk to a human",
            "2026-11-26T11:00:00Z"
        ),
        message("p2", "assistant", "Connecting you.", "2026-11-26T11:00:05Z"),
        // p3: marked escalated by its metadata.
        conversation("p3", json!({"escalated": true})),
        message("p3", "user", "Where is my order?", "2026-11-26T11:10:00Z"),
        message("p3", "assistant", "On its way.", "2026-11-26T11:10:05Z"),
        // p4: a greeting only: no answer, no conversation with user messages.
        conversation("p4", Value::Null),
        message("p4", "assistant", "Hello!", "2026-11-26T11:20:00Z"),
    ]);
    let (status, answer) = app.ingest(events).await;
    assert_eq!(
        (status, answer["rejected"].clone()),
        (200, json!([])),
        "{answer}"
    );
    let (status, r) = app
        .get_json("/api/dashboard/analytics?days=1&domain=perf.example", None)
        .await;
    assert_eq!(status, 200, "{r}");
    // 4 answers (p1 twice, p2, p3), 1 contradicted: 3 / 4 = 75 %. 2 of the 3 conversations
    // with user messages escalated: 66.7 %. Resolved at first contact: p2 and p3 (one
    // question each; p1's last question is unanswered): 66.7 %. No customer named: no users.
    assert_eq!(
        r["performanceMetrics"],
        json!({"answerAccuracy": 75.0, "answers": 4, "contradictedAnswers": 1,
               "escalationRate": 66.7, "escalations": 2,
               "firstContactResolution": 66.7, "resolvedAtFirstContact": 2, "users": null})
    );

    // Customers: k1 (cust-1) is followed up by k2 in a later request, k3 (42) is not.
    let customer = |id: &str, who: Value, at: &str| {
        json!({"type": "conversation", "conversation_id": id, "domain": "perf.example",
               "timestamp": at, "metadata": {"customer_id": who}})
    };
    let (status, answer) = app
        .ingest(json!([
            customer("k1", json!("cust-1"), "2026-11-26T09:30:00Z"),
            message(
                "k1",
                "user",
                "Do you ship to Spain?",
                "2026-11-26T09:30:00Z"
            ),
            message("k1", "assistant", "Yes.", "2026-11-26T09:30:05Z"),
            customer("k3", json!(42), "2026-11-26T11:40:00Z"),
            message("k3", "user", "Do you have pumps?", "2026-11-26T11:40:00Z"),
            message("k3", "assistant", "Yes.", "2026-11-26T11:40:05Z"),
            message("k3", "user", "In blue?", "2026-11-26T11:41:00Z"),
            message("k3", "assistant", "Yes, in blue.", "2026-11-26T11:41:05Z"),
        ]))
        .await;
    assert_eq!(
        (status, answer["rejected"].clone()),
        (200, json!([])),
        "{answer}"
    );
    let metrics = |r: &Value| r["performanceMetrics"].clone();
    let (_, r) = app
        .get_json("/api/dashboard/analytics?days=1&domain=perf.example", None)
        .await;
    // p2, p3, k1 and k3 (customers with no follow-up yet, k3 despite two questions): 4 of 5.
    assert_eq!(metrics(&r)["firstContactResolution"], json!(80.0));

    let (status, answer) = app
        .ingest(json!([
            customer("k2", json!("cust-1"), "2026-11-26T12:00:00Z"),
            message("k2", "user", "And to France?", "2026-11-26T12:00:00Z"),
            message("k2", "assistant", "Yes.", "2026-11-26T12:00:05Z"),
        ]))
        .await;
    assert_eq!(
        (status, answer["rejected"].clone()),
        (200, json!([])),
        "{answer}"
    );
    let (_, r) = app
        .get_json("/api/dashboard/analytics?days=1&domain=perf.example", None)
        .await;
    // Answers: p1 2, p2 1, p3 1, k1 1, k2 1, k3 2 = 8; 1 contradicted: 7 / 8 = 87.5 %.
    // Escalated: p2, p3 of 6 conversations with user messages: 33.3 %. First contact:
    // p2, p3, k2, k3 (k1 was followed up by k2 within 24 h): 4 of 6 = 66.7 %. Users:
    // cust-1 and 42.
    assert_eq!(
        metrics(&r),
        json!({"answerAccuracy": 87.5, "answers": 8, "contradictedAnswers": 1,
               "escalationRate": 33.3, "escalations": 2,
               "firstContactResolution": 66.7, "resolvedAtFirstContact": 4, "users": 2})
    );
    // For all domains the same: no other domain has conversations.
    let (_, all) = app.get_json("/api/dashboard/analytics?days=1", None).await;
    assert_eq!(metrics(&all), metrics(&r));
}
http_test!(
    performance_metrics,
    performance_metrics_match_hand_computed_values
);

/// In the browser: the Performance tab shows the conversation metrics, and the overview
/// shows users once conversations name their customers (the figures of the API test above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_performance_tab_and_the_users_card() {
    let Some(browser) = crate::browser::Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(omniops_testkit::Engine::Sqlite)
        .await
        .expect("sqlite");
    let b = &browser;
    b.goto(&app.url("/dashboard?days=1")).await;
    b.text("[data-testid=conversations] .stat-value").await;
    // No conversation names a customer: no Users card.
    let users_shown: bool = b
        .client
        .execute(
            "return document.querySelector('[data-testid=users]') !== null;",
            vec![],
        )
        .await
        .expect("query")
        .as_bool()
        .unwrap_or(true);
    assert!(!users_shown);
    let conversation = |id: &str, customer: Value| {
        json!({"type": "conversation", "conversation_id": id, "domain": "perf.example",
               "timestamp": "2026-11-26T10:00:00Z", "metadata": {"customer_id": customer}})
    };
    let message = |id: &str, role: &str, text: &str, at: &str| json!({"type": "message", "conversation_id": id, "role": role, "content": text, "timestamp": at});
    let (status, _) = app
        .ingest(json!([
            // Two answers, the first contradicted; resolved, followed up by b2.
            conversation("b1", json!("ann")),
            message("b1", "user", "Do you have pumps?", "2026-11-26T10:00:00Z"),
            message("b1", "assistant", "Yes, the P-100.", "2026-11-26T10:00:05Z"),
            message(
                "b1",
                "user",
                "It is still not working",
                "2026-11-26T10:01:00Z"
            ),
            message("b1", "assistant", "Try the P-200.", "2026-11-26T10:01:10Z"),
            // Asks for a person; resolved, and no follow-up.
            conversation("b2", json!("ann")),
            message(
                "b2",
                "user",
                "Can I talk to a human?",
                "2026-11-26T11:00:00Z"
            ),
            message("b2", "assistant", "Connecting you.", "2026-11-26T11:00:05Z"),
            conversation("b3", json!("bob")),
            message("b3", "user", "Where is my order?", "2026-11-26T11:10:00Z"),
            message("b3", "assistant", "On its way.", "2026-11-26T11:10:05Z"),
        ]))
        .await;
    assert_eq!(status, 200);
    // Users: ann and bob.
    b.goto(&app.url("/dashboard?days=1")).await;
    assert_eq!(b.text("[data-testid=users] .stat-value").await, "2");
    // Answers 4, 1 contradicted: 75 %. Escalated: b2 of 3: 33.3 %. First contact: b2 and
    // b3 (b1 was followed up by b2): 66.7 %.
    b.goto(&app.url("/dashboard/analytics?days=1&tab=performance"))
        .await;
    assert_eq!(
        b.text("[data-testid=answer-accuracy] .stat-value").await,
        "75.0%"
    );
    assert_eq!(
        b.text("[data-testid=escalation-rate] .stat-value").await,
        "33.3%"
    );
    assert_eq!(
        b.text("[data-testid=first-contact-resolution] .stat-value")
            .await,
        "66.7%"
    );
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    browser.close().await;
}
