//! Tenant isolation, generated from the served OpenAPI document: every operation under
//! `/orgs/{org}` is aimed at org A's real resources by every kind of principal of org B
//! (people of each role, tokens of each scope), first through A's slug and then through
//! B's own, and must answer 404 without a trace of A's data. A route added to the API is
//! covered without editing this file; a route naming a resource the suite cannot build
//! fails loudly in [`kind_of`], the place to teach it.
//!
//! The walking of the document, the fixtures and the principals are shared with
//! `role_matrix`, which aims the same operations at an org's own resources.

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::approvals::{self, PendingApproval};
use shared::db::models::Organization;
use shared::db::schema::api_tokens;
use shared::domain::{MemberRole, TokenScope};
use shared::wire;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use uuid::Uuid;

use crate::helpers::{TestApp, json_as};

/// Where every org-scoped route starts.
pub const ORG_PREFIX: &str = "/api/v1/orgs/{org}";

/// A short random tag that makes names unique (and findable in a response body).
pub fn tag() -> String {
    Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// An api with rate limits off: these suites send hundreds of requests from one address
/// on purpose, and the limiter has its own tests.
pub async fn spawn_app() -> TestApp {
    TestApp::spawn_with(|s| s.rate_limit.enabled = false).await
}

/// The served OpenAPI document.
pub async fn document(app: &TestApp) -> Value {
    let res = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("GET /api/v1/openapi.json");
    json_as(res, StatusCode::OK).await
}

// ---------------------------------------------------------------------------------------
// The operations

/// One org-scoped operation of the document.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: Method,
    /// The path as the document spells it (`/api/v1/orgs/{org}/tasks/{id}`).
    pub template: String,
    /// The scope its security requirement declares.
    pub scope: TokenScope,
    /// The JSON request-body schema, if it takes one.
    pub body: Option<Value>,
    /// The path's resource parameters (everything but `{org}`), in order, with the kind
    /// of resource each names.
    pub params: Vec<(String, Kind)>,
}

impl Operation {
    /// `DELETE /api/v1/orgs/{org}/tasks/{id}`
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.template)
    }

    /// The kinds of resource the path names.
    pub fn kinds(&self) -> BTreeSet<Kind> {
        self.params.iter().map(|(_, kind)| *kind).collect()
    }

    /// Whether the path names a resource by a generated id (not only by a name the org
    /// chooses, such as a secret's).
    pub fn names_an_id(&self) -> bool {
        self.params.iter().any(|(_, kind)| kind.by_id())
    }

    /// The scope a caller needs for this operation on the resources the suites aim it
    /// at, which is the declared one except where the handler asks for more (see
    /// [`STRICTER`]).
    pub fn required_scope(&self) -> TokenScope {
        STRICTER
            .iter()
            .find(|(method, path, _)| self.method.as_str() == *method && self.template == *path)
            .map_or(self.scope, |(_, _, scope)| *scope)
    }
}

/// Operations whose handler checks a stricter scope than its extractor for the resources
/// the suites aim them at. Removing a member takes `read` when people remove themselves
/// (leaving) and `admin` for anyone else, which is what the suites do.
pub const STRICTER: &[(&str, &str, TokenScope)] = &[(
    "DELETE",
    "/api/v1/orgs/{org}/members/{user}",
    TokenScope::Admin,
)];

/// Operations only a signed-in person may call, whatever a token's scopes: an org API
/// token holding the scope gets 403 `person_required`. Asking for a GitHub install link
/// binds the link to the person who asked.
pub const PERSON_ONLY: &[(&str, &str)] = &[("GET", "/api/v1/orgs/{org}/github/install")];

impl Operation {
    /// Whether only a person may call it (see [`PERSON_ONLY`]).
    pub fn person_only(&self) -> bool {
        PERSON_ONLY
            .iter()
            .any(|(method, path)| self.method.as_str() == *method && self.template == *path)
    }
}

/// The scope an operation's security requirement declares, if exactly one.
pub fn declared_scope(op: &Value) -> Option<TokenScope> {
    let requirements = op["security"].as_array()?;
    let scopes: Vec<&str> = requirements
        .iter()
        .filter_map(|r| r["token"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match scopes.as_slice() {
        [one] => one.parse().ok(),
        _ => None,
    }
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

/// Every `(method, path, operation)` of the document under [`ORG_PREFIX`].
pub fn org_scoped(doc: &Value) -> Vec<(Method, String, &Value)> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut out = Vec::new();
    for (path, item) in paths {
        if !path.starts_with(ORG_PREFIX) {
            continue;
        }
        for method in METHODS {
            if let Some(op) = item.get(*method) {
                let method =
                    Method::from_bytes(method.to_uppercase().as_bytes()).expect("an HTTP method");
                out.push((method, path.clone(), op));
            }
        }
    }
    out
}

/// Every org-scoped operation, ready to send. Panics on an operation without a declared
/// scope (see `every_org_scoped_operation_declares_the_scope_it_requires`) or naming a
/// resource the suites cannot build (see [`kind_of`]).
pub fn org_operations(doc: &Value) -> Vec<Operation> {
    let ops: Vec<Operation> = org_scoped(doc)
        .into_iter()
        .map(|(method, template, op)| {
            let label = format!("{method} {template}");
            let scope = declared_scope(op)
                .unwrap_or_else(|| panic!("{label} declares no scope in its security requirement"));
            let body = op["requestBody"]["content"]["application/json"]["schema"].clone();
            let params = resource_params(&label, &template);
            Operation {
                method,
                template,
                scope,
                body: (!body.is_null()).then_some(body),
                params,
            }
        })
        .collect();
    assert!(
        ops.len() >= 10,
        "only {} org-scoped operations in the document: is it being read right?",
        ops.len()
    );
    ops
}

/// The `{param}`s of a path after `{org}`, each with the kind of resource it names.
fn resource_params(label: &str, template: &str) -> Vec<(String, Kind)> {
    let segments: Vec<&str> = template.split('/').collect();
    let mut out = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
            continue;
        };
        if param == "org" {
            continue;
        }
        let before = if i > 0 { segments[i - 1] } else { "" };
        out.push((param.to_owned(), kind_of(label, before, param)));
    }
    out
}

// ---------------------------------------------------------------------------------------
// The resources

/// A kind of org resource a path can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Project,
    /// The repository of the fixture's project.
    Repository,
    Task,
    Attempt,
    Process,
    Approval,
    Profile,
    Secret,
    Invitation,
    Token,
    Member,
}

impl Kind {
    /// Named by an id the server generated (rather than a name the org chose).
    fn by_id(self) -> bool {
        !matches!(self, Kind::Profile | Kind::Secret)
    }

    /// The kinds this one cannot exist without.
    fn needs(self) -> &'static [Kind] {
        match self {
            Kind::Task | Kind::Repository => &[Kind::Project],
            Kind::Attempt => &[Kind::Task],
            Kind::Process | Kind::Approval => &[Kind::Attempt],
            _ => &[],
        }
    }
}

/// The kind of resource `{param}` names, from the path segment before it. A route that
/// names something new fails here: add its kind, and build one in [`Fixture::create`].
pub fn kind_of(label: &str, segment: &str, param: &str) -> Kind {
    match (segment, param) {
        ("projects", "id") => Kind::Project,
        ("repositories", "id") => Kind::Repository,
        ("tasks", "id") => Kind::Task,
        ("attempts", "id") => Kind::Attempt,
        ("processes", "id") => Kind::Process,
        ("approvals", "approval_id") => Kind::Approval,
        ("executor-profiles", "name") => Kind::Profile,
        ("secrets", "name") => Kind::Secret,
        ("invitations", "id") => Kind::Invitation,
        ("tokens", "id") => Kind::Token,
        ("members", "user") => Kind::Member,
        _ => panic!(
            "{label}: the isolation and role-matrix suites do not know what `{{{param}}}` after \
             `/{segment}/` names; update the mapping in `kind_of` (api/tests/api/isolation.rs) \
             and build one in `Fixture::create`"
        ),
    }
}

/// The kinds in `kinds` and everything they need.
fn closure(kinds: &BTreeSet<Kind>) -> BTreeSet<Kind> {
    let mut all = kinds.clone();
    loop {
        let more: BTreeSet<Kind> = all
            .iter()
            .flat_map(|k| k.needs().iter().copied())
            .filter(|k| !all.contains(k))
            .collect();
        if more.is_empty() {
            return all;
        }
        all.extend(more);
    }
}

/// Real resources of one org, one of each kind asked for, made through the api (and
/// Redis for the approval, the database for the token and the membership, as a worker
/// and the token minting do).
pub struct Fixture {
    pub slug: String,
    values: BTreeMap<Kind, String>,
    /// Every id, name and secret value made: none may show in another org's answers.
    pub markers: Vec<String>,
}

impl Fixture {
    /// One of each kind in `kinds` (and what they need) in `org`, made with `token` (a
    /// token of `org` with every scope).
    pub async fn create(
        app: &TestApp,
        org: &Organization,
        token: &str,
        kinds: &BTreeSet<Kind>,
    ) -> Fixture {
        let kinds = closure(kinds);
        let mut fx = Fixture {
            slug: org.slug.clone(),
            values: BTreeMap::new(),
            markers: Vec::new(),
        };
        let t = tag();
        if kinds.contains(&Kind::Project) {
            let name = format!("proj-{t}");
            let repo = app.git_repo(&name);
            let project: wire::Project = fx
                .call(
                    app,
                    token,
                    Method::POST,
                    "projects",
                    Some(json!({
                    "name": name, "repository_url": repo.to_string_lossy() })),
                )
                .await;
            fx.record(Kind::Project, project.id.to_string(), &[&name]);
            let repository = project.repository.id.to_string();
            fx.record(Kind::Repository, repository, &[&project.repository.url]);
        }
        if kinds.contains(&Kind::Task) {
            let title = format!("task-{t}");
            let rel = format!("projects/{}/tasks", fx.value(Kind::Project));
            let task: wire::Task = fx
                .call(
                    app,
                    token,
                    Method::POST,
                    &rel,
                    Some(json!({ "title": title })),
                )
                .await;
            fx.record(Kind::Task, task.id.to_string(), &[&title]);
        }
        if kinds.contains(&Kind::Attempt) {
            let rel = format!("tasks/{}/attempts", fx.value(Kind::Task));
            let attempt: wire::Attempt = fx
                .call(
                    app,
                    token,
                    Method::POST,
                    &rel,
                    Some(json!({ "prompt": format!("echo {t}") })),
                )
                .await;
            fx.record(Kind::Attempt, attempt.id.to_string(), &[]);
            let rel = format!("attempts/{}/processes", attempt.id);
            let processes: wire::Page<wire::Process> =
                fx.call(app, token, Method::GET, &rel, None).await;
            let processes = processes.items;
            for p in &processes {
                fx.markers.push(p.id.to_string());
            }
            let process = processes.first().expect("a started attempt has a process");
            fx.values.insert(Kind::Process, process.id.to_string());
            if kinds.contains(&Kind::Approval) {
                let now = chrono::Utc::now();
                let pending = PendingApproval {
                    id: Uuid::new_v4(),
                    attempt_id: attempt.id,
                    process_id: process.id,
                    tool_name: "Bash".into(),
                    tool_call_id: Some(format!("toolu_{t}")),
                    input: json!({ "command": format!("rm -rf {t}") }),
                    requested_at: now,
                    expires_at: now + chrono::Duration::minutes(30),
                };
                let mut redis = app.redis().await;
                approvals::request(&mut redis, &app.keys, &pending)
                    .await
                    .expect("file an approval as a worker does");
                fx.record(Kind::Approval, pending.id.to_string(), &[]);
            }
        }
        if kinds.contains(&Kind::Profile) {
            let name = format!("prof-{t}");
            let options = json!({ "default": { "env": { "ISO_TAG": t } } });
            let _: wire::ExecutorProfile = fx
                .call(
                    app,
                    token,
                    Method::POST,
                    "executor-profiles",
                    Some(json!({
                    "name": name, "executor": "script", "variants": options })),
                )
                .await;
            if let Some(project) = fx.values.get(&Kind::Project).cloned() {
                // The project's own override of it, for the project-level profile routes.
                let rel = format!("projects/{project}/executor-profiles/{name}");
                let _: wire::ExecutorProfile = fx
                    .call(
                        app,
                        token,
                        Method::PUT,
                        &rel,
                        Some(json!({
                        "executor": "script", "variants": options })),
                    )
                    .await;
            }
            fx.record(Kind::Profile, name.clone(), &[&name]);
        }
        if kinds.contains(&Kind::Secret) {
            let name = format!("ISO_{}", t.to_uppercase());
            let value = format!("value-{t}");
            let rel = format!("secrets/{name}");
            let _: wire::SecretInfo = fx
                .call(
                    app,
                    token,
                    Method::PUT,
                    &rel,
                    Some(json!({ "value": value })),
                )
                .await;
            fx.record(Kind::Secret, name.clone(), &[&name, &value]);
        }
        if kinds.contains(&Kind::Invitation) {
            let login = format!("invitee-{t}");
            let created: Value = fx
                .call(
                    app,
                    token,
                    Method::POST,
                    "invitations",
                    Some(json!({
                    "github_login": login, "role": "member" })),
                )
                .await;
            let id = created["invitation"]["id"]
                .as_str()
                .expect("the invitation's id")
                .to_owned();
            let secret = created["token"].as_str().unwrap_or_default().to_owned();
            fx.record(Kind::Invitation, id, &[&login, &secret]);
        }
        if kinds.contains(&Kind::Token) {
            use diesel::prelude::*;
            use diesel_async::RunQueryDsl;
            let name = format!("tok-{t}");
            let secret =
                api::bootstrap::mint_token(&app.db, org.id, &name, &[TokenScope::Read], None)
                    .await
                    .expect("mint a token");
            let mut conn = app.db.system().await.expect("db connection");
            let id: Uuid = api_tokens::table
                .filter(api_tokens::org_id.eq(org.id))
                .filter(api_tokens::name.eq(&name))
                .select(api_tokens::id)
                .first(&mut conn)
                .await
                .expect("the minted token's id");
            fx.record(Kind::Token, id.to_string(), &[&name, &secret]);
        }
        if kinds.contains(&Kind::Member) {
            // A viewer, so changing their role or removing them needs no owner.
            let person = app.sign_in(&format!("member-{t}")).await;
            app.add_member(org.id, person.user_id, MemberRole::Viewer)
                .await;
            fx.record(Kind::Member, person.user_id.to_string(), &[&person.login]);
        }
        fx
    }

    /// The resource of `kind` (its id, or name for a profile or a secret).
    pub fn value(&self, kind: Kind) -> &str {
        self.values
            .get(&kind)
            .unwrap_or_else(|| panic!("the fixture has no {kind:?}"))
    }

    /// `op`'s path under the org `slug`, naming this fixture's resources.
    pub fn path(&self, op: &Operation, slug: &str) -> String {
        let mut path = op.template.replace("{org}", slug);
        for (param, kind) in &op.params {
            path = path.replace(&format!("{{{param}}}"), self.value(*kind));
        }
        path
    }

    fn record(&mut self, kind: Kind, value: String, names: &[&str]) {
        self.markers.push(value.clone());
        self.markers.extend(
            names
                .iter()
                .filter(|n| !n.is_empty())
                .map(|n| (*n).to_owned()),
        );
        self.values.insert(kind, value);
    }

    /// A setup request below this fixture's org, which must succeed.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        app: &TestApp,
        token: &str,
        method: Method,
        rel: &str,
        body: Option<Value>,
    ) -> T {
        let path = format!("/api/v1/orgs/{}/{rel}", self.slug);
        let mut req = app
            .client
            .request(method.clone(), app.url(&path))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("setup request");
        let status = res.status();
        let text = res.text().await.expect("setup response body");
        assert!(
            status.is_success(),
            "setting up the fixture, {method} {path} answered {status}: {text}"
        );
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("setting up the fixture, {method} {path}: {e}: {text}"))
    }
}

// ---------------------------------------------------------------------------------------
// The principals

/// Someone who sends requests: a person of some role or a token of some scopes.
pub struct Principal {
    pub label: String,
    pub bearer: String,
    pub scopes: Vec<TokenScope>,
    /// A signed-in person, not an org API token.
    pub person: bool,
}

impl Principal {
    /// Whether the principal may do what `scope` allows (`admin` allows everything).
    pub fn holds(&self, scope: TokenScope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&TokenScope::Admin)
    }
}

/// The roles of people in an org.
pub const ROLES: [MemberRole; 4] = [
    MemberRole::Owner,
    MemberRole::Admin,
    MemberRole::Member,
    MemberRole::Viewer,
];

/// A member of `org` in every role, then a token of `org` with each single scope.
pub async fn principals(app: &TestApp, org: &Organization) -> Vec<Principal> {
    let mut out = Vec::new();
    for role in ROLES {
        let person = app.sign_in(&format!("{}-{role}-{}", org.slug, tag())).await;
        app.add_member(org.id, person.user_id, role).await;
        out.push(Principal {
            label: format!("{} {role}", org.slug),
            bearer: person.access_token,
            scopes: role.scopes().to_vec(),
            person: true,
        });
    }
    for scope in TokenScope::ALL {
        let name = format!("{scope}-only");
        let secret = api::bootstrap::mint_token(&app.db, org.id, &name, &[*scope], None)
            .await
            .expect("mint a token");
        out.push(Principal {
            label: format!("{} token [{scope}]", org.slug),
            bearer: secret,
            scopes: vec![*scope],
            person: false,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------
// The requests

/// How the document lists some enums is not their wire form (it names the Rust variants,
/// `Owner`, where the wire says `owner`), and some bodies need values of this test's
/// world; both are set here, by schema name.
const ENUM_VALUES: &[(&str, &str)] = &[("MemberRole", "member"), ("TokenScope", "read")];

/// A minimal valid JSON value for `schema`: required properties only, the first enum
/// value, `"x"` for strings, a random uuid for uuids.
pub fn example(doc: &Value, schema: &Value) -> Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        if let Some((_, value)) = ENUM_VALUES.iter().find(|(n, _)| *n == name) {
            return json!(value);
        }
        let resolved = &doc["components"]["schemas"][name];
        assert!(!resolved.is_null(), "the document has no schema {name}");
        return example(doc, resolved);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema[key].as_array() {
            let option = options
                .iter()
                .find(|o| o["type"] != "null")
                .expect("a non-null option");
            return example(doc, option);
        }
    }
    if let Some(parts) = schema["allOf"].as_array() {
        let mut merged = serde_json::Map::new();
        for part in parts {
            if let Value::Object(fields) = example(doc, part) {
                merged.extend(fields);
            }
        }
        return Value::Object(merged);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    let ty = match &schema["type"] {
        Value::String(t) => t.as_str(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema["properties"].is_object() => "object",
        _ => "null",
    };
    match ty {
        "object" => {
            let mut out = serde_json::Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().expect("a property name");
                out.insert(name.to_owned(), example(doc, &schema["properties"][name]));
            }
            Value::Object(out)
        }
        "array" => json!([example(doc, &schema["items"])]),
        "string" => match schema["format"].as_str() {
            Some("uuid") => json!(Uuid::new_v4()),
            Some("date-time") => json!(chrono::Utc::now()),
            _ => json!("x"),
        },
        "integer" => json!(1),
        "number" => json!(1.0),
        "boolean" => json!(false),
        _ => Value::Null,
    }
}

/// A body for `op` sent into `org`: generated from its schema, except for the bodies
/// that must name things of this test's world to be valid (a repository on disk, a
/// person who has signed in, a known executor, a unique name).
pub async fn body_for(app: &TestApp, doc: &Value, op: &Operation) -> Option<Value> {
    let schema = op.body.as_ref()?;
    let name = schema["$ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_default();
    let t = tag();
    let options = json!({ "default": {} });
    Some(match name {
        "CreateProject" => {
            let repo = app.git_repo(&format!("body-{t}"));
            json!({ "name": format!("body-{t}"), "repository_url": repo.to_string_lossy() })
        }
        "CreateExecutorProfile" => {
            json!({ "name": format!("body-{t}"), "executor": "script", "variants": options })
        }
        "PutExecutorProfile" => json!({ "executor": "script", "variants": options }),
        "CreateInvitation" => json!({ "github_login": format!("body-{t}"), "role": "member" }),
        _ => example(doc, schema),
    })
}

/// What the server answered.
pub struct Answer {
    pub status: StatusCode,
    /// The error envelope's code, if the body is one.
    pub code: Option<String>,
    /// The body (empty for an event stream, which is not read).
    pub text: String,
}

impl Answer {
    /// The status and the start of the body, for failure messages.
    pub fn describe(&self) -> String {
        let mut text = self.text.clone();
        text.truncate(300);
        format!("{} {}", self.status, text)
    }
}

/// Sends `method path` as `bearer`, with `body` as JSON; an event stream's body is left
/// unread (it does not end).
pub async fn send(
    app: &TestApp,
    bearer: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    let mut req = app
        .client
        .request(method.clone(), app.url(path))
        .bearer_auth(bearer);
    if let Some(body) = body {
        req = req.json(body);
    }
    let res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = res.status();
    let streaming = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if streaming {
        return Answer {
            status,
            code: None,
            text: String::new(),
        };
    }
    let text = res.text().await.expect("response body");
    let code = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
    Answer { status, code, text }
}

// ---------------------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "multi_thread")]
async fn every_org_scoped_operation_declares_the_scope_it_requires() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let ops = org_scoped(&doc);
    assert!(!ops.is_empty(), "no org-scoped operations in the document");
    let missing: Vec<String> = ops
        .iter()
        .filter(|(_, _, op)| declared_scope(op).is_none())
        .map(|(method, path, op)| format!("{method} {path}: security {}", op["security"]))
        .collect();
    assert!(
        missing.is_empty(),
        "these operations must declare the one scope their `OrgAuth<...>` requires, as \
         `security((\"token\" = [\"read\"]))` (or write/runs/admin):\n{}",
        missing.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn another_orgs_principals_get_404_on_every_org_route_and_see_none_of_its_data() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let ops = org_operations(&doc);
    let kinds: BTreeSet<Kind> = ops.iter().flat_map(Operation::kinds).collect();
    let a = Fixture::create(&app, &app.org, &app.token, &kinds).await;

    let (b, b_token) = app.other_org("globex").await;
    let mut intruders = principals(&app, &b).await;
    intruders.push(Principal {
        label: "globex token [all]".into(),
        bearer: b_token,
        scopes: TokenScope::ALL.to_vec(),
        person: false,
    });

    let mut failures = Vec::new();
    let mut leaks = Vec::new();
    let (mut through_a, mut through_b) = (0usize, 0usize);
    for op in &ops {
        // Through A's slug: not a member of A, so A does not exist for them.
        let path = a.path(op, &a.slug);
        let body = body_for(&app, &doc, op).await;
        for who in &intruders {
            let answer = send(&app, &who.bearer, op.method.clone(), &path, body.as_ref()).await;
            through_a += 1;
            check_404(&mut failures, &mut leaks, &a, op, who, "A's slug", &answer);
        }
        // Through B's own slug, naming A's resources, for those B lets do this. A PUT
        // by name alone is an upsert of B's own resource of that name, not A's.
        if !op.names_an_id() && op.method == Method::PUT {
            continue;
        }
        if op.params.is_empty() {
            continue;
        }
        let path = a.path(op, &b.slug);
        for who in intruders.iter().filter(|p| p.holds(op.required_scope())) {
            let answer = send(&app, &who.bearer, op.method.clone(), &path, body.as_ref()).await;
            through_b += 1;
            check_404(&mut failures, &mut leaks, &a, op, who, "B's slug", &answer);
        }
    }
    // And B's attempts changed nothing: every resource of A still reads back for A.
    for op in ops
        .iter()
        .filter(|op| op.method == Method::GET && !op.params.is_empty())
    {
        let path = a.path(op, &a.slug);
        let answer = send(&app, &app.token, Method::GET, &path, None).await;
        if !answer.status.is_success() {
            failures.push(format!(
                "{} for A itself afterwards: {}",
                op.label(),
                answer.describe()
            ));
        }
    }
    let verdict = if failures.is_empty() && leaks.is_empty() {
        "all 404".to_owned()
    } else {
        format!("{} wrong, {} leaking", failures.len(), leaks.len())
    };
    eprintln!(
        "isolation: {} operations × {} principals = {} requests, {verdict} \
         (plus {} through B's own slug naming A's resources by principals holding the scope)",
        ops.len(),
        intruders.len(),
        through_a,
        through_b
    );
    assert!(
        leaks.is_empty(),
        "org A's data showed in org B's answers:\n{}",
        leaks.join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} of {} requests did not answer 404 not_found:\n{}",
        failures.len(),
        through_a + through_b,
        failures.join("\n")
    );
}

/// Records a non-404 answer, and any of A's data in the body.
fn check_404(
    failures: &mut Vec<String>,
    leaks: &mut Vec<String>,
    a: &Fixture,
    op: &Operation,
    who: &Principal,
    via: &str,
    answer: &Answer,
) {
    if answer.status != StatusCode::NOT_FOUND || answer.code.as_deref() != Some("not_found") {
        failures.push(format!(
            "{} through {via} as {}: {}",
            op.label(),
            who.label,
            answer.describe()
        ));
    }
    for marker in &a.markers {
        if answer.text.contains(marker.as_str()) {
            leaks.push(format!(
                "{} through {via} as {}: {marker:?} in {}",
                op.label(),
                who.label,
                answer.describe()
            ));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn another_orgs_event_stream_never_carries_this_orgs_events() {
    let app = spawn_app().await;
    let a_kinds = BTreeSet::from([Kind::Project, Kind::Process]);
    let a = Fixture::create(&app, &app.org, &app.token, &a_kinds).await;
    let (b, b_token) = app.other_org("globex").await;
    let viewer = app.sign_in("globex-watcher").await;
    app.add_member(b.id, viewer.user_id, MemberRole::Viewer)
        .await;

    let mut a_stream = open_events(&app, &app.org.slug, &app.token).await;
    let mut b_streams = vec![
        ("globex token", open_events(&app, &b.slug, &b_token).await),
        (
            "globex viewer",
            open_events(&app, &b.slug, &viewer.access_token).await,
        ),
    ];

    // Writes in A: a task created, changed and deleted; another task with an attempt.
    let mut a_ids = a.markers.clone();
    let project = a.value(Kind::Project).to_owned();
    let task = a_write(
        &app,
        Method::POST,
        format!("projects/{project}/tasks"),
        Some(json!({ "title": "doomed" })),
    )
    .await;
    let task_id = task["id"].as_str().expect("task id").to_owned();
    a_ids.push(task_id.clone());
    a_write(
        &app,
        Method::PATCH,
        format!("tasks/{task_id}"),
        Some(json!({ "title": "still doomed" })),
    )
    .await;
    a_write(&app, Method::DELETE, format!("tasks/{task_id}"), None).await;
    let other = a_write(
        &app,
        Method::POST,
        format!("projects/{project}/tasks"),
        Some(json!({ "title": "runs" })),
    )
    .await;
    let other_id = other["id"].as_str().expect("task id").to_owned();
    a_ids.push(other_id.clone());
    let attempt = a_write(
        &app,
        Method::POST,
        format!("tasks/{other_id}/attempts"),
        Some(json!({ "prompt": "echo hi" })),
    )
    .await;
    let attempt_id = attempt["id"].as_str().expect("attempt id").to_owned();
    a_ids.push(attempt_id.clone());
    let processes = a_write(
        &app,
        Method::GET,
        format!("attempts/{attempt_id}/processes"),
        None,
    )
    .await;
    for p in processes["items"].as_array().into_iter().flatten() {
        a_ids.push(p["id"].as_str().expect("process id").to_owned());
    }

    // A's own stream saw those writes, so B's streams had the chance to.
    let seen_by_a = read_until(&mut a_stream, &attempt_id).await;
    assert!(seen_by_a.contains(&task_id), "A's stream missed A's task");

    // Then a write in B, which B's streams must deliver, and nothing of A's before or after.
    let repo = app.git_repo("globex-repo");
    let answer = send(
        &app,
        &b_token,
        Method::POST,
        &format!("/api/v1/orgs/{}/projects", b.slug),
        Some(&json!({ "name": "Globex", "repository_url": repo.to_string_lossy() })),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.describe());
    let b_project: Value = serde_json::from_str(&answer.text).expect("project");
    let b_project_id = b_project["id"].as_str().expect("project id").to_owned();
    for (label, stream) in &mut b_streams {
        let mut text = read_until(stream, &b_project_id).await;
        // Anything straggling in just after.
        text.push_str(&read_for(stream, Duration::from_millis(300)).await);
        assert!(
            text.contains("project.created"),
            "{label}: B's stream did not deliver B's project.created: {text}"
        );
        for id in &a_ids {
            assert!(
                !text.contains(id.as_str()),
                "{label}: B's stream carried A's {id}: {text}"
            );
        }
    }

    // A's log and diff streams, through either slug, are not found for B.
    let mut intruders = principals(&app, &b).await;
    intruders.push(Principal {
        label: "globex token [all]".into(),
        bearer: b_token.clone(),
        scopes: TokenScope::ALL.to_vec(),
        person: false,
    });
    let process = a.value(Kind::Process);
    let attempt = a.value(Kind::Attempt);
    for slug in [&app.org.slug, &b.slug] {
        for rel in [
            format!("processes/{process}/logs/stream"),
            format!("attempts/{attempt}/diff/stream"),
        ] {
            let path = format!("/api/v1/orgs/{slug}/{rel}");
            // Through B's slug, a B principal without `read` is refused before any lookup.
            let callers = intruders
                .iter()
                .filter(|p| slug == &app.org.slug || p.holds(TokenScope::Read));
            for who in callers {
                let answer = send(&app, &who.bearer, Method::GET, &path, None).await;
                assert_eq!(
                    answer.status,
                    StatusCode::NOT_FOUND,
                    "GET {path} as {}: {}",
                    who.label,
                    answer.describe()
                );
            }
        }
    }
}

/// A write (or read) in org A with its full token, which must succeed; its JSON answer.
async fn a_write(app: &TestApp, method: Method, rel: String, body: Option<Value>) -> Value {
    let path = format!("/api/v1/orgs/{}/{rel}", app.org.slug);
    let answer = send(app, &app.token, method.clone(), &path, body.as_ref()).await;
    assert!(
        answer.status.is_success(),
        "{method} {path}: {}",
        answer.describe()
    );
    serde_json::from_str(&answer.text).unwrap_or(Value::Null)
}

/// An org event stream, opened.
type EventStream = futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>;

async fn open_events(app: &TestApp, slug: &str, bearer: &str) -> EventStream {
    let res = app
        .client
        .get(app.url(&format!("/api/v1/orgs/{slug}/events")))
        .bearer_auth(bearer)
        .header("accept", "text/event-stream")
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("open the event stream");
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "event stream of {slug} refused"
    );
    res.bytes_stream().boxed()
}

/// The stream's text until `needle` shows, failing after 10 s.
async fn read_until(stream: &mut EventStream, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while !text.contains(needle) {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(_) => panic!("the stream ended before {needle} showed: {text}"),
            Err(_) => panic!("{needle} did not show within 10 s: {text}"),
        }
    }
    text
}

/// Whatever the stream carries within `wait`.
async fn read_for(stream: &mut EventStream, wait: Duration) -> String {
    let deadline = tokio::time::Instant::now() + wait;
    let mut text = String::new();
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, stream.next()).await {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}
