//! Bad input, generated from the OpenAPI document: for every operation it describes, each
//! path parameter, each query parameter and the body are swapped, one at a time, for
//! hostile values: NUL, path traversal, SQL metacharacters, invalid UTF-8, unicode edge
//! cases, very long text; wrong JSON types, missing and unknown fields, numbers as floats
//! and out of range, strings past their documented limit, deep nesting, a body past the
//! size limit, the wrong content type. Every answer must be a 4xx (hostile but well-formed
//! text in a free-text query parameter may also be served), never a 5xx; its status must be
//! one the document lists for the operation, its body the error envelope with a known code;
//! and the database must read the same afterwards. Every failure is collected and
//! summarized before the test fails, so one run shows every problem.
//!
//! The second test stores hostile but valid text (right-to-left, emoji, combining marks,
//! SQL metacharacters, text at its documented limit) and reads it back byte for byte.

use diesel::QueryableByName;
use diesel::sql_types::Text;
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::domain::MemberRole;
use shared::wire;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

use crate::helpers::{Person, TestApp, json_as};

/// Probes in flight at once: enough to keep the api busy, few enough for a shared machine.
const CONCURRENCY: usize = 8;
/// How deep the deeply nested bodies go.
const NESTING: usize = 10_000;
/// An id no seeded resource has.
const UNKNOWN_ID: &str = "7f3c1e2a-5b4d-4c6e-8f90-1a2b3c4d5e6f";

/// Values for a path parameter, as they go into the URL (percent-encoded where the client
/// would otherwise rewrite them; no `%2e%2e`, which the client normalizes to `..`).
/// `uuid` ones are malformed only where a UUID is expected: they would be fine names.
fn hostile_path_values(uuid: bool) -> Vec<(&'static str, String)> {
    let mut values: Vec<(&'static str, String)> = vec![
        ("NUL", "%00".into()),
        ("NUL inside", "a%00b".into()),
        ("traversal", "..%2f..%2f..%2fetc%2fpasswd".into()),
        ("backslash traversal", "..%5c..%5cwindows%5cwin.ini".into()),
        ("encoded slash", "a%2fb".into()),
        ("SQL", "%27%20OR%201%3D1--".into()),
        ("SQL statement", "1%3B%20DROP%20TABLE%20tasks%3B--".into()),
        ("uuid in braces", format!("%7B{UNKNOWN_ID}%7D")),
        ("invalid UTF-8", "%ff%fe".into()),
        ("UTF-8 surrogate", "%ed%a0%80".into()),
        ("overlong slash", "%c0%af".into()),
        ("RTL override", "%E2%80%AEabc".into()),
        ("byte order mark", "%EF%BB%BFabc".into()),
        ("emoji", "%F0%9F%98%80".into()),
        ("CRLF", "a%0d%0aSet-Cookie:%20x=y".into()),
        ("blank", "%20".into()),
        ("percent sign", "%25".into()),
        ("broken escape", "%zz".into()),
        ("very long", "a".repeat(8_000)),
        ("very long multibyte", "%C3%A9".repeat(1_000)),
    ];
    if uuid {
        values.extend([
            ("not a uuid", "not-a-uuid".into()),
            ("a number", "12345".into()),
            ("nil uuid", "00000000-0000-0000-0000-000000000000".into()),
        ]);
    }
    values
}

/// Values for a query parameter. `true`: malformed whatever the parameter's type (must be
/// refused); `false`: well-formed text a free-text parameter may take.
fn hostile_query_values() -> Vec<(&'static str, String, bool)> {
    vec![
        ("NUL", "%00".into(), true),
        ("NUL inside", "a%00b".into(), true),
        ("invalid UTF-8", "%ff%fe".into(), true),
        ("UTF-8 surrogate", "%ed%a0%80".into(), true),
        ("traversal", "..%2f..%2f..%2fetc%2fpasswd".into(), false),
        ("SQL", "%27%20OR%201%3D1--".into(), false),
        (
            "SQL statement",
            "1%3B%20DROP%20TABLE%20tasks%3B--".into(),
            false,
        ),
        ("RTL override", "%E2%80%AEabc".into(), false),
        ("emoji", "%F0%9F%98%80".into(), false),
        ("CRLF", "a%0d%0aSet-Cookie:%20x=y".into(), false),
        ("very long", "a".repeat(8_000), false),
    ]
}

/// Values malformed for a query parameter of a given type.
fn wrong_query_values(schema: &Value) -> Vec<(&'static str, String)> {
    let mut values: Vec<(&'static str, String)> = Vec::new();
    let types = types_of(schema);
    if types.contains(&"integer") {
        values.extend(
            [
                ("not a number", "abc"),
                ("a float", "1.5"),
                ("an exponent", "1e3"),
                ("past i64", "9223372036854775808"),
                ("past -i64", "-9223372036854775809"),
            ]
            .map(|(what, value)| (what, value.to_owned())),
        );
    }
    if let Some(min) = schema.get("minimum").and_then(Value::as_i64) {
        values.push(("below its minimum", (min - 1).to_string()));
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_i64) {
        values.push(("above its maximum", (max + 1).to_string()));
    }
    if types.contains(&"boolean") {
        values.push(("not a boolean", "maybe".to_owned()));
    }
    if schema.get("enum").is_some() {
        values.push(("not one of the values", "not-a-value".to_owned()));
    }
    if schema.get("format").and_then(Value::as_str) == Some("uuid") {
        values.push(("not a uuid", "not-a-uuid".to_owned()));
    }
    values
}

/// Values malformed for a header parameter of a given type.
fn wrong_header_values(schema: &Value) -> Vec<(&'static str, Vec<u8>)> {
    let mut values: Vec<(&'static str, Vec<u8>)> = vec![("not ASCII", b"\xff\xfe".to_vec())];
    if types_of(schema).contains(&"integer") {
        values.extend([
            ("not a number", b"abc".to_vec()),
            ("a float", b"1.5".to_vec()),
            ("past u64", b"99999999999999999999".to_vec()),
            ("negative", b"-1".to_vec()),
        ]);
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
        values.push(("one past maxLength", vec![b'k'; max as usize + 1]));
    }
    if schema
        .get("minLength")
        .and_then(Value::as_u64)
        .is_some_and(|min| min > 0)
    {
        values.push(("empty", Vec::new()));
    }
    values
}

/// Body fields whose value becomes a path, a git ref or a command argument.
const PATH_LIKE_FIELDS: &[&str] = &["repository_url", "default_branch", "base_branch"];

/// Values for a path-like body field.
const HOSTILE_PATH_TEXT: &[(&str, &str)] = &[
    ("traversal", "../../../../etc/passwd"),
    ("backslash traversal", "..\\..\\..\\windows\\win.ini"),
    ("ref traversal", "refs/heads/../../../config"),
    (
        "option injection",
        "--upload-pack=touch /tmp/switchyard-pwned",
    ),
    ("newline", "main\nmain"),
];

/// One request of the corpus, and what its answer may be.
struct Probe {
    /// What is tried, for the summary.
    kind: &'static str,
    /// `GET /api/v1/orgs/{org}/tasks/{id}`.
    operation: String,
    /// Where and what, e.g. `id = NUL`.
    detail: String,
    method: Method,
    /// Below the server's base URL, already percent-encoded.
    target: String,
    bearer: Option<String>,
    /// A header parameter's name and raw value.
    header: Option<(String, Vec<u8>)>,
    body: Option<Body>,
    /// Malformed, so it must be refused with a 4xx (otherwise a 2xx or 3xx is fine too).
    must_refuse: bool,
    /// The statuses the document lists for the operation.
    documented: BTreeSet<u16>,
}

struct Body {
    content_type: Option<&'static str>,
    bytes: Vec<u8>,
    /// Sent as a stream, without `Content-Length`.
    chunked: bool,
}

impl Body {
    fn json(bytes: impl Into<Vec<u8>>) -> Body {
        Body {
            content_type: Some("application/json"),
            bytes: bytes.into(),
            chunked: false,
        }
    }
}

/// A seeded org with one of each resource, so every path parameter can name a real one.
struct World {
    app: TestApp,
    /// Owner of the org: person-only routes, and `{org}` as a person.
    owner: Person,
    /// Sent to the routes without security (signing out would end its session, not the
    /// owner's).
    bystander: Person,
    project: wire::Project,
    task: wire::Task,
    attempt: wire::Attempt,
    token_id: Uuid,
    /// The secret of token `token_id`, which has the `read` scope only.
    read_token: String,
    /// A full-scope token of another org.
    other_org_token: String,
    invitation_id: Uuid,
    repository_id: Uuid,
}

const SECRET_NAME: &str = "PROBE_SECRET";
const PROFILE_NAME: &str = "probe-profile";

impl World {
    async fn seed() -> World {
        let app = TestApp::spawn_with(|s| s.rate_limit.enabled = false).await;
        let owner = app.sign_in("probe-owner").await;
        app.add_member(app.org.id, owner.user_id, MemberRole::Owner)
            .await;
        let bystander = app.sign_in("probe-bystander").await;
        let project = app.create_project("Probe", None).await;
        let task = app.create_task(project.id, "Probe task").await;
        let attempt = app.start_attempt(task.id, "echo probe").await;
        let created = app
            .post(
                &format!("tasks/{}/comments", task.id),
                &json!({"body": "probe comment"}),
            )
            .await;
        let _: wire::Comment = json_as(created, StatusCode::CREATED).await;
        let token: wire::CreatedApiToken = json_as(
            app.post("tokens", &json!({"name": "probe", "scopes": ["read"]}))
                .await,
            StatusCode::CREATED,
        )
        .await;
        let invitation: wire::CreatedInvitation = json_as(
            app.post(
                "invitations",
                &json!({"github_login": "probe-invitee", "role": "member"}),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        let secret = app
            .request(Method::PUT, &format!("secrets/{SECRET_NAME}"))
            .json(&json!({"value": "probe"}))
            .send()
            .await
            .expect("PUT secret");
        assert!(secret.status().is_success(), "{}", secret.status());
        let profile =
            json!({"name": PROFILE_NAME, "executor": "script", "variants": {"default": {}}});
        let created = app.post("executor-profiles", &profile).await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let put = app
            .request(
                Method::PUT,
                &format!("projects/{}/executor-profiles/{PROFILE_NAME}", project.id),
            )
            .json(&json!({"executor": "script", "variants": {"default": {}}}))
            .send()
            .await
            .expect("PUT project profile");
        assert!(put.status().is_success(), "{}", put.status());
        let repositories: wire::Page<wire::OrgRepository> =
            json_as(app.get("repositories").await, StatusCode::OK).await;
        let repository_id = repositories.items.first().expect("a repository").id;
        let (_, other_org_token) = app.other_org("probe-other").await;
        World {
            read_token: token.token.clone(),
            other_org_token,
            owner,
            bystander,
            project,
            task,
            attempt,
            token_id: token.api_token.id,
            invitation_id: invitation.invitation.id,
            repository_id,
            app,
        }
    }

    /// The seeded value of path parameter `param` of `path`.
    fn path_value(&self, path: &str, param: &str) -> String {
        let before = path
            .split(&format!("/{{{param}}}"))
            .next()
            .and_then(|head| head.rsplit('/').next())
            .unwrap_or_default();
        match (param, before) {
            ("org", _) => self.app.org.slug.clone(),
            ("user", _) => self.owner.user_id.to_string(),
            ("name", "secrets") => SECRET_NAME.into(),
            ("name", "executor-profiles") => PROFILE_NAME.into(),
            ("approval_id", _) => UNKNOWN_ID.into(),
            ("id", "projects") => self.project.id.to_string(),
            ("id", "tasks") => self.task.id.to_string(),
            ("id", "attempts") => self.attempt.id.to_string(),
            ("id", "processes") => UNKNOWN_ID.into(),
            ("id", "tokens") => self.token_id.to_string(),
            ("id", "invitations") => self.invitation_id.to_string(),
            ("id", "repositories") => self.repository_id.to_string(),
            _ => panic!("no seeded value for {{{param}}} of {path}: add one to path_value"),
        }
    }

    /// The credential a route is probed with: the org token below `/orgs/{org}`, the
    /// owner on the other secured routes, the bystander on the open ones.
    fn bearer(&self, path: &str, operation: &Value) -> String {
        if path.starts_with("/api/v1/orgs/{org}") {
            self.app.token.clone()
        } else if operation
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(|s| !s.is_empty())
        {
            self.owner.access_token.clone()
        } else {
            self.bystander.access_token.clone()
        }
    }

    /// Credentials a secured operation must refuse (none, a read-only token where more is
    /// needed, another org's, an outsider's, an org token on a route for people), each
    /// with an otherwise valid request.
    fn wrong_credentials(
        &self,
        path: &str,
        operation: &Value,
    ) -> Vec<(&'static str, Option<String>)> {
        let Some(scopes) = operation
            .get("security")
            .and_then(Value::as_array)
            .and_then(|s| s.first())
            .and_then(|s| s["token"].as_array())
        else {
            return Vec::new();
        };
        let mut wrong = vec![("none", None)];
        if path.starts_with("/api/v1/orgs/{org}") {
            wrong.push(("another org's token", Some(self.other_org_token.clone())));
            wrong.push((
                "a person not in the org",
                Some(self.bystander.access_token.clone()),
            ));
            if !scopes.iter().any(|s| s == "read") {
                wrong.push(("a read-only token", Some(self.read_token.clone())));
            }
        } else {
            wrong.push(("an org API token", Some(self.app.token.clone())));
        }
        wrong
    }

    /// A body the operation would take (the schema's required fields with plausible
    /// values, and real ones where a made-up one would be refused first), so each probe
    /// breaks one thing only.
    fn base_body(&self, doc: &Value, method: &str, path: &str, schema: &Value) -> Value {
        let mut body = sample(doc, schema);
        let real = match (method, path) {
            ("post", "/api/v1/orgs/{org}/projects") => {
                let repo = self.app.git_repo("probe-base");
                json!({"name": "Probe base", "repository_url": repo.to_string_lossy()})
            }
            ("post", "/api/v1/orgs/{org}/executor-profiles")
            | ("put", "/api/v1/orgs/{org}/projects/{id}/executor-profiles/{name}") => {
                json!({"executor": "script", "variants": {"default": {}}})
            }
            ("patch", "/api/v1/orgs/{org}/executor-profiles/{name}") => {
                json!({"executor": "script"})
            }
            ("post", "/api/v1/orgs") => json!({"slug": "probe-base", "name": "Probe base"}),
            ("post", "/api/v1/orgs/{org}/invitations") => {
                json!({"github_login": "probe-base", "role": "member"})
            }
            ("post", "/api/v1/orgs/{org}/tokens") => json!({"name": "probe", "scopes": ["read"]}),
            _ => json!({}),
        };
        if let (Some(body), Some(real)) = (body.as_object_mut(), real.as_object()) {
            for (key, value) in real {
                body.insert(key.clone(), value.clone());
            }
        }
        body
    }
}

/// Follows `$ref`s.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(
                doc,
                doc.pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling {reference}")),
            )
        }
        None => schema,
    }
}

/// The JSON types a schema names (`type` is a string or, in OpenAPI 3.1, a list).
fn types_of(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn is_null_schema(schema: &Value) -> bool {
    types_of(schema) == ["null"]
}

/// A field's schema with references followed and `Option`'s `oneOf [null, T]` unwrapped,
/// and whether it takes `null`.
fn field_shape<'a>(doc: &'a Value, schema: &'a Value) -> (&'a Value, bool) {
    let schema = resolve(doc, schema);
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let nullable = branches.iter().any(is_null_schema);
            if let Some(branch) = branches.iter().find(|b| !is_null_schema(b)) {
                let (inner, inner_nullable) = field_shape(doc, branch);
                return (inner, nullable || inner_nullable);
            }
        }
    }
    (schema, types_of(schema).contains(&"null"))
}

/// A plausible value for a schema.
fn sample(doc: &Value, schema: &Value) -> Value {
    let (schema, _) = field_shape(doc, schema);
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    let types = types_of(schema);
    let format = schema.get("format").and_then(Value::as_str);
    if types.contains(&"object") || schema.get("properties").is_some() {
        let mut object = serde_json::Map::new();
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in required_of(schema) {
            if let Some(field) = properties.and_then(|p| p.get(name)) {
                object.insert(name.to_owned(), sample(doc, field));
            }
        }
        Value::Object(object)
    } else if types.contains(&"string") {
        match format {
            Some("uuid") => json!(UNKNOWN_ID),
            Some("date-time") => json!("2030-01-01T00:00:00Z"),
            _ => json!("probe"),
        }
    } else if types.contains(&"integer") {
        json!(1)
    } else if types.contains(&"number") {
        json!(1.0)
    } else if types.contains(&"boolean") {
        json!(false)
    } else if types.contains(&"array") {
        json!([])
    } else {
        json!({})
    }
}

fn required_of(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `base` with `key` set to raw JSON text (numbers a `Value` cannot hold).
fn with_raw(base: &Value, key: &str, raw: &str) -> Vec<u8> {
    const MARK: &str = "@@probe-raw@@";
    let mut body = base.clone();
    body[key] = json!(MARK);
    body.to_string()
        .replacen(&format!("\"{MARK}\""), raw, 1)
        .into_bytes()
}

/// JSON of `depth` nested arrays.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// The probes of one operation's body.
fn body_probes(
    doc: &Value,
    schema: &Value,
    base: &Value,
    optional: bool,
    limit: usize,
) -> Vec<(&'static str, String, Body)> {
    let mut probes: Vec<(&'static str, String, Body)> = Vec::new();
    let mut add = |kind: &'static str, detail: String, body: Body| {
        probes.push((kind, detail, body));
    };
    let text = base.to_string();
    if !optional {
        add("body: shape", "empty".into(), Body::json(""));
    }
    for (detail, bytes) in [
        ("null", "null".to_owned()),
        ("an array", "[]".to_owned()),
        ("a string", "\"probe\"".to_owned()),
        ("a number", "42".to_owned()),
        ("truncated", text[..text.len() - 1].to_owned()),
        ("trailing garbage", format!("{text}}}")),
        ("nested 10,000 deep", nested(NESTING)),
    ] {
        add("body: shape", detail.into(), Body::json(bytes));
    }
    for content_type in [
        Some("text/plain"),
        None,
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
    ] {
        add(
            "body: content type",
            content_type.unwrap_or("no content type").to_owned(),
            Body {
                content_type,
                ..Body::json(text.clone())
            },
        );
    }
    // One byte past the limit, whole (a Content-Length) and streamed.
    let pad = limit + 1 - "{\"padding\":\"\"}".len();
    let oversized = format!("{{\"padding\":\"{}\"}}", "x".repeat(pad));
    assert_eq!(oversized.len(), limit + 1);
    add(
        "body: too large",
        "Content-Length one byte past the limit".into(),
        Body::json(oversized.clone()),
    );
    add(
        "body: too large",
        "streamed one byte past the limit".into(),
        Body {
            chunked: true,
            ..Body::json(oversized)
        },
    );

    let (schema, _) = field_shape(doc, schema);
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return probes;
    };
    let required = required_of(schema);
    if let Some((key, value)) = base.as_object().and_then(|o| o.iter().next()) {
        // `{"k":v,"k":v,...}`: the base's first member again, in front.
        add(
            "body: shape",
            format!("{key} twice"),
            Body::json(format!("{{{}:{value},{}", json!(key), &text[1..])),
        );
    }
    let mut extra = base.clone();
    extra["probe_unknown_field"] = json!("x");
    add(
        "body: unknown field",
        "probe_unknown_field".into(),
        Body::json(extra.to_string()),
    );
    for name in &required {
        let mut missing = base.clone();
        if let Some(object) = missing.as_object_mut() {
            object.remove(*name);
        }
        add(
            "body: missing field",
            (*name).to_owned(),
            Body::json(missing.to_string()),
        );
    }
    for (name, field) in properties {
        let (field, nullable) = field_shape(doc, field);
        let types = types_of(field);
        let format = field.get("format").and_then(Value::as_str);
        let is_enum = field.get("enum").is_some();
        let mut set = |kind: &'static str, what: &str, raw: String| {
            add(
                kind,
                format!("{name} = {what}"),
                Body::json(with_raw(base, name, &raw)),
            );
        };
        if types.is_empty() && field.get("properties").is_none() {
            // Any JSON value (a free-form object such as a profile's variants).
            continue;
        }
        let wrong = [
            ("a number", "12345", ["integer", "number"].as_slice()),
            ("a string", "\"probe\"", ["string"].as_slice()),
            ("a boolean", "true", ["boolean"].as_slice()),
            ("an array", "[\"probe\"]", ["array"].as_slice()),
            ("an object", "{\"probe\":1}", ["object"].as_slice()),
        ];
        for (what, raw, its_types) in wrong {
            let object_like = field.get("properties").is_some() && its_types == ["object"];
            if !its_types.iter().any(|t| types.contains(t)) && !object_like {
                set("body: wrong type", what, raw.to_owned());
            }
        }
        if !nullable {
            set("body: wrong type", "null", "null".to_owned());
        }
        if is_enum {
            set(
                "body: wrong type",
                "not one of the values",
                "\"not-a-value\"".to_owned(),
            );
        }
        match format {
            Some("uuid") => set(
                "body: wrong type",
                "not a uuid",
                "\"not-a-uuid\"".to_owned(),
            ),
            Some("date-time") => set("body: wrong type", "not a date", "\"yesterday\"".to_owned()),
            _ => {}
        }
        if types.contains(&"integer") {
            for (what, raw) in [
                ("a float", "1.5"),
                ("an exponent", "1e3"),
                ("past i64", "9223372036854775808"),
                ("past -i64", "-9223372036854775809"),
                ("past f64", "1e400"),
            ] {
                set("body: number", what, raw.to_owned());
            }
            if format == Some("int32") {
                set("body: number", "past i32", "2147483648".to_owned());
            }
            if let Some(min) = field.get("minimum").and_then(Value::as_i64) {
                set("body: number", "below its minimum", (min - 1).to_string());
            }
            if let Some(max) = field.get("maximum").and_then(Value::as_i64) {
                set("body: number", "above its maximum", (max + 1).to_string());
            }
        } else if types.contains(&"number") {
            set("body: number", "past f64", "1e400".to_owned());
        }
        if types.contains(&"string") && !is_enum && format.is_none_or(|f| f == "password") {
            set("body: NUL", "NUL", "\"a\\u0000b\"".to_owned());
            set("body: encoding", "lone surrogate", "\"\\ud800\"".to_owned());
            if let Some(max) = field.get("maxLength").and_then(Value::as_u64) {
                let long = "x".repeat(max as usize + 1);
                set(
                    "body: too long",
                    "one past maxLength",
                    json!(long).to_string(),
                );
            }
            if PATH_LIKE_FIELDS.contains(&name.as_str()) {
                for (what, value) in HOSTILE_PATH_TEXT {
                    set("body: path-like", what, json!(value).to_string());
                }
            }
        }
        if types.contains(&"array") {
            let items = field.get("items").map(|i| field_shape(doc, i).0);
            if items.is_some_and(|i| types_of(i).contains(&"string")) {
                set(
                    "body: wrong type",
                    "an array of numbers",
                    "[12345]".to_owned(),
                );
                set("body: NUL", "NUL in an item", "[\"a\\u0000b\"]".to_owned());
            }
            if let Some(max) = field.get("maxItems").and_then(Value::as_u64) {
                // Distinct, so no deduplication brings them under the limit.
                let uuids = items.is_some_and(|i| i["format"] == "uuid");
                let many: Vec<Value> = (0..=max)
                    .map(|i| match uuids {
                        true => json!(Uuid::new_v4()),
                        false => json!(format!("probe-{i}")),
                    })
                    .collect();
                set(
                    "body: too long",
                    "one item past maxItems",
                    json!(many).to_string(),
                );
            }
        }
        let current = base
            .get(name.as_str())
            .cloned()
            .unwrap_or_else(|| sample(doc, field));
        for (what, value) in inner_breakages(doc, field, &current) {
            set("body: nested", &what, value.to_string());
        }
        set("body: nesting", "nested 10,000 deep", nested(NESTING));
    }
    // Invalid UTF-8 inside a string of the body (needs a string field to hide it in).
    if let Some((name, _)) = properties.iter().find(|(name, field)| {
        let (field, _) = field_shape(doc, field);
        types_of(field).contains(&"string") && base.get(name.as_str()).is_some()
    }) {
        let mut bytes = with_raw(base, name, "\"@@bad@@\"");
        let at = bytes
            .windows(7)
            .position(|w| w == b"@@bad@@")
            .expect("marker");
        bytes.splice(at..at + 7, [0xff, 0xfe, b'x']);
        add(
            "body: encoding",
            format!("{name} = invalid UTF-8"),
            Body::json(bytes),
        );
    }
    probes
}

/// Values for an object-valued field (a nested object, or a map of them) that break one
/// thing inside it: an unknown member, a member of the wrong type, NUL in a text member.
fn inner_breakages(doc: &Value, field: &Value, current: &Value) -> Vec<(String, Value)> {
    let (inner, key) = match field.get("additionalProperties").filter(|a| a.is_object()) {
        Some(values) => {
            let key = current
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_else(|| "default".to_owned());
            (field_shape(doc, values).0, Some(key))
        }
        None => (field, None),
    };
    let Some(members) = inner.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let inner_base = match &key {
        Some(key) => current
            .get(key)
            .cloned()
            .unwrap_or_else(|| sample(doc, inner)),
        None => current.clone(),
    };
    let wrap = |value: Value| match &key {
        Some(key) => {
            let mut map = current.clone();
            map[key.as_str()] = value;
            map
        }
        None => value,
    };
    let mut out = Vec::new();
    let mut unknown = inner_base.clone();
    unknown["probe_unknown_field"] = json!(1);
    out.push(("an unknown member inside".to_owned(), wrap(unknown)));
    for (name, member) in members {
        let (member, _) = field_shape(doc, member);
        let text = types_of(member).contains(&"string");
        let mut wrong = inner_base.clone();
        wrong[name.as_str()] = if text { json!(12345) } else { json!("probe") };
        out.push((format!("{name} inside of the wrong type"), wrap(wrong)));
        if text && member.get("enum").is_none() {
            let mut nul = inner_base.clone();
            nul[name.as_str()] = json!("a\u{0}b");
            out.push((format!("{name} inside = NUL"), wrap(nul)));
        }
    }
    out
}

/// Every probe of the corpus, and what is wrong in the document itself (a path parameter
/// the path does not have, or the other way round).
fn corpus(world: &World, doc: &Value) -> (Vec<Probe>, Vec<Failure>) {
    let limit = world.app.env.settings.api.max_body_bytes;
    let mut probes = Vec::new();
    let mut problems = Vec::new();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method_name, operation) in item.as_object().expect("path item") {
            let method = Method::from_bytes(method_name.to_uppercase().as_bytes()).expect("method");
            let documented: BTreeSet<u16> = operation["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .filter_map(|s| s.parse().ok())
                .collect();
            let name = format!("{} {path}", method.as_str());
            let parameters: Vec<&Value> = operation
                .get("parameters")
                .and_then(Value::as_array)
                .map(|p| p.iter().map(|p| resolve(doc, p)).collect())
                .unwrap_or_default();
            let path_params: Vec<&str> = parameters
                .iter()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            let in_template: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            // The URL check and the rate limit answer on every operation below /api/.
            for status in [400, 429] {
                if path.starts_with("/api/") && !documented.contains(&status) {
                    problems.push(Failure {
                        problem: "an answer every operation can give is not listed",
                        probe_kind: "document",
                        line: format!("{name}: no {status}"),
                    });
                }
            }
            if in_template != path_params.iter().copied().collect() {
                problems.push(Failure {
                    problem: "path parameters unlike the path",
                    probe_kind: "document",
                    line: format!("{name}: declares {path_params:?}"),
                });
                continue;
            }
            let fill = |swap: Option<(&str, &str)>| -> String {
                let mut url = path.clone();
                for param in &path_params {
                    let value = match swap {
                        Some((swapped, value)) if swapped == *param => value.to_owned(),
                        _ => world.path_value(path, param),
                    };
                    url = url.replace(&format!("{{{param}}}"), &value);
                }
                url
            };
            let body_schema = operation
                .pointer("/requestBody/content/application~1json/schema")
                .cloned();
            let base = body_schema
                .as_ref()
                .map(|s| world.base_body(doc, method_name, path, s));
            let base_body = || base.as_ref().map(|b| Body::json(b.to_string()));
            let bearer = world.bearer(path, operation);
            let probe =
                |kind, detail: String, target: String, bearer: &String, body, must_refuse| Probe {
                    kind,
                    operation: name.clone(),
                    detail,
                    method: method.clone(),
                    target,
                    bearer: Some(bearer.clone()),
                    header: None,
                    body,
                    must_refuse,
                    documented: documented.clone(),
                };

            probes.extend(world.wrong_credentials(path, operation).into_iter().map(
                |(what, wrong)| Probe {
                    bearer: wrong,
                    ..probe(
                        "credentials",
                        what.to_owned(),
                        fill(None),
                        &bearer,
                        base_body(),
                        true,
                    )
                },
            ));

            for param in &path_params {
                let is_uuid = parameters.iter().any(|p| {
                    p["in"] == "path"
                        && p["name"] == *param
                        && p.get("schema").is_some_and(|s| s["format"] == "uuid")
                });
                // An org is looked up differently for a person (by membership) than for
                // its token, so `{org}` is tried as both.
                let mut as_whom = vec![("", bearer.clone())];
                if *param == "org" {
                    as_whom.push((" (as a person)", world.owner.access_token.clone()));
                }
                for (whom, bearer) in &as_whom {
                    for (what, value) in hostile_path_values(is_uuid) {
                        probes.push(probe(
                            "path parameter",
                            format!("{param} = {what}{whom}"),
                            fill(Some((param, &value))),
                            bearer,
                            base_body(),
                            true,
                        ));
                    }
                }
            }

            let target = fill(None);
            for param in parameters.iter().filter(|p| p["in"] == "query") {
                let param_name = param["name"].as_str().expect("name");
                let schema = param.get("schema").map(|s| field_shape(doc, s).0);
                let free_text = schema.is_some_and(|s| {
                    types_of(s).contains(&"string")
                        && s.get("enum").is_none()
                        && s.get("format").is_none()
                });
                let mut values: Vec<(String, String, bool)> = hostile_query_values()
                    .into_iter()
                    .map(|(what, value, malformed)| {
                        (what.to_owned(), value, malformed || !free_text)
                    })
                    .collect();
                if let Some(schema) = schema {
                    values.extend(
                        wrong_query_values(schema)
                            .into_iter()
                            .map(|(what, value)| (what.to_owned(), value, true)),
                    );
                }
                for (what, value, must_refuse) in values {
                    probes.push(probe(
                        "query parameter",
                        format!("{param_name} = {what}"),
                        format!("{target}?{param_name}={value}"),
                        &bearer,
                        base_body(),
                        must_refuse,
                    ));
                }
                probes.push(probe(
                    "query parameter",
                    format!("{param_name} twice"),
                    format!("{target}?{param_name}=1&{param_name}=2"),
                    &bearer,
                    base_body(),
                    true,
                ));
            }

            for param in parameters.iter().filter(|p| p["in"] == "header") {
                let header = param["name"].as_str().expect("name").to_owned();
                let schema = param.get("schema").map(|s| field_shape(doc, s).0);
                for (what, value) in schema.map(wrong_header_values).unwrap_or_default() {
                    let mut probe = probe(
                        "header parameter",
                        format!("{header} = {what}"),
                        target.clone(),
                        &bearer,
                        base_body(),
                        true,
                    );
                    probe.header = Some((header.clone(), value));
                    probes.push(probe);
                }
            }

            if let (Some(schema), Some(base)) = (&body_schema, &base) {
                let optional = operation.pointer("/requestBody/required") != Some(&json!(true));
                for (kind, detail, body) in body_probes(doc, schema, base, optional, limit) {
                    probes.push(probe(
                        kind,
                        detail,
                        target.clone(),
                        &bearer,
                        Some(body),
                        true,
                    ));
                }
            }
        }
    }
    (probes, problems)
}

/// What went wrong with one probe.
struct Failure {
    problem: &'static str,
    probe_kind: &'static str,
    line: String,
}

/// Sends one probe and judges its answer: the status (0 for none), and what is wrong.
async fn run(client: &reqwest::Client, base: &str, probe: Probe) -> (u16, Vec<Failure>) {
    let mut request = client.request(probe.method.clone(), format!("{base}{}", probe.target));
    if let Some(bearer) = &probe.bearer {
        request = request.bearer_auth(bearer);
    }
    if let Some((name, value)) = &probe.header {
        let value = reqwest::header::HeaderValue::from_bytes(value).expect("a header value");
        request = request.header(name.as_str(), value);
    }
    if let Some(body) = probe.body {
        if let Some(content_type) = body.content_type {
            request = request.header("content-type", content_type);
        }
        request = if body.chunked {
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body
                .bytes
                .chunks(64 * 1024)
                .map(|c| Ok(c.to_vec()))
                .collect();
            request.body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        } else {
            request.body(body.bytes)
        };
    }
    let fail = |problem, what: String| Failure {
        problem,
        probe_kind: probe.kind,
        line: format!(
            "{} [{}] {}: {what}",
            probe.operation, probe.kind, probe.detail
        ),
    };
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return (0, vec![fail("no answer", format!("{e}"))]),
    };
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // A served probe may be a stream: its headers are all there is to judge.
    let text = if status.is_client_error() || status.is_server_error() {
        response.text().await.unwrap_or_default()
    } else {
        String::new()
    };
    let excerpt: String = text.chars().take(200).collect();
    let mut failures = Vec::new();
    if status.is_server_error() {
        failures.push(fail("5xx", format!("{status}: {excerpt}")));
    } else if probe.must_refuse && !status.is_client_error() {
        failures.push(fail("served, not refused", format!("{status}")));
    }
    if !probe.documented.contains(&status.as_u16()) {
        failures.push(fail(
            "status not in the document",
            format!("{status}: {excerpt}"),
        ));
    }
    if status.is_client_error() {
        let envelope = content_type
            .starts_with("application/json")
            .then(|| serde_json::from_str::<wire::ErrorBody>(&text).ok())
            .flatten();
        if envelope.is_none_or(|e| e.error.message.is_empty()) {
            failures.push(fail(
                "not the error envelope with a known code",
                format!("{status} {content_type}: {excerpt}"),
            ));
        }
    }
    (status.as_u16(), failures)
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    row: String,
}

/// Every row of every table but the audit log (which records refusals too), as JSON
/// text; api tokens without `last_used_at` (and the `updated_at` it moves), which using
/// one refreshes.
async fn snapshot(app: &TestApp) -> BTreeMap<String, Vec<String>> {
    use diesel_async::RunQueryDsl;
    let mut conn = app.db.system().await.expect("conn");
    let tables: Vec<Row> = diesel::sql_query(
        "SELECT table_name::text AS row FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' \
         AND table_name <> 'audit_events' ORDER BY 1",
    )
    .load(&mut conn)
    .await
    .expect("tables");
    let mut snapshot = BTreeMap::new();
    for table in tables {
        let name = table.row;
        let row = if name == "api_tokens" {
            "to_jsonb(t) - 'last_used_at' - 'updated_at'"
        } else {
            "to_jsonb(t)"
        };
        let rows: Vec<Row> = diesel::sql_query(format!(
            "SELECT ({row})::text AS row FROM \"{name}\" t ORDER BY 1"
        ))
        .load(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("reading {name}: {e}"));
        snapshot.insert(name, rows.into_iter().map(|r| r.row).collect());
    }
    snapshot
}

/// What changed between two snapshots, table by table.
fn changes(
    before: &BTreeMap<String, Vec<String>>,
    after: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (table, rows) in after {
        let old: BTreeSet<&String> = before
            .get(table)
            .map(|r| r.iter().collect())
            .unwrap_or_default();
        let new: BTreeSet<&String> = rows.iter().collect();
        for row in new.difference(&old) {
            out.push(format!("{table}: + {row}"));
        }
        for row in old.difference(&new) {
            out.push(format!("{table}: - {row}"));
        }
    }
    out
}

/// The document as the api serves it.
async fn document(app: &TestApp) -> Value {
    let res = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("GET openapi.json");
    json_as(res, StatusCode::OK).await
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_bad_input_is_refused_with_documented_4xx_and_changes_nothing() {
    let world = World::seed().await;
    let doc = document(&world.app).await;
    let (probes, problems) = corpus(&world, &doc);
    let sent = probes.len();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for probe in &probes {
        *kinds.entry(probe.kind).or_default() += 1;
    }
    let before = snapshot(&world.app).await;

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client");
    let base = world.app.base.clone();
    let answers: Vec<(u16, Vec<Failure>)> = futures::stream::iter(probes)
        .map(|probe| run(&client, &base, probe))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut failures = problems;
    for (status, wrong) in answers {
        *statuses.entry(status).or_default() += 1;
        failures.extend(wrong);
    }

    let changed = changes(&before, &snapshot(&world.app).await);
    if failures.is_empty() && changed.is_empty() {
        eprintln!(
            "{sent} probes {kinds:?}, answered {statuses:?}: all as documented; the database \
             is unchanged"
        );
        return;
    }
    let mut by_problem: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let mut lines: BTreeSet<String> = BTreeSet::new();
    for failure in &failures {
        *by_problem.entry(failure.problem).or_default() += 1;
        *by_kind.entry(failure.probe_kind).or_default() += 1;
        lines.insert(format!("{}: {}", failure.problem, failure.line));
    }
    let mut report = format!(
        "{sent} probes, answered {statuses:?}; {} failures\n",
        failures.len()
    );
    for (problem, n) in &by_problem {
        report.push_str(&format!("  {n:5}  {problem}\n"));
    }
    report.push_str("by probe kind:\n");
    for (kind, n) in &by_kind {
        report.push_str(&format!("  {n:5}  {kind}\n"));
    }
    for line in lines.iter().take(300) {
        report.push_str(&format!("{line}\n"));
    }
    if lines.len() > 300 {
        report.push_str(&format!("... and {} more\n", lines.len() - 300));
    }
    if !changed.is_empty() {
        report.push_str(&format!("the database changed ({} rows):\n", changed.len()));
        for line in changed.iter().take(50) {
            report.push_str(&format!("  {line}\n"));
        }
    }
    panic!("{report}");
}

/// Hostile text that is nonetheless valid: stored as sent, whatever it holds.
const HOSTILE_TEXT: &[(&str, &str)] = &[
    ("SQL quote", "O'Brien'); DROP TABLE tasks;--"),
    ("SQL wildcards", "100% of _all_ \\ E'\\x00' $$1$$"),
    ("traversal", "../../../etc/passwd"),
    ("markup", "<script>alert(1)</script>&amp;"),
    ("template", "{{7*7}} ${jndi:ldap://x} %s%n"),
    ("right to left", "abc\u{202e}fed\u{202c} עברית العربية"),
    (
        "emoji",
        "family 👩\u{200d}👩\u{200d}👧 flag 🏳\u{fe0f}\u{200d}🌈 thumb 👍🏽",
    ),
    (
        "combining marks",
        "Z\u{337}\u{327}a\u{338}l\u{334}g\u{335}o e\u{301} vs \u{e9}",
    ),
    ("zero width", "zero\u{200b}width\u{200d}joiner\u{feff}mark"),
    ("astral and private use", "𝕳𝖊𝖑𝖑𝖔 \u{10ffff} \u{e000}"),
    ("line separators", "a\u{2028}b\u{2029}c"),
    (
        "control characters",
        "tab\there bell\u{7} escape\u{1b}[31m delete\u{7f}",
    ),
    ("newlines", "line1\nline2\r\nline3"),
    ("backslash escapes", "C:\\Windows \\\" \\u0000 \\n"),
];

/// `n` characters of mixed width (one to four UTF-8 bytes, some that JSON escapes), none
/// of them white space, so trimming keeps them all.
fn text_of_length(n: usize) -> String {
    const CYCLE: &[char] = &['𝕳', 'é', '\'', '"', '<', '\\', '中', '\u{202e}', '👍', 'a'];
    (0..n).map(|i| CYCLE[i % CYCLE.len()]).collect()
}

/// How long a task label may be (the document says so in words: the schema cannot put
/// a `maxLength` on a list's items).
const LABEL_CHARS: usize = 50;

/// A field's documented `maxLength` (`schema` is a component's name).
fn max_length(doc: &Value, schema: &str, field: &str) -> usize {
    let (field_schema, _) = field_shape(
        doc,
        &doc["components"]["schemas"][schema]["properties"][field],
    );
    field_schema["maxLength"]
        .as_u64()
        .unwrap_or_else(|| panic!("{schema}.{field} documents no maxLength")) as usize
}

/// `text` cut to `n` characters, as a field with that limit would take it whole.
fn cut(text: &str, n: usize) -> String {
    text.chars().take(n).collect::<String>().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_but_valid_text_is_stored_byte_for_byte() {
    let app = TestApp::spawn_with(|s| s.rate_limit.enabled = false).await;
    let doc = document(&app).await;
    let project = app.create_project("Round trip", None).await;
    let task = app.create_task(project.id, "Comments").await;
    let limit = |schema: &str, field: &str| max_length(&doc, schema, field);
    // The hostile texts, and one at the field's documented limit.
    let texts = |schema: &str, field: &str| -> Vec<(String, String)> {
        let n = limit(schema, field);
        HOSTILE_TEXT
            .iter()
            .map(|(what, text)| ((*what).to_owned(), (*text).to_owned()))
            .chain([(format!("{n} characters, the limit"), text_of_length(n))])
            .collect()
    };
    let read = |res: reqwest::Response| async move {
        let status = res.status();
        (status, res.json::<Value>().await.unwrap_or(Value::Null))
    };
    let mut failures: Vec<String> = Vec::new();
    let mut check = |field: &str, what: &str, sent: &str, status: StatusCode, got: Option<&str>| {
        if !status.is_success() {
            failures.push(format!("{field} = {what}: refused with {status}"));
        } else if got != Some(sent) {
            let short = |text: &str| text.chars().take(60).collect::<String>();
            failures.push(format!(
                "{field} = {what}: sent {:?}…, read back {:?}…",
                short(sent),
                got.map(short)
            ));
        }
    };

    let project_url = format!("projects/{}", project.id);
    for (what, text) in texts("UpdateProject", "name") {
        let (status, _) = read(app.patch(&project_url, &json!({"name": text})).await).await;
        let (_, got) = read(app.get(&project_url).await).await;
        check("project name", &what, &text, status, got["name"].as_str());
    }
    for (what, text) in texts("UpdateProject", "name") {
        let (status, _) = read(
            app.patch(&project_url, &json!({"setup_script": text}))
                .await,
        )
        .await;
        let (_, got) = read(app.get(&project_url).await).await;
        check(
            "project setup_script",
            &what,
            &text,
            status,
            got["setup_script"].as_str(),
        );
    }
    let org_url = format!("/api/v1/orgs/{}", app.org.slug);
    for (what, text) in texts("UpdateOrg", "name") {
        let patch = app.request_path_as(&app.token, Method::PATCH, &org_url);
        let (status, _) = read(
            patch
                .json(&json!({"name": text}))
                .send()
                .await
                .expect("PATCH"),
        )
        .await;
        let get = app.request_path_as(&app.token, Method::GET, &org_url);
        let (_, got) = read(get.send().await.expect("GET")).await;
        check("org name", &what, &text, status, got["name"].as_str());
    }
    // The description at its limit also gives a title and a label at theirs.
    let title_limit = limit("CreateTask", "title");
    for (what, text) in texts("CreateTask", "description") {
        let title = cut(&text, title_limit);
        let label = cut(&text, LABEL_CHARS);
        let body = json!({"title": title, "description": text, "labels": [label]});
        let (status, created) = read(
            app.post(&format!("projects/{}/tasks", project.id), &body)
                .await,
        )
        .await;
        let id = created["id"].as_str().unwrap_or(UNKNOWN_ID).to_owned();
        let (_, got) = read(app.get(&format!("tasks/{id}")).await).await;
        check("task title", &what, &title, status, got["title"].as_str());
        check(
            "task description",
            &what,
            &text,
            status,
            got["description"].as_str(),
        );
        check(
            "task label",
            &what,
            &label,
            status,
            got["labels"][0].as_str(),
        );
    }
    let comments_url = format!("tasks/{}/comments", task.id);
    for (what, text) in texts("CreateComment", "body") {
        let (status, created) = read(app.post(&comments_url, &json!({"body": text})).await).await;
        let (_, listed) = read(app.get(&comments_url).await).await;
        let got = listed
            .as_array()
            .and_then(|items| items.iter().find(|c| c["id"] == created["id"]))
            .and_then(|c| c["body"].as_str());
        check("comment body", &what, &text, status, got);
    }
    for (what, text) in texts("CreateApiToken", "name") {
        let (status, created) = read(
            app.post("tokens", &json!({"name": text, "scopes": ["read"]}))
                .await,
        )
        .await;
        let (_, listed) = read(app.get("tokens?limit=200").await).await;
        let got = listed["items"]
            .as_array()
            .and_then(|items| items.iter().find(|t| t["id"] == created["api_token"]["id"]))
            .and_then(|t| t["name"].as_str());
        check("token name", &what, &text, status, got);
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
