//! The last check before a branch leaves the worker: the commits about to be pushed must
//! not carry any of the org's secret values. The agent had those values in its
//! environment; a file it wrote them into would be published with the branch.
//!
//! [`find_secret`] walks `base..head` in the repository cache and looks at every blob a
//! commit adds or changes (new files, edits, binaries and symlinks alike) for each value
//! in its plain form, its standard and URL-safe base64 forms and its percent-encoded
//! forms. Everything here blocks: call it from `shared::blocking::run`.

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use git2::{Delta, DiffOptions, FileMode, Oid, Repository, Sort, Tree};
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

/// Values shorter than this many bytes are not searched for: short strings turn up by
/// chance in code and in binaries (and their base64 middles are shorter still), so every
/// push would be refused for nothing.
pub const MIN_SCANNED_BYTES: usize = 8;

/// The largest blob scanned. GitHub refuses files over 100 MiB anyway, so a larger blob
/// could not be pushed there; it is not skipped either (an unscanned file could carry a
/// secret past the check): [`find_secret`] fails with [`ScanError::TooLarge`], and the
/// push is refused.
pub const MAX_SCANNED_BLOB_BYTES: usize = 100 * 1024 * 1024;

/// A secret value found in a commit about to be pushed. `Display` names the file, the
/// commit, the secret's name and the encoding, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file's path in the commit's tree.
    pub path: String,
    /// The commit that added or changed the file.
    pub commit: String,
    /// The org secret's name.
    pub secret_name: String,
    /// How the value was written: `plain`, `base64`, `base64url` or `url-encoded`.
    pub encoding: &'static str,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = self.commit.get(..12).unwrap_or(&self.commit);
        write!(
            f,
            "{} in commit {short} contains the value of the org secret {} ({})",
            self.path, self.secret_name, self.encoding
        )
    }
}

/// Why the commits could not be scanned. Either way the branch must not be pushed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(
        "{path} in commit {commit} is {size} bytes, more than the {} MiB the secret scan reads",
        MAX_SCANNED_BLOB_BYTES / (1024 * 1024)
    )]
    TooLarge {
        path: String,
        commit: String,
        size: usize,
    },
    #[error("the secret scan could not read the commits: {}", .0.message())]
    Git(#[from] git2::Error),
    #[error("the secret scan could not index the secrets: {0}")]
    Matcher(String),
}

/// The first secret value found in what the commits `base..head` of the bare repository
/// at `cache` add or change, or `None` when they carry none.
///
/// - Each commit is compared with its parent (a root commit with the empty tree; a merge
///   with each parent, and only what differs from all of them counts), oldest first, so
///   the commit reported is the one that brought the value in. A value in the base alone
///   is not reported, nor is one the changed file already had in its parent's version
///   (in the same encoding): it was there before the attempt.
/// - A value written in one commit and removed in a later one is still reported: the
///   history is pushed, not just the last tree.
/// - Secrets shorter than [`MIN_SCANNED_BYTES`] are left out (see there).
/// - Forms searched for: the plain bytes; standard and URL-safe base64 (padded or not,
///   and inside a longer base64 text at any of the three byte alignments, by searching
///   for the part of the encoding that depends on the value alone); percent-encoding with
///   upper- or lower-case hex, `+` or `%20` for spaces, and `/` or `!'()*` left as they
///   are or not. Base64 wrapped across lines (MIME, PEM) is not recognised.
pub fn find_secret(
    cache: &Path,
    base: &str,
    head: &str,
    secrets: &[(String, SecretString)],
) -> Result<Option<Finding>, ScanError> {
    let Some(patterns) = Patterns::new(secrets)? else {
        return Ok(None);
    };
    let repo = Repository::open_bare(cache)?;
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    walk.push(Oid::from_str(head)?)?;
    walk.hide(Oid::from_str(base)?)?;
    let mut scanner = Scanner {
        repo: &repo,
        patterns: &patterns,
        seen: HashMap::new(),
    };
    for oid in walk {
        let commit = repo.find_commit(oid?)?;
        let tree = commit.tree()?;
        let parents: Vec<Tree> = commit
            .parents()
            .map(|p| p.tree())
            .collect::<Result<_, _>>()?;
        for (path, new, old) in changed_blobs(&repo, &tree, &parents)? {
            let commit_id = commit.id().to_string();
            if let Some(pattern) = scanner.new_pattern(&path, &commit_id, new, &old)? {
                let (secret, encoding) = patterns.origin[pattern];
                return Ok(Some(Finding {
                    path,
                    commit: commit_id,
                    secret_name: secrets[secret].0.clone(),
                    encoding,
                }));
            }
        }
    }
    Ok(None)
}

/// The blobs `tree` adds or changes against every one of `parents` (the empty tree when
/// there is none): the path, the new blob and the blobs the parents had at that path.
fn changed_blobs(
    repo: &Repository,
    tree: &Tree,
    parents: &[Tree],
) -> Result<Vec<(String, Oid, Vec<Oid>)>, git2::Error> {
    let mut opts = DiffOptions::new();
    opts.include_typechange(true);
    let bases: Vec<Option<&Tree>> = if parents.is_empty() {
        vec![None]
    } else {
        parents.iter().map(Some).collect()
    };
    // path → (new blob, old blobs, how many parents it differs from)
    let mut changed: HashMap<String, (Oid, Vec<Oid>, usize)> = HashMap::new();
    for parent in &bases {
        let diff = repo.diff_tree_to_tree(*parent, Some(tree), Some(&mut opts))?;
        for delta in diff.deltas() {
            if delta.status() == Delta::Deleted || !is_blob(delta.new_file().mode()) {
                continue;
            }
            let Some(path) = delta.new_file().path() else {
                continue;
            };
            let entry = changed
                .entry(path.to_string_lossy().into_owned())
                .or_insert((delta.new_file().id(), Vec::new(), 0));
            let old = delta.old_file();
            if !old.id().is_zero() && is_blob(old.mode()) {
                entry.1.push(old.id());
            }
            entry.2 += 1;
        }
    }
    let mut out: Vec<(String, Oid, Vec<Oid>)> = changed
        .into_iter()
        .filter(|(_, (_, _, differs))| *differs == bases.len())
        .map(|(path, (new, old, _))| (path, new, old))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// File contents (regular, executable or a symlink's target), not a submodule's commit.
fn is_blob(mode: FileMode) -> bool {
    matches!(
        mode,
        FileMode::Blob | FileMode::BlobExecutable | FileMode::BlobGroupWritable | FileMode::Link
    )
}

/// Every searched form of every secret, in one automaton.
struct Patterns {
    matcher: AhoCorasick,
    /// For each pattern: the index of its secret and its encoding.
    origin: Vec<(usize, &'static str)>,
}

impl Patterns {
    /// `None` when no secret is long enough to search for.
    fn new(secrets: &[(String, SecretString)]) -> Result<Option<Patterns>, ScanError> {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut origin = Vec::new();
        for (index, (_, value)) in secrets.iter().enumerate() {
            let value = value.expose_secret().as_bytes();
            if value.len() < MIN_SCANNED_BYTES {
                continue;
            }
            let forms = std::iter::once((value.to_vec(), "plain"))
                .chain(base64_forms(value))
                .chain(percent_forms(value).into_iter().map(|p| (p, "url-encoded")));
            for (pattern, encoding) in forms {
                if !patterns.contains(&pattern) {
                    patterns.push(pattern);
                    origin.push((index, encoding));
                }
            }
        }
        if patterns.is_empty() {
            return Ok(None);
        }
        // Standard semantics report every match, overlapping ones included, so a blob's
        // set of found patterns is complete.
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| ScanError::Matcher(e.to_string()))?;
        Ok(Some(Patterns { matcher, origin }))
    }

    /// The indexes of the patterns found in `bytes`, in pattern order.
    fn found_in(&self, bytes: &[u8]) -> BTreeSet<usize> {
        self.matcher
            .find_overlapping_iter(bytes)
            .map(|m| m.pattern().as_usize())
            .collect()
    }
}

/// The base64 forms of `value` as they appear in any base64 text holding it: for each of
/// the three byte offsets the value can start at, the encoding of the value's bytes at
/// that offset, trimmed to the characters whose six bits all come from the value (the
/// ones around them depend on the neighbouring bytes, and the padding on what follows).
fn base64_forms(value: &[u8]) -> Vec<(Vec<u8>, &'static str)> {
    let mut forms = Vec::new();
    for offset in 0..3usize {
        let mut shifted = vec![0u8; offset];
        shifted.extend_from_slice(value);
        let first_bit = offset * 8;
        let end_bit = first_bit + value.len() * 8;
        // Character i covers bits [6i, 6i + 6).
        let first = first_bit.div_ceil(6);
        let end = end_bit / 6;
        for (engine, encoding) in [
            (&STANDARD_NO_PAD, "base64"),
            (&URL_SAFE_NO_PAD, "base64url"),
        ] {
            let encoded = engine.encode(&shifted);
            if let Some(middle) = encoded.as_bytes().get(first..end) {
                forms.push((middle.to_vec(), encoding));
            }
        }
    }
    forms
}

/// The percent-encoded forms of `value` the usual encoders write (RFC 3986, JavaScript's
/// `encodeURIComponent`, Python's `quote`, HTML forms); none equal to the value itself.
fn percent_forms(value: &[u8]) -> Vec<Vec<u8>> {
    let mut forms: Vec<Vec<u8>> = Vec::new();
    for kept in [&b""[..], b"!'()*", b"/"] {
        for upper in [true, false] {
            for plus_for_space in [false, true] {
                let mut out = Vec::with_capacity(value.len() * 3);
                for &b in value {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || kept.contains(&b) {
                        out.push(b);
                    } else if b == b' ' && plus_for_space {
                        out.push(b'+');
                    } else if upper {
                        out.extend_from_slice(format!("%{b:02X}").as_bytes());
                    } else {
                        out.extend_from_slice(format!("%{b:02x}").as_bytes());
                    }
                }
                if out != value && !forms.contains(&out) {
                    forms.push(out);
                }
            }
        }
    }
    forms
}

/// Scans blobs, each once.
struct Scanner<'r> {
    repo: &'r Repository,
    patterns: &'r Patterns,
    /// The patterns found in each blob scanned so far.
    seen: HashMap<Oid, BTreeSet<usize>>,
}

impl Scanner<'_> {
    /// The first pattern `new` holds that none of `old` (the parents' versions of the
    /// file) does.
    fn new_pattern(
        &mut self,
        path: &str,
        commit: &str,
        new: Oid,
        old: &[Oid],
    ) -> Result<Option<usize>, ScanError> {
        let found = self.scan(new, Some((path, commit)))?;
        if found.is_empty() {
            return Ok(None);
        }
        let mut fresh = found;
        for &o in old {
            // An old version too large to read is taken as holding nothing.
            let had = self.scan(o, None).unwrap_or_default();
            fresh.retain(|p| !had.contains(p));
        }
        Ok(fresh.first().copied())
    }

    /// The patterns in blob `oid`. A blob over [`MAX_SCANNED_BLOB_BYTES`] is an error
    /// naming `at` (path and commit).
    fn scan(&mut self, oid: Oid, at: Option<(&str, &str)>) -> Result<BTreeSet<usize>, ScanError> {
        if let Some(found) = self.seen.get(&oid) {
            return Ok(found.clone());
        }
        let odb = self.repo.odb()?;
        let (size, _) = odb.read_header(oid)?;
        if size > MAX_SCANNED_BLOB_BYTES {
            let (path, commit) = at.unwrap_or(("an earlier version of a file", ""));
            return Err(ScanError::TooLarge {
                path: path.to_owned(),
                commit: commit.to_owned(),
                size,
            });
        }
        let blob = self.repo.find_blob(oid)?;
        let found = self.patterns.found_in(blob.content());
        self.seen.insert(oid, found.clone());
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use git2::Signature;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    const VALUE: &str = "sk-live-4f9a8b7c6d5e";

    /// A bare repository in a fresh temporary directory, removed on drop.
    struct Bare {
        dir: PathBuf,
        repo: Repository,
    }

    impl Bare {
        fn new() -> Bare {
            let dir = std::env::temp_dir().join(format!("secretscan-{}", uuid::Uuid::new_v4()));
            let repo = Repository::init_bare(&dir).expect("init bare repository");
            Bare { dir, repo }
        }

        /// A commit on `parents` whose tree holds exactly `files` (paths with `/` make
        /// folders).
        fn commit(&self, parents: &[Oid], files: &[(&str, &[u8])]) -> Oid {
            let tree = self.tree(files);
            let tree = self.repo.find_tree(tree).expect("tree");
            let parents: Vec<git2::Commit> = parents
                .iter()
                .map(|p| self.repo.find_commit(*p).expect("parent"))
                .collect();
            let parents: Vec<&git2::Commit> = parents.iter().collect();
            let sig = Signature::now("Test", "test@example.com").expect("signature");
            self.repo
                .commit(None, &sig, &sig, "test", &tree, &parents)
                .expect("commit")
        }

        fn tree(&self, files: &[(&str, &[u8])]) -> Oid {
            let mut here: Vec<(&str, &[u8])> = Vec::new();
            let mut below: BTreeMap<&str, Vec<(&str, &[u8])>> = BTreeMap::new();
            for (path, content) in files {
                match path.split_once('/') {
                    Some((dir, rest)) => below.entry(dir).or_default().push((rest, content)),
                    None => here.push((path, content)),
                }
            }
            let mut builder = self.repo.treebuilder(None).expect("tree builder");
            for (name, content) in here {
                let blob = self.repo.blob(content).expect("blob");
                builder
                    .insert(name, blob, FileMode::Blob.into())
                    .expect("insert blob");
            }
            for (dir, entries) in below {
                let sub = self.tree(&entries);
                builder
                    .insert(dir, sub, FileMode::Tree.into())
                    .expect("insert tree");
            }
            builder.write().expect("write tree")
        }

        fn scan(&self, base: Oid, head: Oid, secrets: &[(&str, &str)]) -> Option<Finding> {
            let secrets: Vec<(String, SecretString)> = secrets
                .iter()
                .map(|(n, v)| (n.to_string(), SecretString::from(v.to_string())))
                .collect();
            find_secret(&self.dir, &base.to_string(), &head.to_string(), &secrets).expect("scan")
        }
    }

    impl Drop for Bare {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn secrets() -> Vec<(&'static str, &'static str)> {
        vec![("OTHER_KEY", "unrelated-value-123"), ("API_TOKEN", VALUE)]
    }

    /// A repository with a base commit holding a README; returns it and the base.
    fn with_base() -> (Bare, Oid) {
        let bare = Bare::new();
        let base = bare.commit(&[], &[("README.md", b"hello\n")]);
        (bare, base)
    }

    fn assert_found(found: Option<Finding>, path: &str, commit: Oid, encoding: &str) {
        let found = found.expect("the secret is found");
        assert_eq!(found.path, path);
        assert_eq!(found.commit, commit.to_string());
        assert_eq!(found.secret_name, "API_TOKEN");
        assert_eq!(found.encoding, encoding, "{found:?}");
        let shown = found.to_string();
        assert!(
            shown.contains(path) && shown.contains("API_TOKEN"),
            "{shown}"
        );
        assert!(!shown.contains(VALUE), "the value is shown: {shown}");
    }

    #[test]
    fn a_plain_value_in_a_new_file_is_found_and_named_not_shown() {
        let (bare, base) = with_base();
        let head = bare.commit(
            &[base],
            &[
                ("README.md", b"hello\n"),
                ("src/config.env", format!("TOKEN={VALUE}\n").as_bytes()),
            ],
        );
        assert_found(
            bare.scan(base, head, &secrets()),
            "src/config.env",
            head,
            "plain",
        );
    }

    #[test]
    fn a_clean_branch_has_no_finding() {
        let (bare, base) = with_base();
        let one = bare.commit(&[base], &[("README.md", b"hello\nworld\n")]);
        let two = bare.commit(
            &[one],
            &[("README.md", b"hello\nworld\n"), ("a.txt", b"sk-live-4f9a")],
        );
        assert_eq!(bare.scan(base, two, &secrets()), None);
        assert_eq!(bare.scan(base, two, &[]), None);
    }

    #[test]
    fn values_shorter_than_eight_bytes_are_not_searched_for() {
        let (bare, base) = with_base();
        let head = bare.commit(
            &[base],
            &[("README.md", b"hello\n"), ("short.txt", b"pw=abc1234\n")],
        );
        assert_eq!(bare.scan(base, head, &[("SHORT", "abc1234")]), None);
        assert!(bare.scan(base, head, &[("LONGER", "abc12345")]).is_none());
        let eight = bare.commit(
            &[base],
            &[("README.md", b"hello\n"), ("short.txt", b"pw=abc12345\n")],
        );
        assert!(bare.scan(base, eight, &[("LONGER", "abc12345")]).is_some());
    }

    #[test]
    fn base64_of_the_value_is_found_alone_and_inside_longer_base64_at_every_alignment() {
        let (bare, base) = with_base();
        let alone = bare.commit(
            &[base],
            &[
                ("README.md", b"hello\n"),
                ("alone.txt", STANDARD.encode(VALUE).as_bytes()),
            ],
        );
        assert_found(
            bare.scan(base, alone, &secrets()),
            "alone.txt",
            alone,
            "base64",
        );
        for prefix in ["", "{", "{\""] {
            let text = format!("{prefix}{VALUE}\", \"other\": \"some more data after it\"}}");
            let line = format!("data: {}\n", STANDARD.encode(&text));
            assert!(!line.contains(&STANDARD_NO_PAD.encode(VALUE)) || prefix.is_empty());
            let head = bare.commit(
                &[base],
                &[("README.md", b"hello\n"), ("blob.b64", line.as_bytes())],
            );
            assert_found(
                bare.scan(base, head, &secrets()),
                "blob.b64",
                head,
                "base64",
            );
        }
    }

    #[test]
    fn url_safe_base64_of_the_value_is_found() {
        // Bytes whose encodings use `+` and `/` in the standard alphabet.
        let value = "key\u{00ff}\u{00fe}\u{00fb}?>~~~";
        let (bare, base) = with_base();
        for prefix in ["", "a", "ab"] {
            let text = format!("{prefix}{value} and more text after it");
            let encoded = URL_SAFE.encode(&text);
            assert_ne!(encoded, STANDARD.encode(&text), "the test value needs -/_");
            let head = bare.commit(
                &[base],
                &[("README.md", b"hello\n"), ("token.txt", encoded.as_bytes())],
            );
            let found = bare
                .scan(base, head, &[("API_TOKEN", value)])
                .expect("found");
            assert_eq!(found.encoding, "base64url");
            assert_eq!(found.path, "token.txt");
        }
    }

    #[test]
    fn a_url_encoded_value_is_found() {
        let value = "p@ss w/rd:long&more";
        let (bare, base) = with_base();
        for written in [
            "https://example.com/cb?token=p%40ss%20w%2Frd%3Along%26more&x=1",
            "curl -d 'token=p%40ss+w%2Frd%3Along%26more'",
            "quote: p%40ss%20w/rd%3along%26more",
        ] {
            let head = bare.commit(
                &[base],
                &[("README.md", b"hello\n"), ("call.sh", written.as_bytes())],
            );
            let found = bare
                .scan(base, head, &[("API_TOKEN", value)])
                .unwrap_or_else(|| panic!("not found in {written}"));
            assert_eq!(found.encoding, "url-encoded");
            assert!(!found.to_string().contains(value));
        }
    }

    #[test]
    fn a_value_inside_a_binary_file_is_found() {
        let (bare, base) = with_base();
        let mut binary = vec![0u8, 159, 146, 150, 0, 0xff, 0xfe];
        binary.extend_from_slice(VALUE.as_bytes());
        binary.extend_from_slice(&[0, 1, 2, 3, 0xff]);
        let head = bare.commit(
            &[base],
            &[("README.md", b"hello\n"), ("assets/logo.bin", &binary)],
        );
        assert_found(
            bare.scan(base, head, &secrets()),
            "assets/logo.bin",
            head,
            "plain",
        );
    }

    #[test]
    fn a_value_written_then_deleted_then_written_again_is_found_where_it_came_in() {
        let (bare, base) = with_base();
        let secret_file: (&str, &[u8]) = ("notes.txt", VALUE.as_bytes());
        let added = bare.commit(&[base], &[("README.md", b"hello\n"), secret_file]);
        let deleted = bare.commit(&[added], &[("README.md", b"hello\n")]);
        assert_found(
            bare.scan(base, deleted, &secrets()),
            "notes.txt",
            added,
            "plain",
        );
        let readded = bare.commit(&[deleted], &[("README.md", b"hello\n"), secret_file]);
        assert_found(
            bare.scan(base, readded, &secrets()),
            "notes.txt",
            added,
            "plain",
        );
        // Pushed on from `deleted`, only the re-adding commit is new.
        assert_found(
            bare.scan(deleted, readded, &secrets()),
            "notes.txt",
            readded,
            "plain",
        );
    }

    #[test]
    fn a_value_only_in_the_base_is_not_reported() {
        let bare = Bare::new();
        let keys = format!("TOKEN={VALUE}\n");
        let base = bare.commit(&[], &[("keys.env", keys.as_bytes()), ("a.txt", b"a\n")]);
        let other = bare.commit(&[base], &[("keys.env", keys.as_bytes()), ("a.txt", b"b\n")]);
        assert_eq!(bare.scan(base, other, &secrets()), None);
        // Editing the file that already had it is no new leak either...
        let edited = format!("# tokens\nTOKEN={VALUE}\n");
        let edit = bare.commit(
            &[other],
            &[("keys.env", edited.as_bytes()), ("a.txt", b"b\n")],
        );
        assert_eq!(bare.scan(base, edit, &secrets()), None);
        // ...but writing it in another form, or into another file, is.
        let encoded = format!("{edited}B64={}\n", STANDARD.encode(VALUE));
        let more = bare.commit(
            &[edit],
            &[("keys.env", encoded.as_bytes()), ("a.txt", b"b\n")],
        );
        assert_found(
            bare.scan(base, more, &secrets()),
            "keys.env",
            more,
            "base64",
        );
        let copied = bare.commit(
            &[edit],
            &[("keys.env", edited.as_bytes()), ("a.txt", keys.as_bytes())],
        );
        assert_found(
            bare.scan(base, copied, &secrets()),
            "a.txt",
            copied,
            "plain",
        );
    }

    #[test]
    fn a_merge_reports_only_what_neither_parent_had() {
        let (bare, base) = with_base();
        let theirs = bare.commit(
            &[base],
            &[("README.md", b"hello\n"), ("x.txt", VALUE.as_bytes())],
        );
        let ours = bare.commit(&[base], &[("README.md", b"hello\nours\n")]);
        let merged = bare.commit(
            &[ours, theirs],
            &[("README.md", b"hello\nours\n"), ("x.txt", VALUE.as_bytes())],
        );
        // From `theirs`' side (pushed before), the merge adds nothing new.
        assert_eq!(bare.scan(theirs, merged, &secrets()), None);
        assert_found(
            bare.scan(base, merged, &secrets()),
            "x.txt",
            theirs,
            "plain",
        );
    }

    #[test]
    fn a_blob_too_large_to_scan_refuses_the_push() {
        let (bare, base) = with_base();
        let big = vec![b'a'; MAX_SCANNED_BLOB_BYTES + 1];
        let head = bare.commit(&[base], &[("README.md", b"hello\n"), ("big.bin", &big)]);
        let secrets = vec![("API_TOKEN".to_owned(), SecretString::from(VALUE))];
        let err = find_secret(&bare.dir, &base.to_string(), &head.to_string(), &secrets)
            .expect_err("too large to scan");
        assert!(
            matches!(err, ScanError::TooLarge { ref path, .. } if path == "big.bin"),
            "{err}"
        );
    }
}
