//! Who a request came from, for throttles and rate limits.
//!
//! The socket's peer is the client unless it is one of the configured trusted proxies
//! (`server.trusted_proxies`, CIDRs). Then the forwarding headers say who came before it: the
//! standard `Forwarded` (RFC 7239) if sent, else `X-Forwarded-For`. They are read from the right,
//! the hop nearest to us first, skipping trusted proxies; the first address that is not one is
//! the client. A client can write anything at the left of these headers, so nothing left of the
//! first untrusted hop is believed, and a request that did not come through a trusted proxy has
//! its headers ignored altogether.

use std::net::IpAddr;

use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest};
use ipnet::IpNet;

/// The trusted proxies.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// Parses CIDRs (`10.0.0.0/8`) or single addresses (`192.0.2.1`).
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        let nets = entries
            .iter()
            .map(|e| {
                let e = e.trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "server.trusted_proxies: {e:?} is not an address or a CIDR block"
                        )
                    })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { nets })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client of a request from `peer` with `headers`.
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let mut client = canonical(peer?);
        if !self.trusts(client) {
            return Some(client);
        }
        for hop in forwarded_hops(headers).into_iter().rev() {
            match hop {
                Some(ip) => {
                    client = canonical(ip);
                    if !self.trusts(client) {
                        break;
                    }
                }
                // An obfuscated or unreadable hop: nothing beyond it can be believed.
                None => break,
            }
        }
        Some(client)
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, so one rule covers both forms.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The hops the forwarding headers list, nearest last; `None` for a hop that is not an address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| node_address(v.trim().trim_matches('"')))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|hop| node_address(hop.trim()))
        .collect()
}

/// An address as a hop names it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or
/// `[2001:db8::1]:4711`.
fn node_address(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    s.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

/// The client of `req`, as the app's [`TrustedProxies`] decide (the peer when none are set).
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    match req.app_data::<web::Data<TrustedProxies>>() {
        Some(proxies) => proxies.client(peer, req.headers()),
        None => peer.map(canonical),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn headers_are_ignored_unless_the_peer_is_trusted() {
        let none = TrustedProxies::default();
        let h = headers(&[("x-forwarded-for", "198.51.100.9")]);
        assert_eq!(none.client(ip("203.0.113.5"), &h), ip("203.0.113.5"));
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        assert_eq!(proxies.client(ip("203.0.113.5"), &h), ip("203.0.113.5"));
        assert_eq!(proxies.client(ip("10.1.2.3"), &h), ip("198.51.100.9"));
        // A trusted peer that forwards nothing is itself the client.
        assert_eq!(
            proxies.client(ip("10.1.2.3"), &HeaderMap::new()),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let proxies =
            TrustedProxies::parse(&["10.0.0.0/8".into(), "2001:db8::/32".into()]).unwrap();
        // The client forged the leftmost entry; the proxies appended the rest.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.9, 10.0.0.2")]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &h), ip("198.51.100.9"));
        // Several header lines read as one list.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "198.51.100.9"),
        ]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &h), ip("198.51.100.9"));
        // RFC 7239 wins over X-Forwarded-For, with ports, brackets and quotes.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            (
                "forwarded",
                r#"for=1.1.1.1;proto=https, for="[2001:db8:cafe::17]:4711", For="198.51.100.9:80", for=10.0.0.2"#,
            ),
        ]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &h), ip("198.51.100.9"));
        // An obfuscated hop stops the walk at the last trusted one.
        let h = headers(&[("forwarded", "for=198.51.100.9, for=_hidden, for=10.0.0.2")]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &h), ip("10.0.0.2"));
        // IPv4-mapped peers match IPv4 rules.
        let h = headers(&[("x-forwarded-for", "198.51.100.9")]);
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.1"), &h),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn entries_are_cidrs_or_addresses() {
        assert!(TrustedProxies::parse(&["192.0.2.1".into(), "::1".into()]).is_ok());
        let err = TrustedProxies::parse(&["10.0.0.0/33".into()]).unwrap_err();
        assert!(err.to_string().contains("trusted_proxies"), "{err}");
    }
}
