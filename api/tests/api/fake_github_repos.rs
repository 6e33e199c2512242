//! The repository side of the fake GitHub ([`crate::fake_github::FakeGithub`] serves
//! these routes on the same port): git smart HTTP for clone, fetch and push, and the REST
//! endpoints an attempt's triggers and pull requests use. Every call needs an
//! installation token that reaches the repository ([`AppFake::token_reaches`]) and holds
//! the permission GitHub documents for it ([`AppFake::token_permits`]): `contents` read
//! to fetch and write to push or merge, `pull_requests` write to open a pull request,
//! `issues` or `pull_requests` write to comment; else 403.
//!
//! - `GET /{owner}/{name}.git/info/refs?service=…`, `POST /{owner}/{name}.git/git-upload-pack`
//!   and `…/git-receive-pack`: served by the system git's `git http-backend` (CGI) on bare
//!   repositories under the fake's folder. Credentials are HTTP Basic with the user
//!   `x-access-token` and the token as password, as GitHub takes them; without them the
//!   answer is 401 with a `WWW-Authenticate` challenge, so git clients ask their
//!   credential source.
//! - `GET /repos/{o}/{r}/collaborators/{user}/permission`
//! - `POST /repos/{o}/{r}/issues/{n}/comments`
//! - `POST /repos/{o}/{r}/pulls`, `PUT /repos/{o}/{r}/pulls/{n}/merge` (a real merge
//!   commit, squash commit or rebased commits on the base branch of the bare repository)
//! - `GET /repos/{o}/{r}/branches`

#![expect(dead_code)]

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard};
use tokio::io::AsyncWriteExt;

use crate::fake_github_app::{AppFake, bearer, rest_error};

/// A comment the App wrote on an issue or pull request.
#[derive(Debug, Clone)]
pub struct FakeComment {
    pub id: i64,
    pub repo: String,
    pub issue_number: i64,
    pub body: String,
}

/// A pull request opened through the API.
#[derive(Debug, Clone)]
pub struct FakePull {
    pub number: i64,
    pub repo: String,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub state: String,
    pub merged: bool,
    pub merge_method: Option<String>,
    pub merge_sha: Option<String>,
}

/// What the git side has seen, for assertions.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GitCounts {
    /// Git requests answered 401 for missing, expired or foreign credentials.
    pub refused: usize,
    /// Successful `git-upload-pack` (fetch) and `git-receive-pack` (push) requests.
    pub fetches: usize,
    pub pushes: usize,
}

#[derive(Default)]
struct State {
    /// (repo full name lower-cased, login) → `admin`, `maintain`, `write`, `triage`,
    /// `read` or `none`. Unknown users are not GitHub users (404).
    permissions: HashMap<(String, String), String>,
    comments: Vec<FakeComment>,
    pulls: Vec<FakePull>,
    next_id: i64,
    /// Tokens used for a fetch are expired right after it (to test renewal).
    expire_tokens_after_fetch: bool,
    counts: GitCounts,
    /// Every token a git request was let through with, in order.
    git_tokens: Vec<String>,
}

/// The repository side's state, shared with the server.
pub struct RepoFake {
    root: PathBuf,
    state: Mutex<State>,
}

impl Default for RepoFake {
    fn default() -> Self {
        let root = std::env::temp_dir().join(format!(
            "switchyard-fake-github-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&root).expect("fake GitHub git root");
        RepoFake {
            root,
            state: Mutex::new(State {
                next_id: 1_000_000,
                ..State::default()
            }),
        }
    }
}

impl RepoFake {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The bare repository of `owner/name`.
    pub fn bare_path(&self, full_name: &str) -> PathBuf {
        self.root.join(format!("{full_name}.git"))
    }

    /// Creates the bare repository `owner/name` with one commit on `main` (a README).
    pub fn create_repo(&self, full_name: &str) -> PathBuf {
        let bare = self.bare_path(full_name);
        let work = self.root.join("seed").join(full_name);
        std::fs::create_dir_all(&work).expect("seed dir");
        crate::helpers::init_repo(&work);
        std::fs::create_dir_all(bare.parent().expect("owner dir")).expect("owner dir");
        run_git(
            &self.root,
            &[
                "clone",
                "--bare",
                "--quiet",
                &work.display().to_string(),
                &bare.display().to_string(),
            ],
        );
        bare
    }

    /// Gives `login` a permission on the repository (`admin`, `write`, `read`, `none`).
    pub fn set_permission(&self, full_name: &str, login: &str, permission: &str) {
        self.lock().permissions.insert(
            (full_name.to_ascii_lowercase(), login.to_owned()),
            permission.to_owned(),
        );
    }

    /// From now on, a token used for a fetch expires right after it.
    pub fn expire_tokens_after_fetch(&self, on: bool) {
        self.lock().expire_tokens_after_fetch = on;
    }

    pub fn comments(&self) -> Vec<FakeComment> {
        self.lock().comments.clone()
    }

    pub fn pulls(&self) -> Vec<FakePull> {
        self.lock().pulls.clone()
    }

    /// The tokens git requests were let through with (fetches and pushes), in order.
    pub fn git_tokens(&self) -> Vec<String> {
        self.lock().git_tokens.clone()
    }

    pub fn git_counts(&self) -> GitCounts {
        self.lock().counts.clone()
    }

    /// The commit a branch of the bare repository points at, if it exists.
    pub fn branch_head(&self, full_name: &str, branch: &str) -> Option<String> {
        let repo = git2::Repository::open_bare(self.bare_path(full_name)).ok()?;
        let oid = repo
            .find_branch(branch, git2::BranchType::Local)
            .ok()?
            .get()
            .target()?;
        Some(oid.to_string())
    }

    /// A file's content at the head of a branch.
    pub fn file_at(&self, full_name: &str, branch: &str, file: &str) -> Option<String> {
        let repo = git2::Repository::open_bare(self.bare_path(full_name)).ok()?;
        let commit = repo
            .find_branch(branch, git2::BranchType::Local)
            .ok()?
            .get()
            .peel_to_commit()
            .ok()?;
        let entry = commit.tree().ok()?.get_path(Path::new(file)).ok()?;
        let blob = repo.find_blob(entry.id()).ok()?;
        Some(String::from_utf8_lossy(blob.content()).into_owned())
    }

    /// The token of a REST request, checked to reach `owner/name`.
    fn check(
        &self,
        app: &AppFake,
        req: &HttpRequest,
        owner: &str,
        name: &str,
    ) -> Result<String, Box<HttpResponse>> {
        let full_name = format!("{owner}/{name}");
        match bearer(req) {
            Some(token) if app.token_reaches(token, &full_name).is_some() => Ok(full_name),
            _ => Err(Box::new(rest_error(401, "Bad credentials"))),
        }
    }

    /// As [`RepoFake::check`], and the token must hold one of `needs` (permission, level).
    fn check_with(
        &self,
        app: &AppFake,
        req: &HttpRequest,
        owner: &str,
        name: &str,
        needs: &[(&str, &str)],
    ) -> Result<String, Box<HttpResponse>> {
        let full_name = self.check(app, req, owner, name)?;
        let token = bearer(req).unwrap_or_default();
        if needs
            .iter()
            .any(|(permission, level)| app.token_permits(token, permission, level))
        {
            Ok(full_name)
        } else {
            Err(Box::new(rest_error(
                403,
                "Resource not accessible by integration",
            )))
        }
    }
}

impl Drop for RepoFake {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn run_git(cwd: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The repository routes. Register them after every other route: the git catch-all
/// matches any three-segment path.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/repos/{owner}/{name}/collaborators/{user}/permission",
        web::get().to(permission),
    )
    .route(
        "/repos/{owner}/{name}/issues/{number}/comments",
        web::post().to(create_comment),
    )
    .route("/repos/{owner}/{name}/pulls", web::post().to(create_pull))
    .route(
        "/repos/{owner}/{name}/pulls/{number}/merge",
        web::put().to(merge_pull),
    )
    .route("/repos/{owner}/{name}/branches", web::get().to(branches))
    .route("/{owner}/{name}/{tail:.*}", web::route().to(git_http));
}

/// Git smart HTTP through `git http-backend`, behind GitHub's Basic credentials.
async fn git_http(
    fake: web::Data<RepoFake>,
    app: web::Data<AppFake>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (owner, name, tail) = path.into_inner();
    let Some(name) = name.strip_suffix(".git") else {
        return rest_error(404, "Not Found");
    };
    let full_name = format!("{owner}/{name}");
    let token = basic_password(&req);
    let reaches = token
        .as_deref()
        .is_some_and(|t| app.token_reaches(t, &full_name).is_some());
    if !reaches {
        fake.lock().counts.refused += 1;
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"GitHub\""))
            .body("Invalid username or token.");
    }
    let pushing = tail == "git-receive-pack" || req.query_string().contains("git-receive-pack");
    let needed = if pushing { "write" } else { "read" };
    let token = token.unwrap_or_default();
    if !app.token_permits(&token, "contents", needed) {
        return HttpResponse::Forbidden().body(if pushing {
            "Write access to repository not granted."
        } else {
            "Read access to repository not granted."
        });
    }
    fake.lock().git_tokens.push(token.clone());
    if !fake.bare_path(&full_name).exists() {
        return HttpResponse::NotFound().body("Repository not found.");
    }
    let mut cgi = tokio::process::Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &fake.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", format!("/{full_name}.git/{tail}"))
        .env("REQUEST_METHOD", req.method().as_str())
        .env("QUERY_STRING", req.query_string())
        .env("CONTENT_LENGTH", body.len().to_string())
        // Enables git-receive-pack: the request is authenticated.
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE)
        && let Ok(ct) = ct.to_str()
    {
        cgi.env("CONTENT_TYPE", ct);
    }
    if let Some(enc) = req.headers().get(header::CONTENT_ENCODING)
        && let Ok(enc) = enc.to_str()
    {
        cgi.env("HTTP_CONTENT_ENCODING", enc);
    }
    if let Some(proto) = req.headers().get("git-protocol")
        && let Ok(proto) = proto.to_str()
    {
        cgi.env("GIT_PROTOCOL", proto);
    }
    let mut child = cgi.spawn().expect("git http-backend");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let out = child
        .wait_with_output()
        .await
        .expect("git http-backend output");
    let _ = writer.await;
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| {
            out.stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
        });
    let Some((at, sep)) = split else {
        return HttpResponse::InternalServerError().body(out.stderr);
    };
    let head = String::from_utf8_lossy(&out.stdout[..at]).into_owned();
    let mut status = 200u16;
    let mut response_headers = Vec::new();
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            status = v
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(500);
        } else {
            response_headers.push((k.trim().to_owned(), v.to_owned()));
        }
    }
    if status == 200 {
        let mut state = fake.lock();
        if tail == "git-upload-pack" {
            state.counts.fetches += 1;
            if state.expire_tokens_after_fetch {
                app.expire_token(&token);
            }
        } else if tail == "git-receive-pack" {
            state.counts.pushes += 1;
        }
    }
    let mut response =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("CGI status"));
    for (k, v) in response_headers {
        response.insert_header((k, v));
    }
    response.body(out.stdout[at + sep..].to_vec())
}

/// The password of HTTP Basic credentials (the token, for user `x-access-token`).
fn basic_password(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    (user == "x-access-token").then(|| password.to_owned())
}

/// `GET /repos/{o}/{r}/collaborators/{user}/permission`
async fn permission(
    fake: web::Data<RepoFake>,
    app: web::Data<AppFake>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> HttpResponse {
    let (owner, name, user) = path.into_inner();
    let full_name = match fake.check(&app, &req, &owner, &name) {
        Ok(f) => f,
        Err(refusal) => return *refusal,
    };
    let state = fake.lock();
    match state
        .permissions
        .get(&(full_name.to_ascii_lowercase(), user.clone()))
    {
        Some(permission) => HttpResponse::Ok().json(json!({
            "permission": permission,
            "role_name": permission,
            "user": {"login": user, "type": "User"},
        })),
        None => rest_error(404, &format!("{user} is not a user")),
    }
}

#[derive(Deserialize)]
struct CommentBody {
    body: String,
}

/// `POST /repos/{o}/{r}/issues/{n}/comments`
async fn create_comment(
    fake: web::Data<RepoFake>,
    app: web::Data<AppFake>,
    req: HttpRequest,
    path: web::Path<(String, String, i64)>,
    body: web::Json<CommentBody>,
) -> HttpResponse {
    let (owner, name, number) = path.into_inner();
    let full_name = match fake.check_with(
        &app,
        &req,
        &owner,
        &name,
        &[("issues", "write"), ("pull_requests", "write")],
    ) {
        Ok(f) => f,
        Err(refusal) => return *refusal,
    };
    let base = format!("http://{}", req.connection_info().host());
    let mut state = fake.lock();
    state.next_id += 1;
    let id = state.next_id;
    state.comments.push(FakeComment {
        id,
        repo: full_name.clone(),
        issue_number: number,
        body: body.body.clone(),
    });
    HttpResponse::Created().json(json!({
        "id": id,
        "body": body.body,
        "html_url": format!("{base}/{full_name}/issues/{number}#issuecomment-{id}"),
        "user": {"login": "switchyard-test[bot]", "type": "Bot"},
    }))
}

#[derive(Deserialize)]
struct PullBody {
    title: String,
    #[serde(default)]
    body: Option<String>,
    head: String,
    base: String,
}

fn pull_json(base_url: &str, p: &FakePull) -> Value {
    json!({
        "number": p.number,
        "html_url": format!("{base_url}/{}/pull/{}", p.repo, p.number),
        "state": p.state,
        "merged": p.merged,
        "title": p.title,
        "body": p.body,
        "head": {"ref": p.head},
        "base": {"ref": p.base},
    })
}

/// `POST /repos/{o}/{r}/pulls`: 422 when the head branch is missing or already has an
/// open pull request, as GitHub answers.
async fn create_pull(
    fake: web::Data<RepoFake>,
    app: web::Data<AppFake>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<PullBody>,
) -> HttpResponse {
    let (owner, name) = path.into_inner();
    let full_name = match fake.check_with(&app, &req, &owner, &name, &[("pull_requests", "write")])
    {
        Ok(f) => f,
        Err(refusal) => return *refusal,
    };
    if fake.branch_head(&full_name, &body.head).is_none()
        || fake.branch_head(&full_name, &body.base).is_none()
    {
        return rest_error(422, "Validation Failed");
    }
    let base_url = format!("http://{}", req.connection_info().host());
    let mut state = fake.lock();
    if state
        .pulls
        .iter()
        .any(|p| p.repo == full_name && p.head == body.head && p.state == "open")
    {
        return rest_error(422, "A pull request already exists");
    }
    let number = state.pulls.len() as i64 + 1;
    let pull = FakePull {
        number,
        repo: full_name,
        title: body.title.clone(),
        body: body.body.clone().unwrap_or_default(),
        head: body.head.clone(),
        base: body.base.clone(),
        state: "open".into(),
        merged: false,
        merge_method: None,
        merge_sha: None,
    };
    let answer = pull_json(&base_url, &pull);
    state.pulls.push(pull);
    HttpResponse::Created().json(answer)
}

#[derive(Deserialize)]
struct MergeBody {
    #[serde(default)]
    merge_method: Option<String>,
    #[serde(default)]
    commit_title: Option<String>,
}

/// `PUT /repos/{o}/{r}/pulls/{n}/merge`: merges in the bare repository.
async fn merge_pull(
    fake: web::Data<RepoFake>,
    app: web::Data<AppFake>,
    req: HttpRequest,
    path: web::Path<(String, String, i64)>,
    body: web::Json<MergeBody>,
) -> HttpResponse {
    let (owner, name, number) = path.into_inner();
    let full_name = match fake.check_with(&app, &req, &owner, &name, &[("contents", "write")]) {
        Ok(f) => f,
        Err(refusal) => return *refusal,
    };
    let method = body.merge_method.clone().unwrap_or_else(|| "merge".into());
    if !["merge", "squash", "rebase"].contains(&method.as_str()) {
        return rest_error(422, "Validation Failed");
    }
    let Some(pull) = fake
        .lock()
        .pulls
        .iter()
        .find(|p| p.repo == full_name && p.number == number)
        .cloned()
    else {
        return rest_error(404, "Not Found");
    };
    if pull.state != "open" {
        return rest_error(405, "Pull Request is not mergeable");
    }
    let title = body
        .commit_title
        .clone()
        .unwrap_or_else(|| pull.title.clone());
    let merged = merge_in_bare(&fake.bare_path(&full_name), &pull, &method, &title);
    let Ok(sha) = merged else {
        return rest_error(405, "Pull Request is not mergeable");
    };
    let mut state = fake.lock();
    if let Some(p) = state
        .pulls
        .iter_mut()
        .find(|p| p.repo == full_name && p.number == number)
    {
        p.state = "closed".into();
        p.merged = true;
        p.merge_method = Some(method);
        p.merge_sha = Some(sha.clone());
    }
    HttpResponse::Ok().json(json!({
        "sha": sha,
        "merged": true,
        "message": "Pull Request successfully merged",
    }))
}

/// Merges `head` into `base`: a two-parent merge commit (`merge`), or one commit with the
/// merged tree on top of the base (`squash`, and `rebase` as the fake's stand-in).
fn merge_in_bare(
    bare: &Path,
    pull: &FakePull,
    method: &str,
    title: &str,
) -> Result<String, git2::Error> {
    let repo = git2::Repository::open_bare(bare)?;
    let base = repo
        .find_branch(&pull.base, git2::BranchType::Local)?
        .get()
        .peel_to_commit()?;
    let head = repo
        .find_branch(&pull.head, git2::BranchType::Local)?
        .get()
        .peel_to_commit()?;
    let mut index = repo.merge_commits(&base, &head, None)?;
    if index.has_conflicts() {
        return Err(git2::Error::from_str("conflicts"));
    }
    let tree = repo.find_tree(index.write_tree_to(&repo)?)?;
    let sig = git2::Signature::now("GitHub", "noreply@github.com")?;
    let parents: Vec<&git2::Commit> = if method == "merge" {
        vec![&base, &head]
    } else {
        vec![&base]
    };
    let oid = repo.commit(
        Some(&format!("refs/heads/{}", pull.base)),
        &sig,
        &sig,
        title,
        &tree,
        &parents,
    )?;
    Ok(oid.to_string())
}

/// `GET /repos/{o}/{r}/branches`
async fn branches(
    fake: web::Data<RepoFake>,
    app: web::Data<AppFake>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (owner, name) = path.into_inner();
    let full_name = match fake.check(&app, &req, &owner, &name) {
        Ok(f) => f,
        Err(refusal) => return *refusal,
    };
    let Ok(repo) = git2::Repository::open_bare(fake.bare_path(&full_name)) else {
        return rest_error(404, "Not Found");
    };
    let mut list = Vec::new();
    if let Ok(branches) = repo.branches(Some(git2::BranchType::Local)) {
        for (branch, _) in branches.flatten() {
            let (Ok(Some(name)), Some(target)) = (branch.name(), branch.get().target()) else {
                continue;
            };
            list.push(json!({
                "name": name,
                "commit": {"sha": target.to_string()},
                "protected": false,
            }));
        }
    }
    HttpResponse::Ok().json(Value::Array(list))
}
