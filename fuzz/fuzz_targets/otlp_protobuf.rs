//! An OTLP/HTTP trace request in protobuf, decoded and mapped onto session events as
//! `POST /v1/traces` does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omniops_core::otlp::{decode_protobuf, map_request, TraceSessions};
use omniops_fuzz::{check_session_event, RECEIVED_AT};

fuzz_target!(|data: &[u8]| {
    let Ok(blocks) = decode_protobuf(data) else {
        return;
    };
    let spans: usize = blocks.iter().map(|b| b.spans.len()).sum();
    let mut traces = TraceSessions::default();
    let mapped = map_request(&blocks, &mut traces, RECEIVED_AT);
    assert_eq!(mapped.len(), spans, "every span mapped or rejected, once");
    for event in mapped.iter().flatten() {
        check_session_event(event);
    }
});
