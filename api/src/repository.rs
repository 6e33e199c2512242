//! Checking a project's repository before it is stored.
//!
//! A local repository (an absolute path or a `file://` URL) is accepted in development
//! mode only (422 `repository_local_forbidden` elsewhere: a tenant must not make the
//! api and workers read their own disks); it must open with git2 and have the branch the project builds on; its default branch
//! comes from HEAD when not given. A remote URL (https, ssh, git, or scp-like
//! `user@host:path`) is not fetched from the api, but its host is: a host that is, or
//! resolves to, an address on the platform's own networks ([`shared::netpolicy`]) is
//! refused with 422 `repository_host_forbidden`, so a tenant cannot make workers clone
//! from cloud metadata, loopback services or the cluster's private ranges.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use shared::config::Settings;
use shared::netpolicy::{self, AddressClass, AddressPolicy};

use crate::error::{ApiError, ErrorCode};

/// What the api stores about a checked repository.
#[derive(Debug, Clone)]
pub struct RepoInfo {
    /// The normalized URL: a canonical absolute path for local repositories.
    pub url: String,
    pub name: String,
    pub default_branch: String,
}

/// Where a repository URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Remote(String),
}

/// Branch used for a remote repository when none is given.
const REMOTE_DEFAULT_BRANCH: &str = "main";

/// Sorts a URL into local or remote, or refuses it.
pub fn classify(url: &str) -> Result<Location, ApiError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(ApiError::validation("repository_url must not be empty"));
    }
    if let Some(path) = url.strip_prefix("file://") {
        return Ok(Location::Local(PathBuf::from(path)));
    }
    if url.starts_with('/') {
        return Ok(Location::Local(PathBuf::from(url)));
    }
    let remote_scheme = ["https://", "http://", "ssh://", "git://"]
        .iter()
        .any(|scheme| {
            url.strip_prefix(scheme)
                .is_some_and(|rest| rest.contains('/'))
        });
    let scp_like = url
        .split_once(':')
        .is_some_and(|(host, path)| host.contains('@') && !host.contains('/') && !path.is_empty());
    if remote_scheme {
        refuse_credentials(url)?;
    }
    if remote_scheme || scp_like {
        return Ok(Location::Remote(url.to_owned()));
    }
    Err(ApiError::InvalidRepository(format!(
        "{url:?} is neither an absolute path to a git repository nor a git URL"
    )))
}

/// Refuses a scheme URL that carries a password, or any user at all over http(s) (GitHub
/// takes a token as the user name): the URL is stored and shown to every reader of the
/// project, so credentials belong in org secrets or the GitHub App. An ssh user name
/// (`ssh://git@host/…`) is no secret and passes.
fn refuse_credentials(url: &str) -> Result<(), ApiError> {
    let Ok(parsed) = url::Url::parse(url) else {
        // Unparsable URLs are refused later, by the host check.
        return Ok(());
    };
    let web = matches!(parsed.scheme(), "http" | "https");
    if parsed.password().is_some() || (web && !parsed.username().is_empty()) {
        return Err(ApiError::unprocessable(
            ErrorCode::RepositoryCredentialsForbidden,
            "repository_url must not carry credentials: keep a token in an org secret, or \
             connect the repository through the GitHub App"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Which repositories the api accepts, from settings.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    /// Paths on the api's own disk (development mode only).
    pub local_paths: bool,
    /// `api.allow_private_repository_hosts`: everything but link-local is let through.
    pub addresses: AddressPolicy,
    /// The operator's GitHub (`github.web_url`, `github.api_url`) as (host, port): its
    /// clone URLs are configuration, not tenant input, so they pass wherever it runs (a
    /// GitHub Enterprise server on a private network).
    trusted: Vec<(String, u16)>,
}

impl HostPolicy {
    /// The policy the settings ask for.
    pub fn from_settings(settings: &Settings) -> HostPolicy {
        let trusted = [&settings.github.web_url, &settings.github.api_url]
            .into_iter()
            .filter_map(|u| url::Url::parse(u).ok())
            .filter_map(|u| {
                Some((
                    u.host_str()?.to_ascii_lowercase(),
                    u.port_or_known_default()?,
                ))
            })
            .collect();
        HostPolicy {
            local_paths: settings.allows_local_repositories(),
            addresses: if settings.api.allow_private_repository_hosts {
                AddressPolicy::AllowPrivate
            } else {
                AddressPolicy::PublicOnly
            },
            trusted,
        }
    }
}

/// How long the api waits for a repository host's name to resolve; a name that does
/// not resolve in time is treated like one that does not resolve at all.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// A remote URL's host as git would connect to it: from the authority of a scheme URL
/// (IPv6 brackets removed, WHATWG IPv4 forms normalized for http and https) or from
/// the part before the path of an scp-like `[user@]host:path` or
/// `[user@host:port]:path`. The second value is the `(host, port)` for http(s) URLs,
/// to compare with the operator's GitHub.
fn remote_host(url: &str) -> Result<(String, Option<(String, u16)>), ApiError> {
    let unparsable =
        || ApiError::InvalidRepository(format!("{url:?} has no host the api can check"));
    if url.contains("://") {
        let parsed = url::Url::parse(url).map_err(|_| unparsable())?;
        let host = match parsed.host().ok_or_else(unparsable)? {
            url::Host::Domain(d) => d.to_owned(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        let origin = matches!(parsed.scheme(), "http" | "https")
            .then(|| {
                parsed
                    .port_or_known_default()
                    .map(|p| (host.to_ascii_lowercase(), p))
            })
            .flatten();
        return Ok((host, origin));
    }
    // scp-like: the path starts at the first ':' outside brackets.
    let mut depth = 0usize;
    let end = url
        .char_indices()
        .find(|&(_, c)| {
            match c {
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                ':' if depth == 0 => return true,
                _ => {}
            }
            false
        })
        .map(|(i, _)| i)
        .ok_or_else(unparsable)?;
    let mut authority = &url[..end];
    if let Some(inner) = authority
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
    {
        // `[user@host:port]:path`
        authority = inner;
    }
    let after_user = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(rest) = after_user.strip_prefix('[') {
        rest.split_once(']')
            .map(|(h, _)| h)
            .ok_or_else(unparsable)?
    } else if after_user.parse::<IpAddr>().is_ok() {
        after_user
    } else {
        after_user
            .rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(after_user, |(h, _)| h)
    };
    if host.is_empty() {
        return Err(unparsable());
    }
    Ok((host.to_owned(), None))
}

/// The host spelled as http(s) would read it: WHATWG IPv4 forms (`2130706433`,
/// `0x7f.1`, `017700000001`) become dotted addresses, so they are judged as addresses
/// whatever the scheme (ssh and git hand the name to a resolver that reads them so too).
fn normalized_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(ip);
    }
    match url::Url::parse(&format!("http://{bare}/")).ok()?.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// Refuses a remote repository whose host is, or resolves to, an address the policy
/// does not permit. A name that does not resolve (yet) is accepted as before, so the api
/// does not depend on DNS for public names. A name's answer can change after this
/// check: it keeps a URL out at the door, and later connections are judged by the same
/// [`shared::netpolicy`] rules where they are made.
pub async fn check_remote_host(url: &str, policy: &HostPolicy) -> Result<(), ApiError> {
    let (host, origin) = remote_host(url)?;
    if origin.is_some_and(|o| policy.trusted.contains(&o)) {
        return Ok(());
    }
    let refuse = |addr: IpAddr, class: AddressClass| {
        let hint = if class == AddressClass::LinkLocal {
            "; link-local hosts are never accepted"
        } else {
            "; an operator can allow such hosts with api.allow_private_repository_hosts"
        };
        ApiError::unprocessable(
            ErrorCode::RepositoryHostForbidden,
            if host == addr.to_string() {
                format!("repository host {host:?} is {}{hint}", class.describe())
            } else {
                format!(
                    "repository host {host:?} is {} ({addr}){hint}",
                    class.describe()
                )
            },
        )
    };
    if let Some(ip) = normalized_literal(&host) {
        let class = netpolicy::classify(ip);
        if !policy.addresses.permits(class) {
            return Err(refuse(ip, class));
        }
        if host.parse::<IpAddr>().is_ok() {
            return Ok(());
        }
    }
    let resolved =
        tokio::time::timeout(RESOLVE_TIMEOUT, netpolicy::resolve_classified(&host, 0)).await;
    match resolved {
        Ok(Ok(addrs)) => {
            if let Some(bad) = addrs.iter().find(|a| !policy.addresses.permits(a.class)) {
                return Err(refuse(bad.addr.ip(), bad.class));
            }
            Ok(())
        }
        Ok(Err(e)) => {
            tracing::info!(host = %host, error = %e, "repository host does not resolve; accepted unchecked");
            Ok(())
        }
        Err(_) => {
            tracing::info!(host = %host, "repository host did not resolve in time; accepted unchecked");
            Ok(())
        }
    }
}

/// Checks the repository and settles its default branch (the requested one, else HEAD's).
pub async fn inspect(
    url: &str,
    branch: Option<&str>,
    hosts: &HostPolicy,
) -> Result<RepoInfo, ApiError> {
    if let Some(b) = branch {
        check_branch_name(b)?;
    }
    match classify(url)? {
        Location::Remote(url) => {
            check_remote_host(&url, hosts).await?;
            Ok(RepoInfo {
                name: repo_name(&url),
                default_branch: branch.unwrap_or(REMOTE_DEFAULT_BRANCH).to_owned(),
                url,
            })
        }
        Location::Local(_) if !hosts.local_paths => Err(ApiError::unprocessable(
            ErrorCode::RepositoryLocalForbidden,
            "repository_url must be a remote git URL: paths on the server are accepted in \
             development mode only",
        )),
        Location::Local(path) => {
            let branch = branch.map(str::to_owned);
            blocking(move || inspect_local(&path, branch.as_deref())).await
        }
    }
}

/// Checks that `branch` exists in a local repository (remote ones are not checked).
pub async fn check_branch_exists(info_url: &str, branch: &str) -> Result<(), ApiError> {
    check_branch_name(branch)?;
    let Location::Local(path) = classify(info_url)? else {
        return Ok(());
    };
    let branch = branch.to_owned();
    blocking(move || {
        let repo = open(&path)?;
        if repo.find_branch(&branch, git2::BranchType::Local).is_err() {
            return Err(ApiError::validation(format!(
                "branch {branch:?} does not exist in the repository"
            )));
        }
        Ok(())
    })
    .await
}

/// Branch names must be valid git ref names.
pub fn check_branch_name(branch: &str) -> Result<(), ApiError> {
    if git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "{branch:?} is not a valid branch name"
        )))
    }
}

fn inspect_local(path: &Path, branch: Option<&str>) -> Result<RepoInfo, ApiError> {
    let repo = open(path)?;
    let canonical = std::fs::canonicalize(path).map_err(|e| {
        ApiError::InvalidRepository(format!("{} cannot be resolved: {e}", path.display()))
    })?;
    let default_branch = match branch {
        Some(b) => b.to_owned(),
        None => head_branch(&repo)?,
    };
    if repo
        .find_branch(&default_branch, git2::BranchType::Local)
        .is_err()
    {
        return Err(ApiError::InvalidRepository(format!(
            "branch {default_branch:?} does not exist in {} (does the repository have a commit?)",
            canonical.display()
        )));
    }
    let url = canonical.to_string_lossy().into_owned();
    Ok(RepoInfo {
        name: repo_name(&url),
        url,
        default_branch,
    })
}

fn open(path: &Path) -> Result<git2::Repository, ApiError> {
    git2::Repository::open(path).map_err(|e| {
        ApiError::InvalidRepository(format!(
            "{} is not a git repository: {}",
            path.display(),
            e.message()
        ))
    })
}

/// The branch HEAD points at, even in a repository without commits.
fn head_branch(repo: &git2::Repository) -> Result<String, ApiError> {
    let head = repo.find_reference("HEAD").map_err(|e| {
        ApiError::InvalidRepository(format!("the repository has no HEAD: {}", e.message()))
    })?;
    head.symbolic_target()
        .ok()
        .flatten()
        .and_then(|target| target.strip_prefix("refs/heads/"))
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::InvalidRepository(
                "the repository's HEAD is detached; give default_branch".into(),
            )
        })
}

/// The last path segment without `.git`, as people name a repository.
fn repo_name(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    let last = trimmed.rsplit(['/', ':']).next().unwrap_or(trimmed);
    let name = last.strip_suffix(".git").unwrap_or(last);
    if name.is_empty() {
        trimmed.to_owned()
    } else {
        name.to_owned()
    }
}

/// Runs git2 work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    shared::blocking::run(work)
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("checking the repository")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_sorted_into_local_and_remote() {
        assert_eq!(
            classify("/srv/repo").ok(),
            Some(Location::Local("/srv/repo".into()))
        );
        assert_eq!(
            classify("file:///srv/repo").ok(),
            Some(Location::Local("/srv/repo".into()))
        );
        assert!(matches!(
            classify("https://github.com/a/b.git"),
            Ok(Location::Remote(_))
        ));
        assert!(matches!(
            classify("git@github.com:a/b.git"),
            Ok(Location::Remote(_))
        ));
        assert!(matches!(
            classify("relative/path"),
            Err(ApiError::InvalidRepository(_))
        ));
        assert!(matches!(
            classify("https://"),
            Err(ApiError::InvalidRepository(_))
        ));
        assert!(matches!(classify("  "), Err(ApiError::Validation(_))));
    }

    #[test]
    fn remote_hosts_are_read_as_git_would_connect() {
        let host = |u: &str| remote_host(u).expect(u).0;
        assert_eq!(host("https://github.com/a/b.git"), "github.com");
        assert_eq!(
            host("https://user:pw@169.254.169.254:8443/x"),
            "169.254.169.254"
        );
        assert_eq!(host("https://github.com@10.0.0.5/x"), "10.0.0.5");
        assert_eq!(host("https://[fd00::1]/x.git"), "fd00::1");
        assert_eq!(host("http://2130706433/x"), "127.0.0.1");
        assert_eq!(host("http://0x7f.1/x"), "127.0.0.1");
        assert_eq!(host("ssh://git@[fe80::1]:22/x.git"), "fe80::1");
        assert_eq!(host("ssh://git@10.0.0.5/x.git"), "10.0.0.5");
        assert_eq!(host("git://192.168.1.1/x.git"), "192.168.1.1");
        assert_eq!(host("git@github.com:a/b.git"), "github.com");
        assert_eq!(host("git@[fd00::1]:a/b.git"), "fd00::1");
        assert_eq!(host("[git@10.0.0.5:2222]:a/b.git"), "10.0.0.5");
        assert_eq!(host("a@b@100.64.0.1:x.git"), "100.64.0.1");
        assert_eq!(
            remote_host("https://github.com:8443/a.git").expect("url").1,
            Some(("github.com".to_owned(), 8443))
        );
        assert_eq!(
            remote_host("ssh://git@github.com/a.git").expect("url").1,
            None
        );
    }

    #[test]
    fn numeric_host_forms_are_judged_as_addresses() {
        let ip = |h: &str| normalized_literal(h).map(|ip| ip.to_string());
        assert_eq!(ip("2130706433").as_deref(), Some("127.0.0.1"));
        assert_eq!(ip("0x7f.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(
            ip("0251.0376.0251.0376").as_deref(),
            Some("169.254.169.254")
        );
        assert_eq!(ip("[fe80::1]").as_deref(), Some("fe80::1"));
        assert_eq!(ip("github.com"), None);
    }

    #[test]
    fn repository_names_drop_dot_git() {
        assert_eq!(repo_name("https://github.com/acme/widgets.git"), "widgets");
        assert_eq!(repo_name("git@github.com:acme/widgets.git"), "widgets");
        assert_eq!(repo_name("/srv/repos/demo/"), "demo");
    }

    #[test]
    fn branch_names_follow_git_rules() {
        assert!(check_branch_name("main").is_ok());
        assert!(check_branch_name("feature/x").is_ok());
        assert!(check_branch_name("bad..name").is_err());
        assert!(check_branch_name("").is_err());
    }
}
