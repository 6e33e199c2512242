//! The real stack as separate processes: `switchyard-api serve` replicas, one
//! `switchyard-scheduler` (external capacity: the test starts the workers) and
//! `switchyard-worker`s, each one a child the test can SIGKILL, SIGSTOP or SIGTERM.
//! They share the settings of a [`TestApp`], whose helpers the scenarios drive them with.

use shared::config::{CapacityBackend, Settings};
use shared::testing::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::TestApp;

/// One running service process.
pub(crate) struct Service {
    pub(crate) name: String,
    child: Child,
    log: PathBuf,
    /// Where an api replica listens.
    pub(crate) base: Option<String>,
}

impl Service {
    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub(crate) fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on a child this test started.
        unsafe { libc::kill(self.pid(), signal) };
    }

    /// SIGKILL, and the zombie reaped.
    pub(crate) fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// SIGTERM, then how long the process took to exit (failing past `limit`).
    pub(crate) async fn terminate(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        self.signal(libc::SIGTERM);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the service") {
                return (status, start.elapsed());
            }
            assert!(
                start.elapsed() < limit,
                "{} did not exit within {limit:?} of SIGTERM:\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The end of what the process printed, for failure messages.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(6_000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        format!("--- {} ---\n{}", self.name, &text[start..])
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stack. Requests through `app` go to the api replica last chosen with
/// [`Cluster::use_api`].
pub(crate) struct Cluster {
    pub(crate) app: TestApp,
    config: PathBuf,
    logs: PathBuf,
    pub(crate) apis: Vec<Service>,
    pub(crate) scheduler: Option<Service>,
    pub(crate) workers: Vec<Service>,
    spawned: usize,
}

impl Cluster {
    /// `apis` api replicas, the scheduler and `workers` workers on `app`'s services, with
    /// `configure` applied to every process's settings.
    pub(crate) async fn start(
        app: TestApp,
        apis: usize,
        workers: usize,
        configure: impl FnOnce(&mut Settings),
    ) -> Cluster {
        let mut settings = app.api_settings.clone();
        settings.scheduler.backend = CapacityBackend::External;
        // The fake Claude Code stands in for the real CLI (the worker passes the real flags).
        let fake = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../worker/tests/fake_agents/claude_code.py");
        settings.worker.agent_commands.insert(
            "claude-code".into(),
            vec!["python3".into(), fake.display().to_string()],
        );
        configure(&mut settings);
        let logs = app.env.dir.join("logs");
        std::fs::create_dir_all(&logs).expect("logs dir");
        // The settings hold credentials: readable by this test's user only.
        let config = app.env.dir.join("settings.json");
        std::fs::write(
            &config,
            serde_json::to_vec(&settings).expect("settings json"),
        )
        .expect("write settings");
        std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("settings mode");
        let mut cluster = Cluster {
            app,
            config,
            logs,
            apis: Vec::new(),
            scheduler: None,
            workers: Vec::new(),
            spawned: 0,
        };
        for _ in 0..apis {
            cluster.start_api().await;
        }
        cluster.use_api(0);
        cluster.start_scheduler();
        for _ in 0..workers {
            cluster.start_worker();
        }
        cluster
    }

    fn bin(name: &str) -> PathBuf {
        let api = PathBuf::from(env!("CARGO_BIN_EXE_switchyard-api"));
        let bin = api.with_file_name(name);
        assert!(
            bin.is_file(),
            "{} is not built: run `cargo build --workspace --bins` (scripts/test does)",
            bin.display()
        );
        bin
    }

    fn spawn(
        &mut self,
        name: &str,
        program: &str,
        args: &[&str],
        env: &[(&str, String)],
    ) -> Service {
        self.spawned += 1;
        let name = format!("{name}-{}", self.spawned);
        let log = self.logs.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("service log");
        let err = out.try_clone().expect("service log");
        let mut cmd = Command::new(Self::bin(program));
        cmd.args(args)
            .env("SWITCHYARD_CONFIG", &self.config)
            .env_remove("SWITCHYARD_CONFIG_FD")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: prctl is async-signal-safe; the service dies with the test process.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start service");
        Service {
            name,
            child,
            log,
            base: None,
        }
    }

    /// Starts one more api replica and waits until it answers; returns its index.
    pub(crate) async fn start_api(&mut self) -> usize {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut api = self.spawn(
            "api",
            "switchyard-api",
            &["serve"],
            &[
                ("SWITCHYARD__API__BIND", format!("127.0.0.1:{port}")),
                ("SWITCHYARD__API__PUBLIC_URL", base.clone()),
            ],
        );
        api.base = Some(base.clone());
        let start = Instant::now();
        loop {
            let ready = self
                .app
                .client
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            assert!(api.is_running(), "the api exited:\n{}", api.log_tail());
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the api did not answer within 60 s:\n{}",
                api.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.apis.push(api);
        self.apis.len() - 1
    }

    /// Points `app`'s requests at api replica `i`.
    pub(crate) fn use_api(&mut self, i: usize) {
        let base = self.apis[i].base.clone().expect("an api replica");
        self.app.addr = base
            .trim_start_matches("http://")
            .parse()
            .expect("replica address");
        self.app.base = base;
    }

    pub(crate) fn start_scheduler(&mut self) {
        let scheduler = self.spawn("scheduler", "switchyard-scheduler", &[], &[]);
        self.scheduler = Some(scheduler);
    }

    /// Starts a worker with a data directory of its own (as on a host of its own).
    pub(crate) fn start_worker(&mut self) -> usize {
        let data_dir = self
            .app
            .env
            .dir
            .join(format!("worker-{}", self.spawned + 1));
        let worker = self.spawn(
            "worker",
            "switchyard-worker",
            &[],
            &[(
                "SWITCHYARD__WORKER__DATA_DIR",
                data_dir.display().to_string(),
            )],
        );
        self.workers.push(worker);
        self.workers.len() - 1
    }

    /// Waits for the attempt's end, which must be success (else the services' logs show why).
    pub(crate) async fn wait_succeeded(&self, id: uuid::Uuid) -> shared::wire::Attempt {
        let done = self.app.wait_finished(id).await;
        assert_eq!(
            done.status,
            shared::domain::AttemptStatus::Succeeded,
            "{done:?}\n{}",
            self.logs()
        );
        done
    }

    /// Every service's log ends, for a failure message.
    pub(crate) fn logs(&self) -> String {
        self.apis
            .iter()
            .chain(self.scheduler.iter())
            .chain(self.workers.iter())
            .map(Service::log_tail)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The worker process running `attempt` now (by the pid in its worker id).
    pub(crate) async fn worker_running(&self, attempt: uuid::Uuid) -> usize {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use shared::db::schema::task_attempts;
        let mut conn = self.app.db.system().await.expect("db");
        let worker_id: Option<String> = task_attempts::table
            .find(attempt)
            .select(task_attempts::worker_id)
            .get_result(&mut conn)
            .await
            .expect("attempt row");
        let pid: i32 = worker_id
            .as_deref()
            .and_then(|w| w.rsplit('-').next())
            .and_then(|p| p.parse().ok())
            .expect("a running attempt names its worker");
        self.workers
            .iter()
            .position(|w| w.pid() == pid)
            .expect("the attempt runs on one of this cluster's workers")
    }

    /// Stops everything (gracefully; what does not stop in time is killed on drop).
    pub(crate) async fn stop(mut self) {
        for s in self
            .workers
            .iter_mut()
            .chain(self.scheduler.iter_mut())
            .chain(self.apis.iter_mut())
        {
            if s.is_running() {
                s.signal(libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for s in self
            .workers
            .iter_mut()
            .chain(self.scheduler.iter_mut())
            .chain(self.apis.iter_mut())
        {
            while s.is_running() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.app.stop().await;
    }
}
