//! Creating an org and its first API token without an API call: what
//! `switchyard-api bootstrap-org` runs (the dev script seeds the demo org with it) and
//! what tests use to get a caller.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::Db;
use shared::db::models::{NewApiToken, Organization};
use shared::db::schema::{api_tokens, memberships, organizations, users};
use shared::domain::{MemberRole, TokenScope};
use uuid::Uuid;

/// An org and a freshly minted token for it (the secret is shown once: here).
pub struct Bootstrapped {
    pub org: Organization,
    pub token: String,
}

/// Creates the org `slug` unless it exists (an existing org keeps its name and limits),
/// then mints a token with every scope.
pub async fn bootstrap_org(
    db: &Db,
    slug: &str,
    name: &str,
    max_concurrent_attempts: Option<i32>,
) -> anyhow::Result<Bootstrapped> {
    use anyhow::Context;
    let mut conn = db.system().await?;
    let inserted = diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(Uuid::now_v7()),
            organizations::slug.eq(slug),
            organizations::name.eq(name),
            organizations::max_concurrent_attempts.eq(max_concurrent_attempts.unwrap_or(4)),
        ))
        .on_conflict(organizations::slug)
        .do_nothing()
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating organization {slug:?}"))?;
    let org: Organization = organizations::table
        .filter(organizations::slug.eq(slug))
        .select(Organization::as_select())
        .first(&mut conn)
        .await
        .with_context(|| format!("reading organization {slug:?}"))?;
    if inserted == 0 {
        tracing::info!(
            org.slug = slug,
            "organization exists; minting a new token for it"
        );
    }
    drop(conn);
    let token = mint_token(db, org.id, "bootstrap", TokenScope::ALL, None).await?;
    Ok(Bootstrapped { org, token })
}

/// Makes `login` an owner of `org_id`, creating the person if they never signed in (their
/// first GitHub sign-in under that login claims the account).
pub async fn add_owner(db: &Db, org_id: Uuid, login: &str) -> anyhow::Result<Uuid> {
    use anyhow::Context;
    let mut conn = db.system().await?;
    diesel::insert_into(users::table)
        .values((users::id.eq(Uuid::now_v7()), users::login.eq(login)))
        .on_conflict(users::login)
        .do_nothing()
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating user {login:?}"))?;
    let user_id: Uuid = users::table
        .filter(users::login.eq(login))
        .select(users::id)
        .first(&mut conn)
        .await?;
    diesel::insert_into(memberships::table)
        .values((
            memberships::id.eq(Uuid::now_v7()),
            memberships::org_id.eq(org_id),
            memberships::user_id.eq(user_id),
            memberships::role.eq(MemberRole::Owner),
        ))
        .on_conflict((memberships::org_id, memberships::user_id))
        .do_update()
        .set(memberships::role.eq(MemberRole::Owner))
        .execute(&mut conn)
        .await
        .with_context(|| format!("making {login:?} an owner"))?;
    Ok(user_id)
}

/// Stores a new token for `org_id` with `scopes` and returns its secret.
pub async fn mint_token(
    db: &Db,
    org_id: Uuid,
    name: &str,
    scopes: &[TokenScope],
    expires_at: Option<DateTime<Utc>>,
) -> anyhow::Result<String> {
    use anyhow::Context;
    let minted = crate::auth::tokens::mint();
    let mut conn = db.system().await?;
    diesel::insert_into(api_tokens::table)
        .values(NewApiToken {
            id: Uuid::now_v7(),
            org_id,
            name,
            prefix: &minted.visible_prefix,
            token_hash: &minted.hash,
            scopes: scopes.iter().map(|s| Some(s.as_str().to_owned())).collect(),
            expires_at,
        })
        .execute(&mut conn)
        .await
        .context("storing the API token")?;
    Ok(minted.secret)
}
