//! Fixtures shared by the worker tests: limits, git repositories, rows.

use shared::config::ExecutionLimits;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Generous limits; each test tightens the one it exercises.
pub fn limits() -> ExecutionLimits {
    ExecutionLimits {
        cpu_seconds: 60,
        memory_mb: 1024,
        open_files: 1024,
        processes: 4096,
        wall_clock_secs: 60,
    }
}

/// Runs `git` in `dir`, failing the test on error; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A repository at `root/origin` on branch `main` with a few files:
/// `README.md` (five lines), `src/lib.txt`, `to_delete.txt`, and a `.gitignore` that
/// ignores `ignored/`. Returns its path.
pub fn origin_repo(root: &Path) -> PathBuf {
    let dir = root.join("origin");
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    git(&dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README.md"), "one\ntwo\nthree\nfour\nfive\n").expect("write");
    std::fs::write(dir.join("src/lib.txt"), "library\n").expect("write");
    std::fs::write(dir.join("to_delete.txt"), "doomed\n").expect("write");
    std::fs::write(dir.join(".gitignore"), "ignored/\n").expect("write");
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "initial"]);
    dir
}
