//! Agents keep their conversation in files under their home directory (for example
//! `~/.claude/projects`). Each attempt gets a home of its own on the worker; after every
//! turn its session folder is copied to the object store, and before a follow-up it is
//! restored when missing, so the agent resumes natively even on a different worker.

use anyhow::Context;
use shared::store::ObjectStore;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// The object-store prefix holding one attempt's agent session files.
pub fn prefix(org_id: Uuid, attempt_id: Uuid) -> String {
    format!("orgs/{org_id}/attempts/{attempt_id}/agent-home/")
}

/// The attempt's agent home on this worker.
pub fn home_dir(data_dir: &Path, attempt_id: Uuid) -> PathBuf {
    data_dir.join("homes").join(attempt_id.to_string())
}

/// Uploads every file under `home/session_dir`; returns how many.
pub async fn save(
    store: &ObjectStore,
    home: &Path,
    session_dir: &str,
    prefix: &str,
) -> anyhow::Result<usize> {
    let root = home.join(session_dir);
    let files = {
        let root = root.clone();
        shared::blocking::run(move || walk(&root)).await??
    };
    for file in &files {
        let rel = file
            .strip_prefix(home)
            .context("session file outside the home")?;
        let bytes = tokio::fs::read(file)
            .await
            .with_context(|| format!("read {}", file.display()))?;
        store
            .put(
                &format!("{prefix}{}", rel.display()),
                bytes,
                "application/octet-stream",
            )
            .await?;
    }
    Ok(files.len())
}

/// Writes back every stored session file that `home` lacks; returns how many.
pub async fn restore(store: &ObjectStore, home: &Path, prefix: &str) -> anyhow::Result<usize> {
    let mut restored = 0;
    for key in store.list(prefix).await? {
        let Some(rel) = key.strip_prefix(prefix) else {
            continue;
        };
        // Keys are ours, but never let one climb out of the home.
        if rel.split('/').any(|part| part == ".." || part.is_empty()) {
            continue;
        }
        let path = home.join(rel);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            continue;
        }
        let Some(bytes) = store.get(&key).await? else {
            continue;
        };
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::write(&path, bytes).await?;
        restored += 1;
    }
    Ok(restored)
}

fn walk(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !root.exists() {
        return Ok(out);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}
