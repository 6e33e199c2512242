//! The canary hunt of the sandbox tests: a worker is given a distinct canary value in
//! every platform secret, and a hostile attempt looks for them everywhere it can. Shared
//! by the local backend's tests (worker) and the Kubernetes backend's (scheduler), so
//! both prove the same boundary with the same search.

/// A hostile attempt: looks for the canary prefix (assembled at run time, so the script's
/// own command line does not hold it) in its environment, every process's environment
/// and command line, and every file it can read; tries Postgres, Redis and S3 directly,
/// through the egress proxy, and through their Unix sockets. Prints `uid=…` and
/// `processes=…`, then `HIT …` per find, then `hunt done`; fails when it cannot write its
/// pattern file (a `TMPDIR` it cannot reach), rather than search for nothing.
pub fn canary_hunt(head: &str, tail: &str, s3_port: u16) -> String {
    format!(
        r#"
pat=$(mktemp) && printf '%s%s\n' {head} {tail} > "$pat" || {{ echo "no pattern file: the hunt cannot search"; exit 1; }}
echo "uid=$(id -u)"
echo "processes=$(ls -d /proc/[0-9]* | wc -l)"
env | grep -qF -f "$pat" && echo "HIT env"
for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do
  tr '\0' '\n' < "$f" 2>/dev/null | grep -qF -f "$pat" && echo "HIT $f"
done
grep -rIlF -f "$pat" --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev / 2>/dev/null \
  | grep -vxF "$pat" | sed 's/^/HIT file /'
for port in 5432 6379 {s3_port}; do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && echo "HIT tcp $port"
  reply=$( (exec 3<>/dev/tcp/127.0.0.1/3128 && printf 'CONNECT 127.0.0.1:%s HTTP/1.1\r\n\r\n' $port >&3 && head -c 12 <&3) 2>/dev/null)
  case "$reply" in *" 200"*) echo "HIT proxy $port";; esac
done
alt=$(cat .git/objects/info/alternates)
(echo '[url "file:///elsewhere"]' >> "${{alt%/objects}}/config") 2>/dev/null && echo "HIT cache config writable"
(echo x > "$alt/planted") 2>/dev/null && echo "HIT cache objects writable"
for sock in /run/postgresql /var/run/postgresql /tmp/.s.PGSQL.5432; do
  [ -e "$sock" ] && echo "HIT socket $sock"
done
echo "hunt done"
"#
    )
}

/// A distinctive random string, split in two so a script can assemble it at run time.
pub fn canary_parts() -> (String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    (format!("cnry{}", &id[..6]), id[6..16].to_owned())
}

/// The port of the test object store (`SWITCHYARD_TEST_S3_ENDPOINT`; 9000 without one),
/// which the hunt tries to reach.
pub fn s3_port() -> u16 {
    std::env::var("SWITCHYARD_TEST_S3_ENDPOINT")
        .ok()
        .and_then(|e| e.trim_end_matches('/').rsplit_once(':')?.1.parse().ok())
        .unwrap_or(9000)
}

/// `pem` (a PEM private key) with `canary` in an RFC 1421 header line: still a key the
/// worker parses, and a copy of the setting anywhere shows the canary.
pub fn pem_with_canary(pem: &str, canary: &str) -> String {
    match pem.split_once('\n') {
        Some((begin, rest)) => format!("{begin}\nComment: {canary}\n\n{rest}"),
        None => pem.to_owned(),
    }
}
