use super::*;
use crate::usage::ServiceTier;

const NOW: Micros = 1_764_160_000_000_000; // 2025-11-26T12:26:40Z

fn parse_one(json: &str) -> Result<IngestEvent, EventError> {
    parse_event(json, NOW)
}

/// (message, field) of a refused event.
fn refused(json: &str) -> (String, String) {
    let e = parse(json, NOW).expect_err("refused");
    (e.message, e.field.unwrap_or_default())
}

#[test]
fn parses_a_session_start_with_default_timestamp() {
    let e = parse_one(
        r#"{"type":"session.start","session_id":"s1","model":"gpt-4","domain":"shop.example"}"#,
    )
    .expect("valid");
    assert_eq!(e.at, NOW);
    assert_eq!(e.kind.name(), "session.start");
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (
            r#"{"type":"session.start","session_id":"s1","domain":"d"}"#,
            "missing field `model`",
            "model",
        ),
        (
            r#"{"type":"usage","session_id":"s1","input_tokens":-5,"output_tokens":1}"#,
            "input_tokens must not be negative",
            "input_tokens",
        ),
        (r#"{"session_id":"s1"}"#, "missing field `type`", "type"),
        (
            r#"{"type":"log","session_id":"s1","level":"loud","message":"m"}"#,
            "level must be one of debug, info, warn, error",
            "level",
        ),
        (
            r#"{"type":"iteration","session_id":"s1","iteration":1,"timestamp":"today"}"#,
            "timestamp must be an RFC 3339 timestamp",
            "timestamp",
        ),
        (
            r#"{"type":"iteration","session_id":"","iteration":1}"#,
            "session_id must be 1 to 200 characters",
            "session_id",
        ),
    ];
    for (json, message, field) in cases {
        assert_eq!(
            refused(json),
            (message.to_string(), field.to_string()),
            "{json}"
        );
    }
    let (message, field) =
        refused(r#"{"type":"search","session_id":"s1","query":"x","results":"many"}"#);
    assert!(message.contains("invalid type"), "{message}");
    assert_eq!(field, "results");
    let (message, field) = refused(r#"{"type":"warp","session_id":"s1"}"#);
    assert!(
        message.starts_with("unknown event type `warp`"),
        "{message}"
    );
    assert_eq!(field, "type");
    // Numbers past what the type holds are named too.
    let (_, field) =
        refused(r#"{"type":"usage","session_id":"s","input_tokens":1e400,"output_tokens":1}"#);
    assert!(field.is_empty() || field == "input_tokens", "{field}");
    let (_, field) = refused(
        r#"{"type":"usage","session_id":"s","input_tokens":99999999999999999999999,"output_tokens":1}"#,
    );
    assert_eq!(field, "input_tokens");
    // Nested deep enough to exhaust the parser: refused, not crashed.
    let deep = format!(
        r#"{{"type":"session.start","session_id":"s","model":"m","domain":"d","metadata":{}1{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(parse(&deep, NOW).is_err());
}

#[test]
fn numbers_are_bounded() {
    let cases = [
        (
            r#"{"type":"usage","session_id":"s","input_tokens":10000000001,"output_tokens":0}"#,
            "input_tokens",
        ),
        (
            r#"{"type":"usage","session_id":"s","usage":{"prompt_tokens":1,"completion_tokens":10000000001}}"#,
            "usage.output_tokens",
        ),
        (
            r#"{"type":"iteration","session_id":"s","iteration":10001}"#,
            "iteration",
        ),
        (
            r#"{"type":"search","session_id":"s","query":"q","results":1000000001}"#,
            "results",
        ),
        (
            r#"{"type":"search","session_id":"s","query":"q","results":1,"duration_ms":-1}"#,
            "duration_ms",
        ),
        (
            r#"{"type":"session","session_id":"b","model":"m","domain":"d","start_time":"2025-11-26T10:00:00Z","duration_ms":4611686018427387904,"success":true,"input_tokens":1,"output_tokens":1}"#,
            "duration_ms",
        ),
        (
            r#"{"type":"session","session_id":"b","model":"m","domain":"d","start_time":"2025-11-26T10:00:00Z","end_time":"2025-12-26T11:00:00Z","success":true,"input_tokens":1,"output_tokens":1}"#,
            "end_time",
        ),
        (
            r#"{"type":"session","session_id":"b","model":"m","domain":"d","start_time":"2025-11-26T10:00:00Z","duration_ms":1,"success":true,"input_tokens":1,"output_tokens":1,"iterations":10001}"#,
            "iterations",
        ),
        (
            r#"{"type":"session","session_id":"b","model":"m","domain":"d","start_time":"2025-11-28T10:00:00Z","duration_ms":1,"success":true,"input_tokens":1,"output_tokens":1}"#,
            "start_time",
        ),
        (
            r#"{"type":"session","session_id":"b","model":"m","domain":"d","start_time":"1999-12-31T23:59:59Z","duration_ms":1,"success":true,"input_tokens":1,"output_tokens":1}"#,
            "start_time",
        ),
        (
            r#"{"type":"session","session_id":"b","model":"m","domain":"d","start_time":"2025-11-26T10:00:00Z","duration_ms":1,"success":true,"input_tokens":1,"output_tokens":1,"searches":[{"query":"a","results":2},{"query":"b","results":1000000001}]}"#,
            "searches[1].results",
        ),
        (
            r#"{"type":"order","domain":"d","order_id":"o","total":"1000000000.01","currency":"USD"}"#,
            "total",
        ),
        (
            r#"{"type":"extraction","domain":"d","extraction_type":"products","data":{"name":"pump","price":-3}}"#,
            "data.price",
        ),
    ];
    for (json, field) in cases {
        assert_eq!(refused(json).1, field, "{json}");
    }
    // At the bounds, accepted.
    parse(r#"{"type":"usage","session_id":"s","input_tokens":10000000000,"output_tokens":10000000000}"#, NOW).expect("at the bound");
    parse(
        r#"{"type":"order","domain":"d","order_id":"o","total":"1000000000","currency":"USD"}"#,
        NOW,
    )
    .expect("at the bound");
}

#[test]
fn nul_characters_are_refused_naming_their_field() {
    let cases = [
        (
            r#"{"type":"session.start","session_id":"s","model":"gpt-4\u0000","domain":"d"}"#,
            "model",
        ),
        (
            r#"{"type":"message","conversation_id":"c","role":"user","content":"hi\u0000"}"#,
            "content",
        ),
        (
            r#"{"type":"conversation","conversation_id":"c","domain":"d","metadata":{"note":"a\u0000b"}}"#,
            "metadata.note",
        ),
        (
            r#"{"type":"session","session_id":"b","model":"m","domain":"d","start_time":"2025-11-26T10:00:00Z","duration_ms":1,"success":true,"input_tokens":1,"output_tokens":1,"searches":[{"query":"x\u0000"}]}"#,
            "searches[0].query",
        ),
    ];
    for (json, field) in cases {
        let (message, got) = refused(json);
        assert_eq!(got, field, "{json}");
        assert_eq!(message, format!("{field} must not contain a NUL character"));
    }
    // A backslash followed by u0000 as text is not a NUL.
    parse(
        r#"{"type":"session.start","session_id":"s","model":"gpt-4\\u0000","domain":"d"}"#,
        NOW,
    )
    .expect("no NUL");
}

#[test]
fn usage_accepts_flat_and_nested_provider_shapes() {
    let flat = parse_one(r#"{"type":"usage","session_id":"s","input_tokens":10,"output_tokens":5,"cached_input_tokens":4}"#)
        .expect("valid");
    assert_eq!(
        flat.kind,
        EventKind::Usage(CallUsage {
            tokens: TokenUsage {
                input: 10,
                cached_input: 4,
                output: 5,
                ..Default::default()
            },
            ..Default::default()
        })
    );
    let nested = parse_one(r#"{"type":"usage","session_id":"s","usage":{"input_tokens":100,"cache_read_input_tokens":3000,"cache_creation_input_tokens":500,"output_tokens":250}}"#)
        .expect("valid");
    assert_eq!(
        nested.kind,
        EventKind::Usage(CallUsage {
            tokens: TokenUsage {
                input: 3600,
                cached_input: 3000,
                cache_write: 500,
                output: 250,
                reasoning: 0
            },
            ..Default::default()
        })
    );
}

#[test]
fn usage_names_its_service_tier_and_one_hour_cache_writes() {
    // OpenAI: the tier beside `usage`.
    let openai = parse_one(r#"{"type":"usage","session_id":"s","service_tier":"flex","usage":{"prompt_tokens":10,"completion_tokens":5}}"#)
        .expect("valid");
    let EventKind::Usage(call) = openai.kind else {
        panic!("usage")
    };
    assert_eq!(call.service_tier, ServiceTier::Flex);
    // Anthropic: the tier and the cache-write split inside `usage`.
    let anthropic = parse_one(r#"{"type":"usage","session_id":"s","usage":{"input_tokens":100,"cache_creation_input_tokens":1000,
        "cache_creation":{"ephemeral_5m_input_tokens":400,"ephemeral_1h_input_tokens":600},"output_tokens":5,"service_tier":"batch"}}"#)
        .expect("valid");
    let EventKind::Usage(call) = anthropic.kind else {
        panic!("usage")
    };
    assert_eq!(
        (
            call.tokens.input,
            call.tokens.cache_write,
            call.cache_write_1h
        ),
        (1_100, 1_000, 600)
    );
    assert_eq!(call.service_tier, ServiceTier::Batch);
    let flat = parse_one(r#"{"type":"usage","session_id":"s","input_tokens":10,"output_tokens":1,"cache_write_tokens":4,"cache_write_1h_tokens":3,"service_tier":"priority"}"#)
        .expect("valid");
    let EventKind::Usage(call) = flat.kind else {
        panic!("usage")
    };
    assert_eq!(
        (call.cache_write_1h, call.service_tier),
        (3, ServiceTier::Priority)
    );
    assert_eq!(
        refused(
            r#"{"type":"usage","session_id":"s","input_tokens":1,"output_tokens":1,"service_tier":"gold"}"#
        ),
        (
            "service_tier must be one of default, flex, priority, batch".to_string(),
            "service_tier".to_string()
        )
    );
    assert_eq!(
        refused(
            r#"{"type":"usage","session_id":"s","input_tokens":10,"output_tokens":1,"cache_write_tokens":2,"cache_write_1h_tokens":3}"#
        ),
        (
            "one-hour cache writes exceed cache_write_tokens".to_string(),
            "cache_write_1h_tokens".to_string()
        )
    );
}

#[test]
fn backfill_derives_end_time_and_search_count() {
    let e = parse_one(
        r#"{"type":"session","session_id":"b1","model":"gpt-4","domain":"d",
        "start_time":"2025-11-01T10:00:00Z","duration_ms":1500,"success":true,
        "input_tokens":1000,"output_tokens":500,"searches":[{"query":"a"},{"query":"b"}]}"#,
    )
    .expect("valid");
    let EventKind::Backfill(b) = e.kind else {
        panic!("not a backfill")
    };
    assert_eq!(b.end_time - b.start_time, 1_500_000);
    assert_eq!(b.search_count, 2);
    assert_eq!(
        refused(
            r#"{"type":"session","session_id":"b1","model":"gpt-4","domain":"d",
            "start_time":"2025-11-01T10:00:00Z","end_time":"2025-11-01T09:00:00Z","success":true,
            "input_tokens":1,"output_tokens":1}"#
        ),
        (
            "end_time must not be before start_time".to_string(),
            "end_time".to_string()
        )
    );
}

#[test]
fn conversation_events_need_no_session_id() {
    let e = parse(
        r#"{"type":"conversation","conversation_id":"c1","domain":"shop.example"}"#,
        NOW,
    )
    .expect("valid");
    assert!(matches!(
        e,
        Event::Conversation(ConversationEvent { at: NOW, .. })
    ));
    let e = parse(
        r#"{"type":"message","conversation_id":"c1","role":"user","content":"hola"}"#,
        NOW,
    )
    .expect("valid");
    assert!(matches!(
        e,
        Event::Message(MessageEvent {
            role: Role::User,
            ..
        })
    ));
    assert_eq!(
        refused(r#"{"type":"message","conversation_id":"c1","role":"bot","content":"x"}"#).0,
        "role must be user or assistant"
    );
    assert_eq!(
        refused(r#"{"type":"message","conversation_id":"c1","role":"user"}"#).0,
        "missing field `content`"
    );
    assert_eq!(
        refused(r#"{"type":"usage","input_tokens":1,"output_tokens":1}"#),
        (
            "missing field `session_id`".to_string(),
            "session_id".to_string()
        )
    );
}

#[test]
fn shop_and_page_events_validate_their_fields() {
    let e = parse(
        r#"{"type":"order","domain":"d","order_id":"o1","total":"129.99","currency":"usd"}"#,
        NOW,
    )
    .expect("valid");
    assert!(matches!(
        e,
        Event::Shop(ShopEvent {
            amount_nanos: 129_990_000_000,
            kind: ShopKind::Order,
            ..
        })
    ));
    assert_eq!(
        refused(
            r#"{"type":"cart.abandoned","domain":"d","cart_id":"c","value":-1,"currency":"USD"}"#
        )
        .0,
        "value must not be negative"
    );
    assert_eq!(
        refused(r#"{"type":"order","domain":"d","order_id":"o","total":1,"currency":"dollars"}"#).0,
        "currency must be a three-letter code such as USD"
    );
    assert_eq!(
        refused(r#"{"type":"order","domain":"d","total":1,"currency":"USD"}"#).0,
        "missing field `order_id`"
    );
    let e = parse(
        r#"{"type":"page","url":"https://d/x","domain":"d","content":"héllo","embeddings":2}"#,
        NOW,
    )
    .expect("valid");
    assert!(matches!(
        e,
        Event::Page(PageEvent {
            content_length: 5,
            embeddings: 2,
            ..
        })
    ));
    assert_eq!(
        refused(r#"{"type":"page","url":"https://d/x","domain":"d"}"#).0,
        "missing field `content` (or `content_length`)"
    );
    assert_eq!(
        refused(r#"{"type":"scrape_job","url":"u","domain":"d","status":"paused"}"#).0,
        "status must be one of queued, running, done, failed"
    );
}

/// Found by the `event` fuzz target: a repeated key was refused without naming it.
#[test]
fn a_repeated_key_is_named() {
    let (message, field) = refused(r#"{"type":"log","session_id":"a","session_id":"b"}"#);
    assert_eq!(field, "session_id");
    assert!(message.contains("duplicate"), "{message}");
}

/// Found by the `event` fuzz target: a NUL under an empty key was refused naming an empty
/// field, and one inside a key named the field with the NUL in it.
#[test]
fn a_nul_under_an_odd_key_still_names_a_field() {
    let (_, field) = refused(r#"{"": "a\u0000b", "type": "log"}"#);
    assert_eq!(field, r#""""#);
    let (_, field) = refused(r#"{"meta\u0000": 1, "type": "log"}"#);
    assert_eq!(field, r#""meta\0""#);
    assert!(!field.contains('\0'));
    let (_, field) = refused(r#"{"metadata": {"k": "v\u0000"}, "type": "log"}"#);
    assert_eq!(field, "metadata.k");
}
