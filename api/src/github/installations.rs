//! Installations of the GitHub App and the repositories they grant.
//!
//! An installation is recorded when GitHub announces it (`installation.created`) and
//! linked to an org by the setup callback ([`link`]). From then on the org's GitHub
//! repositories follow the installation: [`sync_repositories`] reconciles them with
//! `GET /installation/repositories` (adding new ones, updating renamed ones, and
//! detaching the ones the installation no longer grants — deleting those no project
//! uses). The webhook handlers here call it on every change GitHub reports.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::Deserialize;
use shared::db::models::{GithubInstallation, NewAuditEvent};
use shared::db::schema::{audit_events, github_installations, projects, repositories};
use shared::domain::ActorType;
use shared::github::client::Account;
use shared::github::{GithubApp, GithubRepo, Installation};
use uuid::Uuid;

use super::events::{Delivery, HandlerError, Outcome};
use crate::state::AppState;

/// Where the audit log says webhook-driven changes came from.
const WEBHOOK_PATH: &str = "/api/v1/github/webhooks";

/// An `installation` event's payload.
#[derive(Debug, Deserialize)]
struct InstallationEvent {
    installation: Installation,
    #[serde(default)]
    sender: Option<Account>,
}

/// An `installation_repositories` event's payload.
#[derive(Debug, Deserialize)]
struct RepositoriesEvent {
    installation: Installation,
    #[serde(default)]
    repositories_removed: Vec<GithubRepo>,
}

/// `installation`: created, deleted, suspend, unsuspend, new_permissions_accepted.
pub async fn on_installation(
    state: &AppState,
    delivery: &Delivery,
) -> Result<Outcome, HandlerError> {
    let event: InstallationEvent = delivery.payload_as()?;
    let installation = &event.installation;
    match delivery.action() {
        "created" | "new_permissions_accepted" => {
            let row = record(state, installation, event.sender.map(|s| s.id)).await?;
            if row.org_id.is_some() {
                sync_repositories(state, installation.id, &[]).await
            } else {
                Ok(Outcome::Processed)
            }
        }
        "deleted" => {
            remove(state, installation.id).await?;
            Ok(Outcome::Processed)
        }
        "suspend" => {
            let at = installation.suspended_at.unwrap_or_else(Utc::now);
            set_suspended(state, installation.id, Some(at)).await?;
            if let Some(app) = &state.github_app {
                app.forget_installation(installation.id);
            }
            Ok(Outcome::Processed)
        }
        "unsuspend" => {
            set_suspended(state, installation.id, None).await?;
            sync_repositories(state, installation.id, &[]).await
        }
        other => Ok(Outcome::Ignored(format!(
            "installation action {other:?} needs nothing"
        ))),
    }
}

/// `installation_repositories`: added, removed.
pub async fn on_installation_repositories(
    state: &AppState,
    delivery: &Delivery,
) -> Result<Outcome, HandlerError> {
    let event: RepositoriesEvent = delivery.payload_as()?;
    match delivery.action() {
        "added" | "removed" => {
            // GitHub's list may lag behind the event it just sent: what the event says was
            // removed stays removed.
            let removed: Vec<i64> = event.repositories_removed.iter().map(|r| r.id).collect();
            sync_repositories(state, event.installation.id, &removed).await
        }
        other => Ok(Outcome::Ignored(format!(
            "installation_repositories action {other:?} needs nothing"
        ))),
    }
}

/// Records (or refreshes) an installation as GitHub describes it; its org is left alone.
pub async fn record(
    state: &AppState,
    installation: &Installation,
    installed_by: Option<i64>,
) -> Result<GithubInstallation, HandlerError> {
    let mut conn = state.db.system().await?;
    let row: GithubInstallation = diesel::sql_query(
        "INSERT INTO github_installations (id, installation_id, account_id, account_login,
                account_type, repository_selection, installed_by_github_id, suspended_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (installation_id) DO UPDATE SET
                account_id = excluded.account_id,
                account_login = excluded.account_login,
                account_type = excluded.account_type,
                repository_selection = excluded.repository_selection,
                installed_by_github_id = coalesce(excluded.installed_by_github_id,
                                                  github_installations.installed_by_github_id),
                suspended_at = excluded.suspended_at
         RETURNING *",
    )
    .bind::<diesel::sql_types::Uuid, _>(Uuid::now_v7())
    .bind::<BigInt, _>(installation.id)
    .bind::<BigInt, _>(installation.account.id)
    .bind::<Text, _>(&installation.account.login)
    .bind::<Text, _>(&installation.account.kind)
    .bind::<Text, _>(selection(installation))
    .bind::<Nullable<BigInt>, _>(installed_by)
    .bind::<Nullable<Timestamptz>, _>(installation.suspended_at)
    .get_result(&mut conn)
    .await?;
    Ok(row)
}

/// Why an installation could not be linked.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the installation is linked to another organization")]
    LinkedElsewhere,
    #[error(transparent)]
    Db(#[from] shared::db::DbError),
}

impl From<diesel::result::Error> for LinkError {
    fn from(e: diesel::result::Error) -> Self {
        LinkError::Db(e.into())
    }
}

/// Links the installation to `org_id` on behalf of `user_id` (recording it first if
/// GitHub's webhook has not yet). One installation serves one org: an installation linked
/// to another org is refused.
pub async fn link(
    state: &AppState,
    org_id: Uuid,
    user_id: Uuid,
    installation: &Installation,
) -> Result<GithubInstallation, LinkError> {
    let mut conn = state.db.system().await?;
    let linked: Option<GithubInstallation> = diesel::sql_query(
        "INSERT INTO github_installations (id, installation_id, account_id, account_login,
                account_type, repository_selection, suspended_at, org_id, linked_by, linked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
         ON CONFLICT (installation_id) DO UPDATE SET
                account_id = excluded.account_id,
                account_login = excluded.account_login,
                account_type = excluded.account_type,
                repository_selection = excluded.repository_selection,
                suspended_at = excluded.suspended_at,
                org_id = excluded.org_id,
                linked_by = excluded.linked_by,
                linked_at = excluded.linked_at
          WHERE github_installations.org_id IS NULL
             OR github_installations.org_id = excluded.org_id
         RETURNING *",
    )
    .bind::<diesel::sql_types::Uuid, _>(Uuid::now_v7())
    .bind::<BigInt, _>(installation.id)
    .bind::<BigInt, _>(installation.account.id)
    .bind::<Text, _>(&installation.account.login)
    .bind::<Text, _>(&installation.account.kind)
    .bind::<Text, _>(selection(installation))
    .bind::<Nullable<Timestamptz>, _>(installation.suspended_at)
    .bind::<diesel::sql_types::Uuid, _>(org_id)
    .bind::<diesel::sql_types::Uuid, _>(user_id)
    .get_result(&mut conn)
    .await
    .optional()?;
    linked.ok_or(LinkError::LinkedElsewhere)
}

/// The installation row, if recorded.
pub async fn find(
    state: &AppState,
    installation_id: i64,
) -> Result<Option<GithubInstallation>, shared::db::DbError> {
    let mut conn = state.db.system().await?;
    Ok(github_installations::table
        .filter(github_installations::installation_id.eq(installation_id))
        .select(GithubInstallation::as_select())
        .first(&mut conn)
        .await
        .optional()?)
}

/// Reconciles the org's repositories with what the installation grants now, leaving out
/// `removed` (repository ids GitHub just said were removed). Nothing happens for an
/// installation not linked to an org, or suspended (GitHub refuses its tokens).
pub async fn sync_repositories(
    state: &AppState,
    installation_id: i64,
    removed: &[i64],
) -> Result<Outcome, HandlerError> {
    let app = state
        .github_app
        .as_ref()
        .ok_or_else(|| HandlerError::Permanent("the GitHub App is not configured".into()))?;
    let Some(row) = find(state, installation_id).await? else {
        return Ok(Outcome::Ignored("the installation is not recorded".into()));
    };
    let Some(org_id) = row.org_id else {
        return Ok(Outcome::Ignored(
            "the installation is not linked to an org yet".into(),
        ));
    };
    if row.suspended_at.is_some() {
        return Ok(Outcome::Ignored("the installation is suspended".into()));
    }
    let repos: Vec<GithubRepo> = app
        .installation_repositories(installation_id)
        .await?
        .into_iter()
        .filter(|r| !removed.contains(&r.id))
        .collect();
    apply(state, app, org_id, installation_id, &repos).await?;
    tracing::info!(
        installation.id = installation_id,
        org.id = %org_id,
        repositories = repos.len(),
        "repositories synced from the GitHub installation"
    );
    Ok(Outcome::Processed)
}

/// Writes `repos` as the org's repositories of the installation, in one transaction.
async fn apply(
    state: &AppState,
    app: &GithubApp,
    org_id: Uuid,
    installation_id: i64,
    repos: &[GithubRepo],
) -> Result<(), HandlerError> {
    let rows: Vec<(GithubRepo, String)> = repos
        .iter()
        .map(|r| {
            let url = r
                .clone_url
                .clone()
                .unwrap_or_else(|| app.clone_url(&r.full_name));
            (r.clone(), url)
        })
        .collect();
    let mut conn = state.db.org(org_id).await?;
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        for (repo, url) in &rows {
            // A repository added earlier by its URL becomes this GitHub repository.
            diesel::update(repositories::table)
                .filter(repositories::org_id.eq(org_id))
                .filter(repositories::github_repo_id.is_null())
                .filter(repositories::url.eq(url))
                .set((
                    repositories::github_repo_id.eq(repo.id),
                    repositories::github_full_name.eq(&repo.full_name),
                ))
                .execute(conn)
                .await?;
            let branch = repo.default_branch.as_deref().unwrap_or("main");
            diesel::insert_into(repositories::table)
                .values((
                    repositories::id.eq(Uuid::now_v7()),
                    repositories::org_id.eq(org_id),
                    repositories::name.eq(&repo.name),
                    repositories::url.eq(url),
                    repositories::default_branch.eq(branch),
                    repositories::github_repo_id.eq(repo.id),
                    repositories::github_full_name.eq(&repo.full_name),
                    repositories::github_installation_id.eq(installation_id),
                    repositories::private.eq(repo.private),
                ))
                .on_conflict((repositories::org_id, repositories::github_repo_id))
                .do_update()
                .set((
                    repositories::name.eq(&repo.name),
                    repositories::url.eq(url),
                    repositories::default_branch.eq(branch),
                    repositories::github_full_name.eq(&repo.full_name),
                    repositories::github_installation_id.eq(installation_id),
                    repositories::private.eq(repo.private),
                ))
                .execute(conn)
                .await?;
        }
        let kept: Vec<i64> = rows.iter().map(|(r, _)| r.id).collect();
        diesel::update(repositories::table)
            .filter(repositories::org_id.eq(org_id))
            .filter(repositories::github_installation_id.eq(installation_id))
            .filter(repositories::github_repo_id.ne_all(kept))
            .set(repositories::github_installation_id.eq(None::<i64>))
            .execute(conn)
            .await?;
        delete_unused_detached(conn, org_id).await?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// Deletes the org's GitHub repositories that no installation grants and no project uses.
async fn delete_unused_detached(conn: &mut shared::db::Conn, org_id: Uuid) -> QueryResult<usize> {
    diesel::delete(repositories::table)
        .filter(repositories::org_id.eq(org_id))
        .filter(repositories::github_repo_id.is_not_null())
        .filter(repositories::github_installation_id.is_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(
            projects::table.filter(projects::repository_id.eq(repositories::id)),
        )))
        .execute(conn)
        .await
}

/// The App was uninstalled: the installation goes, and with it the org's access to its
/// repositories (unused ones are deleted; ones a project uses stay, detached).
async fn remove(state: &AppState, installation_id: i64) -> Result<(), HandlerError> {
    if let Some(app) = &state.github_app {
        app.forget_installation(installation_id);
    }
    let Some(row) = find(state, installation_id).await? else {
        return Ok(());
    };
    let Some(org_id) = row.org_id else {
        let mut conn = state.db.system().await?;
        diesel::delete(github_installations::table.find(row.id))
            .execute(&mut conn)
            .await?;
        return Ok(());
    };
    let mut conn = state.db.org(org_id).await?;
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        // Its repositories' link is set to NULL by the foreign key.
        diesel::delete(github_installations::table.find(row.id))
            .execute(conn)
            .await?;
        delete_unused_detached(conn, org_id).await?;
        Ok(())
    })
    .await?;
    audit(
        state,
        org_id,
        Actor::Github,
        "github_installations.delete",
        installation_id,
        WEBHOOK_PATH,
    )
    .await;
    Ok(())
}

/// Marks an installation suspended (with when) or not.
async fn set_suspended(
    state: &AppState,
    installation_id: i64,
    at: Option<DateTime<Utc>>,
) -> Result<(), HandlerError> {
    let mut conn = state.db.system().await?;
    diesel::update(github_installations::table)
        .filter(github_installations::installation_id.eq(installation_id))
        .set(github_installations::suspended_at.eq(at))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Who an audited installation change came from.
pub enum Actor<'a> {
    /// A person, by id and login.
    User(Uuid, &'a str),
    /// GitHub, through a webhook.
    Github,
}

/// Records an installation change in the org's audit log (best effort: the change has
/// happened either way).
pub async fn audit(
    state: &AppState,
    org_id: Uuid,
    actor: Actor<'_>,
    action: &str,
    installation_id: i64,
    path: &str,
) {
    let (actor_type, actor_id, actor_label) = match actor {
        Actor::User(id, login) => (ActorType::User, Some(id), login.to_owned()),
        Actor::Github => (ActorType::Github, None, "github".to_owned()),
    };
    let event = NewAuditEvent {
        id: Uuid::now_v7(),
        org_id,
        actor_type,
        actor_id,
        actor_label,
        action: action.to_owned(),
        target_type: Some("github_installations".into()),
        target_id: Some(installation_id.to_string()),
        method: if matches!(actor_type, ActorType::Github) {
            "POST".into()
        } else {
            "GET".into()
        },
        path: path.to_owned(),
        status: 200,
        source_ip: None,
        request_id: None,
    };
    let written = async {
        let mut conn = state.db.org(org_id).await?;
        diesel::insert_into(audit_events::table)
            .values(event)
            .execute(&mut conn)
            .await
            .map_err(shared::db::DbError::from)
    }
    .await;
    if let Err(e) = written {
        tracing::error!(error = %e, org.id = %org_id, "could not record an audit event");
    }
}

/// `all` or `selected` (anything else GitHub might add is stored as `selected`).
fn selection(installation: &Installation) -> &'static str {
    if installation.repository_selection == "all" {
        "all"
    } else {
        "selected"
    }
}
