//! The fuzz targets start from the seeds in `fuzz/seeds`: each must stay a valid input, so
//! fuzzing begins inside the parsers rather than at their first refusal.

use omniops_core::events::parse;
use omniops_core::otlp::{decode_json, decode_protobuf, map_request, TraceSessions};
use std::path::PathBuf;

/// When the seeds' events arrive: 2026-06-01T00:00:00Z, as in the fuzz targets.
const RECEIVED_AT: i64 = 1_780_272_000_000_000;

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(&p).expect("seed")))
        .collect()
}

#[test]
fn event_seeds_are_accepted() {
    let seeds = seeds("event");
    assert!(seeds.len() >= 10);
    for (path, bytes) in seeds {
        let raw = String::from_utf8(bytes).expect("utf-8");
        if let Err(e) = parse(&raw, RECEIVED_AT) {
            panic!("{}: {e:?}", path.display());
        }
    }
}

#[test]
fn otlp_seeds_decode_to_the_same_three_accepted_spans() {
    let json = seeds("otlp_json");
    let proto = seeds("otlp_protobuf");
    let json = decode_json(&json[0].1).expect("json seed");
    let proto = decode_protobuf(&proto[0].1).expect("protobuf seed");
    assert_eq!(json, proto, "both encodings carry one request");
    let mapped = map_request(&proto, &mut TraceSessions::default(), RECEIVED_AT);
    assert_eq!(mapped.len(), 3);
    for event in mapped {
        let event = event.expect("span accepted");
        assert_eq!(event.session_id, "conv-9");
    }
}
