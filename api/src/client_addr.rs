//! The address a request came from: the TCP peer, unless that peer is one of
//! `api.trusted_proxies` (the Ingress, a load balancer), in which case the address that
//! proxy reports in `Forwarded` (RFC 7239) or, without it, `X-Forwarded-For`. Anyone can
//! send those headers, so they count only as far as trusted proxies wrote them: the chain
//! is read from the right, past each trusted hop, and the first address that is not a
//! trusted proxy is the client. The rate limiter keys on it, the audit log and sessions
//! record it.

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;
use std::net::IpAddr;

/// The configured trusted proxy ranges.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses `api.trusted_proxies`: CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses.
    pub fn parse(ranges: &[String]) -> anyhow::Result<TrustedProxies> {
        ranges
            .iter()
            .map(|range| {
                parse_range(range).ok_or_else(|| {
                    anyhow::anyhow!(
                        "api.trusted_proxies: {range:?} is not an address or a CIDR range"
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .map(TrustedProxies)
    }

    /// True when `ip` lies in a trusted range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0
            .iter()
            .any(|&(net, prefix)| in_range(ip, net, prefix))
    }

    /// The client's address, or `None` without a TCP peer.
    pub fn client(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = canonical(req.peer_addr()?.ip());
        Some(self.resolve(peer, req.headers()))
    }

    fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer;
        if !self.contains(client) {
            return client;
        }
        for hop in forwarded_chain(headers).iter().rev() {
            // An obfuscated or garbled hop ends what can be known: the proxy that wrote
            // it is the last address vouched for.
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !self.contains(client) {
                return client;
            }
        }
        client
    }
}

/// The `for` addresses of `Forwarded`, or else the `X-Forwarded-For` list, in order.
fn forwarded_chain(headers: &HeaderMap) -> Vec<String> {
    let forwarded: Vec<String> = headers
        .get_all("forwarded")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim().trim_matches('"').to_owned())
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|hop| hop.trim().to_owned())
        .filter(|hop| !hop.is_empty())
        .collect()
}

/// An address as proxies write it: bare, `[v6]`, `[v6]:port` or `v4:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok().map(canonical);
    }
    if let Ok(ip) = hop.parse() {
        return Some(canonical(ip));
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok().map(canonical)
}

/// IPv4 addresses reached over an IPv6 socket (`::ffff:a.b.c.d`) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn parse_range(range: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = match range.trim().split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().ok()?)),
        None => (range.trim(), None),
    };
    let ip = canonical(addr.parse().ok()?);
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(max);
    (prefix <= max).then_some((ip, prefix))
}

fn in_range(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn proxies(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&ranges.iter().map(|r| r.to_string()).collect::<Vec<_>>())
            .expect("ranges")
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn ranges_parse_and_match_at_their_edges() {
        let p = proxies(&["10.0.0.0/8", "192.168.1.7", "fd00::/8"]);
        assert!(p.contains(ip("10.255.255.255")));
        assert!(!p.contains(ip("11.0.0.0")));
        assert!(p.contains(ip("192.168.1.7")));
        assert!(!p.contains(ip("192.168.1.8")));
        assert!(p.contains(ip("fd12::1")));
        assert!(!p.contains(ip("fe80::1")));
        assert!(
            p.contains(ip("::ffff:10.1.2.3")),
            "IPv4-mapped counts as IPv4"
        );
        assert!(proxies(&["0.0.0.0/0"]).contains(ip("203.0.113.9")));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "::/129"] {
            assert!(TrustedProxies::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let p = proxies(&["10.0.0.0/8"]);
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=198.51.100.2"),
        ]);
        assert_eq!(p.resolve(ip("203.0.113.5"), &h), ip("203.0.113.5"));
        assert_eq!(
            TrustedProxies::default().resolve(ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_hop_from_the_right_is_the_client() {
        let p = proxies(&["10.0.0.0/8"]);
        // The client forged the leftmost entry; the proxy appended what it saw.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.5, 10.0.0.3")]);
        assert_eq!(p.resolve(ip("10.0.0.2"), &h), ip("203.0.113.5"));
        // Forwarded wins over X-Forwarded-For, with quotes, ports and IPv6 brackets.
        let h = headers(&[
            (
                "forwarded",
                "for=\"[2001:db8::17]:4711\";proto=https, for=10.0.0.3",
            ),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        assert_eq!(p.resolve(ip("10.0.0.2"), &h), ip("2001:db8::17"));
        let h = headers(&[("x-forwarded-for", "203.0.113.7:5555")]);
        assert_eq!(p.resolve(ip("10.0.0.2"), &h), ip("203.0.113.7"));
        // No header: the proxy itself; an obfuscated hop: the last trusted one.
        assert_eq!(p.resolve(ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
        let h = headers(&[("forwarded", "for=_hidden, for=10.0.0.3")]);
        assert_eq!(p.resolve(ip("10.0.0.2"), &h), ip("10.0.0.3"));
    }
}
