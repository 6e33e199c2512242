//! A PostgreSQL server of a test's own, for tests that crash or restart the database
//! (the machine's shared server must keep serving every other test).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use uuid::Uuid;

use super::free_port;

/// A throwaway cluster (`initdb`) on a free port, trusting local clients like the test
/// server. As root, its files and processes belong to `postgres` (the server refuses
/// to run as root).
pub struct OwnPostgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

impl OwnPostgres {
    /// Creates the cluster and starts it.
    pub fn start() -> Result<OwnPostgres, String> {
        let bin = server_bin_dir().ok_or(
            "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (Debian's postgresql package)",
        )?;
        let dir = std::env::temp_dir().join(format!("switchyard-pg-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let pg = OwnPostgres {
            port: free_port(),
            dir,
            bin,
        };
        pg.give_to_postgres(&pg.dir)?;
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )?;
        pg.start_again()?;
        Ok(pg)
    }

    /// An admin URL (database `postgres`, user `postgres`).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server the way a crash does (`immediate`: no checkpoint, every client
    /// cut off); [`OwnPostgres::start_again`] recovers it from its WAL.
    pub fn crash(&self) -> Result<(), String> {
        self.ctl(&["stop", "-m", "immediate"])
    }

    /// Starts the (stopped) server on the same port, waiting until it accepts clients.
    pub fn start_again(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").display().to_string();
        self.ctl(&["start", "-w", "-t", "60", "-o", &options, "-l", &log])
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn ctl(&self, args: &[&str]) -> Result<(), String> {
        let data = self.data().display().to_string();
        let mut all = vec!["-D", &data];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    /// Runs one of the server's programs, as `postgres` when this process is root.
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let path = self.bin.join(program);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            Err(format!(
                "{program} {args:?} failed ({}): {}{}\n{log}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn give_to_postgres(&self, path: &Path) -> Result<(), String> {
        if !is_root() {
            return Ok(());
        }
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        status
            .success()
            .then_some(())
            .ok_or_else(|| format!("chown {} failed", path.display()))
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.crash();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// The newest installed server's binaries.
fn server_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}
