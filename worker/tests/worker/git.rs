//! Worktrees, diffs and commits against real repositories.

use shared::wire::FileChange;
use std::path::Path;
use uuid::Uuid;
use worker::diff::{self, DiffLimits};
use worker::git::{self, GitError, WorktreeSpec};

use crate::helpers::{git, origin_repo};

/// No caps: every file with its hunks.
pub(crate) const UNCAPPED: DiffLimits = DiffLimits {
    max_files: usize::MAX,
    max_bytes: usize::MAX,
};

pub(crate) fn scratch() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-worker-git-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

pub(crate) fn spec(root: &Path, url: &Path) -> WorktreeSpec {
    let attempt_id = Uuid::now_v7();
    WorktreeSpec {
        data_dir: root.join("data"),
        repository_id: Uuid::now_v7(),
        url: url.display().to_string(),
        attempt_id,
        // The random tail of the id: attempts made in the same minute share its head.
        branch: format!("sy/sy-1-{}", &attempt_id.simple().to_string()[24..]),
        base_branch: "main".into(),
        base_commit: None,
        auth: None,
    }
}

/// Edits README line 3, adds an untracked file, deletes a file and writes an ignored one.
fn make_changes(worktree: &Path) {
    std::fs::write(worktree.join("README.md"), "one\ntwo\nTHREE\nfour\nfive\n").expect("edit");
    std::fs::write(worktree.join("new.txt"), "hello\nworld\n").expect("add");
    std::fs::remove_file(worktree.join("to_delete.txt")).expect("delete");
    std::fs::create_dir_all(worktree.join("ignored")).expect("mkdir");
    std::fs::write(worktree.join("ignored/cache.bin"), "junk").expect("ignored");
}

#[test]
fn worktree_is_created_on_a_new_branch_from_the_base() {
    let root = scratch();
    let origin = origin_repo(&root);
    let main_head = git(&origin, &["rev-parse", "main"]);
    let spec = spec(&root, &origin);

    let prepared = git::prepare_worktree(&spec).expect("prepare");

    assert!(prepared.created);
    assert_eq!(prepared.path, spec.worktree_path());
    assert_eq!(prepared.base_commit, main_head);
    assert_eq!(
        git(&prepared.path, &["rev-parse", "--abbrev-ref", "HEAD"]),
        spec.branch
    );
    assert_eq!(git(&prepared.path, &["rev-parse", "HEAD"]), main_head);
    assert!(prepared.path.join("README.md").exists());
    // The cache is bare and holds the branch.
    let cache = spec.cache_path();
    assert_eq!(git(&cache, &["rev-parse", "--is-bare-repository"]), "true");
    assert_eq!(git(&cache, &["rev-parse", &spec.branch]), main_head);
    let _ = std::fs::remove_dir_all(root);
}

/// The worker's own checkout (a tree without attributes, written by several threads):
/// every folder, file, mode and link as git would write them, and an index that git and
/// the worker's diff both find clean.
#[test]
fn a_checkout_writes_every_file_mode_and_link_and_an_index_git_finds_clean() {
    use std::os::unix::fs::PermissionsExt;
    let root = scratch();
    let origin = origin_repo(&root);
    // Enough files across folders that several writers share them.
    for i in 0..1_200 {
        let dir = origin.join(format!("many/d{:02}", i / 100));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(format!("f{i:04}.txt")), format!("file {i}\n")).expect("write");
    }
    std::fs::create_dir_all(origin.join("bin/deep/er")).expect("mkdir");
    std::fs::write(origin.join("bin/run.sh"), "#!/bin/sh\necho hi\n").expect("write");
    std::fs::set_permissions(
        origin.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    std::fs::write(origin.join("bin/deep/er/empty"), "").expect("write");
    std::os::unix::fs::symlink("../README.md", origin.join("bin/readme-link")).expect("link");
    git(&origin, &["add", "-A"]);
    git(
        &origin,
        &[
            "commit",
            "-qm",
            "files, an executable, an empty file and a link",
        ],
    );
    let spec = spec(&root, &origin);

    let prepared = git::prepare_worktree(&spec).expect("prepare");

    let wt = &prepared.path;
    for i in [0, 599, 1_199] {
        let file = wt.join(format!("many/d{:02}/f{i:04}.txt", i / 100));
        assert_eq!(
            std::fs::read_to_string(&file).expect("read"),
            format!("file {i}\n")
        );
        assert_eq!(
            std::fs::metadata(&file).expect("stat").permissions().mode() & 0o111,
            0,
            "a plain file is not executable"
        );
    }
    let script = std::fs::metadata(wt.join("bin/run.sh")).expect("stat");
    assert_eq!(
        script.permissions().mode() & 0o100,
        0o100,
        "the script is executable"
    );
    assert_eq!(
        std::fs::read(wt.join("bin/deep/er/empty")).expect("read"),
        b""
    );
    assert_eq!(
        std::fs::read_link(wt.join("bin/readme-link")).expect("a link"),
        Path::new("../README.md")
    );
    assert_eq!(
        git(&origin, &["ls-files"]).lines().count(),
        git(wt, &["ls-files"]).lines().count(),
        "the index lists every file"
    );
    assert_eq!(
        git(wt, &["status", "--porcelain"]),
        "",
        "git finds the tree clean"
    );
    let diff = diff::compute(&prepared.view, &prepared.base_commit, UNCAPPED).expect("diff");
    assert!(diff.files.is_empty(), "no change: {diff:?}");

    std::fs::write(wt.join("many/d05/f0500.txt"), "changed\n").expect("edit");
    let diff = diff::compute(&prepared.view, &prepared.base_commit, UNCAPPED).expect("diff");
    assert_eq!(diff.files.len(), 1, "{diff:?}");
    assert_eq!(diff.files[0].path, "many/d05/f0500.txt");
    assert_eq!((diff.files[0].additions, diff.files[0].deletions), (1, 1));
    let _ = std::fs::remove_dir_all(root);
}

/// A checkout writes files as git would: converted where the repository's attributes
/// say so (a `.gitattributes` in a subfolder counts), byte for byte where it has none.
#[test]
fn worktrees_convert_line_endings_only_where_the_repositorys_attributes_say_so() {
    let root = scratch();
    let origin = origin_repo(&root);
    std::fs::write(origin.join("stored-crlf.txt"), "a\r\nb\n").expect("write");
    let plain = spec(&root, &origin);
    git(&origin, &["add", "-A"]);
    git(
        &origin,
        &["commit", "-qm", "a file with mixed line endings"],
    );
    let prepared = git::prepare_worktree(&plain).expect("prepare");
    assert_eq!(
        std::fs::read(prepared.path.join("stored-crlf.txt")).expect("read"),
        b"a\r\nb\n",
        "without attributes the file is written as stored"
    );

    std::fs::create_dir_all(origin.join("docs")).expect("mkdir");
    std::fs::write(origin.join("docs/.gitattributes"), "*.txt text eol=crlf\n").expect("write");
    std::fs::write(origin.join("docs/notes.txt"), "one\ntwo\n").expect("write");
    git(&origin, &["add", "-A"]);
    git(&origin, &["commit", "-qm", "notes checked out with CRLF"]);
    let converting = spec(&root, &origin);
    let prepared = git::prepare_worktree(&converting).expect("prepare");
    assert_eq!(
        std::fs::read(prepared.path.join("docs/notes.txt")).expect("read"),
        b"one\r\ntwo\r\n",
        "the subfolder's attributes convert its text files"
    );
    let diff = diff::compute(&prepared.view, &prepared.base_commit, UNCAPPED).expect("diff");
    assert!(
        diff.files.is_empty(),
        "a fresh checkout is no change: {diff:?}"
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn diff_shows_an_edited_hunk_a_new_untracked_file_and_a_deleted_file() {
    let root = scratch();
    let origin = origin_repo(&root);
    let prepared = git::prepare_worktree(&spec(&root, &origin)).expect("prepare");
    make_changes(&prepared.path);

    let d = diff::compute(&prepared.view, &prepared.base_commit, UNCAPPED).expect("diff");

    let paths: Vec<&str> = d.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["README.md", "new.txt", "to_delete.txt"]);
    let readme = &d.files[0];
    assert_eq!(readme.change, FileChange::Modified);
    assert_eq!((readme.additions, readme.deletions), (1, 1));
    assert_eq!(readme.hunks.len(), 1);
    let hunk = &readme.hunks[0];
    assert!(
        hunk.header.starts_with("@@ -1,5 +1,5 @@"),
        "{}",
        hunk.header
    );
    let changed: Vec<(char, &str)> = hunk
        .lines
        .iter()
        .filter(|l| l.origin != ' ')
        .map(|l| (l.origin, l.content.as_str()))
        .collect();
    assert_eq!(changed, vec![('-', "three"), ('+', "THREE")]);

    let new = &d.files[1];
    assert_eq!(new.change, FileChange::Added);
    assert_eq!((new.additions, new.deletions), (2, 0));
    assert_eq!(new.hunks[0].lines.len(), 2);

    let deleted = &d.files[2];
    assert_eq!(deleted.change, FileChange::Deleted);
    assert_eq!((deleted.additions, deleted.deletions), (0, 1));

    assert_eq!(d.summary.files_changed, 3);
    assert_eq!(d.summary.additions, 3);
    assert_eq!(d.summary.deletions, 2);
    assert_eq!(
        d.base_commit.as_deref(),
        Some(prepared.base_commit.as_str())
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn past_its_caps_a_diff_lists_the_remaining_files_with_counts_but_no_hunks() {
    let root = scratch();
    let origin = origin_repo(&root);
    let prepared = git::prepare_worktree(&spec(&root, &origin)).expect("prepare");
    // Untracked files, in path order a.txt .. e.txt, three lines each.
    for name in ["a", "b", "c", "d", "e"] {
        std::fs::write(prepared.path.join(format!("{name}.txt")), "1\n2\n3\n").expect("write");
    }

    let d = diff::compute(
        &prepared.view,
        &prepared.base_commit,
        DiffLimits {
            max_files: 2,
            max_bytes: usize::MAX,
        },
    )
    .expect("diff");
    assert!(d.truncated);
    let shown: Vec<(&str, usize, bool, u32)> = d
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.hunks.len(), f.truncated, f.additions))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("a.txt", 1, false, 3),
            ("b.txt", 1, false, 3),
            ("c.txt", 0, true, 3),
            ("d.txt", 0, true, 3),
            ("e.txt", 0, true, 3),
        ]
    );
    assert_eq!(d.summary.files_changed, 5);
    assert_eq!(d.summary.additions, 15);

    // A byte cap smaller than the first file's hunk: every file is counted, none shown.
    let d = diff::compute(
        &prepared.view,
        &prepared.base_commit,
        DiffLimits {
            max_files: 100,
            max_bytes: 4,
        },
    )
    .expect("diff");
    assert!(d.truncated);
    assert!(d.files.iter().all(|f| f.truncated && f.hunks.is_empty()));
    assert_eq!(d.summary.additions, 15);

    // Within the caps nothing is marked.
    let d = diff::compute(&prepared.view, &prepared.base_commit, UNCAPPED).expect("diff");
    assert!(!d.truncated);
    assert!(d.files.iter().all(|f| !f.truncated && f.hunks.len() == 1));
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn binary_files_are_flagged_without_hunks() {
    let root = scratch();
    let origin = origin_repo(&root);
    let prepared = git::prepare_worktree(&spec(&root, &origin)).expect("prepare");
    std::fs::write(
        prepared.path.join("image.bin"),
        [0u8, 159, 146, 150, 0, 1, 2],
    )
    .expect("bin");

    let d = diff::compute(&prepared.view, &prepared.base_commit, UNCAPPED).expect("diff");

    assert_eq!(d.files.len(), 1);
    assert!(d.files[0].binary);
    assert!(d.files[0].hunks.is_empty());
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn commit_on_the_branch_holds_the_changes_and_respects_gitignore() {
    let root = scratch();
    let origin = origin_repo(&root);
    let spec = spec(&root, &origin);
    let prepared = git::prepare_worktree(&spec).expect("prepare");
    make_changes(&prepared.path);

    let head = git::commit_all(&prepared.view, "SY-1: change things").expect("commit");

    assert_ne!(head, prepared.base_commit);
    let cache = spec.cache_path();
    assert_eq!(git(&cache, &["rev-parse", &spec.branch]), head);
    assert_eq!(
        git(&cache, &["rev-parse", &format!("{head}^")]),
        prepared.base_commit
    );
    let files = git(&cache, &["ls-tree", "-r", "--name-only", &head]);
    let files: Vec<&str> = files.lines().collect();
    assert_eq!(
        files,
        vec![".gitignore", "README.md", "new.txt", "src/lib.txt"]
    );
    assert_eq!(
        git(&cache, &["log", "-1", "--format=%an <%ae>|%s", &head]),
        "Switchyard <switchyard@localhost>|SY-1: change things"
    );
    // The diff against the base is the same before and after the commit.
    let d = diff::compute(&prepared.view, &prepared.base_commit, UNCAPPED).expect("diff");
    assert_eq!(d.summary.files_changed, 3);
    // Nothing left to commit: the head stays.
    assert_eq!(
        git::commit_all(&prepared.view, "again").expect("commit"),
        head
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn an_existing_worktree_is_made_anew_from_its_branch() {
    let root = scratch();
    let origin = origin_repo(&root);
    let mut spec = spec(&root, &origin);
    let first = git::prepare_worktree(&spec).expect("prepare");
    std::fs::write(first.path.join("kept.txt"), "committed\n").expect("write");
    let head = git::commit_all(&first.view, "first run").expect("commit");
    // A crashed run's leftovers: an edit, untracked files and dirs, an ignored cache.
    std::fs::write(first.path.join("README.md"), "scribbled\n").expect("edit");
    std::fs::write(first.path.join("leftover.txt"), "x").expect("write");
    std::fs::create_dir_all(first.path.join("tmpdir/deeper")).expect("mkdir");
    std::fs::write(first.path.join("tmpdir/deeper/f"), "x").expect("write");
    std::fs::create_dir_all(first.path.join("ignored")).expect("mkdir");
    std::fs::write(first.path.join("ignored/cache"), "x").expect("write");

    spec.base_commit = Some(first.base_commit.clone());
    let again = git::prepare_worktree(&spec).expect("prepare again");

    // The tree an earlier run's sandbox wrote is not trusted: it is made again from the
    // branch, where the worker committed that run's work.
    assert!(again.created);
    assert_eq!(again.base_commit, first.base_commit);
    assert_eq!(git(&again.path, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&again.path, &["status", "--porcelain"]), "");
    assert!(!again.path.join("leftover.txt").exists());
    assert!(!again.path.join("tmpdir").exists());
    assert!(again.path.join("kept.txt").exists());
    assert!(!again.path.join("ignored/cache").exists());
    assert_eq!(
        std::fs::read_to_string(again.path.join("README.md")).expect("read"),
        "one\ntwo\nthree\nfour\nfive\n"
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_branch_in_the_cache_without_its_worktree_gets_a_new_worktree() {
    let root = scratch();
    let origin = origin_repo(&root);
    let mut spec = spec(&root, &origin);
    let first = git::prepare_worktree(&spec).expect("prepare");
    std::fs::write(first.path.join("work.txt"), "done\n").expect("write");
    let head = git::commit_all(&first.view, "first run").expect("commit");
    std::fs::remove_dir_all(&first.path).expect("lose the worktree");

    spec.base_commit = Some(first.base_commit.clone());
    let again = git::prepare_worktree(&spec).expect("prepare again");

    assert!(again.created);
    assert_eq!(again.base_commit, first.base_commit);
    assert_eq!(git(&again.path, &["rev-parse", "HEAD"]), head);
    assert!(again.path.join("work.txt").exists());
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_new_attempt_sees_commits_pushed_to_the_base_branch_since_the_last_fetch() {
    let root = scratch();
    let origin = origin_repo(&root);
    let first = spec(&root, &origin);
    git::prepare_worktree(&first).expect("prepare");
    std::fs::write(origin.join("later.txt"), "later\n").expect("write");
    git(&origin, &["add", "-A"]);
    git(&origin, &["commit", "-q", "-m", "later"]);

    let mut second = spec(&root, &origin);
    second.repository_id = first.repository_id;
    let prepared = git::prepare_worktree(&second).expect("prepare");

    assert_eq!(prepared.base_commit, git(&origin, &["rev-parse", "main"]));
    assert!(prepared.path.join("later.txt").exists());
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_path_that_is_not_a_git_repository_is_a_fetch_error() {
    let root = scratch();
    let plain = root.join("plain");
    std::fs::create_dir_all(&plain).expect("mkdir");
    let err = git::prepare_worktree(&spec(&root, &plain)).expect_err("not a repository");
    assert!(matches!(err, GitError::Fetch { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&plain.display().to_string()), "{message}");
    assert!(message.contains("could not be fetched"), "{message}");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_missing_base_branch_is_named_in_the_error() {
    let root = scratch();
    let origin = origin_repo(&root);
    let mut spec = spec(&root, &origin);
    spec.base_branch = "develop".into();
    let err = git::prepare_worktree(&spec).expect_err("no such branch");
    assert!(matches!(err, GitError::MissingBaseBranch { .. }), "{err:?}");
    assert!(err.to_string().contains("'develop'"));
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_global_git_config_cannot_redirect_the_fetch_or_the_push() {
    let root = scratch();
    let work = origin_repo(&root);
    // libgit2 pushes only to bare repositories on the local transport.
    let origin = root.join("origin.git");
    git(
        &root,
        &[
            "clone",
            "-q",
            "--bare",
            &work.display().to_string(),
            "origin.git",
        ],
    );
    let evil = root.join("evil");
    std::fs::create_dir_all(&evil).expect("mkdir");
    git(&evil, &["init", "-q", "--bare"]);
    // What an agent can write: its own $HOME/.gitconfig, rewriting the real remote.
    let home = root.join("agent-home");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::write(
        home.join(".gitconfig"),
        format!(
            "[url \"{}\"]\n\tinsteadOf = {}\n",
            evil.display(),
            origin.display()
        ),
    )
    .expect("gitconfig");

    // The control: a libgit2 that reads that home is redirected.
    // SAFETY: this test process uses libgit2 from this thread only.
    unsafe {
        git2::opts::set_search_path(git2::ConfigLevel::Global, home.display().to_string())
            .expect("search path");
    }
    let control = spec(&root, &origin);
    git::prepare_worktree(&control).expect_err("the rewritten remote is an empty repository");

    git::isolate_config().expect("isolate");
    let spec = spec(&root, &origin);
    let prepared = git::prepare_worktree(&spec).expect("prepare from the real remote");
    std::fs::write(prepared.path.join("work.txt"), "work\n").expect("write");
    let head = git::commit_all(&prepared.view, "work").expect("commit");
    git::push_branch(&spec).expect("push");
    assert_eq!(git(&origin, &["rev-parse", &spec.branch]), head);
    assert_eq!(
        git(&evil, &["for-each-ref"]),
        "",
        "nothing reached the other remote"
    );
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_diff_is_stored_again_only_when_its_content_changes() {
    let env = shared::testing::TestEnv::new().await;
    let root = scratch();
    let origin = origin_repo(&root);
    let prepared = git::prepare_worktree(&spec(&root, &origin)).expect("prepare");
    let store = shared::store::ObjectStore::new(&env.settings.s3);
    let redis = shared::redis_conn::manager(&env.settings.redis.url)
        .await
        .expect("redis");
    let keys = shared::keys::Keys::new(env.settings.redis.prefix.clone());
    let (org, attempt) = (Uuid::now_v7(), Uuid::now_v7());
    let tracker = |store: shared::store::ObjectStore| {
        diff::DiffTracker::resume(
            store,
            redis.clone(),
            keys.clone(),
            org,
            attempt,
            prepared.view.clone(),
            prepared.base_commit.clone(),
        )
    };
    let stored_version = async || -> u64 {
        let bytes = store
            .get(&shared::store::diff_key(org, attempt))
            .await
            .expect("get")
            .expect("stored");
        serde_json::from_slice::<shared::wire::Diff>(&bytes)
            .expect("diff")
            .version
    };

    let mut t = tracker(store.clone()).await.within(UNCAPPED);
    assert_eq!(t.refresh().await.expect("refresh"), Some(1));
    assert_eq!(t.refresh().await.expect("refresh"), None, "unchanged");
    make_changes(&prepared.path);
    assert_eq!(t.refresh().await.expect("refresh"), Some(2));
    assert_eq!(t.refresh().await.expect("refresh"), None, "unchanged");
    assert_eq!(stored_version().await, 2);

    // A tracker for the next run compares against what is stored, by content.
    let mut next = tracker(store.clone()).await.within(UNCAPPED);
    assert_eq!(next.version(), Some(2));
    assert_eq!(next.refresh().await.expect("refresh"), None);
    std::fs::write(prepared.path.join("new.txt"), "changed\n").expect("edit");
    assert_eq!(next.refresh().await.expect("refresh"), Some(3));
    assert_eq!(stored_version().await, 3);
    let _ = std::fs::remove_dir_all(root);
}
