//! The one HTTP client for calls to the outside world: alert webhooks and WooCommerce
//! stores. Unless `allow_private_outbound` is set, every address a host resolves to is
//! checked against the special-purpose registries (loopback, private, link-local, shared,
//! benchmark, documentation, multicast, reserved; IPv4-mapped, NAT64, 6to4 and
//! IPv4-compatible IPv6 by their embedded IPv4 address), the connection is made only to the
//! addresses that passed (the resolver hands them to the client itself, so a second lookup
//! cannot answer differently), and a literal IP in a URL is checked the same way. Redirects
//! are not followed.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Why a call to the outside is refused before it is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("the URL must be http or https with a host")]
    Url,
    #[error("{0} is a loopback, private or reserved address; start Omniops with --allow-private-outbound to allow it")]
    Private(String),
    #[error("{0} does not resolve")]
    Unresolved(String),
}

/// Whether an IPv4 address is in a special-purpose range no outbound call may reach.
pub fn special_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // this network
        || a == 10 // private
        || (a == 100 && (64..128).contains(&b)) // shared (carrier-grade NAT)
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 31 && c == 196) // AS112
        || (a == 192 && b == 52 && c == 193) // AMT
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 192 && b == 175 && c == 48) // AS112 direct delegation
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224 // multicast, reserved, broadcast
}

/// Whether an IPv6 address is special-purpose, or carries a special IPv4 address.
pub fn special_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded =
        |hi: u16, lo: u16| special_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    if s[..5] == [0; 5] {
        // ::/96 (unspecified, loopback, IPv4-compatible) and ::ffff:0:0/96 (IPv4-mapped)
        return s[5] != 0xffff || embedded(s[6], s[7]);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return embedded(s[6], s[7]); // NAT64
    }
    if s[0] == 0x2002 {
        return embedded(s[1], s[2]); // 6to4
    }
    (s[0] == 0x64 && s[1] == 0xff9b) // local-use NAT64
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) // discard-only
        || (s[0] == 0x2001 && s[1] < 0x200) // IETF protocol assignments (Teredo, benchmarking, ORCHID)
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || (s[0] & 0xfff0) == 0x3ff0 // documentation (3fff::/20)
        || s[0] == 0x5f00 // SRv6 SIDs
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local
        || (s[0] & 0xff00) == 0xff00 // multicast
}

pub fn special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

/// Resolves names for the client, keeping only addresses that may be called.
struct CheckedResolver {
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allow_private || !special(a.ip()))
                .collect();
            if allowed.is_empty() {
                let error = if found.is_empty() {
                    OutboundError::Unresolved(host)
                } else {
                    OutboundError::Private(host)
                };
                return Err(Box::new(error) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The client every outbound call goes through.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_private: bool,
}

impl Outbound {
    pub fn new(allow_private: bool, timeout: Duration) -> Outbound {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(CheckedResolver { allow_private }))
            .build()
            .unwrap_or_else(|error| {
                // Only a broken TLS backend fails here; fall back to a client that refuses
                // everything rather than one that checks nothing.
                tracing::error!(%error, "outbound HTTP client");
                reqwest::Client::new()
            });
        Outbound {
            client,
            allow_private,
        }
    }

    /// Checks a URL before it is stored or called: http(s) with a host, and a literal IP
    /// address (which skips name resolution) not a special one.
    pub fn check(&self, url: &str) -> Result<Url, OutboundError> {
        let parsed = Url::parse(url).map_err(|_| OutboundError::Url)?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(OutboundError::Url);
        }
        let literal = match parsed.host() {
            None => return Err(OutboundError::Url),
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
        };
        if let Some(ip) = literal {
            if !self.allow_private && special(ip) {
                return Err(OutboundError::Private(ip.to_string()));
            }
        }
        Ok(parsed)
    }

    /// Checks a URL and also resolves its host now (when it is saved), so that a host that
    /// only points inside is refused at once rather than at the first call. A name that
    /// does not resolve yet is accepted: every call checks again when it connects.
    pub async fn check_resolving(&self, url: &str) -> Result<Url, OutboundError> {
        let parsed = self.check(url)?;
        if let (Some(url::Host::Domain(host)), false) = (parsed.host(), self.allow_private) {
            let port = parsed.port_or_known_default().unwrap_or(443);
            let found: Vec<IpAddr> = match tokio::net::lookup_host((host, port)).await {
                Ok(addresses) => addresses.map(|a| a.ip()).collect(),
                Err(_) => Vec::new(),
            };
            if !found.is_empty() && found.iter().all(|ip| special(*ip)) {
                return Err(OutboundError::Private(host.to_string()));
            }
        }
        Ok(parsed)
    }

    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, OutboundError> {
        Ok(self.client.get(self.check(url)?))
    }

    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, OutboundError> {
        Ok(self.client.post(self.check(url)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_purpose_addresses_are_refused() {
        // Ranges that once slipped through (NAT64, 6to4, mapped), and the usual suspects.
        for text in [
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "::127.0.0.1",
            "fec0::1",
            "198.18.0.1",
            "192.0.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
            "192.0.2.1",
            "203.0.113.9",
            "3fff::1",
            "64:ff9b:1::1",
        ] {
            let ip: IpAddr = text.parse().expect(text);
            assert!(special(ip), "{text} must be refused");
        }
        for text in [
            "93.184.215.14",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "64:ff9b::5db8:d70e",
            "2002:5db8:d70e::",
            "::ffff:93.184.215.14",
        ] {
            let ip: IpAddr = text.parse().expect(text);
            assert!(!special(ip), "{text} is public");
        }
    }

    #[tokio::test]
    async fn urls_are_checked_before_any_call() {
        let strict = Outbound::new(false, Duration::from_secs(1));
        assert_eq!(
            strict.check("ftp://example.com/").err(),
            Some(OutboundError::Url)
        );
        assert!(matches!(
            strict.check("http://127.0.0.1:9/hook"),
            Err(OutboundError::Private(_))
        ));
        assert!(matches!(
            strict.check("http://[::ffff:7f00:1]/"),
            Err(OutboundError::Private(_))
        ));
        assert!(matches!(
            strict.check_resolving("http://localhost:9/").await,
            Err(OutboundError::Private(_))
        ));
        assert!(strict.check("http://93.184.215.14/hook").is_ok());
        // A name that resolves inside is refused at connect time too, by the resolver.
        let error = strict
            .client
            .get("http://localhost:9/")
            .send()
            .await
            .expect_err("refused");
        assert!(
            format!("{error:?}").contains("Private(\"localhost\")"),
            "{error:?}"
        );
        let open = Outbound::new(true, Duration::from_secs(1));
        assert!(open.check("http://127.0.0.1:9/hook").is_ok());
    }
}
