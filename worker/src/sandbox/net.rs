//! The sandbox's network: its namespace has only a loopback interface, and the worker
//! (outside, in the host's namespace) serves on that loopback:
//! - forwards of the ports in `worker.sandbox.loopback_ports` to the host's loopback (a
//!   local model gateway; the tests' model API fakes);
//! - an HTTP proxy at [`PROXY_PORT`] (plain requests and `CONNECT`), the sandbox's only
//!   way out, which resolves each destination and connects only to public addresses
//!   (never loopback, private, link-local such as cloud metadata, CGNAT or ULA), so
//!   Postgres, Redis and everything else of the platform stay out of reach;
//! - and, the other way, [`SandboxNet::expose`] lets the worker reach a server the
//!   sandboxed agent runs on its own loopback (OpenCode's).

use shared::config::{SandboxEgress, SandboxSettings};
use shared::netpolicy::AddressPolicy;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The egress proxy's port on the sandbox's loopback.
pub const PROXY_PORT: u16 = 3128;
/// Longest request head the proxy reads before answering 431.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The variables that send a sandboxed process's HTTP(S) traffic through the proxy
/// (both spellings: tools read one or the other), keeping its own loopback direct.
pub fn proxy_env() -> Vec<(String, String)> {
    let proxy = format!("http://127.0.0.1:{PROXY_PORT}");
    let no_proxy = "localhost,127.0.0.1,::1".to_owned();
    [
        ("HTTP_PROXY", proxy.clone()),
        ("HTTPS_PROXY", proxy.clone()),
        ("http_proxy", proxy.clone()),
        ("https_proxy", proxy),
        ("NO_PROXY", no_proxy.clone()),
        ("no_proxy", no_proxy),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

enum NsRequest {
    Bind(u16, oneshot::Sender<io::Result<std::net::TcpListener>>),
    Connect(u16, oneshot::Sender<io::Result<std::net::TcpStream>>),
}

/// A thread that lives in the sandbox's network namespace and makes sockets there
/// (a socket stays in the namespace it was made in).
#[derive(Clone)]
struct NsSockets {
    requests: std_mpsc::Sender<NsRequest>,
}

impl NsSockets {
    fn enter(pid: libc::pid_t) -> io::Result<NsSockets> {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
        let (tx, rx) = std_mpsc::channel::<NsRequest>();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("sandbox-net".into())
            .spawn(move || {
                // SAFETY: setns moves only this thread into the namespace of `ns`.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                let _ = ready_tx.send(if rc == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                });
                drop(ns);
                // Ends when the last sender (the SandboxNet) is gone.
                while let Ok(request) = rx.recv() {
                    let local = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                    match request {
                        NsRequest::Bind(port, reply) => {
                            let _ = reply.send(std::net::TcpListener::bind(local(port)));
                        }
                        NsRequest::Connect(port, reply) => {
                            let _ = reply.send(std::net::TcpStream::connect(local(port)));
                        }
                    }
                }
            })?;
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("the sandbox network thread died"))??;
        Ok(NsSockets { requests: tx })
    }

    async fn bind(&self, port: u16) -> io::Result<TcpListener> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(NsRequest::Bind(port, tx))
            .map_err(|_| io::Error::other("the sandbox network thread is gone"))?;
        let listener = rx.await.map_err(io::Error::other)??;
        listener.set_nonblocking(true)?;
        TcpListener::from_std(listener)
    }

    async fn connect(&self, port: u16) -> io::Result<TcpStream> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(NsRequest::Connect(port, tx))
            .map_err(|_| io::Error::other("the sandbox network thread is gone"))?;
        let stream = rx.await.map_err(io::Error::other)??;
        stream.set_nonblocking(true)?;
        TcpStream::from_std(stream)
    }
}

/// The worker's services on one sandbox's loopback; they stop when this is dropped.
pub struct SandboxNet {
    sockets: NsSockets,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for SandboxNet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl SandboxNet {
    /// Sets up the network of the sandbox whose keeper is `pid`: the loopback forwards
    /// and the egress proxy.
    pub async fn serve(pid: libc::pid_t, settings: &SandboxSettings) -> io::Result<SandboxNet> {
        let sockets = NsSockets::enter(pid)?;
        let mut tasks = Vec::new();
        for &port in &settings.loopback_ports {
            let listener = sockets.bind(port).await?;
            tasks.push(tokio::spawn(accept_each(
                listener,
                move |inside| async move {
                    let outside = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
                    splice(inside, outside).await
                },
            )));
        }
        let egress = settings.egress;
        let proxy = sockets.bind(PROXY_PORT).await?;
        tasks.push(tokio::spawn(accept_each(proxy, move |client| {
            proxy_one(client, egress)
        })));
        Ok(SandboxNet { sockets, tasks })
    }

    /// A port on the host's loopback that leads to `port` on the sandbox's loopback.
    pub fn expose(&mut self, port: u16) -> io::Result<u16> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        let host_port = listener.local_addr()?.port();
        let sockets = self.sockets.clone();
        self.tasks
            .push(tokio::spawn(accept_each(listener, move |outside| {
                let sockets = sockets.clone();
                async move {
                    let inside = sockets.connect(port).await?;
                    splice(outside, inside).await
                }
            })));
        Ok(host_port)
    }
}

/// A run's [`SandboxNet`] once it is up, shared with the agent's driver.
#[derive(Clone, Default)]
pub struct Bridge(Arc<Mutex<Option<SandboxNet>>>);

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bridge")
    }
}

impl Bridge {
    pub fn set(&self, net: SandboxNet) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(net);
        }
    }

    /// Stops the network services (the run is over).
    pub fn clear(&self) {
        let net = self.0.lock().ok().and_then(|mut slot| slot.take());
        drop(net);
    }

    /// See [`SandboxNet::expose`]; fails when the sandbox's network is not up.
    pub fn expose(&self, port: u16) -> io::Result<u16> {
        let mut slot = self
            .0
            .lock()
            .map_err(|_| io::Error::other("sandbox network lock poisoned"))?;
        slot.as_mut()
            .ok_or_else(|| io::Error::other("the sandbox's network is not up"))?
            .expose(port)
    }
}

async fn accept_each<F, Fut>(listener: TcpListener, handle: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: std::future::Future<Output = io::Result<()>> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let conn = handle(stream);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "sandbox connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "sandbox listener failed");
                return;
            }
        }
    }
}

async fn splice(mut a: TcpStream, mut b: TcpStream) -> io::Result<()> {
    tokio::io::copy_bidirectional(&mut a, &mut b)
        .await
        .map(|_| ())
}

/// One proxy client: `CONNECT host:port`, or a plain request in absolute form.
async fn proxy_one(mut client: TcpStream, egress: SandboxEgress) -> io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    let end = loop {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() > MAX_HEAD_BYTES {
            return refuse(&mut client, 431, "request head too large").await;
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    let Some(request) = ProxyRequest::parse(&text) else {
        return refuse(&mut client, 400, "not a proxy request").await;
    };
    let target = match egress_target(&request.host, request.port, egress).await {
        Ok(addr) => addr,
        Err(reason) => {
            tracing::info!(host = %request.host, port = request.port, %reason, "sandbox egress refused");
            return refuse(&mut client, 403, &reason).await;
        }
    };
    let mut upstream = match TcpStream::connect(target).await {
        Ok(s) => s,
        Err(e) => return refuse(&mut client, 502, &format!("connect failed: {e}")).await,
    };
    if request.connect {
        client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        upstream.write_all(&head[end..]).await?;
    } else {
        upstream.write_all(request.origin_head.as_bytes()).await?;
        upstream.write_all(&head[end..]).await?;
    }
    splice(client, upstream).await
}

async fn refuse(client: &mut TcpStream, status: u16, reason: &str) -> io::Result<()> {
    let body = format!("switchyard sandbox egress: {reason}\n");
    let text = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        431 => "Request Header Fields Too Large",
        _ => "Bad Gateway",
    };
    let response = format!(
        "HTTP/1.1 {status} {text}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    client.write_all(response.as_bytes()).await?;
    client.shutdown().await
}

/// The first address of `host` the policy lets the sandbox reach (every address the
/// name resolves to must be public: `shared::netpolicy::resolve_checked`).
async fn egress_target(host: &str, port: u16, egress: SandboxEgress) -> Result<SocketAddr, String> {
    if egress == SandboxEgress::None {
        return Err("outbound connections are off for attempts".into());
    }
    let addrs = shared::netpolicy::resolve_checked(host, port, AddressPolicy::PublicOnly)
        .await
        .map_err(|e| e.to_string())?;
    addrs
        .first()
        .copied()
        .ok_or_else(|| format!("{host} has no address"))
}

/// A parsed proxy request head.
#[derive(Debug, PartialEq)]
struct ProxyRequest {
    connect: bool,
    host: String,
    port: u16,
    /// For plain requests: the head rewritten to origin form, as the server expects it.
    origin_head: String,
}

impl ProxyRequest {
    fn parse(head: &str) -> Option<ProxyRequest> {
        let (first, rest) = head.split_once("\r\n")?;
        let mut parts = first.split(' ');
        let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
        if method == "CONNECT" {
            let (host, port) = split_host_port(target, 443)?;
            return Some(ProxyRequest {
                connect: true,
                host,
                port,
                origin_head: String::new(),
            });
        }
        let after = target.strip_prefix("http://")?;
        let (authority, path) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, "/"),
        };
        let (host, port) = split_host_port(authority, 80)?;
        Some(ProxyRequest {
            connect: false,
            host,
            port,
            origin_head: format!("{method} {path} {version}\r\n{rest}"),
        })
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        let port = match rest.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        return Some((host.to_owned(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((authority.to_owned(), default_port)),
    }
    .filter(|(h, _)| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_requests_name_host_and_port() {
        let r = ProxyRequest::parse("CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("parses");
        assert!(r.connect);
        assert_eq!((r.host.as_str(), r.port), ("api.anthropic.com", 443));
        let r = ProxyRequest::parse("CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n\r\n").expect("v6");
        assert_eq!((r.host.as_str(), r.port), ("2001:db8::1", 8443));
    }

    #[test]
    fn plain_requests_are_rewritten_to_origin_form() {
        let r = ProxyRequest::parse(
            "GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n",
        )
        .expect("parses");
        assert!(!r.connect);
        assert_eq!((r.host.as_str(), r.port), ("example.com", 8080));
        assert_eq!(
            r.origin_head,
            "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n"
        );
        assert!(ProxyRequest::parse("GET /relative HTTP/1.1\r\n\r\n").is_none());
    }

    #[tokio::test]
    async fn the_proxy_never_opens_the_platform_or_the_cloud_metadata() {
        for (host, port) in [
            ("127.0.0.1", 5432),
            ("localhost", 6379),
            ("169.254.169.254", 80),
            ("10.1.2.3", 443),
            ("::1", 443),
        ] {
            let refused = egress_target(host, port, SandboxEgress::Public).await;
            assert!(refused.is_err(), "{host}:{port} was let through");
        }
        assert!(
            egress_target("1.1.1.1", 443, SandboxEgress::None)
                .await
                .is_err()
        );
        assert_eq!(
            egress_target("1.1.1.1", 443, SandboxEgress::Public).await,
            Ok(SocketAddr::from(([1, 1, 1, 1], 443)))
        );
    }
}
