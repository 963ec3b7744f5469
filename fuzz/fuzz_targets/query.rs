//! A query string, decoded as the server's `Query<Params>` does and read by the parameter
//! parsers every dashboard endpoint uses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omniops_core::limits::MAX_DOMAIN_LEN;
use omniops_core::params::{check, domain, pagination, window, Params};
use omniops_fuzz::RECEIVED_AT;

fuzz_target!(|data: &[u8]| {
    let params: Params = form_urlencoded::parse(data).into_owned().collect();
    if check(&params).is_err() {
        return;
    }
    if let Ok(w) = window(&params, 7, RECEIVED_AT) {
        assert!(w.start < w.end, "empty or inverted window {w:?}");
        assert!(w.days.is_none_or(|d| d >= 1));
    }
    if let Ok(Some(d)) = domain(&params) {
        assert!(!d.is_empty() && d.len() <= MAX_DOMAIN_LEN && !d.contains(char::is_whitespace));
    }
    if let Ok((page, limit)) = pagination(&params, 20, 100) {
        assert!((1..=1_000_000).contains(&page) && (1..=100).contains(&limit));
    }
});
