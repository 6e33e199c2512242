//! The canary hunt of the sandbox tests (`shared::testing::canary`) in a worker pod built
//! from the Job spec the Kubernetes backend emits: the scheduler makes the Job, the
//! kubelet runs its pod as a real `switchyard-worker` with the pod's arguments and
//! environment, the worker's secret settings coming from the Secret its `envFrom` names,
//! each a distinct canary; the attempt's script is the hunt.

use super::*;
use crate::kubelet::EnvSources;
use shared::logs::{EntryContent, OutputStream};
use shared::testing::canary::{canary_hunt, canary_parts, pem_with_canary, s3_port};
use std::collections::HashMap;

/// Regular files under `dir` (links not followed) whose bytes hold `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file()
                && std::fs::read(entry.path())
                    .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            {
                found.push(entry.path());
            }
        }
    }
    found
}

/// The first file named `name` under `dir`.
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if entry.file_name() == name {
                return Some(entry.path());
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn no_platform_secret_is_anywhere_a_hostile_attempt_in_a_worker_pod_can_look() {
    let (head, tail) = canary_parts();
    let needle = format!("{head}{tail}");
    let canary = |what: &str| format!("{needle}-{what}");
    let mut c = Cluster::new().await;
    let mut settings = c.settings("sched-a");
    // The hunt reads every file it can: more than the other tests' minute.
    settings.worker.limits.wall_clock_secs = 600;
    let k = &settings.scheduler.kubernetes;

    // The worker's Secret, as a cluster holds it: every secret setting a canary, but the
    // S3 keys (the object store checks signatures). Trust authentication ignores the
    // database password, so it can be one.
    let database_url = settings.database.url.replacen(
        "switchyard_app@",
        &format!("switchyard_app:{}@", canary("db-password")),
        1,
    );
    assert_ne!(database_url, settings.database.url, "a password in the URL");
    // 43 base64 digits and a pad: 32 bytes, as a sealing key must be.
    let sealing_key = format!("{needle}{}=", "A".repeat(43 - needle.len()));
    let app_key = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/tests/fixtures/github-app-test-key.pem"),
    )
    .expect("the test GitHub App key (api/tests/fixtures)");
    let secret: Vec<(String, String)> = [
        ("SWITCHYARD__DATABASE__URL", database_url),
        ("SWITCHYARD__REDIS__URL", settings.redis.url.clone()),
        ("SWITCHYARD__S3__ACCESS_KEY", settings.s3.access_key.clone()),
        (
            "SWITCHYARD__S3__SECRET_KEY",
            shared::testing::S3_SECRET_KEY.to_owned(),
        ),
        ("SWITCHYARD__SECRETS__KEYS__K1", sealing_key),
        (
            "SWITCHYARD__AUTH__SIGNING_KEYS__S1",
            canary("session-signing-key"),
        ),
        (
            "SWITCHYARD__GITHUB__CLIENT_SECRET",
            canary("github-client-secret"),
        ),
        (
            "SWITCHYARD__GITHUB__WEBHOOK_SECRET",
            canary("webhook-secret"),
        ),
        (
            "SWITCHYARD__GITHUB__PRIVATE_KEY",
            pem_with_canary(&app_key, &canary("github-app-private-key")),
        ),
        ("SWITCHYARD_CANARY_ENV", canary("environment")),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    let config: Vec<(String, String)> = [
        ("SWITCHYARD__SECRETS__ACTIVE_KEY_ID", "k1"),
        ("SWITCHYARD__AUTH__ACTIVE_KEY_ID", "s1"),
        // With an App id the worker parses the private key at start: it holds it.
        ("SWITCHYARD__GITHUB__APP_ID", "424242"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect();
    let sources = EnvSources {
        secrets: HashMap::from([(
            k.worker_secret.clone().expect("worker Secret"),
            secret.clone(),
        )]),
        config_maps: HashMap::from([(
            k.worker_config_map.clone().expect("worker ConfigMap"),
            config,
        )]),
    };
    let kubelet = Kubelet::start_with(
        c.fake.clone(),
        &settings,
        &c.ctx.env.dir.join("kubelet"),
        Some(sources),
        |_| true,
    );
    c.start(settings.clone());

    // The hunt, then a pause while the test looks at the pod's volumes with everything
    // still in place.
    let script = format!(
        "{}\ntouch hunt-waiting\nuntil [ -e hunt-release ]; do sleep 0.1; done\necho released\n",
        canary_hunt(&head, &tail, s3_port())
    );
    let repo = origin_repo(&c.ctx.env.dir);
    let (org, attempts) = c
        .queued("acme", repo.to_str().expect("path"), &script, 1)
        .await;
    let attempt = attempts[0];
    let job = c.job_of(attempt).await;
    let pod_name = c.pod_of(&job).await;
    let pod = c.fake.get(Kind::Pod, &pod_name).expect("the pod");
    assert_sandbox_pod(&pod, &settings);
    let volumes = kubelet.volumes_of(&pod_name);

    let waiting = eventually("the hunt to finish in the pod", 540, || async {
        find_file(&volumes[0], "hunt-waiting")
    })
    .await;
    // The worker holds every canary, so the hunt had something to find.
    let pid = kubelet.pid_of(&pod_name).expect("the pod's worker runs");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("the worker's environ");
    let environ = String::from_utf8_lossy(&environ);
    for (key, value) in &secret {
        assert!(
            environ.contains(&format!("{key}={value}")),
            "the pod's worker was given {key}"
        );
    }
    // No settings as a file in the pod's volumes while the attempt runs.
    for volume in &volumes {
        let found = files_holding(volume, needle.as_bytes());
        assert!(found.is_empty(), "a secret setting in a file: {found:#?}");
    }
    std::fs::write(waiting.with_file_name("hunt-release"), "").expect("release the attempt");

    let done = c.wait_status(attempt, AttemptStatus::Succeeded, 120).await;
    assert_eq!(done.worker_id.as_deref(), Some(pod_name.as_str()));
    let process = c.processes(attempt).await[0].id;
    let log = shared::logstore::stored_patches(&c.ctx.store, org, process, 0)
        .await
        .expect("stored log");
    let out: Vec<String> = log
        .iter()
        .filter_map(|p| match &p.entry.content {
            EntryContent::Output {
                stream: OutputStream::Stdout,
                text,
            } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert!(
        out.iter().any(|l| l == "hunt done") && out.iter().any(|l| l == "released"),
        "the hunt ran to its end: {out:?}"
    );
    let hits: Vec<&String> = out.iter().filter(|l| l.starts_with("HIT")).collect();
    assert!(hits.is_empty(), "the attempt in the pod found: {hits:#?}");

    // It ran as the uid the pod spec names: inside the pod's user namespace that is
    // `sandbox.uid`; here the kubelet plays that namespace with a host uid of the pod's own.
    let uid: u32 = out
        .iter()
        .find_map(|l| l.strip_prefix("uid="))
        .and_then(|v| v.parse().ok())
        .expect("uid line");
    let pod_uid = kubelet.uid_of(&pod_name).expect("the pod's uid");
    assert_eq!(pod_uid.in_pod, k.sandbox.uid, "the uid the pod spec names");
    assert_eq!(
        uid, pod_uid.host,
        "the attempt ran as the uid that plays {}",
        k.sandbox.uid
    );
    let processes: usize = out
        .iter()
        .find_map(|l| l.strip_prefix("processes="))
        .and_then(|v| v.trim().parse().ok())
        .expect("process count");
    assert!(
        processes < 10,
        "the attempt saw {processes} processes, not only its own"
    );

    // Nor afterwards.
    for volume in &volumes {
        let found = files_holding(volume, needle.as_bytes());
        assert!(found.is_empty(), "a secret setting in a file: {found:#?}");
    }
}
