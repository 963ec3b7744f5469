//! One ingest event, as `POST /api/v1/ingest` parses each element of `events`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omniops_core::events::parse;
use omniops_fuzz::{check_event, RECEIVED_AT};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    match parse(raw, RECEIVED_AT) {
        Ok(event) => check_event(&event),
        Err(error) => {
            // A refused object names the field to blame, so the 400 can.
            let object = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(raw);
            if object.is_ok() {
                let field = error.field.as_deref().unwrap_or_default();
                assert!(!field.is_empty(), "refusal without a field: {error:?}");
            }
        }
    }
});
