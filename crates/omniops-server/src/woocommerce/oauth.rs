//! OAuth 1.0a one-legged request signing, as WooCommerce's REST API requires over plain
//! HTTP (over HTTPS it takes basic auth): HMAC-SHA1 over the method, the URL without its
//! query and the sorted, percent-encoded parameters, keyed by the consumer secret and `&`.

use base64::Engine;
use hmac::{Hmac, Mac};

/// RFC 3986 percent-encoding: everything but unreserved characters.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The signature of a request to `base_url` (no query) with `params` (oauth ones included,
/// `oauth_signature` excluded).
pub fn signature(
    method: &str,
    base_url: &str,
    params: &[(String, String)],
    secret: &str,
) -> String {
    let mut pairs: Vec<(String, String)> =
        params.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    pairs.sort();
    let normalised = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base = format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(base_url),
        encode(&normalised)
    );
    let key = format!("{}&", encode(secret));
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `params` with the OAuth parameters and the signature added, for the query string.
pub fn signed_params(
    method: &str,
    base_url: &str,
    params: &[(String, String)],
    key: &str,
    secret: &str,
    nonce: &str,
    timestamp: i64,
) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = params.to_vec();
    all.extend([
        ("oauth_consumer_key".to_string(), key.to_string()),
        ("oauth_nonce".to_string(), nonce.to_string()),
        (
            "oauth_signature_method".to_string(),
            "HMAC-SHA1".to_string(),
        ),
        ("oauth_timestamp".to_string(), timestamp.to_string()),
    ]);
    let signature = signature(method, base_url, &all, secret);
    all.push(("oauth_signature".to_string(), signature));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn signs_as_woocommerce_checks() {
        // Computed independently (Python's hmac, hashlib.sha1 and urllib.parse.quote).
        let params = pairs(&[
            ("per_page", "100"),
            ("page", "2"),
            ("oauth_consumer_key", "ck_test"),
            ("oauth_nonce", "abc123"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "1764547200"),
        ]);
        assert_eq!(
            signature(
                "GET",
                "http://127.0.0.1:8080/wp-json/wc/v3/products",
                &params,
                "cs_secret"
            ),
            "BZJ07FpT6PyB8yjGV2e+YiuuyuE="
        );
    }

    #[test]
    fn encodes_reserved_characters() {
        assert_eq!(encode("2026-11-30T10:00:00"), "2026-11-30T10%3A00%3A00");
        assert_eq!(encode("a b+c/é~"), "a%20b%2Bc%2F%C3%A9~");
    }
}
