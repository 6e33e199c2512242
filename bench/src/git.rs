//! B4 and B5: the worker's own git code (`worker::git`, `worker::diff`) against the git
//! command line on the same repository.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use uuid::Uuid;
use worker::git::{PreparedWorktree, WorktreeSpec, prepare_worktree};

use crate::pipeline::git_worktree_add;
use crate::stats::median;
use crate::{Args, row};

/// A worker data dir of its own, with the repository cache filled (the first worktree
/// fetches; later ones find the cache as a long-running worker does).
struct Bench {
    data_dir: PathBuf,
    repository_id: Uuid,
    repo: String,
}

impl Bench {
    fn new(args: &Args) -> anyhow::Result<Bench> {
        let data_dir = std::env::temp_dir().join(format!("sy-bench-{}", Uuid::new_v4().simple()));
        let bench = Bench {
            data_dir,
            repository_id: Uuid::new_v4(),
            repo: args.str("repo")?.to_owned(),
        };
        // Left in place (the data dir goes on drop): a deletion just before the timed
        // runs would slow them (see `git_worktree_add`).
        bench.worktree()?;
        Ok(bench)
    }

    fn worktree(&self) -> anyhow::Result<PreparedWorktree> {
        let attempt_id = Uuid::new_v4();
        let spec = WorktreeSpec {
            data_dir: self.data_dir.clone(),
            repository_id: self.repository_id,
            url: self.repo.clone(),
            attempt_id,
            branch: format!("sy/bench-{}", attempt_id.simple()),
            base_branch: "main".into(),
            base_commit: None,
            auth: None,
        };
        Ok(prepare_worktree(&spec)?)
    }

    fn remove(&self, tree: &PreparedWorktree) -> anyhow::Result<()> {
        std::fs::remove_dir_all(&tree.path)?;
        std::fs::remove_file(&tree.view.index)?;
        Ok(())
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// B4: the worker's worktree creation vs `git worktree add`, alternately.
pub async fn worktree(args: &Args) -> anyhow::Result<()> {
    let runs: usize = args.num("runs", 3)?;
    let bench = Bench::new(args)?;
    let (mut ours, mut reference) = (Vec::new(), Vec::new());
    // Every tree is kept until all are timed (see `git_worktree_add`).
    let (mut our_trees, mut git_trees) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t0 = Instant::now();
        let tree = bench.worktree()?;
        ours.push(t0.elapsed().as_secs_f64() * 1e3);
        our_trees.push(tree);
        let (ms, git_tree) = git_worktree_add(&bench.repo)?;
        reference.push(ms);
        git_trees.push(git_tree);
    }
    for tree in &our_trees {
        bench.remove(tree)?;
    }
    drop(git_trees);
    let (ours, reference) = (median(&mut ours), median(&mut reference));
    eprintln!("b4: worker {ours:.0} ms, git worktree add {reference:.0} ms");
    row("b4", ours, Some(reference));
    Ok(())
}

/// B5: the worker's diff of `--files` changed files (two hunks each) vs `git diff`
/// printing the same patch, alternately on the same tree.
pub async fn diff(args: &Args) -> anyhow::Result<()> {
    let runs: usize = args.num("runs", 3)?;
    let files: usize = args.num("files", 1_000)?;
    let bench = Bench::new(args)?;
    let tree = bench.worktree()?;
    let changed = change_files(&tree.path, files)?;
    let (mut ours, mut reference) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t0 = Instant::now();
        // Uncapped: the same patch `git diff` prints, every file with its hunks.
        let all = worker::diff::DiffLimits {
            max_files: usize::MAX,
            max_bytes: usize::MAX,
        };
        let diff = worker::diff::compute(&tree.view, &tree.base_commit, all)?;
        ours.push(t0.elapsed().as_secs_f64() * 1e3);
        let t0 = Instant::now();
        let out = Command::new("git")
            .arg("-C")
            .arg(&tree.path)
            .args(["diff", tree.base_commit.as_str()])
            .output()?;
        reference.push(t0.elapsed().as_secs_f64() * 1e3);
        let git_files = out
            .stdout
            .split(|b| *b == b'\n')
            .filter(|l| l.starts_with(b"diff --git "))
            .count();
        if diff.files.len() != changed || git_files != changed {
            bail!(
                "b5: {changed} files changed; the worker's diff has {}, git's {git_files}",
                diff.files.len()
            );
        }
    }
    bench.remove(&tree)?;
    let (ours, reference) = (median(&mut ours), median(&mut reference));
    eprintln!("b5: worker {ours:.0} ms, git diff {reference:.0} ms ({changed} files)");
    row("b5", ours, Some(reference));
    Ok(())
}

/// Changes the first `n` text files under `root` (in path order) in two places far apart,
/// so each gets two hunks. Returns how many it changed.
fn change_files(root: &Path, n: usize) -> anyhow::Result<usize> {
    let mut paths = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            if entry.file_type()?.is_dir() {
                dirs.push(path);
            } else {
                paths.push(path);
            }
        }
    }
    paths.sort();
    let mut changed = 0;
    for path in paths.iter().take(n) {
        let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() < 16 {
            continue;
        }
        lines[1] = format!("{} (changed)", lines[1]);
        let far = lines.len() - 2;
        lines[far] = format!("{} (changed too)", lines[far]);
        std::fs::write(path, lines.join("\n") + "\n")?;
        changed += 1;
    }
    Ok(changed)
}
