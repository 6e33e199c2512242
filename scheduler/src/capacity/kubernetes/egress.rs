//! Default-deny egress for worker pods: NetworkPolicies that let a worker reach DNS, the
//! platform it reports to (Postgres, Redis, the object store), the hosts every org may
//! use (model APIs, shared git hosts) and, per org, the hosts of that org's own
//! repositories — nothing else.
//!
//! Two kinds of policy, both made and kept current by the leader:
//! - `<instance>-egress-workers` selects every worker pod of this release, so a pod is
//!   default-deny from its first packet, whether or not its org's policy exists yet
//!   (a warm pod, before it has an org, gets exactly this);
//! - `<instance>-egress-org-<org>` selects the pods labelled with that org and adds the
//!   org's repository hosts (and repeats the common rules, so it reads complete alone).
//!
//! The operator's rules (`platform`, `allow`) are opened as written. Rules derived from
//! tenant input — an org's repository URLs — open only public addresses
//! (`shared::netpolicy`), on git's ports ([`GIT_PORTS`]), and never the platform's own
//! hosts or the cluster's pod and Service CIDRs ([`Forbidden`]): a repository "hosted"
//! on 169.254.169.254, 10.0.0.5, fd00::1 or a name resolving to 127.0.0.1 opens nothing.
//! One refused address refuses the whole name (a client may pick any of its addresses).
//!
//! NetworkPolicies take addresses, not names: host names are resolved here, again every
//! `egress.refresh_secs`, and written as /32 (/128) `ipBlock`s. A host whose addresses
//! change faster than that (a CDN) is better served by a CIDR in settings or an egress
//! proxy. Ingress to worker pods is denied outright (they serve nothing).
//!
//! These policies bind the worker pod. The agent inside it cannot use them directly: it
//! runs in a network namespace of its own whose only way out is the worker's egress
//! proxy, which refuses non-public addresses itself; so the platform rule the worker
//! needs (Postgres, Redis, the object store) opens nothing to the agent.

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use shared::config::{EgressPeer, KubernetesSettings, Settings};
use shared::netpolicy::{self, AddressClass};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

use super::objects::{self, labels};

/// How long one name lookup may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// The only ports rules from tenant input open: HTTPS, SSH and the git protocol.
pub const GIT_PORTS: [u16; 3] = [443, 22, 9418];

/// The policy every worker pod of the release gets.
pub fn baseline_name(k: &KubernetesSettings) -> String {
    format!("{}-egress-workers", k.instance)
}

/// The policy of one org's worker pods.
pub fn org_policy_name(k: &KubernetesSettings, org: Uuid) -> String {
    format!("{}-egress-org-{org}", k.instance)
}

/// Where a repository's git remote lives: (host, port), or `None` for a local path.
/// `https://h/x` → 443, `http` → 80, `ssh://` and `user@h:path` → 22, `git://` → 9418,
/// unless the URL names a port.
pub fn repository_endpoint(remote: &str) -> Option<(String, u16)> {
    let remote = remote.trim();
    if remote.starts_with('/') || remote.starts_with("file:") || remote.starts_with('.') {
        return None;
    }
    if let Ok(u) = url::Url::parse(remote)
        && u.has_host()
    {
        let default = match u.scheme() {
            "https" => 443,
            "http" => 80,
            "ssh" | "git+ssh" | "ssh+git" => 22,
            "git" => 9418,
            _ => return None,
        };
        let host = u.host_str()?.trim_start_matches('[').trim_end_matches(']');
        return Some((host.to_owned(), u.port().unwrap_or(default)));
    }
    // scp-like: [user@]host:path
    let (left, _path) = remote.split_once(':')?;
    let host = left.rsplit_once('@').map_or(left, |(_, h)| h);
    (!host.is_empty() && !host.contains('/')).then(|| (host.to_owned(), 22))
}

/// Host names to addresses, remembered for `ttl`.
pub struct Resolver {
    ttl: Duration,
    cache: HashMap<String, (Instant, Vec<IpAddr>)>,
}

impl Resolver {
    /// A resolver whose answers are good for `ttl`.
    pub fn new(ttl: Duration) -> Resolver {
        Resolver {
            ttl,
            cache: HashMap::new(),
        }
    }

    /// Answers `name` with `addrs` from now on, as if DNS had (tests of what a name that
    /// resolves to a forbidden address opens).
    #[cfg(test)]
    pub fn pin(&mut self, name: &str, addrs: &[IpAddr]) {
        self.ttl = Duration::MAX;
        self.cache
            .insert(name.to_owned(), (Instant::now(), addrs.to_vec()));
    }

    /// The addresses of `host`: an address (bracketed or not) is itself, a name is
    /// resolved (nothing when it does not resolve: the host stays unreachable, and a
    /// warning says so).
    pub async fn addresses(&mut self, host: &str) -> Vec<IpAddr> {
        let host = host.trim();
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return vec![ip];
        }
        if let Some((at, addrs)) = self.cache.get(bare)
            && at.elapsed() < self.ttl
        {
            return addrs.clone();
        }
        let looked_up =
            tokio::time::timeout(LOOKUP_TIMEOUT, netpolicy::resolve_classified(bare, 0)).await;
        let addrs: Vec<IpAddr> = match looked_up {
            Ok(Ok(found)) => found
                .into_iter()
                .map(|a| a.addr.ip())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            Ok(Err(e)) => {
                tracing::warn!(host = bare, error = %e, "egress host does not resolve; workers cannot reach it");
                Vec::new()
            }
            Err(_) => {
                tracing::warn!(
                    host = bare,
                    "egress host lookup timed out; workers cannot reach it"
                );
                Vec::new()
            }
        };
        self.cache
            .insert(bare.to_owned(), (Instant::now(), addrs.clone()));
        addrs
    }

    /// `target` as CIDRs: a CIDR as it is, an address as /32 or /128, a name resolved.
    pub async fn cidrs(&mut self, target: &str) -> Vec<String> {
        let target = target.trim();
        if target.contains('/') {
            return vec![target.to_owned()];
        }
        self.addresses(target)
            .await
            .into_iter()
            .map(host_cidr)
            .collect()
    }
}

fn host_cidr(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}/32"),
        IpAddr::V6(v6) => format!("{v6}/128"),
    }
}

fn tcp_ports(ports: &[u16]) -> Option<Vec<NetworkPolicyPort>> {
    (!ports.is_empty()).then(|| {
        ports
            .iter()
            .map(|p| NetworkPolicyPort {
                port: Some(IntOrString::Int(i32::from(*p))),
                protocol: Some("TCP".to_owned()),
                end_port: None,
            })
            .collect()
    })
}

fn ip_peers(cidrs: impl IntoIterator<Item = String>) -> Vec<NetworkPolicyPeer> {
    cidrs
        .into_iter()
        .map(|cidr| NetworkPolicyPeer {
            ip_block: Some(IPBlock { cidr, except: None }),
            ..NetworkPolicyPeer::default()
        })
        .collect()
}

/// A rule to `peers` on `ports`, or none at all when there is no peer: a rule without
/// `to` would allow every destination.
fn rule(
    peers: Vec<NetworkPolicyPeer>,
    ports: Option<Vec<NetworkPolicyPort>>,
) -> Option<NetworkPolicyEgressRule> {
    (!peers.is_empty()).then_some(NetworkPolicyEgressRule {
        to: Some(peers),
        ports,
    })
}

/// DNS: the cluster DNS pods (and any configured DNS addresses), on port 53 UDP and TCP.
fn dns_rule(k: &KubernetesSettings) -> Option<NetworkPolicyEgressRule> {
    let mut peers = Vec::new();
    if !k.egress.dns_pod_labels.is_empty() {
        peers.push(NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector::default()),
            pod_selector: Some(LabelSelector {
                match_labels: Some(k.egress.dns_pod_labels.clone()),
                match_expressions: None,
            }),
            ip_block: None,
        });
    }
    peers.extend(ip_peers(k.egress.dns_cidrs.iter().cloned()));
    let ports = ["UDP", "TCP"]
        .into_iter()
        .map(|protocol| NetworkPolicyPort {
            port: Some(IntOrString::Int(53)),
            protocol: Some(protocol.to_owned()),
            end_port: None,
        })
        .collect();
    rule(peers, Some(ports))
}

/// One configured peer as a rule (addresses resolved now).
async fn peer_rule(resolver: &mut Resolver, peer: &EgressPeer) -> Option<NetworkPolicyEgressRule> {
    let mut peers = Vec::new();
    if let Some(to) = &peer.to {
        peers.extend(ip_peers(resolver.cidrs(to).await));
    }
    if let Some(pods) = &peer.pod_labels {
        peers.push(NetworkPolicyPeer {
            pod_selector: Some(LabelSelector {
                match_labels: Some(pods.clone()),
                match_expressions: None,
            }),
            namespace_selector: peer.namespace_labels.as_ref().map(|ns| LabelSelector {
                match_labels: Some(ns.clone()),
                match_expressions: None,
            }),
            ip_block: None,
        });
    }
    rule(peers, tcp_ports(&peer.ports))
}

/// The rules every worker gets: DNS, the platform (as configured, and the services the
/// settings name), the common allowlist.
pub async fn common_rules(
    settings: &Settings,
    resolver: &mut Resolver,
) -> Vec<NetworkPolicyEgressRule> {
    let k = &settings.scheduler.kubernetes;
    let mut rules: Vec<NetworkPolicyEgressRule> = dns_rule(k).into_iter().collect();
    if k.egress.platform_from_settings {
        let endpoints: BTreeSet<(String, u16)> = settings_endpoints(settings).into_iter().collect();
        for (host, port) in endpoints {
            if let Some(r) = rule(ip_peers(resolver.cidrs(&host).await), tcp_ports(&[port])) {
                rules.push(r);
            }
        }
    }
    for peer in k.egress.platform.iter().chain(&k.egress.allow) {
        if let Some(r) = peer_rule(resolver, peer).await {
            rules.push(r);
        }
    }
    rules
}

/// The services a worker reports to, as (host, port), from the settings it shares with
/// the scheduler: Postgres, Redis, the object store and the OTLP collector.
pub fn settings_endpoints(settings: &Settings) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    let mut add = |text: &str, default_port: u16| {
        if let Ok(u) = url::Url::parse(text)
            && let Some(host) = u.host_str()
        {
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = u.port_or_known_default().unwrap_or(default_port);
            out.push((host, port));
        }
    };
    add(&settings.database.url, 5432);
    add(&settings.redis.url, 6379);
    match &settings.s3.endpoint {
        Some(endpoint) => add(endpoint, 443),
        None => add(
            &format!("https://s3.{}.amazonaws.com", settings.s3.region),
            443,
        ),
    }
    if let Some(otlp) = &settings.telemetry.otlp_endpoint {
        add(otlp, 4318);
    }
    out
}

/// An IP network: an address and how many leading bits of it count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    /// `a.b.c.d/n`, `x::y/n`, or a bare address (a single host).
    pub fn parse(text: &str) -> Option<Net> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Net { addr, prefix })
    }

    /// Whether `ip` lies in this network (an IPv4 address carried in IPv6 as
    /// `::ffff:a.b.c.d` counts as that IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// What rules from tenant input must never open, beyond every non-public address: the
/// platform's own hosts (Postgres, Redis, the object store, the OTLP collector, the api,
/// the `platform` peers) and the cluster's pod and Service CIDRs, all from settings.
#[derive(Debug, Clone, Default)]
pub struct Forbidden {
    nets: Vec<(Net, String)>,
    /// A configured CIDR that does not parse: then nothing from tenant input is opened,
    /// rather than something that setting meant to keep out.
    broken: Option<String>,
}

impl Forbidden {
    /// The platform's hosts (resolved now) and the cluster's CIDRs, from `settings`.
    pub async fn from_settings(settings: &Settings, resolver: &mut Resolver) -> Forbidden {
        let k = &settings.scheduler.kubernetes;
        let mut out = Forbidden::default();
        let mut hosts: BTreeSet<String> = settings_endpoints(settings)
            .into_iter()
            .map(|(host, _)| host)
            .collect();
        if let Ok(u) = url::Url::parse(&settings.api.public_url)
            && let Some(host) = u.host_str()
        {
            hosts.insert(host.to_owned());
        }
        for host in hosts {
            for ip in resolver.addresses(&host).await {
                out.add(&ip.to_string(), &format!("the platform's host {host}"));
            }
        }
        for peer in &k.egress.platform {
            if let Some(to) = &peer.to {
                for cidr in resolver.cidrs(to).await {
                    out.add(&cidr, &format!("the platform peer {to}"));
                }
            }
        }
        for (list, what) in [
            (&k.egress.pod_cidrs, "the cluster's pod CIDR"),
            (&k.egress.service_cidrs, "the cluster's Service CIDR"),
            (&k.egress.dns_cidrs, "a DNS CIDR"),
        ] {
            for cidr in list {
                out.add(cidr, &format!("{what} {cidr}"));
            }
        }
        out
    }

    /// Keeps `cidr` (or an address) out of tenant rules, as `why`.
    pub fn add(&mut self, cidr: &str, why: &str) {
        match Net::parse(cidr) {
            Some(net) => self.nets.push((net, why.to_owned())),
            None => {
                tracing::error!(
                    cidr,
                    why,
                    "not a CIDR: no repository host is opened until it is fixed"
                );
                self.broken = Some(cidr.to_owned());
            }
        }
    }

    /// Why tenant input may not open `ip`, or `None` when it may: the address is public
    /// and none of the platform's.
    pub fn refuses(&self, ip: IpAddr) -> Option<String> {
        if let Some(cidr) = &self.broken {
            return Some(format!("the setting {cidr:?} is not a CIDR"));
        }
        let class = netpolicy::classify(ip);
        if class != AddressClass::Public {
            return Some(class.describe().to_owned());
        }
        self.nets
            .iter()
            .find(|(net, _)| net.contains(ip))
            .map(|(_, why)| why.clone())
    }
}

/// The rules for an org's repository remotes (tenant input): each host on a git port
/// whose every address is public and none of the platform's, as those addresses. A
/// remote on another port, or with one refused address, opens nothing (and a warning
/// says why).
pub async fn repository_rules(
    remotes: &[String],
    forbidden: &Forbidden,
    resolver: &mut Resolver,
) -> Vec<NetworkPolicyEgressRule> {
    // Port → addresses, so each port is one rule.
    let mut by_port: BTreeMap<u16, BTreeSet<String>> = BTreeMap::new();
    let endpoints: BTreeSet<(String, u16)> = remotes
        .iter()
        .filter_map(|r| repository_endpoint(r))
        .collect();
    for (host, port) in endpoints {
        if !GIT_PORTS.contains(&port) {
            tracing::warn!(
                host,
                port,
                "repository remote on a port other than 443, 22 or 9418: workers cannot reach it"
            );
            continue;
        }
        let addrs = resolver.addresses(&host).await;
        if let Some((ip, why)) = addrs
            .iter()
            .find_map(|ip| forbidden.refuses(*ip).map(|why| (*ip, why)))
        {
            tracing::warn!(host, address = %ip, why, "repository host refused: its egress is not opened");
            continue;
        }
        by_port
            .entry(port)
            .or_default()
            .extend(addrs.into_iter().map(host_cidr));
    }
    by_port
        .into_iter()
        .filter_map(|(port, cidrs)| rule(ip_peers(cidrs), tcp_ports(&[port])))
        .collect()
}

fn policy(
    k: &KubernetesSettings,
    name: String,
    selector: BTreeMap<String, String>,
    org: Option<Uuid>,
    rules: Vec<NetworkPolicyEgressRule>,
) -> NetworkPolicy {
    let mut meta_labels = objects::common_labels(k, "egress");
    if let Some(org) = org {
        meta_labels.insert(labels::ORG.to_owned(), org.to_string());
    }
    NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(name),
            labels: Some(meta_labels),
            ..ObjectMeta::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(selector),
                match_expressions: None,
            }),
            policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
            ingress: None,
            egress: Some(rules),
        }),
    }
}

fn worker_selector(k: &KubernetesSettings) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::COMPONENT.to_owned(), "worker".to_owned()),
        (labels::MANAGED_BY.to_owned(), objects::MANAGER.to_owned()),
        (labels::INSTANCE.to_owned(), k.instance.clone()),
    ])
}

/// Every worker pod of the release: default-deny plus the common rules.
pub fn baseline_policy(
    k: &KubernetesSettings,
    common: &[NetworkPolicyEgressRule],
) -> NetworkPolicy {
    policy(
        k,
        baseline_name(k),
        worker_selector(k),
        None,
        common.to_vec(),
    )
}

/// One org's worker pods: the common rules plus its repositories' hosts.
pub fn org_policy(
    k: &KubernetesSettings,
    org: Uuid,
    common: &[NetworkPolicyEgressRule],
    repositories: Vec<NetworkPolicyEgressRule>,
) -> NetworkPolicy {
    let mut selector = worker_selector(k);
    selector.insert(labels::ORG.to_owned(), org.to_string());
    let mut rules = common.to_vec();
    rules.extend(repositories);
    policy(k, org_policy_name(k, org), selector, Some(org), rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_comes_from_the_settings_workers_share() {
        let mut settings = Settings::default();
        settings.database.url = "postgres://app:secret@db.internal:6432/switchyard".into();
        settings.redis.url = "rediss://cache.internal/".into();
        settings.s3.endpoint = Some("http://10.0.5.5:9000".into());
        settings.telemetry.otlp_endpoint = Some("http://otel.internal:4318".into());
        assert_eq!(
            settings_endpoints(&settings),
            [
                ("db.internal".to_owned(), 6432),
                ("cache.internal".to_owned(), 6379),
                ("10.0.5.5".to_owned(), 9000),
                ("otel.internal".to_owned(), 4318),
            ]
        );
        settings.s3.endpoint = None;
        settings.s3.region = "eu-west-1".into();
        assert!(
            settings_endpoints(&settings).contains(&("s3.eu-west-1.amazonaws.com".to_owned(), 443))
        );
    }

    #[test]
    fn repository_remotes_name_their_host_and_port() {
        let cases = [
            ("https://github.com/acme/app.git", Some(("github.com", 443))),
            (
                "https://git.acme.dev:8443/app.git",
                Some(("git.acme.dev", 8443)),
            ),
            ("http://10.0.0.7/app.git", Some(("10.0.0.7", 80))),
            (
                "ssh://git@gitlab.acme.dev:2222/app.git",
                Some(("gitlab.acme.dev", 2222)),
            ),
            ("git@github.com:acme/app.git", Some(("github.com", 22))),
            ("git://example.org/app", Some(("example.org", 9418))),
            ("https://[2001:db8::1]/app.git", Some(("2001:db8::1", 443))),
            ("/srv/git/app", None),
            ("file:///srv/git/app", None),
        ];
        for (remote, want) in cases {
            assert_eq!(
                repository_endpoint(remote),
                want.map(|(h, p)| (h.to_owned(), p)),
                "{remote}"
            );
        }
    }

    #[tokio::test]
    async fn a_host_that_does_not_resolve_opens_nothing() {
        let mut resolver = Resolver::new(Duration::from_secs(60));
        let rules = repository_rules(
            &["https://does-not-exist.invalid/x.git".to_owned()],
            &Forbidden::default(),
            &mut resolver,
        )
        .await;
        assert!(
            rules.is_empty(),
            "a rule without peers would allow everything"
        );
        assert_eq!(resolver.cidrs("10.1.0.0/16").await, ["10.1.0.0/16"]);
        assert_eq!(resolver.cidrs("10.1.2.3").await, ["10.1.2.3/32"]);
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    /// The CIDRs and ports an egress rule list opens.
    fn opened(rules: &[NetworkPolicyEgressRule]) -> BTreeSet<(String, i32)> {
        let mut out = BTreeSet::new();
        for r in rules {
            for peer in r.to.iter().flatten() {
                let cidr = peer.ip_block.as_ref().expect("ipBlock").cidr.clone();
                for port in r.ports.iter().flatten() {
                    if let Some(IntOrString::Int(p)) = port.port {
                        out.insert((cidr.clone(), p));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn networks_contain_their_addresses_and_no_others() {
        let net = Net::parse("10.96.0.0/12").expect("v4");
        assert!(net.contains(ip("10.96.0.1")));
        assert!(net.contains(ip("10.111.255.255")));
        assert!(!net.contains(ip("10.112.0.0")));
        assert!(net.contains(ip("::ffff:10.100.0.1")), "mapped IPv4");
        let v6 = Net::parse("2600:1f00::/24").expect("v6");
        assert!(v6.contains(ip("2600:1f12::1")));
        assert!(!v6.contains(ip("2600:2000::1")));
        assert!(!v6.contains(ip("10.96.0.1")));
        let host = Net::parse("34.1.2.3").expect("a bare address");
        assert!(host.contains(ip("34.1.2.3")) && !host.contains(ip("34.1.2.4")));
        assert!(
            Net::parse("0.0.0.0/0")
                .expect("all")
                .contains(ip("8.8.8.8"))
        );
        for bad in ["10.0.0.0/33", "fd00::/129", "10.0.0/8", "pods", ""] {
            assert_eq!(Net::parse(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn tenant_remotes_open_only_public_git_hosts() {
        let mut resolver = Resolver::new(Duration::from_secs(60));
        resolver.pin("git.acme.example", &[ip("140.82.112.4")]);
        resolver.pin("loopback.evil.example", &[ip("127.0.0.1")]);
        resolver.pin("metadata.evil.example", &[ip("::ffff:169.254.169.254")]);
        resolver.pin("mixed.evil.example", &[ip("140.82.112.5"), ip("10.0.0.9")]);
        let forbidden = Forbidden::default();
        let refused = [
            "https://169.254.169.254/latest/meta-data.git",
            "https://10.0.0.5/acme/app.git",
            "git@172.16.3.4:acme/app.git",
            "https://192.168.1.20/acme/app.git",
            "https://100.64.0.7/acme/app.git",
            "https://[fd00::1]/acme/app.git",
            "https://[fe80::1]/acme/app.git",
            "https://[::ffff:127.0.0.1]/acme/app.git",
            "https://[::1]/acme/app.git",
            "https://0.0.0.0/acme/app.git",
            "https://198.51.100.7/acme/app.git",
            "https://localhost/acme/app.git",
            "https://loopback.evil.example/acme/app.git",
            "ssh://git@metadata.evil.example/acme/app.git",
            "https://mixed.evil.example/acme/app.git",
            "https://140.82.112.6:8443/acme/app.git",
            "http://140.82.112.6/acme/app.git",
        ];
        for remote in refused {
            let rules = repository_rules(&[remote.to_owned()], &forbidden, &mut resolver).await;
            assert!(rules.is_empty(), "{remote} opened {:?}", opened(&rules));
        }
        let mut remotes: Vec<String> = refused.iter().map(|r| (*r).to_owned()).collect();
        remotes.extend([
            "https://git.acme.example/acme/app.git".to_owned(),
            "git@140.82.112.3:acme/lib.git".to_owned(),
            "git://140.82.112.3/acme/lib".to_owned(),
            "https://[2606:50c0:8000::154]/acme/app.git".to_owned(),
        ]);
        let rules = repository_rules(&remotes, &forbidden, &mut resolver).await;
        assert_eq!(
            opened(&rules),
            BTreeSet::from([
                ("140.82.112.3/32".to_owned(), 22),
                ("140.82.112.3/32".to_owned(), 9418),
                ("140.82.112.4/32".to_owned(), 443),
                ("2606:50c0:8000::154/128".to_owned(), 443),
            ]),
            "only the public hosts, on their git ports, beside everything refused"
        );
    }

    #[tokio::test]
    async fn tenant_remotes_never_open_the_platform_or_the_cluster() {
        let mut settings = Settings::default();
        settings.database.url = "postgres://app:secret@db.platform.example:5432/sy".into();
        settings.redis.url = "rediss://35.9.9.9:6380/".into();
        settings.s3.endpoint = Some("https://objects.platform.example".into());
        settings.api.public_url = "https://switchyard.platform.example".into();
        let k = &mut settings.scheduler.kubernetes;
        k.egress.pod_cidrs = vec!["34.64.0.0/16".into()];
        k.egress.service_cidrs = vec!["2600:1900:4000::/44".into()];
        k.egress.platform = vec![EgressPeer {
            to: Some("52.10.0.0/24".into()),
            pod_labels: None,
            namespace_labels: None,
            ports: vec![443],
        }];
        let mut resolver = Resolver::new(Duration::from_secs(60));
        resolver.pin("db.platform.example", &[ip("35.1.2.3")]);
        resolver.pin("objects.platform.example", &[ip("52.20.1.1")]);
        resolver.pin("switchyard.platform.example", &[ip("52.30.1.1")]);
        let forbidden = Forbidden::from_settings(&settings, &mut resolver).await;
        for (address, why) in [
            ("35.1.2.3", "db.platform.example"),
            ("35.9.9.9", "35.9.9.9"),
            ("52.20.1.1", "objects.platform.example"),
            ("52.30.1.1", "switchyard.platform.example"),
            ("52.10.0.77", "52.10.0.0/24"),
            ("34.64.12.1", "pod CIDR"),
            ("2600:1900:4001::5", "Service CIDR"),
        ] {
            let refusal = forbidden.refuses(ip(address));
            assert!(
                refusal.as_deref().is_some_and(|r| r.contains(why)),
                "{address}: {refusal:?}"
            );
            let remote = if address.contains(':') {
                format!("https://[{address}]/acme/app.git")
            } else {
                format!("https://{address}/acme/app.git")
            };
            let rules =
                repository_rules(std::slice::from_ref(&remote), &forbidden, &mut resolver).await;
            assert!(rules.is_empty(), "{remote} opened {:?}", opened(&rules));
        }
        assert_eq!(forbidden.refuses(ip("140.82.112.3")), None);

        // A CIDR setting that does not parse keeps every repository host closed.
        settings.scheduler.kubernetes.egress.pod_cidrs = vec!["10.244.0.0/33".into()];
        let broken = Forbidden::from_settings(&settings, &mut resolver).await;
        let rules = repository_rules(
            &["https://140.82.112.3/acme/app.git".to_owned()],
            &broken,
            &mut resolver,
        )
        .await;
        assert!(rules.is_empty(), "opened {:?}", opened(&rules));
    }
}
