//! Which network addresses tenant input may make the platform (or an attempt) reach.
//!
//! One home for the rule, so the api (repository URLs), the worker's egress proxy and
//! the Kubernetes egress policy all refuse the same things: loopback, private ranges,
//! link-local (cloud metadata at 169.254.169.254), CGNAT, IPv6 unique-local, and the
//! unspecified, multicast and reserved ranges. IPv4 addresses carried inside IPv6
//! (`::ffff:a.b.c.d` and the other embeddings listed at [`classify`]) are judged as the
//! IPv4 address they carry, so a bracketed literal cannot smuggle one past the check.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Serialize;

/// What kind of network an address belongs to; everything but `Public` is off limits
/// to tenant input unless an operator says otherwise ([`AddressPolicy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressClass {
    /// Routable on the internet.
    Public,
    /// 127.0.0.0/8 and ::1: this host.
    Loopback,
    /// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16: the platform's own networks.
    Private,
    /// 169.254.0.0/16 and fe80::/10: cloud metadata services live here.
    LinkLocal,
    /// 100.64.0.0/10 (RFC 6598): carrier-grade NAT, also used inside clusters.
    SharedCgnat,
    /// fc00::/7 (RFC 4193): the IPv6 private ranges.
    UniqueLocal,
    /// 0.0.0.0/8 and ::: "this host" to most stacks.
    Unspecified,
    /// 224.0.0.0/4 and ff00::/8.
    Multicast,
    /// Documentation, benchmarking, protocol-assignment and future-use ranges, and the
    /// limited broadcast address: never a legitimate destination.
    Reserved,
}

impl AddressClass {
    /// A stable snake_case name for logs, metrics and error details.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressClass::Public => "public",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link_local",
            AddressClass::SharedCgnat => "shared_cgnat",
            AddressClass::UniqueLocal => "unique_local",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Multicast => "multicast",
            AddressClass::Reserved => "reserved",
        }
    }

    /// Words a person reading an error message recognises.
    pub fn describe(self) -> &'static str {
        match self {
            AddressClass::Public => "a public address",
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private-network address",
            AddressClass::LinkLocal => {
                "a link-local address (where cloud metadata services answer)"
            }
            AddressClass::SharedCgnat => "a shared (CGNAT, 100.64.0.0/10) address",
            AddressClass::UniqueLocal => "an IPv6 unique-local (private) address",
            AddressClass::Unspecified => "the unspecified address",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Reserved => "a reserved address",
        }
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which addresses a caller lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressPolicy {
    /// Public addresses only: the egress proxy, and repository hosts by default.
    PublicOnly,
    /// Everything except link-local, for operators whose git servers sit on a private
    /// network (`api.allow_private_repository_hosts`). Link-local stays refused: cloud
    /// metadata there hands out the platform's own credentials.
    AllowPrivate,
}

impl AddressPolicy {
    /// Whether an address of this class may be reached under this policy.
    pub fn permits(self, class: AddressClass) -> bool {
        match (self, class) {
            (_, AddressClass::Public) => true,
            (_, AddressClass::LinkLocal) => false,
            (AddressPolicy::AllowPrivate, _) => true,
            (AddressPolicy::PublicOnly, _) => false,
        }
    }
}

/// The class of an address. IPv4 ranges are listed on [`AddressClass`]; besides those,
/// 192.0.0.0/24, 192.0.2.0/24, 192.88.99.0/24, 198.18.0.0/15, 198.51.100.0/24,
/// 203.0.113.0/24 and 240.0.0.0/4 (with 255.255.255.255) are reserved. IPv6: ::1
/// loopback, fe80::/10 link-local, fc00::/7 unique-local, :: unspecified, ff00::/8
/// multicast; 2001:db8::/32, 100::/64, fec0::/10 (deprecated site-local) and the rest of
/// ::/96 (deprecated IPv4-compatible) reserved. IPv4 carried in IPv6 — mapped
/// `::ffff:a.b.c.d`, translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and 6to4
/// `2002:aabb:ccdd::/48` — is classified as the IPv4 address it carries (for NAT64 and
/// 6to4 only when that address is not public, since the prefix itself routes publicly).
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Whether an address is routable on the internet and outside every range above.
pub fn is_public(ip: IpAddr) -> bool {
    classify(ip) == AddressClass::Public
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    const RANGES: &[([u8; 4], u32, AddressClass)] = &[
        ([0, 0, 0, 0], 8, AddressClass::Unspecified),
        ([10, 0, 0, 0], 8, AddressClass::Private),
        ([100, 64, 0, 0], 10, AddressClass::SharedCgnat),
        ([127, 0, 0, 0], 8, AddressClass::Loopback),
        ([169, 254, 0, 0], 16, AddressClass::LinkLocal),
        ([172, 16, 0, 0], 12, AddressClass::Private),
        ([192, 0, 0, 0], 24, AddressClass::Reserved),
        ([192, 0, 2, 0], 24, AddressClass::Reserved),
        ([192, 88, 99, 0], 24, AddressClass::Reserved),
        ([192, 168, 0, 0], 16, AddressClass::Private),
        ([198, 18, 0, 0], 15, AddressClass::Reserved),
        ([198, 51, 100, 0], 24, AddressClass::Reserved),
        ([203, 0, 113, 0], 24, AddressClass::Reserved),
        ([224, 0, 0, 0], 4, AddressClass::Multicast),
        // 240.0.0.0/4 holds the limited broadcast address 255.255.255.255.
        ([240, 0, 0, 0], 4, AddressClass::Reserved),
    ];
    RANGES
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map_or(AddressClass::Public, |(_, _, class)| *class)
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    u128::from(ip) & mask == u128::from(net) & mask
}

fn v4_tail(ip: Ipv6Addr) -> Ipv4Addr {
    // Truncation to the low 32 bits is the point: they hold the embedded IPv4 address.
    Ipv4Addr::from((u128::from(ip) & u128::from(u32::MAX)) as u32)
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if ip == Ipv6Addr::UNSPECIFIED {
        return AddressClass::Unspecified;
    }
    if ip == Ipv6Addr::LOCALHOST {
        return AddressClass::Loopback;
    }
    // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (translated): the IPv4 address.
    if in_v6(ip, Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96)
        || in_v6(ip, Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96)
    {
        return classify_v4(v4_tail(ip));
    }
    // The rest of ::/96: deprecated IPv4-compatible addresses, never a destination.
    if in_v6(ip, Ipv6Addr::UNSPECIFIED, 96) {
        return AddressClass::Reserved;
    }
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they carry.
    if in_v6(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        let inner = classify_v4(v4_tail(ip));
        if inner != AddressClass::Public {
            return inner;
        }
    }
    if in_v6(ip, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        let seg = ip.segments();
        let inner = Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            (seg[1] & 0xff) as u8,
            (seg[2] >> 8) as u8,
            (seg[2] & 0xff) as u8,
        );
        let class = classify_v4(inner);
        if class != AddressClass::Public {
            return class;
        }
    }
    const RANGES: &[(Ipv6Addr, u32, AddressClass)] = &[
        (
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
            10,
            AddressClass::LinkLocal,
        ),
        (
            Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
            10,
            AddressClass::Reserved,
        ),
        (
            Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
            7,
            AddressClass::UniqueLocal,
        ),
        (
            Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
            8,
            AddressClass::Multicast,
        ),
        (
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
            32,
            AddressClass::Reserved,
        ),
        (
            Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
            64,
            AddressClass::Reserved,
        ),
    ];
    RANGES
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
        .map_or(AddressClass::Public, |(_, _, class)| *class)
}

/// One address a name resolved to, with its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassifiedAddr {
    pub addr: SocketAddr,
    pub class: AddressClass,
}

/// Why a host could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The name did not resolve (no such host, no DNS): callers decide whether that is
    /// fatal; the api keeps accepting repository hosts it cannot resolve yet.
    #[error("{host} did not resolve: {source}")]
    Lookup {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// The name resolved to no address at all.
    #[error("{host} resolved to no address")]
    NoAddress { host: String },
    /// The name is, or resolves to, an address the policy refuses.
    #[error("{host} is {} ({addr})", class.describe())]
    Forbidden {
        host: String,
        addr: IpAddr,
        class: AddressClass,
    },
}

/// The host as the resolver takes it: IPv6 literals lose their URL brackets.
fn bare_host(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Every address `host` resolves to (an IP literal, bracketed or not, is its own
/// single address and never reaches DNS), each with its class.
pub async fn resolve_classified(
    host: &str,
    port: u16,
) -> Result<Vec<ClassifiedAddr>, ResolveError> {
    let bare = bare_host(host);
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|source| ResolveError::Lookup {
                host: host.to_owned(),
                source,
            })?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(ResolveError::NoAddress {
            host: host.to_owned(),
        });
    }
    Ok(addrs
        .into_iter()
        .map(|addr| ClassifiedAddr {
            addr,
            class: classify(addr.ip()),
        })
        .collect())
}

/// Resolves `host` and returns its addresses only if the policy permits every one of
/// them; one forbidden address refuses the whole name, since a client may pick any of
/// them (and a DNS answer mixing a public and a metadata address is an attack). Connect
/// to the returned addresses, not to the name again, or a second lookup can differ.
pub async fn resolve_checked(
    host: &str,
    port: u16,
    policy: AddressPolicy,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let addrs = resolve_classified(host, port).await?;
    if let Some(bad) = addrs.iter().find(|a| !policy.permits(a.class)) {
        return Err(ResolveError::Forbidden {
            host: host.to_owned(),
            addr: bad.addr.ip(),
            class: bad.class,
        });
    }
    Ok(addrs.into_iter().map(|a| a.addr).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressClass::*;

    fn c(s: &str) -> AddressClass {
        classify(s.parse().expect("test address parses"))
    }

    fn check(cases: &[(&str, AddressClass)]) {
        for (addr, want) in cases {
            assert_eq!(c(addr), *want, "{addr}");
        }
    }

    #[test]
    fn ipv4_private_ranges_and_their_edges() {
        check(&[
            ("9.255.255.255", Public),
            ("10.0.0.0", Private),
            ("10.0.0.5", Private),
            ("10.255.255.255", Private),
            ("11.0.0.0", Public),
            ("172.15.255.255", Public),
            ("172.16.0.0", Private),
            ("172.31.255.255", Private),
            ("172.32.0.0", Public),
            ("192.167.255.255", Public),
            ("192.168.0.0", Private),
            ("192.168.1.1", Private),
            ("192.168.255.255", Private),
            ("192.169.0.0", Public),
        ]);
    }

    #[test]
    fn ipv4_loopback_link_local_cgnat_and_unspecified() {
        check(&[
            ("0.0.0.0", Unspecified),
            ("0.255.255.255", Unspecified),
            ("1.0.0.0", Public),
            ("126.255.255.255", Public),
            ("127.0.0.0", Loopback),
            ("127.0.0.1", Loopback),
            ("127.255.255.255", Loopback),
            ("128.0.0.0", Public),
            ("169.253.255.255", Public),
            ("169.254.0.0", LinkLocal),
            ("169.254.169.254", LinkLocal),
            ("169.254.255.255", LinkLocal),
            ("169.255.0.0", Public),
            ("100.63.255.255", Public),
            ("100.64.0.0", SharedCgnat),
            ("100.64.0.1", SharedCgnat),
            ("100.127.255.255", SharedCgnat),
            ("100.128.0.0", Public),
        ]);
    }

    #[test]
    fn ipv4_multicast_and_reserved_ranges() {
        check(&[
            ("223.255.255.255", Public),
            ("224.0.0.0", Multicast),
            ("239.255.255.255", Multicast),
            ("240.0.0.0", Reserved),
            ("255.255.255.254", Reserved),
            ("255.255.255.255", Reserved),
            ("191.255.255.255", Public),
            ("192.0.0.0", Reserved),
            ("192.0.0.255", Reserved),
            ("192.0.1.0", Public),
            ("192.0.2.0", Reserved),
            ("192.0.2.255", Reserved),
            ("192.0.3.0", Public),
            ("192.88.99.1", Reserved),
            ("198.17.255.255", Public),
            ("198.18.0.0", Reserved),
            ("198.19.255.255", Reserved),
            ("198.20.0.0", Public),
            ("198.51.99.255", Public),
            ("198.51.100.0", Reserved),
            ("198.51.100.255", Reserved),
            ("198.51.101.0", Public),
            ("203.0.112.255", Public),
            ("203.0.113.0", Reserved),
            ("203.0.113.255", Reserved),
            ("203.0.114.0", Public),
            ("8.8.8.8", Public),
            ("140.82.112.3", Public),
        ]);
    }

    #[test]
    fn ipv6_ranges_and_their_edges() {
        check(&[
            ("::", Unspecified),
            ("::1", Loopback),
            ("::2", Reserved),
            ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Public),
            ("fe80::", LinkLocal),
            ("fe80::1", LinkLocal),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", LinkLocal),
            ("fec0::1", Reserved),
            ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Public),
            ("fc00::", UniqueLocal),
            ("fd00::1", UniqueLocal),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", UniqueLocal),
            ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Reserved),
            ("ff00::", Multicast),
            ("ff02::1", Multicast),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Multicast),
            ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", Public),
            ("2001:db8::", Reserved),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", Reserved),
            ("2001:db9::", Public),
            ("100::1", Reserved),
            ("2606:4700:4700::1111", Public),
        ]);
    }

    #[test]
    fn ipv4_inside_ipv6_is_classified_as_the_ipv4_address() {
        check(&[
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.0.0.5", Private),
            ("::ffff:100.64.0.1", SharedCgnat),
            ("::ffff:0.0.0.0", Unspecified),
            ("::ffff:8.8.8.8", Public),
            ("::ffff:0:169.254.169.254", LinkLocal),
            ("::169.254.169.254", Reserved),
            ("::127.0.0.1", Reserved),
            ("64:ff9b::169.254.169.254", LinkLocal),
            ("64:ff9b::10.1.2.3", Private),
            ("64:ff9b::8.8.8.8", Public),
            ("2002:a9fe:a9fe::1", LinkLocal),
            ("2002:7f00:1::", Loopback),
            ("2002:0808:0808::1", Public),
        ]);
    }

    #[test]
    fn is_public_is_true_only_for_public() {
        assert!(is_public("8.8.8.8".parse().expect("parses")));
        assert!(!is_public("169.254.169.254".parse().expect("parses")));
        assert!(!is_public("::ffff:192.168.1.1".parse().expect("parses")));
    }

    #[test]
    fn allow_private_never_permits_link_local() {
        for class in [
            Loopback,
            Private,
            SharedCgnat,
            UniqueLocal,
            Unspecified,
            Multicast,
            Reserved,
        ] {
            assert!(AddressPolicy::AllowPrivate.permits(class), "{class}");
            assert!(!AddressPolicy::PublicOnly.permits(class), "{class}");
        }
        assert!(!AddressPolicy::AllowPrivate.permits(LinkLocal));
        assert!(!AddressPolicy::PublicOnly.permits(LinkLocal));
        assert!(AddressPolicy::PublicOnly.permits(Public));
    }

    #[tokio::test]
    async fn literals_resolve_without_dns_and_brackets_are_stripped() {
        let got = resolve_classified("[fe80::1]", 443).await.expect("literal");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].class, LinkLocal);
        assert_eq!(got[0].addr.port(), 443);
        let err = resolve_checked("169.254.169.254", 80, AddressPolicy::AllowPrivate)
            .await
            .expect_err("metadata refused");
        assert!(
            matches!(
                err,
                ResolveError::Forbidden {
                    class: LinkLocal,
                    ..
                }
            ),
            "{err}"
        );
        let ok = resolve_checked("10.0.0.5", 22, AddressPolicy::AllowPrivate)
            .await
            .expect("private allowed");
        assert_eq!(ok, vec!["10.0.0.5:22".parse().expect("parses")]);
    }

    #[tokio::test]
    async fn localhost_resolves_to_loopback_and_is_refused_by_default() {
        let got = resolve_classified("localhost", 80)
            .await
            .expect("localhost");
        assert!(got.iter().all(|a| a.class == Loopback), "{got:?}");
        let err = resolve_checked("localhost", 80, AddressPolicy::PublicOnly)
            .await
            .expect_err("loopback refused");
        assert!(
            matches!(
                err,
                ResolveError::Forbidden {
                    class: Loopback,
                    ..
                }
            ),
            "{err}"
        );
    }
}
