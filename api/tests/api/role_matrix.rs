//! Who may do what, generated from the served OpenAPI document: every org-scoped
//! operation is sent by a member of each role and a token of each single scope, on the
//! org's own resources. Whoever lacks the scope the operation declares gets exactly 403
//! `forbidden`; whoever holds it gets past authorization (never 401, 403 or 404; the
//! resources are real), except that a token on a person-only route gets 403
//! `person_required`. Writes get fresh resources for each principal, so a delete
//! cannot spoil a later check.

use reqwest::{Method, StatusCode};
use std::collections::{BTreeMap, BTreeSet};

use crate::isolation::{
    Fixture, Kind, Operation, body_for, document, org_operations, principals, send, spawn_app,
};

#[tokio::test(flavor = "multi_thread")]
async fn every_role_and_token_scope_gets_exactly_what_each_route_requires() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let ops = org_operations(&doc);
    let kinds: BTreeSet<Kind> = ops.iter().flat_map(Operation::kinds).collect();
    let shared = Fixture::create(&app, &app.org, &app.token, &kinds).await;
    let callers = principals(&app, &app.org).await;

    let mut failures = Vec::new();
    let (mut denied, mut allowed) = (0usize, 0usize);
    // What the allowed requests answered, by status: past authorization, anything goes.
    let mut through: BTreeMap<u16, usize> = BTreeMap::new();
    for op in &ops {
        let scope = op.required_scope();
        for who in &callers {
            // Reads share one set of resources; anything else gets its own.
            let fresh;
            let fixture = if op.method == Method::GET {
                &shared
            } else {
                fresh = Fixture::create(&app, &app.org, &app.token, &op.kinds()).await;
                &fresh
            };
            let path = fixture.path(op, &app.org.slug);
            let body = body_for(&app, &doc, op).await;
            let answer = send(&app, &who.bearer, op.method.clone(), &path, body.as_ref()).await;
            if who.holds(scope) && op.person_only() && !who.person {
                denied += 1;
                if answer.status != StatusCode::FORBIDDEN
                    || answer.code.as_deref() != Some("person_required")
                {
                    failures.push(format!(
                        "{} as {} (a token, on a person-only route): expected 403 \
                         person_required, got {}",
                        op.label(),
                        who.label,
                        answer.describe()
                    ));
                }
            } else if who.holds(scope) {
                allowed += 1;
                *through.entry(answer.status.as_u16()).or_default() += 1;
                let refused = matches!(
                    answer.status,
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
                ) || answer.status.is_server_error();
                if refused {
                    failures.push(format!(
                        "{} as {} (holds {scope}): {}",
                        op.label(),
                        who.label,
                        answer.describe()
                    ));
                }
            } else {
                denied += 1;
                if answer.status != StatusCode::FORBIDDEN
                    || answer.code.as_deref() != Some("forbidden")
                {
                    failures.push(format!(
                        "{} as {} (lacks {scope}): expected 403 forbidden, got {}",
                        op.label(),
                        who.label,
                        answer.describe()
                    ));
                }
            }
        }
    }
    let statuses: Vec<String> = through.iter().map(|(s, n)| format!("{s}×{n}")).collect();
    eprintln!(
        "role matrix: {} operations × {} principals = {} requests ({} refused 403 forbidden, \
         {} let through: {})",
        ops.len(),
        callers.len(),
        denied + allowed,
        denied,
        allowed,
        statuses.join(" ")
    );
    assert!(
        failures.is_empty(),
        "{} of {} requests answered against the scope they needed:\n{}",
        failures.len(),
        denied + allowed,
        failures.join("\n")
    );
}
