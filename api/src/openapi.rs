//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and
//! the wire types, served at `/api/v1/openapi.json` (the dashboard's types come from it).
//! Its paths are the routes the router serves: both come from the one route table in
//! [`crate::routes`].

use actix_web::HttpResponse;
use std::sync::LazyLock;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ApiError;

/// What the document says besides its paths: the title, the tags, the security scheme and
/// schemas no path names. [`document`] adds every declared route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard API",
        description = "Plan work on a kanban board and run AI coding agents on it. \
            Every error answers `{\"error\": {\"code\", \"message\"}}` with a stable code. \
            A malformed id in a path answers 400 `invalid_id`; a resource of another \
            organization answers 404 `not_found`.",
    ),
    components(schemas(shared::wire::OrgEvent)),
    modifiers(&BearerToken),
    tags(
        (name = "projects", description = "Boards on repositories"),
        (name = "tasks", description = "Cards on a board"),
        (name = "attempts", description = "Agent runs on a task"),
        (name = "logs", description = "Process logs"),
        (name = "streams", description = "Server-sent event streams"),
        (name = "profiles", description = "Executor profiles: which agent runs, with which options"),
        (name = "secrets", description = "Org secrets for agents (values are write-only)"),
        (name = "auth", description = "Signing people in and out"),
        (name = "orgs", description = "Organizations: the person's orgs, creating one, its settings"),
        (name = "members", description = "Members of an org and their roles"),
        (name = "invitations", description = "Inviting people into an org"),
        (name = "tokens", description = "Org API tokens (secrets shown once)"),
        (name = "audit", description = "The org's audit log"),
        (name = "repositories", description = "The org's repositories, local and on GitHub"),
        (name = "github", description = "The GitHub App: installing it, and its webhooks"),
        (name = "health", description = "Probes, and this document"),
    )
)]
pub struct ApiDoc;

/// Declares the org API token as the `token` bearer scheme the paths refer to.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The API description: every declared route, its parameters, bodies and error answers.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    for route in crate::routes::declared() {
        document.merge(route.document);
    }
    describe_idempotency_keys(&mut document);
    describe_middleware_answers(&mut document);
    document
}

/// Whether [`answer`] adds its reason to a status the operation already lists.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IfListed {
    /// Adds `; or: <reason>` to its description: a cause the route's own does not cover.
    AddReason,
    /// Leaves it: the route's own description covers the cause.
    Keep,
}

/// Lists `status` (an error envelope) among the operation's answers.
fn answer(
    operation: &mut utoipa::openapi::path::Operation,
    status: &str,
    description: &str,
    if_listed: IfListed,
) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    match operation.responses.responses.get_mut(status) {
        Some(RefOr::T(response)) => {
            if if_listed == IfListed::AddReason {
                response.description = format!("{}; or: {description}", response.description);
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build();
            operation
                .responses
                .responses
                .insert(status.to_owned(), RefOr::T(response));
        }
    }
}

/// Every operation of a path.
fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The answers no handler declares because a middleware or an extractor gives them, on
/// every operation they apply to: a URL that is not text ([`crate::readable_url`]), the
/// rate limit ([`crate::ratelimit`], on `/api/` paths), and for a JSON body
/// ([`crate::json_body`]) its size, content type, syntax and NUL rules. A body of one of
/// our schemas is a `JsonBody`; a free-form one (the webhook's) is read raw by its route,
/// which declares its own answers.
fn describe_middleware_answers(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    for (path, item) in document.paths.paths.iter_mut() {
        let rate_limited = path.starts_with("/api/");
        for operation in operations_mut(item) {
            answer(
                operation,
                "400",
                "The path or query does not percent-decode to UTF-8 text without NUL \
                 characters (`invalid_path`, `invalid_query`)",
                IfListed::AddReason,
            );
            if rate_limited {
                answer(
                    operation,
                    "429",
                    "Over the rate limit (`rate_limited`); retry after `Retry-After` seconds",
                    IfListed::AddReason,
                );
            }
            let typed_json_body = operation
                .request_body
                .as_ref()
                .and_then(|body| match body {
                    RefOr::T(body) => body.content.get("application/json"),
                    RefOr::Ref(_) => None,
                })
                .and_then(|content| match content {
                    RefOr::T(content) => content.schema.as_ref(),
                    RefOr::Ref(_) => None,
                })
                .is_some_and(names_a_schema);
            if typed_json_body {
                for (status, description) in [
                    (
                        "400",
                        "The body is not JSON of the expected shape (`invalid_json`)",
                    ),
                    (
                        "413",
                        "The body is over `api.max_body_bytes` (`payload_too_large`)",
                    ),
                    (
                        "415",
                        "The body is not sent as `application/json` (`unsupported_media_type`)",
                    ),
                    (
                        "422",
                        "A value is not acceptable, such as text holding a NUL character (`validation_failed`)",
                    ),
                ] {
                    answer(operation, status, description, IfListed::Keep);
                }
            }
        }
    }
}

/// Whether a body's schema is one of ours (named, or an `Option` of a named one).
fn names_a_schema(schema: &utoipa::openapi::RefOr<utoipa::openapi::Schema>) -> bool {
    use utoipa::openapi::{RefOr, Schema};
    match schema {
        RefOr::Ref(_) => true,
        RefOr::T(Schema::OneOf(one_of)) => one_of.items.iter().any(|i| matches!(i, RefOr::Ref(_))),
        RefOr::T(_) => false,
    }
}

/// Every authenticated `POST` takes an optional `Idempotency-Key` ([`crate::idempotency`],
/// a middleware, so no handler declares it): the header, and the 400, 409 and 422 it can
/// answer.
fn describe_idempotency_keys(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, RefOr, Required, Type};
    let header = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Sent again with the same request, answers the first one's answer instead of \
             acting twice (kept 24 hours, per caller).",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(crate::idempotency::MAX_KEY_LEN)),
        ))
        .build();
    let answers = [
        ("400", "A malformed Idempotency-Key (`invalid_header`)"),
        (
            "409",
            "A request with this Idempotency-Key is still being handled",
        ),
        ("422", "This Idempotency-Key was used with another request"),
    ];
    for item in document.paths.paths.values_mut() {
        let Some(operation) = item.post.as_mut() else {
            continue;
        };
        if operation.security.as_ref().is_none_or(Vec::is_empty) {
            continue;
        }
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(RefOr::T(header.clone()));
        for (status, description) in answers {
            answer(operation, status, description, IfListed::AddReason);
        }
    }
}

/// The document as JSON, built once: it depends only on the code.
static DOCUMENT: LazyLock<Result<String, String>> =
    LazyLock::new(|| document().to_json().map_err(|e| e.to_string()));

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn serve() -> Result<HttpResponse, ApiError> {
    match &*DOCUMENT {
        Ok(json) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(json.clone())),
        Err(e) => Err(ApiError::Internal(anyhow::anyhow!(
            "encoding the OpenAPI document: {e}"
        ))),
    }
}
