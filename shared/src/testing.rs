//! Test support: each test gets its own database (cloned from a migrated template), its
//! own Redis key prefix and its own S3 bucket, against real servers.
//!
//! Servers come from the environment (`scripts/test` sets these), with the defaults of a
//! developer machine:
//! - `SWITCHYARD_TEST_DATABASE_URL` — an admin URL (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! - `SWITCHYARD_TEST_REDIS_URL` — default `redis://127.0.0.1:6379/`
//! - `SWITCHYARD_TEST_S3_ENDPOINT` — if unset, an `s3s-fs` from `PATH` is started for the
//!   test process on a free port.
//! - `SWITCHYARD_TEST_THROUGH_PGBOUNCER=1` — the services' connections (not the test's
//!   own admin and owner ones) go through a PgBouncer in transaction mode that each
//!   [`TestEnv`] starts in front of the test Postgres ([`PgBouncer`]).

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use uuid::Uuid;

use crate::config::Settings;

pub mod canary;
pub mod model_api;
mod own_postgres;

pub use own_postgres::OwnPostgres;

/// S3 credentials used by test servers.
pub const S3_ACCESS_KEY: &str = "switchyard";
pub const S3_SECRET_KEY: &str = "switchyard-secret";

/// One test's isolated slice of the real services.
pub struct TestEnv {
    pub settings: Settings,
    pub db_name: String,
    admin_url: String,
    /// Scratch space for repositories, worker data and the like; removed on drop.
    pub dir: PathBuf,
    /// The pooler `settings.database.url` points at, under `SWITCHYARD_TEST_THROUGH_PGBOUNCER`.
    pub pgbouncer: Option<PgBouncer>,
}

impl TestEnv {
    /// Creates the database, picks a Redis prefix, creates the bucket.
    pub async fn new() -> TestEnv {
        let admin_url = std::env::var("SWITCHYARD_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        Self::on_postgres(admin_url).await
    }

    /// As [`TestEnv::new`], with the database on the server `admin_url` names (a test's
    /// [`OwnPostgres`], say).
    pub async fn on_postgres(admin_url: String) -> TestEnv {
        let template = ensure_template(&admin_url).await;
        let id = Uuid::new_v4().simple().to_string();
        let db_name = format!("sy_test_{}", &id[..16]);
        let mut admin = AsyncPgConnection::establish(&admin_url)
            .await
            .expect("connect to the test Postgres admin database");
        diesel::sql_query(format!("CREATE DATABASE {db_name} TEMPLATE {template}"))
            .execute(&mut admin)
            .await
            .expect("create test database from template");

        let mut settings = Settings::default();
        // The services' role, so row-level security applies in tests as in production.
        settings.database.url = replace_user(&replace_db(&admin_url, &db_name), APP_ROLE);
        settings.database.migration_url = Some(replace_db(&admin_url, &db_name));
        settings.database.pool_size = 8;
        let pgbouncer = std::env::var_os(THROUGH_PGBOUNCER).map(|_| {
            let bouncer = PgBouncer::start(&admin_url, 4).unwrap_or_else(|e| panic!("{e}"));
            settings.database.url = bouncer.url(APP_ROLE, &db_name);
            settings.database.prepared_statement_cache = false;
            bouncer
        });
        settings.redis.url = std::env::var("SWITCHYARD_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
        settings.redis.prefix = format!("sytest:{}", &id[..16]);
        settings.s3.endpoint = Some(s3_endpoint());
        settings.s3.bucket = format!("sytest-{}", &id[..16]);
        settings.s3.access_key = S3_ACCESS_KEY.into();
        settings.s3.secret_key = SecretString::from(S3_SECRET_KEY);
        let dir = std::env::temp_dir().join(format!("switchyard-test-{}", &id[..16]));
        std::fs::create_dir_all(&dir).expect("create test scratch dir");
        settings.worker.data_dir = dir.join("worker");
        settings.api.bind = "127.0.0.1:0".into();
        // Short timings keep lease and retry tests quick.
        settings.worker.lease_ms = 3_000;
        settings.worker.heartbeat_ms = 500;
        settings.worker.segment_flush_ms = 100;
        settings.worker.diff_interval_ms = 200;
        // The scheduler's fallback poll keeps its default: tests are dispatched by the
        // writers' wakes, as production is, so a missing wake shows up as a slow test.
        settings.scheduler.redeliver_after_ms = 3_000;
        settings.scheduler.local_workers = 2;
        // A developer's machine: the public key seals secrets and people sign in through
        // the development route; a fixed key keeps their sessions valid across an api
        // restart. Tests of a deployment turn `development` off (and give real keys).
        settings.development = true;
        settings.secrets.allow_dev_key = true;
        settings.auth.dev_login = true;
        settings.auth.signing_keys.insert(
            "test".into(),
            SecretString::from(format!("test-signing-key-{}", &id[..16])),
        );

        crate::store::ObjectStore::new(&settings.s3)
            .ensure_bucket()
            .await
            .expect("create test bucket");
        TestEnv {
            settings,
            db_name,
            admin_url,
            dir,
            pgbouncer,
        }
    }

    /// A key in this test's Redis namespace.
    pub fn redis_key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.settings.redis.prefix)
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let db_name = self.db_name.clone();
        let redis_url = self.settings.redis.url.clone();
        let prefix = self.settings.redis.prefix.clone();
        // Drop may run inside a runtime: clean up from a thread with its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut admin) = AsyncPgConnection::establish(&admin_url).await {
                    let _ = diesel::sql_query(format!(
                        "DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"
                    ))
                    .execute(&mut admin)
                    .await;
                }
                if let Ok(client) = redis::Client::open(redis_url)
                    && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                {
                    let keys: Vec<String> = redis::cmd("KEYS")
                        .arg(format!("{prefix}:*"))
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let _: redis::RedisResult<()> =
                            redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
                    }
                }
            });
        })
        .join();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn replace_db(url: &str, db: &str) -> String {
    match url.rfind('/') {
        Some(i) if i > "postgres://".len() => format!("{}/{db}", &url[..i]),
        _ => format!("{url}/{db}"),
    }
}

/// The role the services connect as (created by the migrations); the test server trusts
/// local connections, so it needs no password.
pub const APP_ROLE: &str = "switchyard_app";

/// `url` connecting as `user` instead of whoever it named (a password is dropped).
fn replace_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let host_start = match rest.find('/') {
        Some(slash) => rest[..slash].rfind('@').map_or(0, |at| at + 1),
        None => rest.rfind('@').map_or(0, |at| at + 1),
    };
    format!("{scheme}://{user}@{}", &rest[host_start..])
}

fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations")
}

/// Hash of every migration file, so a changed migration gets a fresh template.
fn migrations_hash() -> String {
    let mut files = Vec::new();
    let mut stack = vec![migrations_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)
            .expect("read migrations dir")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    for f in files {
        hasher.update(f.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&f).expect("read migration"));
    }
    hex::encode(&hasher.finalize()[..6])
}

/// Builds the migrated template database once per migration set, under an advisory lock
/// so parallel test processes wait for one builder.
async fn ensure_template(admin_url: &str) -> String {
    // One template per server: a test may bring a server of its own.
    static TEMPLATES: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::OnceCell<String>>>>> =
        OnceLock::new();
    let cell = TEMPLATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(admin_url.to_owned())
        .or_default()
        .clone();
    cell.get_or_init(|| async {
        let name = format!("sy_template_{}", migrations_hash());
        let mut admin = AsyncPgConnection::establish(admin_url)
            .await
            .expect("connect to the test Postgres admin database");
        diesel::sql_query("SELECT pg_advisory_lock(727274)")
            .execute(&mut admin)
            .await
            .expect("take template lock");
        #[derive(diesel::QueryableByName)]
        struct Exists {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            exists: bool,
        }
        let exists: Exists = diesel::sql_query(format!(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{name}') AS exists"
        ))
        .get_result(&mut admin)
        .await
        .expect("look up template");
        if !exists.exists {
            let building = format!("{name}_building");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {building}"))
                .execute(&mut admin)
                .await
                .expect("drop stale template");
            diesel::sql_query(format!("CREATE DATABASE {building}"))
                .execute(&mut admin)
                .await
                .expect("create template");
            crate::db::run_migrations(&replace_db(admin_url, &building))
                .await
                .expect("migrate template");
            diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                .execute(&mut admin)
                .await
                .expect("publish template");
        }
        diesel::sql_query("SELECT pg_advisory_unlock(727274)")
            .execute(&mut admin)
            .await
            .expect("release template lock");
        name
    })
    .await
    .clone()
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// The S3 endpoint for tests: from the environment, else an `s3s-fs` of this process's own.
fn s3_endpoint() -> String {
    if let Ok(url) = std::env::var("SWITCHYARD_TEST_S3_ENDPOINT") {
        return url;
    }
    static OWN: OnceLock<(String, Mutex<Child>)> = OnceLock::new();
    OWN.get_or_init(|| {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("switchyard-s3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create s3 dir");
        // PR_SET_PDEATHSIG fires when the spawning *thread* exits, so spawn from a thread
        // that lives as long as the process: the server dies with the test process.
        let (tx, rx) = std::sync::mpsc::channel();
        let spawn_dir = dir.clone();
        std::thread::spawn(move || {
            let mut cmd = Command::new("s3s-fs");
            cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
                .arg(&spawn_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let _ = tx.send(cmd.spawn());
            loop {
                std::thread::park();
            }
        });
        let child = rx
            .recv()
            .expect("s3s-fs spawner thread")
            .expect("start s3s-fs (scripts/test installs it, or set SWITCHYARD_TEST_S3_ENDPOINT)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (format!("http://127.0.0.1:{port}"), Mutex::new(child))
    })
    .0
    .clone()
}

/// Set (to anything) to send the services' database connections through a PgBouncer in
/// transaction mode (see [`TestEnv`]).
pub const THROUGH_PGBOUNCER: &str = "SWITCHYARD_TEST_THROUGH_PGBOUNCER";

/// A PgBouncer in transaction mode in front of the test Postgres, for this test alone:
/// each transaction may run on any of its `pool_size` server connections per database.
pub struct PgBouncer {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl PgBouncer {
    /// Starts `pgbouncer` (Debian's package; scripts/lib/services.sh installs it) on a free
    /// port, trusting local clients as the test Postgres does. As root it runs as
    /// `postgres` (it refuses to run as root).
    pub fn start(admin_url: &str, pool_size: u32) -> Result<PgBouncer, String> {
        let program = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .or_else(|| {
                std::env::var_os("PATH").and_then(|path| {
                    std::env::split_paths(&path)
                        .map(|dir| dir.join("pgbouncer"))
                        .find(|p| p.is_file())
                })
            })
            .ok_or(
                "pgbouncer is not installed: the pooling tests need it (Debian package \
                 `pgbouncer`; `source scripts/lib/services.sh && ensure_pgbouncer`)",
            )?;
        let target = url::Url::parse(admin_url).map_err(|e| format!("{admin_url}: {e}"))?;
        let host = target.host_str().unwrap_or("127.0.0.1").to_owned();
        let pg_port = target.port().unwrap_or(5432);
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "switchyard-pgbouncer-{port}-{}",
            Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let users = dir.join("users.txt");
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(&users, format!("\"{APP_ROLE}\" \"\"\n\"postgres\" \"\"\n"))
            .map_err(|e| e.to_string())?;
        std::fs::write(
            &ini,
            format!(
                "[databases]\n* = host={host} port={pg_port}\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
                 unix_socket_dir =\nauth_type = trust\nauth_file = {}\n\
                 pool_mode = transaction\ndefault_pool_size = {pool_size}\n\
                 max_client_conn = 1000\nlogfile =\n",
                users.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("log")).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(program);
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } == 0 {
            use std::os::unix::fs::PermissionsExt;
            for path in [&dir, &users, &ini] {
                let mode = if path == &dir { 0o755 } else { 0o644 };
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| e.to_string())?;
            }
            cmd.args(["-u", "postgres"]);
        }
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        let mut child = cmd
            .arg(&ini)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("starting pgbouncer: {e}"))?;
        for _ in 0..250 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(PgBouncer { port, child, dir });
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
                return Err(format!("pgbouncer exited ({status}): {log}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        Err("pgbouncer did not listen within 5 s".into())
    }

    /// A URL reaching `database` as `user` through this pooler.
    pub fn url(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis server of the test's own, for tests that flush or restart Redis.
pub struct OwnRedis {
    pub url: String,
    pub port: u16,
    child: Child,
}

impl OwnRedis {
    /// Starts `redis-server` on a free port with nothing kept on disk.
    pub fn start() -> OwnRedis {
        let port = free_port();
        OwnRedis {
            url: format!("redis://127.0.0.1:{port}/"),
            port,
            child: Self::serve(port),
        }
    }

    /// Kills the server and starts an empty one on the same port: a restart of a Redis
    /// that keeps nothing on disk, as the design allows.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::serve(self.port);
    }

    fn serve(port: u16) -> Child {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Rows most tests need, inserted directly.
pub mod fixtures {
    use crate::db::Conn;
    use crate::db::models::{
        NewExecutionProcess, NewProject, NewRepository, NewTask, NewTaskAttempt, Organization,
    };
    use crate::db::schema::{
        execution_processes, organizations, projects, repositories, task_attempts, tasks,
    };
    use crate::domain::{
        AttemptStatus, ProcessStatus, RunReason, TaskOrigin, TaskPriority, TaskStatus,
    };
    use diesel_async::RunQueryDsl;
    use uuid::Uuid;

    /// An org allowing `max_concurrent` attempts at once.
    pub async fn org(conn: &mut Conn, slug: &str, max_concurrent: i32) -> Uuid {
        let id = Uuid::now_v7();
        let now = chrono::Utc::now();
        diesel::insert_into(organizations::table)
            .values(Organization {
                id,
                slug: slug.into(),
                name: slug.into(),
                max_concurrent_attempts: max_concurrent,
                created_at: now,
                updated_at: now,
            })
            .execute(conn)
            .await
            .expect("insert org");
        id
    }

    /// A project on the repository at `url`, with an optional setup script. Returns its id.
    pub async fn project(conn: &mut Conn, org_id: Uuid, url: &str, setup: Option<&str>) -> Uuid {
        let repo = Uuid::now_v7();
        diesel::insert_into(repositories::table)
            .values(NewRepository {
                id: repo,
                org_id,
                name: "repo",
                url,
                default_branch: "main",
            })
            .execute(conn)
            .await
            .expect("insert repository");
        let id = Uuid::now_v7();
        diesel::insert_into(projects::table)
            .values(NewProject {
                id,
                org_id,
                repository_id: repo,
                name: "Project",
                key_prefix: "SY",
                default_branch: "main",
                setup_script: setup,
                cleanup_script: None,
                dev_script: None,
                default_executor: "script",
            })
            .execute(conn)
            .await
            .expect("insert project");
        id
    }

    /// A task in `inprogress`, numbered `number`.
    pub async fn task(conn: &mut Conn, org_id: Uuid, project_id: Uuid, number: i64) -> Uuid {
        let id = Uuid::now_v7();
        diesel::insert_into(tasks::table)
            .values(NewTask {
                id,
                org_id,
                project_id,
                number,
                title: "A task",
                description: "",
                status: TaskStatus::InProgress,
                position: number as f64,
                priority: TaskPriority::None,
                labels: vec![],
                assignee_ids: vec![],
                parent_task_id: None,
                origin: TaskOrigin::Api,
            })
            .execute(conn)
            .await
            .expect("insert task");
        id
    }

    /// An attempt in `status` whose coding-agent process runs `script`. Returns (attempt, process).
    pub async fn attempt(
        conn: &mut Conn,
        org_id: Uuid,
        task_id: Uuid,
        status: AttemptStatus,
        script: &str,
    ) -> (Uuid, Uuid) {
        let id = Uuid::now_v7();
        // Random, not the v7 id: its leading hex is a timestamp shared by attempts made together.
        let branch = format!("sy/test-{}", &Uuid::new_v4().simple().to_string()[..12]);
        diesel::insert_into(task_attempts::table)
            .values(NewTaskAttempt {
                id,
                org_id,
                task_id,
                executor: "script",
                base_branch: "main",
                branch: &branch,
                status,
                max_retries: 2,
                trace_context: None,
            })
            .execute(conn)
            .await
            .expect("insert attempt");
        let process = Uuid::now_v7();
        diesel::insert_into(execution_processes::table)
            .values(NewExecutionProcess {
                id: process,
                org_id,
                attempt_id: id,
                run_reason: RunReason::CodingAgent,
                status: ProcessStatus::Queued,
                prompt: script,
            })
            .execute(conn)
            .await
            .expect("insert process");
        (id, process)
    }
}

#[cfg(test)]
mod tests {
    use super::replace_user;

    #[test]
    fn replace_user_swaps_or_inserts_the_user() {
        assert_eq!(
            replace_user("postgres://postgres@127.0.0.1:5432/db", "app"),
            "postgres://app@127.0.0.1:5432/db"
        );
        assert_eq!(
            replace_user("postgres://u:p@h/db", "app"),
            "postgres://app@h/db"
        );
        assert_eq!(
            replace_user("postgres://h:1/db", "app"),
            "postgres://app@h:1/db"
        );
    }
}
