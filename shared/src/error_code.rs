//! The stable error codes of the API's error envelope (`{"error": {"code", "message"}}`):
//! the one list of them. A handler can only answer a code named here, the OpenAPI
//! document lists them as the `code` enum (so the dashboard's types know each one), and
//! docs/API.md has a row for each (a test in the api checks both).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares the codes once: the enum (each variant travels as its snake_case string),
/// [`ErrorCode::ALL`] and [`ErrorCode::as_str`]. `$code` is a `tt`, not a `literal`: a
/// `literal` fragment reaches the `ToSchema` derive wrapped in a group, and it then
/// ignores the `rename` (the OpenAPI document would list the variant names).
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $code:tt,)*) => {
        /// A stable, machine-readable reason a request failed. The HTTP status comes
        /// with it; docs/API.md gives both for each code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        pub enum ErrorCode {
            $($(#[doc = $doc])+ #[serde(rename = $code)] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as it travels, e.g. `not_found`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    // 400
    /// The body is not JSON, or has an unknown field or a field of the wrong type.
    InvalidJson = "invalid_json",
    /// A path segment that should be a UUID is not one.
    InvalidId = "invalid_id",
    /// The path does not percent-decode to UTF-8 text without NUL characters.
    InvalidPath = "invalid_path",
    /// A query-string parameter could not be parsed, or the query string does not
    /// percent-decode to UTF-8 text without NUL characters.
    InvalidQuery = "invalid_query",
    /// A header the endpoint reads (such as `Last-Event-ID`) is malformed.
    InvalidHeader = "invalid_header",
    /// GitHub sign-in: the OAuth state is missing, expired or not this browser's.
    OauthStateMismatch = "oauth_state_mismatch",
    /// GitHub sign-in: the person declined on GitHub.
    OauthDenied = "oauth_denied",
    /// GitHub sign-in: GitHub refused the code exchange.
    GithubRejected = "github_rejected",
    /// Device sign-in: the person has not approved the code yet; poll again.
    AuthorizationPending = "authorization_pending",
    /// Device sign-in: polling too fast; wait longer between polls.
    SlowDown = "slow_down",
    /// Device sign-in: the device code expired; start again.
    ExpiredToken = "expired_token",
    /// Device sign-in: the person declined.
    AccessDenied = "access_denied",
    /// Webhook: no valid `X-GitHub-Event` header.
    MissingEvent = "missing_event",
    /// Webhook: no valid `X-GitHub-Delivery` header.
    MissingDeliveryId = "missing_delivery_id",
    /// Webhook: the body could not be read.
    UnreadableBody = "unreadable_body",
    /// GitHub App setup: the callback has no `installation_id`.
    MissingInstallationId = "missing_installation_id",
    /// GitHub App setup: the state is unknown, used, expired or someone else's.
    GithubStateInvalid = "github_state_invalid",
    /// GitHub App setup: GitHub does not know the installation.
    UnknownInstallation = "unknown_installation",
    /// The project's repository is not reached through the GitHub App.
    NotOnGithub = "not_on_github",
    /// The repository's branches cannot be listed (GitHub refused, a remote repository not
    /// on GitHub, or an unreadable local one).
    BranchesUnavailable = "branches_unavailable",
    /// The invitation was revoked.
    InvitationRevoked = "invitation_revoked",
    /// The invitation expired.
    InvitationExpired = "invitation_expired",
    // 400 (accepting) or 409 (revoking)
    /// The invitation was accepted already.
    InvitationUsed = "invitation_used",
    // 409 (install link) or 400 (pull requests)
    /// The GitHub App is not configured on this server.
    GithubAppNotConfigured = "github_app_not_configured",
    // 401
    /// No valid session or API token.
    Unauthorized = "unauthorized",
    /// The refresh token is unknown or expired.
    InvalidRefreshToken = "invalid_refresh_token",
    /// A refresh token was used twice: its session is revoked.
    RefreshTokenReused = "refresh_token_reused",
    /// The session was signed out or revoked.
    SessionRevoked = "session_revoked",
    /// Webhook: no `X-Hub-Signature-256` header.
    MissingSignature = "missing_signature",
    /// Webhook: the signature does not match the body.
    InvalidSignature = "invalid_signature",
    // 403
    /// The credential lacks the permission (scope or role) the route needs.
    Forbidden = "forbidden",
    /// A cookie-authenticated write without the matching CSRF header.
    CsrfFailed = "csrf_failed",
    /// The route is for people, not org API tokens.
    PersonRequired = "person_required",
    /// The development sign-in is off.
    DevLoginDisabled = "dev_login_disabled",
    /// Only an owner may do this (make or remove owners, invite owners).
    OwnerRequired = "owner_required",
    /// Only an owner or admin of the org may do this.
    AdminRequired = "admin_required",
    /// Linking an installation needs a person signed in with GitHub.
    GithubAccountRequired = "github_account_required",
    /// The signed-in person does not control the installation's GitHub account.
    InstallationNotYours = "installation_not_yours",
    /// The invitation is for another email or login.
    InvitationMismatch = "invitation_mismatch",
    // 404, 405
    /// No such resource in the caller's org, or no such route.
    NotFound = "not_found",
    /// The route does not take this method.
    MethodNotAllowed = "method_not_allowed",
    // 409
    /// A resource with these values exists already, or others refer to it.
    Conflict = "conflict",
    /// The attempt is not in a state that allows this (not finished, or cancelled).
    AttemptBusy = "attempt_busy",
    /// The project has attempts still queued or running.
    ProjectBusy = "project_busy",
    /// The task has attempts still queued or running.
    TaskBusy = "task_busy",
    /// The login belongs to another account (a GitHub account, for the development
    /// sign-in).
    LoginTaken = "login_taken",
    /// The org already has a profile of that name.
    ProfileExists = "profile_exists",
    /// Another org has that slug.
    SlugTaken = "slug_taken",
    /// The person is a member of the org already.
    AlreadyMember = "already_member",
    /// A request with this `Idempotency-Key` is still being handled; retry shortly.
    IdempotencyKeyInProgress = "idempotency_key_in_progress",
    /// The change would leave the org without an owner.
    LastOwner = "last_owner",
    /// The installation is linked to another org.
    InstallationLinkedElsewhere = "installation_linked_elsewhere",
    /// The attempt has a pull request already.
    PullRequestExists = "pull_request_exists",
    /// The attempt's branch has no commits of its own.
    NothingToMerge = "nothing_to_merge",
    /// The attempt has no pull request to merge.
    NoPullRequest = "no_pull_request",
    /// GitHub refused the pull request action.
    GithubRefused = "github_refused",
    // 408
    /// Webhook: the body did not arrive within `github.webhooks.body_timeout_ms`.
    BodyTimeout = "body_timeout",
    // 413, 415
    /// The body is over the limit.
    PayloadTooLarge = "payload_too_large",
    /// The body is not sent as `application/json`.
    UnsupportedMediaType = "unsupported_media_type",
    // 422
    /// The body parsed, but a value is not acceptable (out of range, too long, text
    /// holding a NUL character, ...).
    ValidationFailed = "validation_failed",
    /// This `Idempotency-Key` was sent before with another request (method, path or body).
    IdempotencyKeyReused = "idempotency_key_reused",
    /// The project's repository is not a usable git repository.
    InvalidRepository = "invalid_repository",
    /// No executor by that name.
    UnknownExecutor = "unknown_executor",
    /// No executor profile (or variant) by that name for the project.
    UnknownProfile = "unknown_profile",
    /// Workers are running, and none of them can run this executor.
    ExecutorUnavailable = "executor_unavailable",
    /// The repository's host is, or resolves to, an address on the platform's own
    /// networks.
    RepositoryHostForbidden = "repository_host_forbidden",
    /// A repository URL carries credentials (`https://user:token@…`): they would be stored
    /// and shown to every reader of the project.
    RepositoryCredentialsForbidden = "repository_credentials_forbidden",
    /// A repository on the api server's own disk (a path or `file://`), outside
    /// development mode: a tenant must not read the server's files.
    RepositoryLocalForbidden = "repository_local_forbidden",
    /// A profile's `env` sets a variable no profile may set.
    ProfileEnvForbidden = "profile_env_forbidden",
    /// A secret is named after a variable no profile may set.
    SecretNameForbidden = "secret_name_forbidden",
    /// The person has created as many orgs as the operator allows (`quotas.max_orgs_per_person`).
    OrgLimitReached = "org_limit_reached",
    /// The operator does not let this org run attempts in that resource class.
    ResourceClassNotAllowed = "resource_class_not_allowed",
    // 429
    /// Over the rate limit; retry after `Retry-After` seconds.
    RateLimited = "rate_limited",
    /// The credential or the org has as many event streams open as allowed; close one,
    /// or retry after `Retry-After` seconds.
    TooManyStreams = "too_many_streams",
    // 5xx
    /// An unexpected failure; the cause is logged with the request id.
    Internal = "internal",
    /// GitHub failed or could not be reached.
    UpstreamUnavailable = "upstream_unavailable",
    /// A dependency (Postgres, Redis, S3) is down or the pool is exhausted.
    Unavailable = "unavailable",
    /// Webhook: this replica is reading as many deliveries as it may; retry after
    /// `Retry-After` seconds.
    WebhookBusy = "webhook_busy",
}
