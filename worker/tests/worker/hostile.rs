//! Hostile repositories through the worker's own code (fetch → worktree → diff →
//! commit), and one through a whole sandboxed attempt: links pointing out of the worktree
//! (absolute, `../..`, to a directory), a `.gitmodules` naming repositories elsewhere on
//! the disk (a path, a `file://` URL, a `../` path), a submodule whose `.git` points at
//! another repository, names that are not UTF-8 or hold a newline or quotes, huge files
//! and thousands of files.
//!
//! Each is a canary test: a secret file (and repositories) outside the worktree that the
//! hostile repository points at; its text must never be in a diff, a log, a commit or the
//! object store, and nothing outside the worktree may change.

use shared::config::Settings;
use shared::wire::{Diff, FileChange, FileDiff};
use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use uuid::Uuid;
use worker::diff::{self, DiffLimits};
use worker::git;

use crate::git::{UNCAPPED, scratch, spec};
use crate::helpers::{git, origin_repo};

/// What lies outside the worktree: a secret file and two repositories, all holding the
/// canary, readable by anyone (as a file the worker could read would be).
struct Outside {
    dir: PathBuf,
    secret: PathBuf,
    canary: String,
    /// A repository the hostile `.gitmodules` names.
    repo: PathBuf,
    repo_head: String,
    /// A repository a submodule's `.git` file points at.
    other: PathBuf,
    other_head: String,
}

fn outside(root: &Path) -> Outside {
    let dir = root.join("outside");
    std::fs::create_dir_all(&dir).expect("outside dir");
    let canary = format!("CANARY-{}", Uuid::new_v4().simple());
    let secret = dir.join("secret.txt");
    std::fs::write(&secret, format!("{canary}\n")).expect("secret");
    let repo_with = |name: &str| {
        let repo = dir.join(name);
        std::fs::create_dir_all(&repo).expect("mkdir");
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("canary.txt"), format!("{canary} in {name}\n")).expect("write");
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", &format!("{canary} {name}")]);
        let head = git(&repo, &["rev-parse", "HEAD"]);
        (repo, head)
    };
    let (repo, repo_head) = repo_with("repo");
    let (other, other_head) = repo_with("other");
    // Readable by the sandbox uid too, as the worker's own files would be to the worker.
    for entry in walk(root) {
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        if !entry.is_symlink() {
            std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
    }
    Outside {
        dir,
        secret,
        canary,
        repo,
        repo_head,
        other,
        other_head,
    }
}

/// Every path under `dir` (not following links), `dir` included.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let path = out[i].clone();
        if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            for entry in std::fs::read_dir(&path).expect("read dir") {
                out.push(entry.expect("entry").path());
            }
        }
        i += 1;
    }
    out
}

/// Every path under `dir` with what it holds (a file's bytes, a link's target): to show
/// nothing there changed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = walk(dir)
        .into_iter()
        .map(|p| {
            let meta = p.symlink_metadata().expect("stat");
            let content = if meta.is_symlink() {
                std::fs::read_link(&p)
                    .expect("readlink")
                    .into_os_string()
                    .into_vec()
            } else if meta.is_file() {
                std::fs::read(&p).expect("read")
            } else {
                Vec::new()
            };
            (p, content)
        })
        .collect();
    out.sort();
    out
}

/// Names a file system takes and a diff must carry exactly.
const ODD_NAMES: &[&[u8]] = &[
    b"caf\xe9.txt",
    b"\xff\xfe.txt",
    b"new\nline.txt",
    b"quo\"te's.txt",
    b"tab\there.txt",
    b"back\\slash.txt",
    b" leading space.txt",
    b"-dash.txt",
];

fn path_of(dir: &Path, name: &[u8]) -> PathBuf {
    dir.join(OsStr::from_bytes(name))
}

/// The test repository, made hostile: links out of the worktree (absolute, relative,
/// to a directory, to /etc/passwd), a `.gitmodules` naming a repository elsewhere on the
/// disk by path, by `file://` URL and at a `../` path, a submodule entry at that
/// repository's head, and files with odd names.
fn make_hostile(origin: &Path, out: &Outside) {
    symlink(&out.secret, origin.join("abs-link")).expect("link");
    // From data/worktrees/<attempt>/ three levels up is the test root.
    symlink("../../../outside/secret.txt", origin.join("rel-link")).expect("link");
    symlink(&out.dir, origin.join("outside-dir")).expect("link");
    symlink("/etc/passwd", origin.join("passwd-link")).expect("link");
    std::fs::write(
        origin.join(".gitmodules"),
        format!(
            "[submodule \"sub\"]\n\tpath = sub\n\turl = file://{repo}\n\
             [submodule \"escape\"]\n\tpath = ../../escape\n\turl = {repo}\n\
             [submodule \"local\"]\n\tpath = local\n\turl = {repo}/.git\n",
            repo = out.repo.display()
        ),
    )
    .expect("gitmodules");
    for name in ODD_NAMES {
        std::fs::write(path_of(origin, name), "odd\n").expect("odd name");
    }
    git(origin, &["add", "-A"]);
    for path in ["sub", "local"] {
        git(
            origin,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("160000,{},{path}", out.repo_head),
            ],
        );
    }
    git(origin, &["commit", "-q", "-m", "hostile"]);
}

/// Every object in a repository, as `git cat-file` prints them.
/// A hostile repository checked out by the worker: the scratch root, what lies outside
/// the worktree, the spec, and the prepared worktree.
fn hostile_checkout() -> (PathBuf, Outside, git::WorktreeSpec, git::PreparedWorktree) {
    let root = scratch();
    let out = outside(&root);
    let origin = origin_repo(&root);
    make_hostile(&origin, &out);
    let spec = spec(&root, &origin);
    let prepared = git::prepare_worktree(&spec).expect("prepare");
    (root, out, spec, prepared)
}

fn all_objects(repo: &Path) -> String {
    git(repo, &["cat-file", "--batch-all-objects", "--batch"])
}

fn file<'d>(diff: &'d Diff, path: &str) -> &'d FileDiff {
    diff.files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not in the diff: {:?}", paths(diff)))
}

fn paths(diff: &Diff) -> Vec<&str> {
    diff.files.iter().map(|f| f.path.as_str()).collect()
}

/// The `+` lines of a file's diff.
fn added_lines(file: &FileDiff) -> Vec<&str> {
    file.hunks
        .iter()
        .flat_map(|h| &h.lines)
        .filter(|l| l.origin == '+')
        .map(|l| l.content.as_str())
        .collect()
}

fn assert_no_canary(what: &str, text: &str, out: &Outside) {
    assert!(
        !text.contains(&out.canary),
        "the canary is in {what}: {text}"
    );
}

#[test]
fn a_hostile_checkout_fetches_and_writes_nothing_outside_its_worktree() {
    let root = scratch();
    let out = outside(&root);
    let origin = origin_repo(&root);
    make_hostile(&origin, &out);
    let before = snapshot(&out.dir);
    let spec = spec(&root, &origin);

    let prepared = git::prepare_worktree(&spec).expect("prepare");

    let wt = &prepared.path;
    // The links are checked out as links, nothing is written through them.
    for link in ["abs-link", "rel-link", "outside-dir", "passwd-link"] {
        assert!(wt.join(link).is_symlink(), "{link}");
    }
    assert_eq!(snapshot(&out.dir), before, "something outside changed");
    // No submodule is cloned, from a path or a file:// URL, nor made at a ../ path.
    for sub in ["sub", "local"] {
        let entries = std::fs::read_dir(wt.join(sub)).map_or(0, |d| d.count());
        assert_eq!(entries, 0, "{sub} was populated");
    }
    assert!(!root.join("data/escape").exists() && !root.join("escape").exists());
    let cache = spec.cache_path();
    assert!(
        !git(
            &cache,
            &["cat-file", "--batch-check", "--batch-all-objects"]
        )
        .contains(&out.repo_head),
        "the submodule's commit was fetched into the cache"
    );
    assert_no_canary("the cache", &all_objects(&cache), &out);
    for name in ODD_NAMES {
        assert!(path_of(wt, name).is_file(), "{}", name.escape_ascii());
    }
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn links_show_as_their_target_paths_never_as_what_they_point_at() {
    let (root, out, spec, prepared) = hostile_checkout();
    let wt = &prepared.path;
    // What an agent can do: new links out (absolute, relative, deep, to a directory), a
    // file turned into a link, a link pointed elsewhere.
    symlink(&out.secret, wt.join("new-abs")).expect("link");
    symlink("../../../outside/secret.txt", wt.join("new-rel")).expect("link");
    std::fs::create_dir_all(wt.join("deep/er")).expect("mkdir");
    symlink("../../../../../outside/secret.txt", wt.join("deep/er/link")).expect("link");
    symlink(&out.dir, wt.join("new-dir")).expect("link");
    std::fs::remove_file(wt.join("README.md")).expect("rm");
    symlink(&out.secret, wt.join("README.md")).expect("link");
    std::fs::remove_file(wt.join("passwd-link")).expect("rm");
    symlink("/etc/shadow", wt.join("passwd-link")).expect("link");
    let before = snapshot(&out.dir);

    let d = diff::compute(&prepared.view, &prepared.base_commit, UNCAPPED).expect("diff");

    let json = serde_json::to_string(&d).expect("json");
    assert_no_canary("the diff", &json, &out);
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    if let Some(first) = passwd.lines().next() {
        assert!(!json.contains(first), "/etc/passwd is in the diff");
    }
    let secret = out.secret.display().to_string();
    for (path, target) in [
        ("new-abs", secret.as_str()),
        ("new-rel", "../../../outside/secret.txt"),
        ("deep/er/link", "../../../../../outside/secret.txt"),
        ("new-dir", &out.dir.display().to_string()),
    ] {
        let f = file(&d, path);
        assert!(f.symlink, "{path} is not marked a link");
        assert_eq!(f.change, FileChange::Added);
        assert_eq!(added_lines(f), vec![target], "{path}");
    }
    // A file turned into a link is listed as a link; git shows no lines for a type
    // change.
    let readme = file(&d, "README.md");
    assert!(readme.symlink && readme.change == FileChange::Modified);
    assert_eq!(added_lines(file(&d, "passwd-link")), vec!["/etc/shadow"]);
    // Nothing of what lies behind new-dir is listed.
    assert!(!paths(&d).iter().any(|p| p.starts_with("new-dir/")));

    let head = git::commit_all(&prepared.view, "links").expect("commit");
    let cache = spec.cache_path();
    assert_no_canary("the cache", &all_objects(&cache), &out);
    let tree = git(&cache, &["ls-tree", "-r", &head]);
    for link in ["new-abs", "new-rel", "deep/er/link", "new-dir", "README.md"] {
        assert!(
            tree.lines()
                .any(|l| l.starts_with("120000 ") && l.ends_with(&format!("\t{link}"))),
            "{link} is not committed as a link:\n{tree}"
        );
    }
    assert_eq!(snapshot(&out.dir), before, "something outside changed");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_submodule_pointing_at_another_repository_is_never_opened() {
    let (root, out, spec, prepared) = hostile_checkout();
    let wt = &prepared.path;
    // The submodule's `.git` names another repository on the disk; a new directory holds
    // a repository of its own whose `.git` does the same; .gitmodules points the
    // submodule at yet another place.
    std::fs::create_dir_all(wt.join("sub")).expect("mkdir");
    std::fs::write(
        wt.join("sub/.git"),
        format!("gitdir: {}/.git\n", out.other.display()),
    )
    .expect("gitdir");
    std::fs::create_dir_all(wt.join("vendored")).expect("mkdir");
    std::fs::write(
        wt.join("vendored/.git"),
        format!("gitdir: {}/.git\n", out.other.display()),
    )
    .expect("gitdir");
    std::fs::write(wt.join("vendored/file.txt"), "vendored\n").expect("write");
    std::fs::write(
        wt.join(".gitmodules"),
        format!(
            "[submodule \"sub\"]\n\tpath = sub\n\turl = file://{}\n",
            out.other.display()
        ),
    )
    .expect("gitmodules");
    std::fs::write(wt.join("work.txt"), "work\n").expect("write");
    let before = snapshot(&out.dir);

    let d = diff::compute(&prepared.view, &prepared.base_commit, UNCAPPED).expect("diff");

    let json = serde_json::to_string(&d).expect("json");
    assert_no_canary("the diff", &json, &out);
    assert!(
        !json.contains(&out.other_head),
        "the other repository's head is in the diff: {json}"
    );
    assert!(paths(&d).contains(&"work.txt"), "{:?}", paths(&d));
    assert!(!paths(&d).contains(&"sub"), "{:?}", paths(&d));

    let head = git::commit_all(&prepared.view, "work").expect("commit");
    let cache = spec.cache_path();
    let tree = git(&cache, &["ls-tree", "-r", &head]);
    assert!(
        !tree.contains(&out.other_head),
        "the other repository's head was committed:\n{tree}"
    );
    assert!(
        tree.contains(&format!("160000 commit {}\tsub", out.repo_head)),
        "the submodule entry changed:\n{tree}"
    );
    assert!(tree.contains("\twork.txt"));
    assert_no_canary("the cache", &all_objects(&cache), &out);
    assert_eq!(snapshot(&out.dir), before, "something outside changed");

    // A .gitmodules that is a link is never read: git refuses to commit it, by name.
    std::fs::remove_file(wt.join(".gitmodules")).expect("rm");
    symlink(&out.secret, wt.join(".gitmodules")).expect("link");
    let d = diff::compute(&prepared.view, &prepared.base_commit, UNCAPPED).expect("diff");
    assert!(file(&d, ".gitmodules").symlink);
    assert_no_canary("the diff", &serde_json::to_string(&d).expect("json"), &out);
    let err = git::commit_all(&prepared.view, "link").expect_err("refused");
    assert!(err.to_string().contains("'.gitmodules'"), "{err}");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn names_that_are_not_utf8_or_hold_newlines_and_quotes_round_trip() {
    let (root, _, spec, prepared) = hostile_checkout();
    let wt = &prepared.path;
    for name in ODD_NAMES {
        std::fs::write(path_of(wt, name), "odd\nchanged\n").expect("edit");
    }
    // Two new names that are not UTF-8 and show alike.
    let twins: [&[u8]; 2] = [b"twin-\xe9.txt", b"twin-\xff.txt"];
    for name in twins {
        std::fs::write(path_of(wt, name), "twin\n").expect("write");
    }

    let d = diff::compute(&prepared.view, &prepared.base_commit, UNCAPPED).expect("diff");

    let mut expected: Vec<Vec<u8>> = ODD_NAMES.iter().chain(&twins).map(|n| n.to_vec()).collect();
    expected.sort();
    let got: Vec<Vec<u8>> = d
        .files
        .iter()
        .map(|f| f.path_bytes().expect("path bytes"))
        .collect();
    assert_eq!(got, expected, "every name, exactly, in byte order");
    for f in &d.files {
        let bytes = f.path_bytes().expect("bytes");
        assert_eq!(f.path_raw.is_some(), std::str::from_utf8(&bytes).is_err());
        assert_eq!(f.path, String::from_utf8_lossy(&bytes));
    }
    assert_eq!(file(&d, "new\nline.txt").additions, 1);
    assert_eq!(file(&d, "quo\"te's.txt").additions, 1);
    let twins_shown: Vec<&FileDiff> = d
        .files
        .iter()
        .filter(|f| f.path.starts_with("twin-"))
        .collect();
    assert_eq!(twins_shown.len(), 2);
    assert_eq!(twins_shown[0].path, twins_shown[1].path);
    assert_ne!(twins_shown[0].path_raw, twins_shown[1].path_raw);
    // The stored form keeps all of it.
    let again: Diff = serde_json::from_slice(&serde_json::to_vec(&d).expect("json")).expect("read");
    assert_eq!(again, d);

    let head = git::commit_all(&prepared.view, "odd names").expect("commit");
    let cache = spec.cache_path();
    let listed = std::process::Command::new("git")
        .args(["ls-tree", "-r", "-z", "--name-only", &head])
        .current_dir(&cache)
        .output()
        .expect("ls-tree");
    let committed: Vec<&[u8]> = listed.stdout.split(|&b| b == 0).collect();
    for name in ODD_NAMES.iter().chain(&twins) {
        assert!(
            committed.contains(name),
            "{} not committed",
            name.escape_ascii()
        );
    }
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn huge_files_and_thousands_of_files_stay_within_the_diff_caps() {
    let root = scratch();
    let origin = origin_repo(&root);
    let spec = spec(&root, &origin);
    let prepared = git::prepare_worktree(&spec).expect("prepare");
    let wt = &prepared.path;
    // A generated text file past the text limit, a tracked file grown past it, and a
    // folder of 3,000 small files.
    let line = "x".repeat(99) + "\n";
    let huge = line.repeat(60_000); // 6 MB
    std::fs::write(wt.join("huge.txt"), &huge).expect("huge");
    std::fs::write(wt.join("README.md"), &huge[..5_000_000]).expect("grown");
    std::fs::create_dir_all(wt.join("many")).expect("mkdir");
    for i in 0..3_000 {
        std::fs::write(
            wt.join(format!("many/{i:04}.txt")),
            format!("file {i}\nline\n"),
        )
        .expect("write");
    }
    let limits = DiffLimits::from_settings(&Settings::default().worker);

    let d = diff::compute(&prepared.view, &prepared.base_commit, limits).expect("diff");

    assert_eq!(d.summary.files_changed, 3_002);
    for path in ["huge.txt", "README.md"] {
        let f = file(&d, path);
        assert!(f.too_large && f.binary, "{path} is not marked too large");
        assert!(f.hunks.is_empty(), "{path} was inlined");
    }
    assert!(d.truncated);
    let with_hunks = d.files.iter().filter(|f| !f.hunks.is_empty()).count();
    assert!(
        with_hunks <= limits.max_files,
        "{with_hunks} files with hunks"
    );
    let many_counted = d
        .files
        .iter()
        .filter(|f| f.path.starts_with("many/"))
        .all(|f| f.additions == 2);
    assert!(many_counted, "files past the caps keep their counts");
    let json = serde_json::to_vec(&d).expect("json");
    // The hunks within their byte cap, plus a listing line per file.
    assert!(
        json.len() < limits.max_bytes + d.files.len() * 512,
        "a {} byte diff",
        json.len()
    );
    let _ = std::fs::remove_dir_all(root);
}

/// The whole path, as production runs it: a real worker fetches the hostile repository,
/// runs an attempt in its sandbox (its own uid and namespaces) whose script points links,
/// a submodule and a new nested repository out of the worktree and writes odd names and
/// a huge file, then diffs, stores and commits. The canary is nowhere: not in the stored
/// diff, the logs, any object of the bucket, or the repository cache.
#[tokio::test(flavor = "multi_thread")]
async fn a_sandboxed_attempt_on_a_hostile_repository_leaks_nothing() {
    let script_for = |out: &Outside| {
        format!(
            r#"set -e
ln -s '{secret}' new-abs
ln -s ../../../outside/secret.txt new-rel
ln -s '{dir}' new-dir
rm README.md && ln -s '{secret}' README.md
mkdir -p sub vendored
printf 'gitdir: {other}/.git\n' > sub/.git
printf 'gitdir: {other}/.git\n' > vendored/.git
printf 'odd\n' > "$(printf 'caf\351-new.txt')"
printf 'odd\n' > "$(printf 'new\nline-new.txt')"
yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx | head -n 60000 > huge.txt
rm .gitignore && mkfifo .gitignore
mkfifo "$HOME/fifo" && ln -s "$HOME/fifo" src/.gitattributes
echo hostile work done
"#,
            secret = out.secret.display(),
            dir = out.dir.display(),
            other = out.other.display(),
        )
    };
    // The scenario makes the repository; the script needs the canary's place, which is
    // under the scenario's scratch dir: make the scenario, then its script and hostility.
    let s = crate::attempt::scenario("true", None, None).await;
    let out = outside(&s.env.dir);
    make_hostile(&s.origin, &out);
    {
        use diesel::{ExpressionMethods, QueryDsl};
        use diesel_async::RunQueryDsl;
        use shared::db::schema::execution_processes;
        let mut conn = s.db.system().await.expect("conn");
        diesel::update(execution_processes::table.find(s.process))
            .set(execution_processes::prompt.eq(script_for(&out)))
            .execute(&mut conn)
            .await
            .expect("set the script");
    }
    let before = snapshot(&out.dir);
    s.enqueue().await;

    s.run_worker().await;

    s.assert_succeeded().await;
    let stdout = crate::attempt::texts(
        &s.stored_log(s.process).await,
        shared::logs::OutputStream::Stdout,
    );
    assert!(
        stdout.iter().any(|l| l.contains("hostile work done")),
        "{stdout:?}"
    );
    // The stored diff: links as links, odd names exact, the huge file marked.
    let stored = s
        .store
        .get(&shared::store::diff_key(s.org, s.attempt))
        .await
        .expect("get")
        .expect("a stored diff");
    let d: Diff = serde_json::from_slice(&stored).expect("diff");
    for link in ["new-abs", "new-rel", "new-dir", "README.md"] {
        assert!(file(&d, link).symlink, "{link}");
    }
    assert!(file(&d, "huge.txt").too_large);
    assert!(file(&d, "new\nline-new.txt").additions == 1);
    assert!(
        d.files
            .iter()
            .any(|f| f.path_bytes().as_deref() == Some(&b"caf\xe9-new.txt"[..]))
    );
    assert!(!paths(&d).contains(&"sub") && !paths(&d).iter().any(|p| p.starts_with("vendored")));
    // Nothing the bucket holds (diff, log segments, anything else) has the canary.
    let keys = s.store.list("").await.expect("list");
    assert!(!keys.is_empty());
    for key in keys {
        let body = s.store.get(&key).await.expect("get").expect("object");
        assert_no_canary(&key, &String::from_utf8_lossy(&body), &out);
        assert!(
            !String::from_utf8_lossy(&body).contains(&out.other_head),
            "{key} names the other repository's head"
        );
    }
    let cache = s.cache_repo();
    assert_no_canary("the cache", &all_objects(&cache), &out);
    assert_eq!(snapshot(&out.dir), before, "something outside changed");
}

/// libgit2 reads the `.gitignore` and `.gitattributes` of each folder it walks with a
/// plain `open`, which on a FIFO waits for a writer for ever. Once the attempt's processes
/// are gone the worker wakes a diff stuck there and removes such files (as the attempt
/// does after each process): the diff and the commit then finish.
#[test]
fn fifos_where_git_reads_its_rules_are_released_and_removed() {
    let root = scratch();
    let out = outside(&root);
    let origin = origin_repo(&root);
    let spec = spec(&root, &origin);
    let prepared = git::prepare_worktree(&spec).expect("prepare");
    let wt = prepared.path.clone();
    let mkfifo = |path: &Path| {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo");
        assert!(status.success());
    };
    std::fs::remove_file(wt.join(".gitignore")).expect("rm");
    mkfifo(&wt.join(".gitignore"));
    mkfifo(&wt.join("src/.gitattributes"));
    mkfifo(&out.dir.join("fifo"));
    std::fs::create_dir_all(wt.join("linked")).expect("mkdir");
    symlink(out.dir.join("fifo"), wt.join("linked/.gitignore")).expect("link");
    symlink(&out.secret, wt.join("linked/.gitattributes")).expect("link");
    std::fs::write(wt.join("linked/work.txt"), "work\n").expect("write");
    mkfifo(&wt.join("plain-fifo"));

    // A diff started now stops at the first FIFO (or, started after the release, finds
    // none): either way it finishes once the FIFOs are released.
    let (done, finished) = std::sync::mpsc::channel();
    let (view, base) = (prepared.view.clone(), prepared.base_commit.clone());
    std::thread::spawn(move || {
        let _ = done.send(diff::compute(&view, &base, UNCAPPED));
    });
    let mut removed = worker::special_files::release(&wt, None).expect("release");
    // A deadline only to fail rather than hang: a released diff takes milliseconds.
    let d = finished
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the diff finishes")
        .expect("diff");
    assert!(paths(&d).contains(&"linked/work.txt"), "{:?}", paths(&d));
    assert!(!paths(&d).contains(&"plain-fifo"));

    removed.sort();
    let expected: Vec<PathBuf> = [
        ".gitignore",
        "linked/.gitignore",
        "plain-fifo",
        "src/.gitattributes",
    ]
    .iter()
    .map(|p| wt.join(p))
    .collect();
    assert_eq!(removed, expected, "the link to a regular file stays");
    assert!(
        out.dir.join("fifo").exists(),
        "nothing outside the tree is removed"
    );
    let head = git::commit_all(&prepared.view, "work").expect("commit");
    let tree = git(&spec.cache_path(), &["ls-tree", "-r", "--name-only", &head]);
    assert!(tree.contains("linked/work.txt"), "{tree}");
    let _ = std::fs::remove_dir_all(root);
}

/// Writes an object of `kind` into `repo` exactly as given (`--literally`: git's own
/// checks on names are what the forged trees below get around). Returns its id.
fn write_object(repo: &Path, kind: &str, bytes: &[u8]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("git")
        .args(["hash-object", "-t", kind, "-w", "--literally", "--stdin"])
        .current_dir(repo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("git hash-object");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// A raw tree of `(mode, name, id)` entries, in the order given.
fn forged_tree(repo: &Path, entries: &[(&str, &[u8], &str)]) -> String {
    let mut bytes = Vec::new();
    for (mode, name, id) in entries {
        bytes.extend_from_slice(format!("{mode} ").as_bytes());
        bytes.extend_from_slice(name);
        bytes.push(0);
        bytes.extend(
            (0..id.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&id[i..i + 2], 16).expect("hex")),
        );
    }
    write_object(repo, "tree", &bytes)
}

/// Trees git itself would refuse, forged into the base branch: a folder named `.GIT`
/// holding a config, a folder named `..`, and a name given twice (a link out of the
/// worktree, then a folder of that name). Each checkout fails, naming the path, and
/// nothing is written outside the worktree or into a `.git`.
#[test]
fn forged_trees_naming_git_a_parent_or_a_name_twice_are_refused() {
    let root = scratch();
    let out = outside(&root);
    let origin = origin_repo(&root);
    let file = write_object(&origin, "blob", b"[core]\n\thooksPath = /tmp\n");
    let inner = forged_tree(&origin, &[("100644", b"config", &file)]);
    let target = write_object(&origin, "blob", out.dir.to_str().expect("utf-8").as_bytes());
    let readme = git(&origin, &["rev-parse", "HEAD:README.md"]);
    let forged = [
        (
            ".GIT",
            forged_tree(
                &origin,
                &[
                    ("100644", b"README.md", &readme),
                    ("40000", b".GIT", &inner),
                ],
            ),
        ),
        (
            "..",
            forged_tree(
                &origin,
                &[("40000", b"..", &inner), ("100644", b"README.md", &readme)],
            ),
        ),
        (
            "a",
            forged_tree(
                &origin,
                &[
                    ("120000", b"a", &target),
                    ("40000", b"a", &inner),
                    ("100644", b"README.md", &readme),
                ],
            ),
        ),
    ];
    let before = snapshot(&out.dir);
    for (name, tree) in forged {
        let head = git(&origin, &["rev-parse", "main"]);
        let commit = git(&origin, &["commit-tree", &tree, "-p", &head, "-m", name]);
        git(&origin, &["update-ref", "refs/heads/forged", &commit]);
        let mut spec = spec(&root, &origin);
        spec.base_branch = "forged".into();

        let failed = git::prepare_worktree(&spec).expect_err(name);

        assert!(failed.to_string().contains("checkout"), "{name}: {failed}");
        assert_eq!(
            snapshot(&out.dir),
            before,
            "{name}: something outside changed"
        );
        assert!(
            !out.dir.join("config").exists(),
            "{name}: written through the link"
        );
        assert!(
            !spec.data_dir.join("worktrees/config").exists(),
            "{name}: written beside the worktree"
        );
        assert!(
            !spec.worktree_path().join(".GIT").exists(),
            "{name}: a .GIT folder was made"
        );
    }
    let _ = std::fs::remove_dir_all(root);
}
