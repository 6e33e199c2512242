//! One error type for every handler, turned into one JSON envelope
//! (`{"error": {"code", "message"}}`) with a stable snake_case code.
//!
//! Infrastructure failures are mapped here and nowhere else: a missing row → 404, a pool
//! timeout or lost connection → 503, a unique violation → 409. 5xx bodies are opaque; their
//! cause goes to the log.
//!
//! Ids in paths are UUIDs; a path segment that does not parse as one answers
//! 400 `invalid_id` (not 404), so a client bug is told apart from a missing resource.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use diesel::result::DatabaseErrorKind;
use shared::db::DbError;
use shared::domain::TokenScope;
pub use shared::error_code::ErrorCode;
use shared::logstore::LogReadError;
use shared::store::StoreError;
use shared::wire::{ErrorBody, ErrorDetail};

/// Everything a request can fail with. Each variant has one HTTP status and one code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, has a field of the wrong type, or an unknown field.
    #[error("{0}")]
    InvalidJson(String),
    /// A path segment that should be a UUID is not one.
    #[error("{0}")]
    InvalidId(String),
    /// A query-string parameter could not be parsed.
    #[error("{0}")]
    InvalidQuery(String),
    /// A header the endpoint reads (such as `Last-Event-ID`) is malformed.
    #[error("{0}")]
    InvalidHeader(String),
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    #[error("sign in, or send a valid API token (Authorization: Bearer sy_...)")]
    Unauthorized,
    /// The token belongs to the org but lacks the scope the route needs.
    #[error("{message}")]
    AuthFailed { code: ErrorCode, message: String },
    #[error("this credential lacks the `{0}` permission")]
    Forbidden(TokenScope),
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    #[error("{message}")]
    BadRequest { code: ErrorCode, message: String },
    #[error("GitHub could not be reached or failed; retry shortly")]
    Upstream(String),
    /// No such resource in the caller's org (or in any org: the two are not told apart).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no route for {0}")]
    NoRoute(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request conflicts with the resource's current state.
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The body did not arrive in time (a slow or stalled sender).
    #[error("{message}")]
    RequestTimeout { code: ErrorCode, message: String },
    /// The caller holds as much of a bounded resource as it may (open streams): 429 with
    /// `Retry-After`.
    #[error("{message}")]
    TooMany {
        code: ErrorCode,
        message: String,
        retry_after_secs: u64,
    },
    /// This replica is at a concurrency bound it keeps for everyone: 503 with
    /// `Retry-After`, and a code saying which bound (unlike `Unavailable`, nothing is down).
    #[error("{message}")]
    Busy {
        code: ErrorCode,
        message: String,
        retry_after_secs: u64,
    },
    /// The body parsed but a value is not acceptable.
    #[error("{0}")]
    Validation(String),
    /// A value is refused for a reason a client can act on, with its own code (a
    /// repository host on a forbidden network, a forbidden environment variable).
    #[error("{message}")]
    Unprocessable { code: ErrorCode, message: String },
    /// The project's repository is not a usable git repository.
    #[error("{0}")]
    InvalidRepository(String),
    #[error("unknown executor {0:?} (available: {names})", names = shared::executors::ExecutorKind::names())]
    UnknownExecutor(String),
    /// Workers are running, and none of them can run this executor.
    #[error("no running worker can run executor '{0}'")]
    ExecutorUnavailable(String),
    /// No executor profile (or no variant of it) by that name for the project.
    #[error("{0}")]
    UnknownProfile(String),
    /// A dependency (Postgres, Redis, S3) did not answer; the cause is logged, not sent.
    #[error("a backing service is unavailable; retry shortly")]
    Unavailable(String),
    /// A bug or an unexpected failure; the cause is logged, not sent.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// The stable machine-readable code of the envelope.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidJson(_) => ErrorCode::InvalidJson,
            ApiError::InvalidId(_) => ErrorCode::InvalidId,
            ApiError::InvalidQuery(_) => ErrorCode::InvalidQuery,
            ApiError::InvalidHeader(_) => ErrorCode::InvalidHeader,
            ApiError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            ApiError::Unauthorized => ErrorCode::Unauthorized,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::AuthFailed { code, .. }
            | ApiError::Refused { code, .. }
            | ApiError::BadRequest { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unprocessable { code, .. }
            | ApiError::RequestTimeout { code, .. }
            | ApiError::TooMany { code, .. }
            | ApiError::Busy { code, .. } => *code,
            ApiError::Upstream(_) => ErrorCode::UpstreamUnavailable,
            ApiError::NotFound(_) | ApiError::NoRoute(_) => ErrorCode::NotFound,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::Validation(_) => ErrorCode::ValidationFailed,
            ApiError::InvalidRepository(_) => ErrorCode::InvalidRepository,
            ApiError::UnknownExecutor(_) => ErrorCode::UnknownExecutor,
            ApiError::UnknownProfile(_) => ErrorCode::UnknownProfile,
            ApiError::ExecutorUnavailable(_) => ErrorCode::ExecutorUnavailable,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Shorthand for a 409 with its own code.
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            code,
            message: message.into(),
        }
    }

    /// 401 with a specific code (an expired session, a replayed refresh token, ...).
    pub fn auth_failed(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::AuthFailed {
            code,
            message: message.into(),
        }
    }

    /// 403 with a specific code (a missing CSRF token, a disabled sign-in, ...).
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::Refused {
            code,
            message: message.into(),
        }
    }

    /// 400 with a specific code (an OAuth state mismatch, a pending device grant, ...).
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// Shorthand for a 422 `validation_failed`.
    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::Validation(message.into())
    }

    /// 422 with a specific code (`repository_host_forbidden`, `profile_env_forbidden`, ...).
    pub fn unprocessable(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::Unprocessable {
            code,
            message: message.into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_)
            | ApiError::InvalidId(_)
            | ApiError::InvalidQuery(_)
            | ApiError::InvalidHeader(_)
            | ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized | ApiError::AuthFailed { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::Refused { .. } => StatusCode::FORBIDDEN,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::NotFound(_) | ApiError::NoRoute(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Validation(_)
            | ApiError::Unprocessable { .. }
            | ApiError::InvalidRepository(_)
            | ApiError::UnknownExecutor(_)
            | ApiError::UnknownProfile(_)
            | ApiError::ExecutorUnavailable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) | ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed")
            }
            ApiError::Unavailable(cause) | ApiError::Upstream(cause) => {
                tracing::warn!(error = %cause, "dependency unavailable")
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthorized | ApiError::AuthFailed { .. }) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        match self {
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::TooMany {
                retry_after_secs, ..
            }
            | ApiError::Busy {
                retry_after_secs, ..
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        response.json(envelope(self.code(), self.to_string()))
    }
}

/// The envelope body for a code and message.
pub fn envelope(code: ErrorCode, message: String) -> ErrorBody {
    ErrorBody {
        error: ErrorDetail { code, message },
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::PoolTimeout | DbError::Connect(_) | DbError::UnsafeRole(_) => {
                ApiError::Unavailable(e.to_string())
            }
            DbError::Query(q) => q.into(),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::Error as E;
        match e {
            E::NotFound => ApiError::NotFound("resource"),
            E::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                tracing::info!(detail = info.message(), "unique violation");
                ApiError::conflict(
                    ErrorCode::Conflict,
                    "a resource with these values exists already",
                )
            }
            E::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                tracing::info!(detail = info.message(), "foreign key violation");
                ApiError::conflict(
                    ErrorCode::Conflict,
                    "the change conflicts with resources that refer to this one",
                )
            }
            E::DatabaseError(DatabaseErrorKind::CheckViolation, info) => {
                ApiError::Validation(format!(
                    "a value is out of range ({})",
                    info.constraint_name().unwrap_or("check")
                ))
            }
            E::DatabaseError(DatabaseErrorKind::NotNullViolation, info) => {
                ApiError::Validation(format!(
                    "{} must not be null",
                    info.column_name().unwrap_or("a field")
                ))
            }
            E::DatabaseError(_, ref info) if shared::db::connection_lost(&e) => {
                ApiError::Unavailable(format!("database connection lost: {}", info.message()))
            }
            E::DatabaseError(_, ref info) if info.message().contains("statement timeout") => {
                ApiError::Unavailable(format!("database statement timed out: {}", info.message()))
            }
            other => ApiError::Internal(anyhow::Error::new(other).context("database query")),
        }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(e: redis::RedisError) -> Self {
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout()
        {
            ApiError::Unavailable(format!("redis: {e}"))
        } else {
            ApiError::Internal(anyhow::Error::new(e).context("redis command"))
        }
    }
}

/// An executor name that names none answers 422 `unknown_executor`, wherever it was given.
impl From<shared::executors::UnknownExecutor> for ApiError {
    fn from(e: shared::executors::UnknownExecutor) -> Self {
        ApiError::UnknownExecutor(e.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<LogReadError> for ApiError {
    fn from(e: LogReadError) -> Self {
        match e {
            LogReadError::Store(s) => s.into(),
            LogReadError::Redis(r) => r.into(),
            read @ LogReadError::Read { .. } => ApiError::Unavailable(read.to_string()),
            corrupt @ LogReadError::Corrupt { .. } => {
                ApiError::Internal(anyhow::Error::new(corrupt).context("reading a process log"))
            }
        }
    }
}

/// `web::JsonConfig` error handler: body problems become 400/413/415 envelopes.
pub fn json_error(err: JsonPayloadError, req: &HttpRequest) -> actix_web::Error {
    let api = match err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge { limit },
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(e) => {
            ApiError::InvalidJson(format!("invalid JSON body: {e}"))
        }
        JsonPayloadError::Payload(PayloadError::Overflow) => ApiError::PayloadTooLarge {
            limit: body_limit(req),
        },
        other => ApiError::InvalidJson(format!("unreadable body: {other}")),
    };
    api.into()
}

/// The configured body limit, for the 413 message.
fn body_limit(req: &HttpRequest) -> usize {
    req.app_data::<actix_web::web::Data<crate::state::AppState>>()
        .map(|s| s.settings.api.max_body_bytes)
        .unwrap_or_default()
}

/// `web::PathConfig` error handler: a malformed id in the path is a 400 `invalid_id`.
pub fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    let detail = match err {
        PathError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    ApiError::InvalidId(format!("invalid id in path: {detail}")).into()
}

/// `web::QueryConfig` error handler.
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let detail = match err {
        QueryPayloadError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    ApiError::InvalidQuery(format!("invalid query string: {detail}")).into()
}

/// Answers requests no route matched.
pub async fn no_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoRoute(format!(
        "{} {}",
        req.method(),
        req.path()
    )))
}

/// `ErrorHandlers` default: any error response that is not already our JSON envelope
/// (actix's own 405, a body-read failure outside a handler, ...) is rewritten into one, so
/// every failure a client sees has the same shape.
pub fn envelope_everything<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::NOT_FOUND => ApiError::NoRoute(res.request().path().to_owned()),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
            limit: body_limit(res.request()),
        },
        s if s.is_server_error() => ApiError::Internal(anyhow::anyhow!(
            "non-JSON {s} response: {}",
            res.response()
                .error()
                .map(|e| e.to_string())
                .unwrap_or_default()
        )),
        s => ApiError::InvalidJson(format!(
            "bad request ({})",
            s.canonical_reason().unwrap_or("error")
        )),
    };
    let code = if status.is_client_error() || status.is_server_error() {
        status
    } else {
        error.status_code()
    };
    let (req, old) = res.into_parts();
    let mut new: HttpResponse<BoxBody> = error.error_response();
    *new.status_mut() = code;
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    new.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, new).map_into_right_body(),
    ))
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
