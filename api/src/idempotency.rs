//! `Idempotency-Key` on writes: a `POST` sent again with the same key by the same caller
//! is not carried out again; it gets the first one's answer.
//!
//! The key is remembered per caller (a person, or one org API token), with a hash of the
//! request (method, path and query, body bytes) and, once the first request is answered,
//! that answer (status, `Location`, body sealed like org secrets: a created token's secret
//! is in it). A second request with the key:
//! - same request, first one answered: the stored answer, with `Idempotent-Replayed: true`;
//! - same request, first one still running (a concurrent retry): waits for its answer, up
//!   to [`WAIT_FOR_FIRST`], then 409 `idempotency_key_in_progress`;
//! - another request: 422 `idempotency_key_reused`.
//!
//! Answers a retry should not replay are forgotten, so the retry runs: 5xx (the write may
//! not have happened), 401, 408 and 429. A first request whose process died is taken over
//! after [`ABANDONED_AFTER`]; keys are kept for [`RETENTION`].
//!
//! Runs inside the audit middleware: a replay calls no handler, so it records nothing new.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};
use diesel::sql_types::{Bytea, Int2, Nullable, Text};
use diesel_async::RunQueryDsl;
use sha2::{Digest, Sha256};
use shared::shutdown::CancellationToken;
use std::time::Duration;

use crate::auth::{Credential, credential};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The request header carrying the key.
pub const KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer that is a replay of the first request's.
pub const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Longest key accepted (a UUID is 36).
pub const MAX_KEY_LEN: usize = 255;
/// How long a key is remembered.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// A first request unanswered for this long is presumed lost with its process.
const ABANDONED_AFTER: Duration = Duration::from_secs(60);
/// How long a concurrent retry waits for the first request's answer.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(10);
/// How often expired keys are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Middleware (`middleware::from_fn`) applying the rules above to every `POST`.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() != Method::POST {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let Some(raw_key) = req.headers().get(KEY_HEADER) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let key = match check_key(raw_key) {
        Ok(key) => key,
        Err(e) => return Ok(req.error_response(e).map_into_boxed_body()),
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // Without a caller there is nothing to scope the key to; the route answers 401.
    let Some(scope) = caller_scope(&state, &req) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let body = match req.extract::<web::Bytes>().await {
        Ok(body) => body,
        Err(e) => return Ok(req.error_response(e).map_into_boxed_body()),
    };
    let hash = request_hash(&req, &body);
    req.set_payload(Payload::from(body));
    let record = Record { scope, key };

    match record.claim_or_wait(&state, &hash).await {
        Ok(Claim::Ours) => {}
        Ok(Claim::Answered(stored)) => {
            let response = match stored.replay(&state, &record) {
                Ok(response) => response,
                Err(e) => e.error_response(),
            };
            return Ok(req.into_response(response));
        }
        Err(e) => return Ok(req.error_response(e).map_into_boxed_body()),
    }

    let response = match next.call(req).await {
        Ok(response) => response,
        Err(e) => {
            record.forget(&state).await;
            return Err(e);
        }
    };
    if !worth_replaying(response.status()) {
        record.forget(&state).await;
        return Ok(response.map_into_boxed_body());
    }
    let (request, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let Ok(bytes) = actix_web::body::to_bytes(body).await else {
        record.forget(&state).await;
        let error = ApiError::Internal(anyhow::anyhow!("the answer's body could not be read"));
        return Ok(ServiceResponse::new(request, error.error_response()));
    };
    if let Err(e) = record.store(&state, &head, &bytes).await {
        // The write happened and its answer goes out; only a retry's replay is lost, and
        // forgetting the key lets that retry run rather than wait.
        tracing::error!(error = %e, "could not store an idempotent answer");
        record.forget(&state).await;
    }
    Ok(ServiceResponse::new(
        request,
        head.set_body(BoxBody::new(bytes)),
    ))
}

/// Deletes keys past [`RETENTION`] every [`PRUNE_EVERY`] until shutdown.
pub async fn prune(state: AppState, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
        }
        match prune_once(&state).await {
            Ok(pruned) => tracing::debug!(pruned, "expired idempotency keys deleted"),
            Err(e) => tracing::warn!(error = %e, "could not delete expired idempotency keys"),
        }
    }
}

/// Deletes the keys past [`RETENTION`]; how many went.
pub async fn prune_once(state: &AppState) -> Result<usize, ApiError> {
    let mut conn = state.db.system().await?;
    Ok(diesel::sql_query(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
    )
    .bind::<diesel::sql_types::Double, _>(RETENTION.as_secs_f64())
    .execute(&mut conn)
    .await?)
}

/// A key of printable ASCII, 1 to [`MAX_KEY_LEN`] characters.
fn check_key(raw: &HeaderValue) -> Result<String, ApiError> {
    let key = raw.to_str().unwrap_or_default();
    let printable = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > MAX_KEY_LEN || !printable {
        return Err(ApiError::InvalidHeader(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters"
        )));
    }
    Ok(key.to_owned())
}

/// Whom a key belongs to: the person behind an access token (whose tokens rotate), or
/// one org API token (by its hash, never its secret). `None` when the request carries no
/// credential that checks out.
fn caller_scope(state: &AppState, req: &ServiceRequest) -> Option<String> {
    match credential(req.request()) {
        Credential::ApiToken(secret) => Some(format!(
            "token:{}",
            hex::encode(Sha256::digest(secret.as_bytes()))
        )),
        Credential::Access { token, .. } => state
            .signer
            .verify(&token)
            .map(|claims| format!("user:{}", claims.sub)),
        Credential::None => None,
    }
}

/// SHA-256 over the method, path with query, and body: what "the same request" means.
fn request_hash(req: &ServiceRequest, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update([0]);
    hasher.update(req.uri().path_and_query().map_or("", |p| p.as_str()));
    hasher.update([0]);
    hasher.update(body);
    hasher.finalize().to_vec()
}

/// Whether a retry with the key should get this answer rather than run again.
fn worth_replaying(status: StatusCode) -> bool {
    !(status.is_server_error()
        || status == StatusCode::UNAUTHORIZED
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS)
}

/// One caller's key.
struct Record {
    scope: String,
    key: String,
}

/// What claiming a key found.
enum Claim {
    /// The key is new (or expired, or abandoned): this request runs and stores its answer.
    Ours,
    /// The first request with the key has answered.
    Answered(Stored),
}

/// A first request's answer, as stored.
#[derive(diesel::QueryableByName)]
struct Stored {
    #[diesel(sql_type = Bytea)]
    request_hash: Vec<u8>,
    #[diesel(sql_type = Nullable<Int2>)]
    status: Option<i16>,
    #[diesel(sql_type = Nullable<Text>)]
    location: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    content_type: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    key_id: Option<String>,
    #[diesel(sql_type = Nullable<Bytea>)]
    nonce: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Bytea>)]
    body: Option<Vec<u8>>,
}

#[derive(diesel::QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Text)]
    #[expect(dead_code, reason = "only whether a row came back matters")]
    scope: String,
}

impl Record {
    /// What the sealed body is bound to.
    fn context(&self) -> String {
        format!("idempotency/{}/{}", self.scope, self.key)
    }

    /// Claims the key for this request, or finds the answer of the first request with it,
    /// waiting while that one runs.
    async fn claim_or_wait(&self, state: &AppState, hash: &[u8]) -> Result<Claim, ApiError> {
        let deadline = tokio::time::Instant::now() + WAIT_FOR_FIRST;
        let mut pause = Duration::from_millis(10);
        loop {
            if self.claim(state, hash).await? {
                return Ok(Claim::Ours);
            }
            // Gone between the two statements (the first request failed and forgot it):
            // claim again.
            let Some(stored) = self.load(state).await? else {
                continue;
            };
            if stored.request_hash != hash {
                return Err(ApiError::Unprocessable {
                    code: ErrorCode::IdempotencyKeyReused,
                    message: "this Idempotency-Key was used with another request; \
                              send a new key for a new request"
                        .into(),
                });
            }
            if stored.status.is_some() {
                return Ok(Claim::Answered(stored));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::conflict(
                    ErrorCode::IdempotencyKeyInProgress,
                    "a request with this Idempotency-Key is still being handled; retry shortly",
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Inserts the key as running, or takes over an expired or abandoned one; whether this
    /// request now owns it.
    async fn claim(&self, state: &AppState, hash: &[u8]) -> Result<bool, ApiError> {
        let mut conn = state.db.system().await?;
        let claimed: Vec<Claimed> = diesel::sql_query(
            "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) \
             ON CONFLICT (scope, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, \
                 created_at = now(), completed_at = NULL, status = NULL, location = NULL, \
                 content_type = NULL, key_id = NULL, nonce = NULL, body = NULL \
             WHERE idempotency_keys.created_at < now() - make_interval(secs => $4) \
                OR (idempotency_keys.completed_at IS NULL \
                    AND idempotency_keys.created_at < now() - make_interval(secs => $5)) \
             RETURNING scope",
        )
        .bind::<Text, _>(&self.scope)
        .bind::<Text, _>(&self.key)
        .bind::<Bytea, _>(hash)
        .bind::<diesel::sql_types::Double, _>(RETENTION.as_secs_f64())
        .bind::<diesel::sql_types::Double, _>(ABANDONED_AFTER.as_secs_f64())
        .load(&mut conn)
        .await?;
        Ok(!claimed.is_empty())
    }

    async fn load(&self, state: &AppState) -> Result<Option<Stored>, ApiError> {
        let mut conn = state.db.system().await?;
        let mut rows: Vec<Stored> = diesel::sql_query(
            "SELECT request_hash, status, location, content_type, key_id, nonce, body \
             FROM idempotency_keys WHERE scope = $1 AND key = $2",
        )
        .bind::<Text, _>(&self.scope)
        .bind::<Text, _>(&self.key)
        .load(&mut conn)
        .await?;
        Ok(rows.pop())
    }

    /// Keeps the first request's answer for its retries.
    async fn store(
        &self,
        state: &AppState,
        head: &HttpResponse<()>,
        body: &[u8],
    ) -> Result<(), ApiError> {
        let sealed = state.keyring()?.seal_record(&self.context(), body)?;
        let text_header = |name| {
            head.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let mut conn = state.db.system().await?;
        diesel::sql_query(
            "UPDATE idempotency_keys SET completed_at = now(), status = $3, location = $4, \
                 content_type = $5, key_id = $6, nonce = $7, body = $8 \
             WHERE scope = $1 AND key = $2",
        )
        .bind::<Text, _>(&self.scope)
        .bind::<Text, _>(&self.key)
        .bind::<Int2, _>(i16::try_from(head.status().as_u16()).unwrap_or(i16::MAX))
        .bind::<Nullable<Text>, _>(text_header(header::LOCATION))
        .bind::<Nullable<Text>, _>(text_header(header::CONTENT_TYPE))
        .bind::<Text, _>(&sealed.key_id)
        .bind::<Bytea, _>(&sealed.nonce[..])
        .bind::<Bytea, _>(&sealed.ciphertext)
        .execute(&mut conn)
        .await?;
        Ok(())
    }

    /// Forgets the key, so a retry runs the request again.
    async fn forget(&self, state: &AppState) {
        let forgotten = async {
            let mut conn = state.db.system().await?;
            diesel::sql_query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2")
                .bind::<Text, _>(&self.scope)
                .bind::<Text, _>(&self.key)
                .execute(&mut conn)
                .await?;
            Ok::<_, ApiError>(())
        };
        if let Err(e) = forgotten.await {
            // Left as running, the key is taken over once abandoned.
            tracing::warn!(error = %e, "could not forget an idempotency key");
        }
    }
}

impl Stored {
    /// The stored answer, marked as a replay.
    fn replay(self, state: &AppState, record: &Record) -> Result<HttpResponse, ApiError> {
        let status = self
            .status
            .and_then(|s| u16::try_from(s).ok())
            .and_then(|s| StatusCode::from_u16(s).ok())
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("stored status is not one")))?;
        let (Some(key_id), Some(nonce), Some(ciphertext)) = (self.key_id, self.nonce, self.body)
        else {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "an answered idempotency key has no body"
            )));
        };
        let body = state
            .keyring()?
            .open_record(&record.context(), &key_id, &nonce, &ciphertext)?;
        let mut response = HttpResponse::build(status);
        response.insert_header((REPLAYED_HEADER, "true"));
        if let Some(location) = self.location {
            response.insert_header((header::LOCATION, location));
        }
        if let Some(content_type) = self.content_type {
            response.insert_header((header::CONTENT_TYPE, content_type));
        }
        Ok(response.body(body))
    }
}
