//! The sandbox boundary, proven with hostile scripts run as attempts by a real worker:
//! canary values of every platform secret are nowhere the attempt can look, two
//! attempts on one host cannot see each other, and nothing an attempt starts outlives it.

use crate::attempt::{Scenario, scenario, texts};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use shared::domain::{AttemptStatus, ProcessStatus};
use shared::logs::OutputStream;
use shared::testing::canary::{canary_hunt, canary_parts};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Every stdout line an attempt's process printed, from its stored log.
async fn stdout_of(s: &Scenario) -> Vec<String> {
    texts(&s.stored_log(s.process).await, OutputStream::Stdout)
}

#[tokio::test(flavor = "multi_thread")]
async fn no_platform_secret_is_anywhere_a_hostile_attempt_can_look() {
    let (head, tail) = canary_parts();
    let canary = |what: &str| format!("{head}{tail}-{what}");
    let s3_port = shared::testing::canary::s3_port();
    let s = scenario(&canary_hunt(&head, &tail, s3_port), None, None).await;
    s.enqueue().await;
    let st = &s.env.settings;

    // A settings file as an operator would keep one, readable by root only, outside the
    // data dir and outside /tmp.
    let config_dir = std::path::PathBuf::from(format!("/var/lib/switchyard-canary-{head}"));
    std::fs::create_dir_all(&config_dir).expect("config dir");
    let config = config_dir.join("worker.json");
    // 43 base64 digits and a pad: 32 bytes, as a sealing key must be.
    let secret_key = format!("{head}{tail}{}=", "A".repeat(43 - head.len() - tail.len()));
    std::fs::write(
        &config,
        serde_json::json!({
            "github": {"client_secret": canary("github-client-secret"), "webhook_secret": canary("webhook-secret")},
            "secrets": {"active_key_id": "k1", "keys": {"k1": secret_key}},
            "auth": {"active_key_id": "s1", "signing_keys": {"s1": canary("session-signing-key")}},
        })
        .to_string(),
    )
    .expect("config");
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    // Trust authentication ignores the password: it is a canary the worker holds.
    let database_url = st.database.url.replacen(
        "switchyard_app@",
        &format!("switchyard_app:{}@", canary("db-password")),
        1,
    );

    let run = |sandboxed: bool| {
        let mut cmd = s.worker_command("canary-worker", &database_url);
        cmd.env("SWITCHYARD_CONFIG", &config)
            .env("SWITCHYARD__WORKER__MAX_ATTEMPTS", "1")
            .env(
                "SWITCHYARD__WORKER__SANDBOX__ENABLED",
                sandboxed.to_string(),
            )
            .env("SWITCHYARD_CANARY_ENV", canary("environment"))
            .kill_on_drop(true);
        cmd
    };

    let status = tokio::time::timeout(Duration::from_secs(240), run(true).status())
        .await
        .expect("the sandboxed hunt ends within 240 s")
        .expect("worker");
    assert!(status.success(), "worker exited with {status}");
    let attempt = s.attempt_row().await;
    assert_eq!(
        attempt.status,
        AttemptStatus::Succeeded,
        "{:?}",
        attempt.failure_reason
    );
    let out = stdout_of(&s).await;
    assert!(
        out.iter().any(|l| l == "hunt done"),
        "the hunt ran to its end: {out:?}"
    );
    let hits: Vec<&String> = out.iter().filter(|l| l.starts_with("HIT")).collect();
    assert!(hits.is_empty(), "the sandboxed attempt found: {hits:#?}");
    let uid: u32 = out
        .iter()
        .find_map(|l| l.strip_prefix("uid="))
        .and_then(|v| v.parse().ok())
        .expect("uid line");
    assert!(uid >= 200_000, "the attempt ran as uid {uid}");
    let processes: usize = out
        .iter()
        .find_map(|l| l.strip_prefix("processes="))
        .and_then(|v| v.trim().parse().ok())
        .expect("process count");
    assert!(processes < 10, "the attempt saw {processes} processes");

    // The control: the same hunt run the way attempts ran before the sandbox finds the
    // worker's secrets, so the hunt is able to see them.
    let mut conn = s.db.system().await.expect("conn");
    shared::attempts::force_status(&mut conn, s.attempt, AttemptStatus::Scheduled)
        .await
        .expect("reschedule");
    diesel::update(shared::db::schema::execution_processes::table.find(s.process))
        .set((
            shared::db::schema::execution_processes::status.eq(ProcessStatus::Queued),
            shared::db::schema::execution_processes::entry_count.eq(0i64),
        ))
        .execute(&mut conn)
        .await
        .expect("requeue the process");
    drop(conn);
    s.enqueue().await;
    let status = tokio::time::timeout(Duration::from_secs(240), run(false).status())
        .await
        .expect("the unsandboxed hunt ends")
        .expect("worker");
    assert!(status.success());
    let out = stdout_of(&s).await;
    // For the record (`--no-capture`): where the unsandboxed hunt found the canaries.
    for hit in out.iter().filter(|l| l.starts_with("HIT")) {
        eprintln!("unsandboxed: {hit}");
    }
    assert!(
        out.iter().any(|l| l.starts_with("HIT")),
        "without the sandbox the hunt finds the canaries: {out:?}"
    );
    let _ = std::fs::remove_dir_all(&config_dir);
}

/// Serves two attempts' rendezvous: A says where it lives once it is ready; B gets that,
/// probes, and says `done`, which releases A.
async fn rendezvous(listener: TcpListener) {
    let mut a = None;
    let mut b = None;
    while a.is_none() || b.is_none() {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut stream = BufReader::new(stream);
        let mut line = String::new();
        stream.read_line(&mut line).await.expect("hello");
        if line.starts_with("A ") {
            a = Some((stream, line));
        } else {
            b = Some(stream);
        }
    }
    let ((mut a, a_line), mut b) = (a.expect("a"), b.expect("b"));
    b.get_mut()
        .write_all(&a_line.as_bytes()["A ".len()..])
        .await
        .expect("tell B");
    let mut done = String::new();
    b.read_line(&mut done).await.expect("B done");
    a.get_mut().write_all(b"go\n").await.expect("release A");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_orgs_attempts_on_one_host_see_nothing_of_each_other() {
    let barrier = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = barrier.local_addr().expect("addr").port();
    // A's server port, on A's own loopback (any port but the forwarded one).
    let listen_port = if port == 23_456 { 23_457 } else { 23_456 };
    let a = scenario(
        &format!(
            r#"
echo secret-a > a-tree.txt; echo secret-a > "$HOME/a-home.txt"; echo secret-a > /tmp/a-tmp.txt
python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",{listen_port})); s.listen(); time.sleep(60)' &
until (exec 4<>/dev/tcp/127.0.0.1/{listen_port}) 2>/dev/null; do sleep 0.05; done
exec 3<>/dev/tcp/127.0.0.1/{port}
echo "A $PWD $HOME" >&3
read -r go <&3
echo "a released: $go"
"#
        ),
        None,
        None,
    )
    .await;
    let b = scenario(
        &format!(
            r#"
exec 3<>/dev/tcp/127.0.0.1/{port}
echo B >&3
read -r a_tree a_home <&3
echo "probing $a_tree"
cat "$a_tree/a-tree.txt" 2>/dev/null && echo "HIT tree"
ls "$a_tree" >/dev/null 2>&1 && echo "HIT tree listing"
cat "$a_home/a-home.txt" 2>/dev/null && echo "HIT home"
cat /tmp/a-tmp.txt 2>/dev/null && echo "HIT tmp"
(exec 4<>/dev/tcp/127.0.0.1/{listen_port}) 2>/dev/null && echo "HIT port"
# Assembled here so this script's own command line does not match.
mark="time.sle""ep(60)"
for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' < "$f" | grep -qF "$mark" && echo "HIT process $f"; done
echo done >&3
echo "b done"
"#
        ),
        None,
        None,
    )
    .await;
    let forward = |s: &Scenario| {
        let mut settings = s.settings();
        settings.worker.sandbox.loopback_ports = vec![port];
        settings
    };
    let (sa, sb) = (forward(&a), forward(&b));
    a.enqueue().await;
    b.enqueue().await;
    let meeting = tokio::spawn(rendezvous(barrier));
    let (ra, rb) = tokio::join!(
        tokio::time::timeout(
            Duration::from_secs(90),
            worker::run(sa, CancellationToken::new())
        ),
        tokio::time::timeout(
            Duration::from_secs(90),
            worker::run(sb, CancellationToken::new())
        ),
    );
    ra.expect("A within 90 s").expect("worker A");
    rb.expect("B within 90 s").expect("worker B");
    meeting.await.expect("rendezvous");

    for s in [&a, &b] {
        let attempt = s.attempt_row().await;
        assert_eq!(
            attempt.status,
            AttemptStatus::Succeeded,
            "{:?}",
            attempt.failure_reason
        );
    }
    assert!(stdout_of(&a).await.contains(&"a released: go".to_owned()));
    let out = stdout_of(&b).await;
    assert!(out.contains(&"b done".to_owned()), "{out:?}");
    let hits: Vec<&String> = out.iter().filter(|l| l.starts_with("HIT")).collect();
    assert!(hits.is_empty(), "B saw A: {hits:#?}\n{out:#?}");
}

/// Pids of live processes whose command line contains `needle`.
fn processes_running(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(needle)
                })
                .unwrap_or(false)
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("stat"))
                .map(|s| {
                    !s.rsplit_once(')')
                        .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
                })
                .unwrap_or(false)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn processes_that_escape_with_setsid_or_a_double_fork_die_with_the_attempt() {
    let marks = [
        3141 + (std::process::id() % 1000),
        2718 + (std::process::id() % 1000),
    ];
    let script = format!(
        "setsid sleep {} < /dev/null > /dev/null 2>&1 &\n( ( sleep {} < /dev/null > /dev/null 2>&1 & ) & )\necho escaped",
        marks[0], marks[1]
    );
    // A normal end.
    let s = scenario(&script, None, None).await;
    s.enqueue().await;
    tokio::time::timeout(
        Duration::from_secs(60),
        worker::run(s.settings(), CancellationToken::new()),
    )
    .await
    .expect("within 60 s")
    .expect("worker");
    assert_eq!(s.attempt_row().await.status, AttemptStatus::Succeeded);
    assert_gone(&marks);

    // A stop in the middle.
    let s = scenario(&format!("{script}\nsleep 1000"), None, None).await;
    s.enqueue().await;
    let worker = s.spawn_worker();
    s.wait_for_process_status(s.process, ProcessStatus::Running)
        .await;
    // Stop only once both have escaped.
    tokio::time::timeout(Duration::from_secs(30), async {
        while marks
            .iter()
            .any(|m| processes_running(&format!("sleep {m}")).is_empty())
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the escapees start");
    s.request_stop().await;
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("stopped within 30 s")
        .expect("join")
        .expect("worker");
    assert_eq!(s.attempt_row().await.status, AttemptStatus::Cancelled);
    assert_gone(&marks);
}

fn assert_gone(marks: &[u32]) {
    for m in marks {
        let left = processes_running(&format!("sleep {m}"));
        assert!(left.is_empty(), "sleep {m} survives as {left:?}");
    }
}
