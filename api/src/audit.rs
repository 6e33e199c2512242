//! The audit log: every state-changing request made in an org records who did it, what,
//! to which resource, from where, when, and how it ended.
//!
//! The org extractor ([`crate::auth::OrgAuth`]) leaves an [`AuditActor`] in the request's
//! extensions once it has authenticated the caller; this middleware writes the event after
//! the handler has answered, so failed attempts (a 409, a 422) are recorded too. Requests
//! that never got past authentication have no actor in an org and are not recorded here
//! (their traces and the rate limiter cover them).

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use diesel_async::RunQueryDsl;
use shared::db::models::NewAuditEvent;
use shared::db::schema::audit_events;
use uuid::Uuid;

use crate::auth::AuditActor;
use crate::request_id::RequestId;
use crate::state::AppState;

/// Path segments that name an action on the resource before them rather than a collection.
const ACTION_SEGMENTS: &[&str] = &["stop", "follow-up", "merge", "pull-request", "accept"];

/// Middleware (`middleware::from_fn`) recording state-changing requests.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method().is_safe() {
        return next.call(req).await;
    }
    let response = next.call(req).await?;
    let request = response.request();
    let actor = request.extensions().get::<AuditActor>().cloned();
    let (Some(actor), Some(state)) = (actor, request.app_data::<actix_web::web::Data<AppState>>())
    else {
        return Ok(response);
    };
    let pattern = request.match_pattern().unwrap_or_default();
    let described = describe(request.method(), &pattern, |name| {
        request.match_info().get(name).map(str::to_owned)
    });
    let event = NewAuditEvent {
        id: Uuid::now_v7(),
        org_id: actor.org_id,
        actor_type: actor.actor.kind(),
        actor_id: Some(actor.actor.id()),
        actor_label: actor.actor.label().to_owned(),
        action: described.action,
        target_type: described.target_type,
        target_id: described.target_id,
        method: request.method().to_string(),
        path: request.path().chars().take(2048).collect(),
        status: i32::from(response.status().as_u16()),
        source_ip: state
            .trusted_proxies
            .client(request)
            .map(|ip| ip.to_string()),
        request_id: request.extensions().get::<RequestId>().map(|r| r.0.clone()),
    };
    if let Err(e) = insert(state, event).await {
        // The change itself has happened; losing its record is an operator alarm.
        tracing::error!(error = %e, org.id = %actor.org_id, "could not record an audit event");
    }
    Ok(response)
}

async fn insert(state: &AppState, event: NewAuditEvent) -> Result<(), shared::db::DbError> {
    let mut conn = state.db.org(event.org_id).await?;
    diesel::insert_into(audit_events::table)
        .values(event)
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// What a request did, in the audit log's words.
#[derive(Debug, PartialEq, Eq)]
pub struct Described {
    /// `resource.verb`, e.g. `tasks.update`, `attempts.stop`.
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
}

/// Derives the action and target from the route pattern: the last collection named in
/// the path is the resource, the method (or a trailing action segment) the verb, and the
/// last id in the path the target.
pub fn describe(
    method: &Method,
    pattern: &str,
    param: impl Fn(&str) -> Option<String>,
) -> Described {
    let segments: Vec<&str> = pattern
        .trim_start_matches("/api/v1")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let is_param = |s: &str| s.starts_with('{') && s.ends_with('}');
    let mut target: Option<(String, String)> = None;
    let mut last_collection: Option<&str> = None;
    let mut action_verb: Option<&str> = None;
    for (i, seg) in segments.iter().enumerate() {
        if is_param(seg) {
            let name = &seg[1..seg.len() - 1];
            if name == "org" {
                continue;
            }
            if let (Some(collection), Some(value)) = (i.checked_sub(1), param(name)) {
                target = Some((segments[collection].to_owned(), value));
            }
        } else if i == segments.len() - 1 && ACTION_SEGMENTS.contains(seg) && i > 0 {
            action_verb = Some(seg);
        } else {
            last_collection = Some(seg);
        }
    }
    let verb = action_verb.unwrap_or(match *method {
        Method::POST => "create",
        Method::PUT => "put",
        Method::PATCH => "update",
        Method::DELETE => "delete",
        _ => "call",
    });
    let resource = last_collection.unwrap_or("org");
    // A create names its parent as the target (the new id is in the response body).
    let (target_type, target_id) = target.map_or((None, None), |(t, id)| (Some(t), Some(id)));
    Described {
        action: format!("{resource}.{verb}"),
        target_type,
        target_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(method: Method, pattern: &str) -> Described {
        describe(&method, pattern, |name| Some(format!("<{name}>")))
    }

    #[test]
    fn actions_and_targets_follow_the_route() {
        let d = run(Method::PATCH, "/api/v1/orgs/{org}/tasks/{id}");
        assert_eq!(d.action, "tasks.update");
        assert_eq!(d.target_type.as_deref(), Some("tasks"));
        assert_eq!(d.target_id.as_deref(), Some("<id>"));

        let d = run(Method::POST, "/api/v1/orgs/{org}/projects/{id}/tasks");
        assert_eq!(d.action, "tasks.create");
        assert_eq!(d.target_type.as_deref(), Some("projects"));

        assert_eq!(
            run(Method::POST, "/api/v1/orgs/{org}/attempts/{id}/stop").action,
            "attempts.stop"
        );
        assert_eq!(
            run(Method::POST, "/api/v1/orgs/{org}/projects").action,
            "projects.create"
        );
        assert_eq!(
            run(Method::PUT, "/api/v1/orgs/{org}/secrets/{name}").action,
            "secrets.put"
        );
        assert_eq!(
            run(Method::PATCH, "/api/v1/orgs/{org}").action,
            "orgs.update"
        );
        let d = run(
            Method::POST,
            "/api/v1/orgs/{org}/attempts/{id}/approvals/{approval_id}",
        );
        assert_eq!(d.action, "approvals.create");
        assert_eq!(d.target_id.as_deref(), Some("<approval_id>"));
    }
}
