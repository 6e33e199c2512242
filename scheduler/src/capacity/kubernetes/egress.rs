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
//! NetworkPolicies take addresses, not names: host names are resolved here, again every
//! `egress.refresh_secs`, and written as /32 (/128) `ipBlock`s. A host whose addresses
//! change faster than that (a CDN) is better served by a CIDR in settings or an egress
//! proxy. Ingress to worker pods is denied outright (they serve nothing).

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use shared::config::{EgressPeer, KubernetesSettings, Settings};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

use super::objects::{self, labels};

/// How long one name lookup may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

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

/// Host names to CIDRs, remembered for `ttl`.
pub struct Resolver {
    ttl: Duration,
    cache: HashMap<String, (Instant, Vec<String>)>,
}

impl Resolver {
    /// A resolver whose answers are good for `ttl`.
    pub fn new(ttl: Duration) -> Resolver {
        Resolver {
            ttl,
            cache: HashMap::new(),
        }
    }

    /// `target` as CIDRs: a CIDR as it is, an address as /32 or /128, a name resolved
    /// (nothing when it does not resolve: the host stays unreachable, and a warning says so).
    pub async fn cidrs(&mut self, target: &str) -> Vec<String> {
        let target = target.trim();
        if target.contains('/') {
            return vec![target.to_owned()];
        }
        if let Ok(ip) = target.parse::<IpAddr>() {
            return vec![host_cidr(ip)];
        }
        if let Some((at, cidrs)) = self.cache.get(target)
            && at.elapsed() < self.ttl
        {
            return cidrs.clone();
        }
        let looked_up = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((target, 0)))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "lookup timed out"))
            .and_then(|r| r);
        let cidrs: Vec<String> = match looked_up {
            Ok(addrs) => addrs
                .map(|a| host_cidr(a.ip()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            Err(e) => {
                tracing::warn!(host = target, error = %e, "egress host does not resolve; workers cannot reach it");
                Vec::new()
            }
        };
        self.cache
            .insert(target.to_owned(), (Instant::now(), cidrs.clone()));
        cidrs
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

/// The rules for an org's repository remotes: each (host, port) its addresses resolve to.
pub async fn repository_rules(
    remotes: &[String],
    resolver: &mut Resolver,
) -> Vec<NetworkPolicyEgressRule> {
    // Port → addresses, so each port is one rule.
    let mut by_port: BTreeMap<u16, BTreeSet<String>> = BTreeMap::new();
    let endpoints: BTreeSet<(String, u16)> = remotes
        .iter()
        .filter_map(|r| repository_endpoint(r))
        .collect();
    for (host, port) in endpoints {
        by_port
            .entry(port)
            .or_default()
            .extend(resolver.cidrs(&host).await);
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
}
